//! Bad input to `clinicstream export` and `LAKE_*`: a clear error, and nothing written —
//! no file, no state file, not even the destination's directory.

use super::export::{app_db, tempdir};
use super::support::export;
use crate::helpers::{Backend, spawn_app};
use clinicstream::events::Cursor;

fn refused(output: &std::process::Output, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused: {stderr}");
    assert!(stderr.contains(says), "the error says {says:?}: {stderr}");
}

#[tokio::test]
async fn bad_destinations_cursors_and_state_files_are_refused_and_nothing_is_written() {
    let Some(app) = spawn_app(Backend::Postgres).await else { return };
    let (a, b) = (app.fixture().await, app.fixture().await);
    let db = app_db(&app);
    let dir = tempdir();
    let lake = dir.join("lake");
    let to = lake.to_str().unwrap();
    let state = dir.join("state.json");
    let state_arg = state.to_str().unwrap();
    let of_b = Cursor { practice_id: b.practice.clone(), seq: 1 }.encode();
    let ahead = Cursor { practice_id: a.practice.clone(), seq: 1_000 }.encode();
    let long = format!("/tmp/{}", "x".repeat(3000));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--to", "http://example.com/lake"], "the scheme must be s3:// or file://"),
        (vec!["--to", "s3://"], "names no bucket"),
        (vec!["--to", "file://relative/path"], "file:///absolute/path"),
        (vec!["--to", ""], "the destination is empty"),
        (vec!["--to", &long], "longer than 2048"),
        (vec!["--to", to, "--practice", &a.practice, "--after", &of_b], "is a cursor of practice"),
        (vec!["--to", to, "--after", "not-a-cursor"], "is not an event cursor"),
        (vec!["--to", to, "--after", &ahead], "ahead of its log"),
        (vec!["--to", to, "--practice", "../../etc"], "there is no practice ../../etc"),
        (vec!["--to", to, "--file-rows", "0"], "--file-rows must be between"),
    ];
    for (args, says) in cases {
        refused(&export(db, &args), says);
        assert!(!lake.exists(), "nothing written for {args:?}");
    }
    // State files: another practice's cursor under a practice, junk, too large, another
    // destination's.
    let wrong = serde_json::json!({ "to": to, "practices": { a.practice.clone(): of_b } });
    let other = serde_json::json!({ "to": "s3://elsewhere/lake", "practices": {} });
    for (content, says) in [
        (wrong.to_string().into_bytes(), "belongs to another practice"),
        (b"{ not json".to_vec(), "is not an export state"),
        (other.to_string().into_bytes(), "belongs to an export to s3://elsewhere/lake"),
        (vec![b' '; 17 * 1024 * 1024], "larger than"),
    ] {
        std::fs::write(&state, &content).unwrap();
        refused(&export(db, &["--to", to, "--state", state_arg]), says);
        assert!(!lake.exists(), "nothing written for a bad state file ({says})");
        assert_eq!(std::fs::read(&state).unwrap(), content, "the state file is left as it was");
    }
    std::fs::remove_file(&state).unwrap();
    // A directory that cannot be made (its parent is a file): refused before any file.
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let under = file.join("lake");
    refused(&export(db, &["--to", under.to_str().unwrap(), "--state", state_arg]), "cannot create the directory");
    assert!(!state.exists(), "no state written");
}

#[tokio::test]
async fn a_malformed_lake_setting_stops_the_start_naming_it() {
    let Some(db) = crate::helpers::fresh_db(Backend::Sqlite).await else { return };
    for (url, rows, says) in [
        (Some("ftp://host/lake"), 10, "LAKE_URL"),
        (Some("s3://"), 10, "LAKE_URL"),
        (None, 0, "LAKE_FLUSH_ROWS"),
        (None, 2_000_000, "LAKE_FLUSH_ROWS"),
    ] {
        let mut config = crate::helpers::test_config(&db.url);
        config.lake.url = url.map(String::from);
        config.lake.flush_rows = rows;
        let err = clinicstream::App::build(config).await.err().expect("refused");
        assert!(format!("{err:#}").contains(says), "{err:#}");
    }
}
