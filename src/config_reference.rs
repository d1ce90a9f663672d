//! The configuration reference of the docs book, generated from the settings themselves
//! (clap's description of `clinicstream serve`), so the book cannot drift from the code.
//!
//! `docs/src/configuration.md` holds the generated table between [`BEGIN_MARKER`] and
//! [`END_MARKER`]; the test `tests/api/config_reference.rs` fails when it is stale and
//! rewrites it when run with `UPDATE_DOCS=1`.

use clap::CommandFactory;

/// Opens the generated block in `docs/src/configuration.md`.
pub const BEGIN_MARKER: &str = "<!-- BEGIN GENERATED: configuration reference (regenerate: UPDATE_DOCS=1 cargo test --test api config_reference) -->";
/// Closes the generated block.
pub const END_MARKER: &str = "<!-- END GENERATED: configuration reference -->";

/// One table row per setting of `clinicstream serve`, flattened groups included, in the
/// order the command line declares them: flag, environment variable, default and help.
pub fn reference_markdown() -> String {
    let cli = crate::config::Cli::command();
    let serve =
        cli.get_subcommands().find(|sub| sub.get_name() == "serve").expect("the command line has a `serve` subcommand");
    let mut out = String::from("| flag | environment | default | what |\n|---|---|---|---|\n");
    for arg in serve.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(arg.get_id().as_str(), "help" | "version") {
            continue;
        }
        let env = arg.get_env().map(|name| format!("`{}`", name.to_string_lossy())).unwrap_or_else(|| "—".to_string());
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|value| value.to_string_lossy().into_owned())
            .filter(|value| !value.is_empty())
            .collect();
        let default = if defaults.is_empty() { "—".to_string() } else { format!("`{}`", defaults.join(",")) };
        let help =
            arg.get_long_help().or_else(|| arg.get_help()).map(|text| one_line(&text.to_string())).unwrap_or_default();
        out.push_str(&format!("| `--{long}` | {env} | {default} | {help} |\n"));
    }
    out
}

/// `doc` with the text between the markers replaced by `generated`; None when the markers
/// are missing or out of order.
pub fn splice(doc: &str, generated: &str) -> Option<String> {
    let begin = doc.find(BEGIN_MARKER)? + BEGIN_MARKER.len();
    let end = begin + doc[begin..].find(END_MARKER)?;
    Some(format!("{}\n{}{}", &doc[..begin], generated, &doc[end..]))
}

/// Help text as one table cell: lines joined, pipes escaped so they do not end the cell.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    joined.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_serve_setting_with_an_environment_variable_has_a_row() {
        let table = reference_markdown();
        for env in ["`DATABASE_URL`", "`LISTEN_ADDR`", "`WEBHOOK_TIMEOUT`", "`BRIDGE_NATS_URL`", "`AUDIT`"] {
            assert!(table.contains(env), "the reference lacks {env}:\n{table}");
        }
        assert!(!table.contains("--help"), "clap's own flags are not settings");
    }

    #[test]
    fn splicing_replaces_only_the_generated_block() {
        let doc = format!("intro\n{BEGIN_MARKER}\nold\n{END_MARKER}\noutro\n");
        let spliced = splice(&doc, "new\n").unwrap();
        assert_eq!(spliced, format!("intro\n{BEGIN_MARKER}\nnew\n{END_MARKER}\noutro\n"));
        assert!(splice("no markers", "new\n").is_none());
    }
}
