//! Store fixtures shared by the integration tests: a migrated SQLite store, a PostgreSQL
//! database (`DATABASE_URL` or a private cluster), and the seed records apply runs and
//! observations need (a recorded revision and resource).

use chrono::Utc;
use homelabd::store::{
    ApplyRunEffects, ApplyRunEnd, AuditRecord, PassRecord, ResourceRecord, RevisionRecord,
    RunOperation, RunState, Store,
};
use serde_json::json;
use std::path::Path;

use super::pg::PgCluster;

/// A PostgreSQL database for `test`: `DATABASE_URL` when set, else a fresh database in a
/// private cluster (kept alive by the returned handle). `None` (after [`super::skip`],
/// which fails under `HOMELABD_TEST_STRICT=1`) when neither is available.
pub async fn postgres(test: &str) -> Option<(Option<PgCluster>, String)> {
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        return Some((None, url));
    }
    let Some(cluster) = PgCluster::start() else {
        super::skip(test, "no PostgreSQL binaries and no DATABASE_URL");
        return None;
    };
    let url = cluster.fresh_database().await;
    Some((Some(cluster), url))
}

/// A migrated SQLite store in `dir` (`homelabd.db`) and its URL.
pub async fn sqlite(dir: &Path) -> (Store, String) {
    let url = format!("sqlite://{}", dir.join("homelabd.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, url)
}

/// A commit id made of one repeated hex digit.
pub fn commit(c: char) -> String {
    std::iter::repeat_n(c, 40).collect()
}

/// An audit row by the daemon, now.
pub fn audit(action: &str, subject: &str) -> AuditRecord {
    AuditRecord {
        at: Utc::now(),
        actor: "daemon".into(),
        action: action.into(),
        subject: subject.into(),
        details: json!({}),
    }
}

/// A rendered, never applied docker resource `name` desired at `rev`.
pub fn rendered_resource(name: &str, rev: &str) -> ResourceRecord {
    ResourceRecord {
        name: name.to_owned(),
        state: homelabd::reconcile::ResourceState::Rendered,
        reason: None,
        provider: Some(homelabd::model::Provider::Docker),
        pool: None,
        chart: None,
        resource_type: None,
        placement: None,
        dimensions: None,
        desired_revision: Some(rev.to_owned()),
        input_hash: None,
        output_hash: Some("sha256:out".into()),
        source: None,
        last_error: None,
        last_error_at: None,
        updated_at: Utc::now(),
        applied_hash: None,
        applied_revision: None,
        policy: None,
        destroyed_at: None,
        destroyed_revision: None,
        address: None,
        endpoints: Vec::new(),
    }
}

/// Records a valid revision and resource `name` (see [`rendered_resource`]), so apply
/// runs and observations can refer to them. Returns the revision's commit.
pub async fn seed(store: &Store, name: &str) -> String {
    let rev = commit('a');
    store
        .record_pass(&PassRecord {
            revision: Some(RevisionRecord {
                commit: rev.clone(),
                seen_at: Utc::now(),
                valid: true,
                resources_valid: 1,
                resources_invalid: 0,
                errors: 0,
                warnings: 0,
                diagnostics: json!([]),
            }),
            resources: vec![rendered_resource(name, &rev)],
            ..Default::default()
        })
        .await
        .unwrap();
    rev
}

/// Records a finished run of `resource` at `revision` by `executor`, as the executor
/// would: started (with its `<operation>.started` audit row), then ended now with `end`
/// and `effects`. Returns the run's id.
pub async fn record_run(
    store: &Store,
    (resource, revision, executor): (&str, &str, &str),
    operation: RunOperation,
    end: &ApplyRunEnd,
    effects: &ApplyRunEffects,
) -> String {
    let started = audit(&format!("{}.started", operation.as_str()), resource);
    let id = store
        .start_apply_run(resource, revision, executor, operation, &started)
        .await
        .unwrap();
    let end = ApplyRunEnd {
        finished_at: Utc::now(),
        ..end.clone()
    };
    store.finish_apply_run(&id, &end, effects).await.unwrap();
    id
}

/// The end of a run of `argv` (a JSON array of argument vectors) that exited with
/// `exit_code` after `duration_ms`, leaving these output tails; exit 0 succeeded, any
/// other failed with "<tool> <operation> exited with <code>".
pub fn run_end(
    argv: serde_json::Value,
    exit_code: i32,
    duration_ms: i64,
    tails: (&str, &str),
) -> ApplyRunEnd {
    let first = |i: usize| argv[0][i].as_str().unwrap_or_default().to_owned();
    ApplyRunEnd {
        state: if exit_code == 0 {
            RunState::Succeeded
        } else {
            RunState::Failed
        },
        error: (exit_code != 0)
            .then(|| format!("{} {} exited with {exit_code}", first(0), first(1))),
        argv,
        exit_code: Some(exit_code),
        finished_at: Utc::now(),
        duration_ms,
        stdout_tail: tails.0.to_owned(),
        stderr_tail: tails.1.to_owned(),
    }
}
