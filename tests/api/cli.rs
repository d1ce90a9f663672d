//! The binary's subcommands, run as a user would: schema, keys create, seed-demo, migrate.

use std::process::Command;

fn clinicstream(args: &[&str], database_url: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_clinicstream"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("ADMIN_KEY")
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_subcommands_work_on_a_fresh_sqlite_file() {
    let path = std::env::temp_dir().join(format!("clinicstream-cli-{}.sqlite", uuid::Uuid::now_v7().simple()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let schema = clinicstream(&["schema"], &url);
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(schema == checked_in, "`clinicstream schema` prints the checked-in SDL");
    let federated = clinicstream(&["schema", "--federation"], &url);
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.federation.graphql")).unwrap();
    assert!(federated == checked_in, "`clinicstream schema --federation` prints schema.federation.graphql");
    assert!(clinicstream(&["migrate"], &url).contains("migrations applied"));
    let seeded = clinicstream(&["seed-demo"], &url);
    assert!(seeded.contains("practice: prc_"), "{seeded}");
    assert!(seeded.contains("backoffice key: cs_"), "{seeded}");
    let key = clinicstream(&["keys", "create"], &url);
    assert!(key.trim().starts_with("cs_") && key.trim().len() > 40, "{key}");
    let _ = std::fs::remove_file(&path);
}
