//! The module graph, read from the sources: every `crate::` path in `src/` names a module
//! below the one it is written in (the order `src/lib.rs`'s tour gives), and no source file
//! grows past the size a reader takes in; inside a module, its files name each other in
//! one direction (no circle); below `graphql`, async-graphql is only the GraphQL language
//! (its parser and values), never the schema's types. The edges and files that still break
//! the rules are listed by name below; the test fails on a new one, and on a listed one
//! that has been fixed (so the lists only shrink).

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
    &["identity"],
    &["usage", "persisted"],
    &["audit"],
    &["limits"],
    &["domain"],
    &["webhooks", "retention"],
    &["bridges"],
    &["inbox"],
    &["lake"],
    &["config"],
    &["operation"],
    &["live"],
    &["graphql"],
    &["hub"],
    &["metrics", "asyncapi"],
    &["services"],
    &["state"],
    &["http"],
    &["grpc"],
    &["app"],
    &["commands", "config_reference"],
];

/// Imports that still run upwards, each with why it is not fixed yet.
const KNOWN_UPWARD: &[(&str, &str, &str)] = &[];

/// Files past ~350 lines, each to be split.
const KNOWN_LONG: &[&str] = &[];

const MAX_LINES: usize = 350;

/// What a module below `graphql` may name of async-graphql: the language — documents as
/// its parser reads them and the values in them. The schema's types (derives, `ID`,
/// `MaybeUndefined`, `Request`, …) are `graphql`'s, which gives the plain records and
/// inputs of the layers below their GraphQL face.
const GRAPHQL_LANGUAGE: &[&str] = &["async_graphql::parser", "async_graphql_parser", "async_graphql_value"];

/// Files below `graphql` that still name more of async-graphql, each with why.
const KNOWN_GRAPHQL_BELOW: &[(&str, &str)] = &[];

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
fn below_graphql_async_graphql_is_only_the_language() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rank = |m: &str| LAYERS.iter().position(|layer| layer.contains(&m));
    let graphql = rank("graphql").expect("graphql has a layer");
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(root).unwrap().to_string_lossy().to_string();
        let module = relative.trim_start_matches("src/").split('/').next().unwrap().trim_end_matches(".rs");
        if rank(module).is_none_or(|r| r >= graphql) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("async_graphql") {
                let rest = &line[at..];
                if !GRAPHQL_LANGUAGE.iter().any(|ok| rest.starts_with(ok)) {
                    let named = rest.split(';').next().unwrap_or(rest).chars().take(80).collect();
                    found.entry(relative.clone()).or_default().insert(named);
                }
            }
        }
    }
    let known: BTreeSet<&str> = KNOWN_GRAPHQL_BELOW.iter().map(|(file, _)| *file).collect();
    let new: Vec<_> = found.iter().filter(|(file, _)| !known.contains(file.as_str())).collect();
    assert!(
        new.is_empty(),
        "below graphql, name async-graphql only through {GRAPHQL_LANGUAGE:?} (the schema's types are graphql's): {new:#?}"
    );
    let fixed: Vec<_> = known.iter().filter(|file| !found.contains_key(**file)).collect();
    assert!(fixed.is_empty(), "only the language now, so take them off KNOWN_GRAPHQL_BELOW: {fixed:?}");
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

/// Within each module directory, its files (or sub-directories) as a graph of who names
/// whom (`super::x` or `crate::module::x`); comments are not imports.
fn file_graph(dir: &Path, module: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut members: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut files = Vec::new();
    sources(dir, &mut files);
    for file in files {
        let first = file.strip_prefix(dir).unwrap().components().next().unwrap();
        let name = first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        members.entry(name).or_default().push(file);
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, files) in members.iter().filter(|(name, _)| !matches!(name.as_str(), "mod" | "tests")) {
        for file in files {
            let text = std::fs::read_to_string(file).unwrap();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for prefix in ["super::".to_string(), format!("crate::{module}::")] {
                    for (at, _) in line.match_indices(prefix.as_str()) {
                        let rest = &line[at + prefix.len()..];
                        let target: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                        if target != *name && target != "mod" && members.contains_key(&target) {
                            graph.entry(name.clone()).or_default().insert(target);
                        }
                    }
                }
            }
        }
    }
    graph
}

/// A circle in `graph`, if there is one (depth-first, with the path so far).
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            return Some(path[start..].to_vec());
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_files_of_a_module_name_each_other_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            let module = dir.file_name().unwrap().to_string_lossy().to_string();
            let found = circle(&file_graph(&dir, &module));
            assert!(found.is_none(), "src/{module}: its files import each other in a circle: {found:?}");
        }
    }
}
