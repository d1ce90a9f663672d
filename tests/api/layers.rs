//! The module graph, read from the sources: every `crate::` path in `src/` names a module
//! below the one it is written in (the order `src/lib.rs`'s tour gives), and no source file
//! grows past the size a reader takes in. The edges and files that still break the rules
//! are listed by name below; the test fails on a new one, and on a listed one that has
//! been fixed (so the lists only shrink).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first; a module may import only from layers below its own.
const LAYERS: &[&[&str]] = &[
    &["vocab", "duration"],
    &["error", "clock", "shutdown", "telemetry"],
    &["flusher"],
    &["db"],
    &["events"],
    &["auth"],
    &["usage", "persisted"],
    &["audit"],
    &["limits"],
    &["domain"],
    &["webhooks", "retention"],
    &["bridges"],
    &["config"],
    &["operation"],
    &["live"],
    &["graphql"],
    &["hub"],
    &["metrics", "asyncapi"],
    &["state"],
    &["http"],
    &["app"],
    &["commands", "config_reference"],
];

/// Imports that still run upwards, each with why it is not fixed yet.
const KNOWN_UPWARD: &[(&str, &str, &str)] = &[];

/// Files past ~350 lines, each to be split.
const KNOWN_LONG: &[&str] = &[];

const MAX_LINES: usize = 350;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ reads") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (importing module, imported module) → the files that do it; comments are not imports.
fn edges(root: &Path) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(root).unwrap().to_string_lossy().to_string();
        let module = relative.trim_start_matches("src/").split('/').next().unwrap().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let target: String =
                    line[at + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !target.is_empty() && target != module {
                    edges.entry((module.clone(), target)).or_default().insert(relative.clone());
                }
            }
        }
    }
    edges
}

#[test]
fn every_module_imports_only_from_the_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rank = |m: &str| LAYERS.iter().position(|layer| layer.contains(&m));
    let mut upward = BTreeSet::new();
    for ((from, to), files) in edges(root) {
        let (Some(a), Some(b)) = (rank(&from), rank(&to)) else {
            panic!("{from} -> {to} ({files:?}): every module of src/ has a layer in tests/api/layers.rs");
        };
        if b >= a {
            upward.insert((from.clone(), to.clone(), files));
        }
    }
    let known: BTreeSet<(&str, &str)> = KNOWN_UPWARD.iter().map(|(a, b, _)| (*a, *b)).collect();
    let new: Vec<_> = upward.iter().filter(|(a, b, _)| !known.contains(&(a.as_str(), b.as_str()))).collect();
    assert!(new.is_empty(), "imports that run upwards (or across one layer): {new:#?}");
    let fixed: Vec<_> = known.iter().filter(|(a, b)| !upward.iter().any(|(x, y, _)| x == a && y == b)).collect();
    assert!(fixed.is_empty(), "fixed, so take them off KNOWN_UPWARD: {fixed:?}");
}

#[test]
fn no_source_file_grows_past_what_a_reader_takes_in() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut long = BTreeSet::new();
    for file in files {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        if lines > MAX_LINES {
            long.insert(file.strip_prefix(root).unwrap().to_string_lossy().to_string());
        }
    }
    let known: BTreeSet<String> = KNOWN_LONG.iter().map(|s| s.to_string()).collect();
    assert!(long.is_subset(&known), "past {MAX_LINES} lines: {:?}", long.difference(&known).collect::<Vec<_>>());
    assert!(
        known.is_subset(&long),
        "short now, take off KNOWN_LONG: {:?}",
        known.difference(&long).collect::<Vec<_>>()
    );
}
