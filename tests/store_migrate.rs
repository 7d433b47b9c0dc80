//! Migrating one fresh SQLite file from two places at once (two daemons started
//! together, `homelabd migrate` beside a starting daemon): both succeed, each migration
//! is applied exactly once, and the schema is complete.

use homelabd::store::Store;
use std::collections::BTreeSet;
use std::process::Command;

/// Every version the embedded migrations hold, as one migration of a fresh file applies
/// them.
async fn all_versions() -> BTreeSet<i64> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("one.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap().into_iter().collect()
}

async fn connect_and_migrate(url: String) -> Result<Vec<i64>, String> {
    let store = Store::connect(&url).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_migrating_one_fresh_file_at_once_both_succeed_and_apply_each_version_once() {
    let all = all_versions().await;
    assert!(all.len() > 10, "{all:?}");
    // The collision depends on timing: several fresh files make it near certain.
    for round in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("race.db").display());
        let (a, b) = tokio::join!(
            tokio::spawn(connect_and_migrate(url.clone())),
            tokio::spawn(connect_and_migrate(url.clone())),
        );
        let a = a
            .unwrap()
            .unwrap_or_else(|e| panic!("round {round}: first: {e}"));
        let b = b
            .unwrap()
            .unwrap_or_else(|e| panic!("round {round}: second: {e}"));
        let (a, b): (BTreeSet<i64>, BTreeSet<i64>) =
            (a.into_iter().collect(), b.into_iter().collect());
        assert!(
            a.is_disjoint(&b),
            "round {round}: applied twice: {a:?} {b:?}"
        );
        let union: BTreeSet<i64> = a.union(&b).copied().collect();
        assert_eq!(union, all, "round {round}");
        // The schema is whole: a third look finds nothing to do and the tables answer.
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
        assert!(store.resources().await.unwrap().is_empty());
    }
}

#[test]
fn two_migrate_commands_on_one_fresh_file_both_succeed() {
    let bin = env!("CARGO_BIN_EXE_homelabd");
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let spawn = || {
            Command::new(bin)
                .args(["migrate", "--database-url", &url])
                .env("HOMELABD_STATE_DIR", dir.path())
                .env_remove("HOMELABD_CONFIG")
                .env_remove("HOMELABD_DATABASE_URL")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (first, second) = (spawn(), spawn());
        for (which, child) in [("first", first), ("second", second)] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: the {which} migrate failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
