//! The book's configuration reference is generated from the settings: this fails when
//! `docs/src/configuration.md` no longer says what `clinicstream serve` accepts.

use clinicstream::config_reference::{reference_markdown, splice};

#[test]
fn the_configuration_reference_in_the_book_matches_the_settings() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/configuration.md");
    let checked_in = std::fs::read_to_string(path).unwrap();
    let current = splice(&checked_in, &reference_markdown())
        .expect("docs/src/configuration.md lacks the BEGIN/END GENERATED markers");
    if checked_in == current {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(path, current).unwrap();
        return;
    }
    panic!(
        "docs/src/configuration.md is stale: run `UPDATE_DOCS=1 cargo test --test api config_reference` \
         and review the diff"
    );
}
