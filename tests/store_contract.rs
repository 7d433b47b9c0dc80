//! The store contract: one suite of cases (async fns taking a `&Store`), run against
//! SQLite (a temp file) and PostgreSQL (a throwaway cluster, or `DATABASE_URL`).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SubsecRound, Utc};
use homelabd::reconcile::ResourceState;
use homelabd::store::RunState;
use homelabd::store::{
    AuditRecord, Backend, CatalogRecord, PassRecord, RenderRecord, ResourceRecord, RevisionRecord,
    Store, StoreError,
};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::pg::PgCluster;

/// Raw access to the same database, for what the `Store` API does not show.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    /// The single integer `sql` returns (SQL valid on both backends).
    async fn int(&self, sql: &'static str) -> i64 {
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
            Raw::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The single (nullable) text `sql` returns.
    async fn text(&self, sql: &'static str) -> Option<String> {
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
            Raw::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// A store, raw access to it, and what keeps its database alive.
struct Db {
    store: Store,
    raw: Raw,
    _keep: Keep,
}

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Cluster(#[allow(dead_code)] PgCluster),
}

async fn sqlite_db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    // The file does not exist yet: connect creates it.
    let url = format!("sqlite://{}", dir.path().join("homelabd.db").display());
    let store = Store::connect(&url).await.expect("connect sqlite");
    assert_eq!(store.backend(), Backend::Sqlite);
    let raw = Raw::Sqlite(sqlx::SqlitePool::connect(&url).await.unwrap());
    Db {
        store,
        raw,
        _keep: Keep::Dir(dir),
    }
}

async fn postgres_db(test: &str) -> Option<Db> {
    let Some(cluster) = PgCluster::start() else {
        support::skip(
            test,
            "no PostgreSQL (set DATABASE_URL or install postgresql)",
        );
        return None;
    };
    let url = cluster.fresh_database().await;
    let store = Store::connect(&url).await.expect("connect postgres");
    assert_eq!(store.backend(), Backend::Postgres);
    let raw = Raw::Postgres(sqlx::PgPool::connect(&url).await.unwrap());
    Some(Db {
        store,
        raw,
        _keep: Keep::Cluster(cluster),
    })
}

/// Runs `$case` against both backends as the tests `$sqlite` and `$postgres`.
macro_rules! contract {
    ($case:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            let db = sqlite_db().await;
            $case(&db.store, &db.raw).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let Some(db) = postgres_db(stringify!($postgres)).await else {
                return;
            };
            $case(&db.store, &db.raw).await;
        }
    };
}

contract!(
    migrate_applies_all_then_nothing,
    sqlite_migrate_applies_all_then_nothing,
    postgres_migrate_applies_all_then_nothing
);
contract!(
    record_pass_round_trips_every_field,
    sqlite_record_pass_round_trips_every_field,
    postgres_record_pass_round_trips_every_field
);
contract!(
    resources_are_upserted_by_name,
    sqlite_resources_are_upserted_by_name,
    postgres_resources_are_upserted_by_name
);
contract!(
    catalog_replacement_deletes_and_syncs_dimensions,
    sqlite_catalog_replacement_deletes_and_syncs_dimensions,
    postgres_catalog_replacement_deletes_and_syncs_dimensions
);
contract!(
    revisions_are_newest_first_and_rerecordable,
    sqlite_revisions_are_newest_first_and_rerecordable,
    postgres_revisions_are_newest_first_and_rerecordable
);
contract!(
    failed_pass_leaves_nothing_behind,
    sqlite_failed_pass_leaves_nothing_behind,
    postgres_failed_pass_leaves_nothing_behind
);
contract!(
    reconcile_requests_are_taken_exactly_once,
    sqlite_reconcile_requests_are_taken_exactly_once,
    postgres_reconcile_requests_are_taken_exactly_once
);
contract!(
    render_results_and_audit_are_newest_first_and_limited,
    sqlite_render_results_and_audit_are_newest_first_and_limited,
    postgres_render_results_and_audit_are_newest_first_and_limited
);

// ---------------------------------------------------------------------------------------
// Fixtures

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// JSON that exercises the encodings: unicode, escapes, nesting, nulls, extreme integers,
/// fractions.
fn tricky_json() -> serde_json::Value {
    json!({
        "text": "héllo ☃ \"quoted\" \\ back\nslash\ttab 🚀",
        "nested": {"list": [1, [2, [3, {}]], [], null, true, false]},
        "ints": [0, -1, i64::MIN, i64::MAX, u64::MAX],
        "floats": [0.1, -2.5, 1.0, 1e-7, 123456.789],
        "empty": {},
        "null": null,
        "key with spaces": "and a very long value ".repeat(50),
    })
}

fn commit(c: char) -> String {
    c.to_string().repeat(40)
}

fn revision(c: char, seen_at: &str) -> RevisionRecord {
    RevisionRecord {
        commit: commit(c),
        seen_at: at(seen_at),
        valid: true,
        resources_valid: 2,
        resources_invalid: 0,
        errors: 0,
        warnings: 1,
        diagnostics: json!([]),
    }
}

fn full_resource(name: &str, rev: &str) -> ResourceRecord {
    ResourceRecord {
        name: name.to_owned(),
        state: ResourceState::Rendered,
        reason: Some("rendered, not applied: no executor yet".to_owned()),
        provider: Some(homelabd::model::Provider::Proxmox),
        pool: Some("/homelab/compute".to_owned()),
        chart: Some("proxmox-vm".to_owned()),
        resource_type: Some("vm".to_owned()),
        placement: Some(tricky_json()),
        dimensions: Some(json!({"env": "prod", "tier": "gold"})),
        desired_revision: Some(rev.to_owned()),
        input_hash: Some("sha256:in".to_owned()),
        output_hash: Some("sha256:out".to_owned()),
        source: Some("resources/web.yaml:3".to_owned()),
        last_error: Some("boom".to_owned()),
        last_error_at: Some(at("1969-12-31T23:59:59.999999999Z")),
        updated_at: at("2024-05-01T12:34:56.123456789Z"),
        applied_hash: Some("sha256:applied".to_owned()),
        applied_revision: Some(rev.to_owned()),
        policy: Some(json!({"apply": "manual", "self_heal": true, "prune": false})),
        destroyed_at: None,
        destroyed_revision: None,
        address: None,
        endpoints: Vec::new(),
    }
}

fn bare_resource(name: &str, state: ResourceState) -> ResourceRecord {
    ResourceRecord {
        name: name.to_owned(),
        state,
        reason: None,
        provider: None,
        pool: None,
        chart: None,
        resource_type: None,
        placement: None,
        dimensions: None,
        desired_revision: None,
        input_hash: None,
        output_hash: None,
        source: None,
        last_error: None,
        last_error_at: None,
        updated_at: at("2024-05-01T00:00:00Z"),
        applied_hash: None,
        applied_revision: None,
        policy: None,
        destroyed_at: None,
        destroyed_revision: None,
        address: None,
        endpoints: Vec::new(),
    }
}

fn pool(name: &str, path: &str, dims: &[(&str, &str)]) -> CatalogRecord {
    CatalogRecord {
        name: name.to_owned(),
        path: Some(path.to_owned()),
        spec: json!({
            "path": path,
            "pool_type": "compute",
            "provider": "proxmox",
            "properties": {"endpoint": "https://pve.example:8006", "verify_tls": false},
            "dimensions": dims.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        }),
        dimensions: dims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn template(name: &str, dims: &[(&str, &str)]) -> CatalogRecord {
    CatalogRecord {
        name: name.to_owned(),
        path: None,
        spec: json!({"defaults": {"cpu": 2, "memory_gb": 4.5}, "rules": []}),
        dimensions: dims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn audit(at_text: &str, action: &str, subject: &str) -> AuditRecord {
    AuditRecord {
        at: at(at_text),
        actor: "daemon".to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        details: json!({"why": "test", "n": 1}),
    }
}

/// `t` at the store's precision.
fn us(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

async fn migrated(store: &Store) {
    store.migrate().await.expect("migrate");
}

// ---------------------------------------------------------------------------------------
// Cases

async fn migrate_applies_all_then_nothing(store: &Store, raw: &Raw) {
    store.ping().await.expect("ping");
    assert_eq!(
        store.migrate().await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    );
    assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .await,
        14
    );
    // An empty store reads as empty.
    assert_eq!(store.latest_revision().await.unwrap(), None);
    assert!(store.resources().await.unwrap().is_empty());
    assert!(store.pools().await.unwrap().is_empty());
    assert!(store.take_reconcile_requests().await.unwrap().is_empty());
}

async fn record_pass_round_trips_every_field(store: &Store, _raw: &Raw) {
    migrated(store).await;
    let rev = RevisionRecord {
        commit: commit('a'),
        seen_at: at("2024-05-01T12:34:56.123456789Z"),
        valid: false,
        resources_valid: 7,
        resources_invalid: 3,
        errors: 2,
        warnings: 5,
        diagnostics: json!([{"severity": "error", "code": "E001", "line": 3, "extra": tricky_json()}]),
    };
    let pass = PassRecord {
        revision: Some(rev.clone()),
        resources: vec![
            bare_resource("zeta", ResourceState::Invalid),
            full_resource("alpha", &rev.commit),
        ],
        renders: vec![
            RenderRecord {
                resource: "alpha".to_owned(),
                revision: rev.commit.clone(),
                input_hash: "in-1".to_owned(),
                output_hash: "out-1".to_owned(),
                outcome: "written".to_owned(),
                rendered_at: at("2024-05-01T12:00:00.000001Z"),
            },
            RenderRecord {
                resource: "alpha".to_owned(),
                revision: rev.commit.clone(),
                input_hash: "in-2".to_owned(),
                output_hash: "out-2".to_owned(),
                outcome: "unchanged".to_owned(),
                rendered_at: at("2024-05-01T12:00:00.000002999Z"),
            },
        ],
        pools: Some(vec![
            pool(
                "compute",
                "/homelab/compute",
                &[("site", "home"), ("tier", "gold")],
            ),
            pool("homelab", "/homelab", &[]),
        ]),
        templates: Some(vec![template("small-vm", &[("size", "s")])]),
        audit: vec![
            audit(
                "2024-05-01T12:34:56.999999999Z",
                "revision.recorded",
                &rev.commit,
            ),
            audit("2024-05-01T12:34:57Z", "resource.rendered", "alpha"),
        ],
    };
    store.record_pass(&pass).await.expect("record pass");

    let want_rev = RevisionRecord {
        seen_at: us(rev.seen_at),
        ..rev.clone()
    };
    assert_eq!(
        store.revision(&rev.commit).await.unwrap(),
        Some(want_rev.clone())
    );
    assert_eq!(store.latest_revision().await.unwrap(), Some(want_rev));
    assert_eq!(store.revision(&commit('f')).await.unwrap(), None);

    let mut alpha = full_resource("alpha", &rev.commit);
    alpha.updated_at = at("2024-05-01T12:34:56.123456Z");
    alpha.last_error_at = Some(at("1969-12-31T23:59:59.999999Z"));
    let zeta = bare_resource("zeta", ResourceState::Invalid);
    assert_eq!(
        store.resources().await.unwrap(),
        vec![alpha.clone(), zeta.clone()]
    );
    assert_eq!(store.resource("alpha").await.unwrap(), Some(alpha));
    assert_eq!(store.resource("zeta").await.unwrap(), Some(zeta));
    assert_eq!(store.resource("nope").await.unwrap(), None);

    let renders = store.render_results("alpha", 10).await.unwrap();
    let mut want_renders: Vec<RenderRecord> = pass.renders.iter().rev().cloned().collect();
    want_renders[0].rendered_at = at("2024-05-01T12:00:00.000002Z");
    assert_eq!(renders, want_renders);
    assert!(store.render_results("zeta", 10).await.unwrap().is_empty());

    let log = store.audit_log(10).await.unwrap();
    let mut want_log: Vec<AuditRecord> = pass.audit.iter().rev().cloned().collect();
    want_log[1].at = at("2024-05-01T12:34:56.999999Z");
    assert_eq!(log, want_log);

    assert_eq!(
        store.pools().await.unwrap(),
        pass.pools.clone().unwrap(),
        "pools, ordered by name, with their dimensions"
    );
    assert_eq!(
        store.templates().await.unwrap(),
        pass.templates.clone().unwrap()
    );
}

async fn resources_are_upserted_by_name(store: &Store, raw: &Raw) {
    migrated(store).await;
    let first = PassRecord {
        revision: Some(revision('a', "2024-01-01T00:00:00Z")),
        resources: vec![full_resource("web", &commit('a'))],
        ..Default::default()
    };
    store.record_pass(&first).await.unwrap();

    let mut failed = bare_resource("web", ResourceState::ApplyFailed);
    failed.last_error = Some("terraform apply exited 1".to_owned());
    let second = PassRecord {
        resources: vec![failed.clone(), bare_resource("db", ResourceState::Orphaned)],
        ..Default::default()
    };
    store.record_pass(&second).await.unwrap();

    // Every field is replaced, except that an update without placement or dimensions
    // keeps the stored ones: a failed, invalid or orphaned resource keeps the placement of
    // its last good state.
    let full = full_resource("web", &commit('a'));
    let expected_web = ResourceRecord {
        placement: full.placement.clone(),
        dimensions: full.dimensions.clone(),
        policy: full.policy.clone(),
        destroyed_at: None,
        destroyed_revision: None,
        address: None,
        endpoints: Vec::new(),
        ..failed.clone()
    };
    assert_eq!(
        store.resources().await.unwrap(),
        vec![bare_resource("db", ResourceState::Orphaned), expected_web]
    );
    // A new placement does replace the old one.
    let mut moved = full_resource("web", &commit('a'));
    moved.placement = Some(json!({"pool": "/elsewhere"}));
    store
        .record_pass(&PassRecord {
            resources: vec![moved],
            ..Default::default()
        })
        .await
        .unwrap();
    let web = store.resource("web").await.unwrap().unwrap();
    assert_eq!(web.placement, Some(json!({"pool": "/elsewhere"})));
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM deployment_instances").await,
        2
    );
    // An upsert keeps the row (and its id), it does not replace it.
    assert_eq!(
        raw.int("SELECT COUNT(DISTINCT id) FROM deployment_instances WHERE name = 'web'")
            .await,
        1
    );
}

async fn catalog_replacement_deletes_and_syncs_dimensions(store: &Store, raw: &Raw) {
    migrated(store).await;
    let first = PassRecord {
        pools: Some(vec![
            pool("root", "/homelab", &[("site", "home")]),
            pool("compute", "/homelab/compute", &[("tier", "gold")]),
            pool("storage", "/homelab/storage", &[("tier", "bulk")]),
        ]),
        templates: Some(vec![
            template("large", &[("size", "l"), ("gpu", "yes")]),
            template("small", &[("size", "s")]),
        ]),
        ..Default::default()
    };
    store.record_pass(&first).await.unwrap();
    assert_eq!(store.pools().await.unwrap().len(), 3);
    assert_eq!(
        raw.text("SELECT parent_path FROM resource_pools WHERE name = 'compute'")
            .await
            .as_deref(),
        Some("/homelab")
    );
    assert_eq!(
        raw.text("SELECT parent_path FROM resource_pools WHERE name = 'root'")
            .await,
        None
    );
    assert_eq!(
        raw.text("SELECT provider FROM resource_pools WHERE name = 'root'")
            .await
            .as_deref(),
        Some("proxmox")
    );

    // `root` goes, `compute` and `storage` swap paths, dimensions change; templates are
    // not in the pass and stay as they are.
    let second_pools = vec![
        pool(
            "compute",
            "/homelab/storage",
            &[("tier", "silver"), ("new", "x")],
        ),
        pool("storage", "/homelab/compute", &[]),
    ];
    let second = PassRecord {
        pools: Some(second_pools.clone()),
        ..Default::default()
    };
    store.record_pass(&second).await.unwrap();
    assert_eq!(store.pools().await.unwrap(), second_pools);
    assert_eq!(
        store.templates().await.unwrap(),
        first.templates.clone().unwrap()
    );
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM resource_dimensions WHERE entity_kind = 'pool'")
            .await,
        2
    );
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM resource_dimensions WHERE entity_name = 'root'")
            .await,
        0
    );

    // Templates replaced: `large` and its dimensions go.
    let third = PassRecord {
        templates: Some(vec![template("small", &[("size", "xs")])]),
        ..Default::default()
    };
    store.record_pass(&third).await.unwrap();
    assert_eq!(
        store.templates().await.unwrap(),
        vec![template("small", &[("size", "xs")])]
    );
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM resource_dimensions WHERE entity_name = 'large'")
            .await,
        0
    );
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM resource_dimensions WHERE key = 'size' AND value = 'xs'")
            .await,
        1
    );

    // An empty list empties the table.
    let fourth = PassRecord {
        pools: Some(Vec::new()),
        ..Default::default()
    };
    store.record_pass(&fourth).await.unwrap();
    assert!(store.pools().await.unwrap().is_empty());
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM resource_dimensions WHERE entity_kind = 'pool'")
            .await,
        0
    );
    assert_eq!(store.templates().await.unwrap().len(), 1);
}

async fn revisions_are_newest_first_and_rerecordable(store: &Store, _raw: &Raw) {
    migrated(store).await;
    for rev in [
        revision('b', "2024-03-01T00:00:00.000002Z"),
        revision('a', "2024-03-01T00:00:00.000001Z"),
        revision('c', "2024-03-01T00:00:00.000003Z"),
    ] {
        store
            .record_pass(&PassRecord {
                revision: Some(rev),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let commits =
        |revs: Vec<RevisionRecord>| revs.into_iter().map(|r| r.commit).collect::<Vec<_>>();
    assert_eq!(
        commits(store.revisions(10).await.unwrap()),
        vec![commit('c'), commit('b'), commit('a')]
    );
    assert_eq!(
        commits(store.revisions(2).await.unwrap()),
        vec![commit('c'), commit('b')]
    );
    assert!(store.revisions(0).await.unwrap().is_empty());

    // Seeing `a` again: no error, one row, now the newest.
    let mut again = revision('a', "2024-04-01T00:00:00Z");
    again.valid = false;
    again.errors = 1;
    again.diagnostics = json!([{"code": "E1"}]);
    store
        .record_pass(&PassRecord {
            revision: Some(again.clone()),
            ..Default::default()
        })
        .await
        .expect("re-recording a commit");
    assert_eq!(store.latest_revision().await.unwrap(), Some(again));
    assert_eq!(store.revisions(10).await.unwrap().len(), 3);
}

async fn failed_pass_leaves_nothing_behind(store: &Store, raw: &Raw) {
    migrated(store).await;
    async fn counts(raw: &Raw) -> [i64; 5] {
        [
            raw.int("SELECT COUNT(*) FROM revisions").await,
            raw.int("SELECT COUNT(*) FROM deployment_instances").await,
            raw.int("SELECT COUNT(*) FROM render_results").await,
            raw.int("SELECT COUNT(*) FROM resource_pools").await,
            raw.int("SELECT COUNT(*) FROM audit_log").await,
        ]
    }
    // Each pass writes something, then breaks a constraint part-way through.
    let bad_state = PassRecord {
        revision: Some(revision('a', "2024-01-01T00:00:00Z")),
        resources: vec![
            full_resource("good", &commit('a')),
            bare_resource("bad", ResourceState::Invalid),
        ],
        renders: vec![RenderRecord {
            resource: "bad".to_owned(),
            revision: commit('z'),
            input_hash: "i".to_owned(),
            output_hash: "o".to_owned(),
            outcome: "written".to_owned(),
            rendered_at: at("2024-01-01T00:00:00Z"),
        }],
        audit: vec![audit("2024-01-01T00:00:00Z", "revision.recorded", "a")],
        ..Default::default()
    };
    let unknown_resource = PassRecord {
        revision: Some(revision('a', "2024-01-01T00:00:00Z")),
        resources: vec![full_resource("good", &commit('a'))],
        renders: vec![RenderRecord {
            resource: "not-there".to_owned(),
            revision: commit('a'),
            input_hash: "i".to_owned(),
            output_hash: "o".to_owned(),
            outcome: "written".to_owned(),
            rendered_at: at("2024-01-01T00:00:00Z"),
        }],
        audit: vec![audit("2024-01-01T00:00:00Z", "revision.recorded", "a")],
        ..Default::default()
    };
    let mut pathless = pool("nowhere", "/x", &[]);
    pathless.path = None;
    pathless.spec = json!({});
    let pool_without_path = PassRecord {
        revision: Some(revision('a', "2024-01-01T00:00:00Z")),
        pools: Some(vec![pool("fine", "/fine", &[("k", "v")]), pathless]),
        audit: vec![audit("2024-01-01T00:00:00Z", "revision.recorded", "a")],
        ..Default::default()
    };
    for (what, pass) in [
        ("a render of an unrecorded revision", &bad_state),
        ("a render of an unknown resource", &unknown_resource),
        ("a pool without a path", &pool_without_path),
    ] {
        let err = store
            .record_pass(pass)
            .await
            .expect_err(&format!("{what} must fail"));
        assert!(matches!(err, StoreError::Database(_)), "{what}: {err}");
        assert_eq!(counts(raw).await, [0; 5], "{what} left rows behind");
        assert!(store.audit_log(10).await.unwrap().is_empty());
    }

    // Existing rows are untouched by a failed pass that would have changed them.
    let good = PassRecord {
        revision: Some(revision('b', "2024-02-01T00:00:00Z")),
        resources: vec![full_resource("good", &commit('b'))],
        audit: vec![audit("2024-02-01T00:00:00Z", "revision.recorded", "b")],
        ..Default::default()
    };
    store
        .record_pass(&good)
        .await
        .expect("the store still works");
    let before = store.resources().await.unwrap();
    let mut changes_then_fails = bad_state.clone();
    changes_then_fails.resources[0].state = ResourceState::Applied;
    changes_then_fails.pools = Some(Vec::new());
    assert!(store.record_pass(&changes_then_fails).await.is_err());
    assert_eq!(store.resources().await.unwrap(), before);
    assert_eq!(store.revisions(10).await.unwrap().len(), 1);
    assert_eq!(store.audit_log(10).await.unwrap().len(), 1);
}

async fn reconcile_requests_are_taken_exactly_once(store: &Store, _raw: &Raw) {
    migrated(store).await;
    let before = Utc::now().trunc_subsecs(6);
    let one = store
        .request_reconcile(Some("web"), "cli:alice")
        .await
        .unwrap();
    let all = store.request_reconcile(None, "mcp:claude").await.unwrap();
    let after = Utc::now();
    assert!(all > one);

    let log = store.audit_log(10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|a| a.action == "reconcile.requested"));
    assert_eq!(
        (log[0].actor.as_str(), log[0].subject.as_str()),
        ("mcp:claude", "*")
    );
    assert_eq!(
        (log[1].actor.as_str(), log[1].subject.as_str()),
        ("cli:alice", "web")
    );

    let taken = store.take_reconcile_requests().await.unwrap();
    assert_eq!(
        taken.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![one, all]
    );
    assert_eq!(taken[0].resource.as_deref(), Some("web"));
    assert_eq!(taken[0].requested_by, "cli:alice");
    assert_eq!(taken[1].resource, None);
    assert_eq!(taken[1].requested_by, "mcp:claude");
    for r in &taken {
        assert!(before <= r.requested_at && r.requested_at <= after, "{r:?}");
        assert_eq!(r.requested_at, r.requested_at.trunc_subsecs(6));
    }
    assert!(store.take_reconcile_requests().await.unwrap().is_empty());
    // Ids are never reused, even once the queue has been emptied.
    assert!(store.request_reconcile(None, "daemon").await.unwrap() > all);
    store.take_reconcile_requests().await.unwrap();

    // Producers and takers at once: every request is taken by exactly one taker.
    const PRODUCERS: usize = 4;
    const EACH: usize = 25;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..EACH {
                    let name = format!("r{p}-{i}");
                    ids.push(store.request_reconcile(Some(&name), "test").await.unwrap());
                }
                ids
            })
        })
        .collect();
    let takers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                    ids.extend(
                        store
                            .take_reconcile_requests()
                            .await
                            .unwrap()
                            .iter()
                            .map(|r| r.id),
                    );
                    if finished {
                        return ids;
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut produced = BTreeSet::new();
    for p in producers {
        produced.extend(p.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut taken: Vec<i64> = Vec::new();
    for t in takers {
        taken.extend(t.await.unwrap());
    }
    taken.extend(
        store
            .take_reconcile_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.id),
    );
    let distinct: BTreeSet<i64> = taken.iter().copied().collect();
    assert_eq!(taken.len(), distinct.len(), "a request was taken twice");
    assert_eq!(distinct, produced);
    assert_eq!(produced.len(), PRODUCERS * EACH);
}

async fn render_results_and_audit_are_newest_first_and_limited(store: &Store, _raw: &Raw) {
    migrated(store).await;
    let mut pass = PassRecord {
        revision: Some(revision('a', "2024-01-01T00:00:00Z")),
        resources: vec![
            full_resource("web", &commit('a')),
            full_resource("db", &commit('a')),
        ],
        ..Default::default()
    };
    for i in 0..5 {
        for resource in ["web", "db"] {
            pass.renders.push(RenderRecord {
                resource: resource.to_owned(),
                revision: commit('a'),
                input_hash: format!("in-{i}"),
                output_hash: format!("out-{i}"),
                outcome: "written".to_owned(),
                rendered_at: at(&format!("2024-01-01T00:00:0{i}Z")),
            });
        }
        // Same timestamp for all: insertion order decides.
        pass.audit
            .push(audit("2024-01-01T00:00:00Z", &format!("action.{i}"), "web"));
    }
    store.record_pass(&pass).await.unwrap();
    let renders = store.render_results("web", 3).await.unwrap();
    assert_eq!(
        renders
            .iter()
            .map(|r| r.input_hash.as_str())
            .collect::<Vec<_>>(),
        ["in-4", "in-3", "in-2"]
    );
    assert!(renders.iter().all(|r| r.resource == "web"));
    assert_eq!(
        store
            .audit_log(2)
            .await
            .unwrap()
            .iter()
            .map(|a| a.action.as_str())
            .collect::<Vec<_>>(),
        ["action.4", "action.3"]
    );
    assert!(store.audit_log(-1).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// Backend-specific checks

#[tokio::test]
async fn connect_rejects_bad_urls() {
    for url in [
        "",
        "mysql://localhost/homelabd",
        "http://localhost",
        "sqlite:",
        "sqlite://",
        "postgres",
    ] {
        match Store::connect(url).await {
            Err(StoreError::BadUrl(_)) => {}
            other => panic!("{url:?}: expected BadUrl, got {other:?}"),
        }
    }
    let err = Store::connect("postgress://admin:hunter2@db.example/homelabd")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadUrl(_)));
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(
        store.migrate().await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    );
    let id = store.request_reconcile(None, "test").await.unwrap();
    assert_eq!(store.take_reconcile_requests().await.unwrap()[0].id, id);
}

#[tokio::test]
async fn sqlite_timestamps_are_fixed_width_utc_text() {
    let db = sqlite_db().await;
    migrated(&db.store).await;
    let mut rev = revision('a', "2024-05-01T14:34:56.5+02:00");
    rev.diagnostics = json!([{"k": "v"}]);
    db.store
        .record_pass(&PassRecord {
            revision: Some(rev),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        db.raw
            .text("SELECT seen_at FROM revisions")
            .await
            .as_deref(),
        Some("2024-05-01T12:34:56.500000Z")
    );
    assert_eq!(
        db.raw
            .text("SELECT typeof(valid) FROM revisions")
            .await
            .as_deref(),
        Some("integer")
    );
    assert_eq!(
        db.raw
            .text("SELECT diagnostics FROM revisions")
            .await
            .as_deref(),
        Some(r#"[{"k":"v"}]"#)
    );
    let mode = db.raw.text("PRAGMA journal_mode").await;
    assert_eq!(mode.as_deref(), Some("wal"));
}

#[tokio::test]
async fn postgres_columns_are_native_types() {
    let Some(db) = postgres_db("postgres_columns_are_native_types").await else {
        return;
    };
    migrated(&db.store).await;
    let Raw::Postgres(pool) = &db.raw else {
        unreachable!()
    };
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text
         FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let types: BTreeMap<(String, String), String> =
        rows.into_iter().map(|(t, c, ty)| ((t, c), ty)).collect();
    let ty = |table: &str, column: &str| {
        types
            .get(&(table.to_owned(), column.to_owned()))
            .unwrap_or_else(|| panic!("no column {table}.{column}"))
            .as_str()
    };
    for table in [
        "resource_pools",
        "deployment_templates",
        "resource_dimensions",
        "deployment_instances",
        "infrastructure_snapshots",
        "state_deviations",
        "generated_templates",
        "audit_log",
        "render_results",
        "apply_runs",
        "proposals",
    ] {
        assert_eq!(ty(table, "id"), "uuid", "{table}.id");
    }
    for (table, column) in [
        ("resource_pools", "properties"),
        ("resource_pools", "spec"),
        ("deployment_templates", "spec"),
        ("deployment_instances", "placement"),
        ("deployment_instances", "expected_state"),
        ("deployment_instances", "actual_state"),
        ("infrastructure_snapshots", "content"),
        ("state_deviations", "expected"),
        ("generated_templates", "content"),
        ("audit_log", "details"),
        ("revisions", "diagnostics"),
        ("apply_runs", "argv"),
        ("proposals", "details"),
    ] {
        assert_eq!(ty(table, column), "jsonb", "{table}.{column}");
    }
    for (table, column) in [
        ("revisions", "seen_at"),
        ("deployment_instances", "updated_at"),
        ("deployment_instances", "state_last_checked"),
        ("render_results", "rendered_at"),
        ("audit_log", "at"),
        ("state_deviations", "detected_at"),
        ("apply_runs", "started_at"),
        ("reconcile_requests", "requested_at"),
    ] {
        assert_eq!(
            ty(table, column),
            "timestamp with time zone",
            "{table}.{column}"
        );
    }
    assert_eq!(ty("audit_log", "client_addr"), "inet");
    // `host:port` and host names too, not only IP addresses.
    assert_eq!(ty("deployment_instances", "address"), "text");
    assert_eq!(ty("deployment_instances", "endpoints"), "jsonb");
    assert_eq!(ty("revisions", "valid"), "boolean");
    assert_eq!(ty("deployment_instances", "deviation_detected"), "boolean");
    assert_eq!(ty("reconcile_requests", "id"), "bigint");
    // The UUID default works without extensions.
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO infrastructure_snapshots (name, taken_by, content)
         VALUES ('s', 'test', '{}') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(id.get_version_num(), 4);
}

contract!(
    nul_characters_from_hostile_input_never_fail_a_pass,
    sqlite_nul_characters_from_hostile_input_never_fail_a_pass,
    postgres_nul_characters_from_hostile_input_never_fail_a_pass
);

/// A NUL that hostile YAML smuggled into a diagnostic or an error must not make the pass
/// unwritable (PostgreSQL text and JSONB cannot hold it); the rest of the pass lands.
async fn nul_characters_from_hostile_input_never_fail_a_pass(store: &Store, _raw: &Raw) {
    migrated(store).await;
    let rev = commit('e');
    let mut r = full_resource("nul-victim", &rev);
    r.last_error = Some("bad value \u{0}here".to_owned());
    let mut revision = revision('e', "2026-01-01T00:00:00Z");
    revision.diagnostics = json!([{"found": "a\u{0}b", "k\u{0}ey": 1}]);
    let pass = PassRecord {
        revision: Some(revision),
        resources: vec![r],
        ..PassRecord::default()
    };
    store
        .record_pass(&pass)
        .await
        .expect("a NUL never fails the pass");
    let stored = store.resource("nul-victim").await.unwrap().unwrap();
    let error = stored.last_error.unwrap();
    assert!(
        error.starts_with("bad value ") && error.ends_with("here"),
        "{error}"
    );
    let diags = store.revision(&rev).await.unwrap().unwrap().diagnostics;
    assert_eq!(
        diags[0]["found"].as_str().map(|s| s.chars().count()),
        Some(3)
    );
}

contract!(
    resource_states_leave_out_the_documents,
    sqlite_resource_states_leave_out_the_documents,
    postgres_resource_states_leave_out_the_documents
);

/// `resource_states` is `resources` without placement and dimensions.
async fn resource_states_leave_out_the_documents(store: &Store, _raw: &Raw) {
    migrated(store).await;
    let pass = PassRecord {
        revision: Some(revision('a', "2024-01-01T00:00:00Z")),
        resources: vec![full_resource("web", &commit('a'))],
        ..Default::default()
    };
    store.record_pass(&pass).await.unwrap();
    let states = store.resource_states().await.unwrap();
    let expected = ResourceRecord {
        placement: None,
        dimensions: None,
        ..store.resource("web").await.unwrap().unwrap()
    };
    assert_eq!(states, vec![expected]);
    assert!(
        store
            .resource("web")
            .await
            .unwrap()
            .unwrap()
            .placement
            .is_some()
    );
}

contract!(
    apply_runs_are_recorded_before_and_after_and_interrupted_after_a_crash,
    sqlite_apply_runs_are_recorded_before_and_after_and_interrupted_after_a_crash,
    postgres_apply_runs_are_recorded_before_and_after_and_interrupted_after_a_crash
);

/// A run row exists (`running`) before the tool starts; its end, the resource's new
/// state and the audit land together; a run left `running` is marked interrupted once.
async fn apply_runs_are_recorded_before_and_after_and_interrupted_after_a_crash(
    store: &Store,
    raw: &Raw,
) {
    migrated(store).await;
    let rev = commit('a');
    let pass = PassRecord {
        revision: Some(revision('a', "2024-05-01T00:00:00Z")),
        resources: vec![full_resource("web", &rev), full_resource("db", &rev)],
        ..Default::default()
    };
    store.record_pass(&pass).await.unwrap();
    let started = audit_row("apply.started", "web");
    let id = store
        .start_apply_run(
            "web",
            &rev,
            "docker compose",
            homelabd::store::RunOperation::Apply,
            &started,
        )
        .await
        .unwrap();
    let runs = store.apply_runs(Some("web"), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].state, RunState::Running);
    assert_eq!(runs[0].finished_at, None);

    let mut applied = full_resource("web", &rev);
    applied.state = ResourceState::Applied;
    applied.applied_hash = Some("sha256:out".to_owned());
    let end = homelabd::store::ApplyRunEnd {
        state: RunState::Failed,
        argv: json!([["docker", "compose", "up", "-d"]]),
        exit_code: Some(17),
        finished_at: Utc::now(),
        duration_ms: 1234,
        stdout_tail: "out\n".to_owned(),
        stderr_tail: "bad\u{0}thing\n".to_owned(),
        error: Some("docker exited with 17: bad thing".to_owned()),
    };
    let effects = homelabd::store::ApplyRunEffects {
        resource: Some(applied.clone()),
        destroyed: None,
        audit: vec![audit_row("apply.failed", "web")],
        notifications: vec![],
        endpoints: None,
    };
    store.finish_apply_run(&id, &end, &effects).await.unwrap();
    let run = &store.apply_runs(Some("web"), 10).await.unwrap()[0];
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(run.exit_code, Some(17));
    assert_eq!(run.duration_ms, Some(1234));
    assert_eq!(run.argv, json!([["docker", "compose", "up", "-d"]]));
    assert_eq!(run.stderr_tail.as_deref(), Some("bad\u{fffd}thing\n"));
    assert_eq!(
        store
            .resource("web")
            .await
            .unwrap()
            .unwrap()
            .applied_hash
            .as_deref(),
        Some("sha256:out")
    );

    // A crash: a run left running is interrupted at the next start, exactly once.
    store
        .start_apply_run(
            "db",
            &rev,
            "terraform",
            homelabd::store::RunOperation::Apply,
            &audit_row("apply.started", "db"),
        )
        .await
        .unwrap();
    let interrupted = store.interrupt_running_applies().await.unwrap();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].resource, "db");
    assert_eq!(interrupted[0].state, RunState::Interrupted);
    assert!(store.interrupt_running_applies().await.unwrap().is_empty());
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM apply_runs WHERE state = 'running'")
            .await,
        0
    );

    // Prune: the resource is marked destroyed; its row, runs and audit stay.
    let destroyed_at = us(Utc::now());
    let effects = homelabd::store::ApplyRunEffects {
        resource: None,
        destroyed: Some(homelabd::store::Destroyed {
            name: "db".to_owned(),
            revision: rev.clone(),
            at: destroyed_at,
            reason: "destroyed by terraform: definition removed".to_owned(),
        }),
        audit: vec![audit_row("resource.pruned", "db")],
        notifications: vec![],
        endpoints: None,
    };
    let id = store
        .start_apply_run(
            "db",
            &rev,
            "terraform",
            homelabd::store::RunOperation::Destroy,
            &audit_row("destroy.started", "db"),
        )
        .await
        .unwrap();
    store
        .finish_apply_run(
            &id,
            &homelabd::store::ApplyRunEnd {
                state: RunState::Succeeded,
                finished_at: Utc::now(),
                ..end.clone()
            },
            &effects,
        )
        .await
        .unwrap();
    let db = store.resource("db").await.unwrap().expect("row kept");
    assert_eq!(db.destroyed_at, Some(destroyed_at));
    assert_eq!(db.destroyed_revision.as_deref(), Some(rev.as_str()));
    assert_eq!(db.shown_state(), "destroyed");
    assert_eq!(db.applied_hash, None, "nothing is applied any more");
    let live: Vec<String> = store
        .resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(live, vec!["web"], "a destroyed resource is not a live one");
    assert_eq!(store.resource_states().await.unwrap().len(), 1);
    assert_eq!(store.resources_with_destroyed().await.unwrap().len(), 2);
    let runs = store.apply_runs(Some("db"), 10).await.unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| r.operation.as_str())
            .collect::<Vec<_>>(),
        vec!["destroy", "apply"],
        "its runs are kept"
    );
    assert!(
        store
            .audit_log(100)
            .await
            .unwrap()
            .iter()
            .any(|a| a.action == "resource.pruned" && a.subject == "db")
    );
    // Nothing can delete the row while it has history.
    let deleted = match raw {
        Raw::Sqlite(p) => sqlx::query("DELETE FROM deployment_instances WHERE name = 'db'")
            .execute(p)
            .await
            .map(|_| ()),
        Raw::Postgres(p) => sqlx::query("DELETE FROM deployment_instances WHERE name = 'db'")
            .execute(p)
            .await
            .map(|_| ()),
    };
    assert!(deleted.is_err(), "the foreign keys refuse to drop history");

    // Defined again: the same row comes back, and its history continues.
    let rev_b = commit('b');
    store
        .record_pass(&PassRecord {
            revision: Some(revision('b', "2024-05-02T00:00:00Z")),
            resources: vec![full_resource("db", &rev_b)],
            ..Default::default()
        })
        .await
        .unwrap();
    let back = store.resource("db").await.unwrap().unwrap();
    assert_eq!((back.destroyed_at, back.shown_state()), (None, "rendered"));
    store
        .start_apply_run(
            "db",
            &rev_b,
            "terraform",
            homelabd::store::RunOperation::Apply,
            &audit_row("apply.started", "db"),
        )
        .await
        .unwrap();
    assert_eq!(store.apply_runs(Some("db"), 10).await.unwrap().len(), 3);
}

contract!(
    a_version_7_database_learns_which_step_failed,
    sqlite_a_version_7_database_learns_which_step_failed,
    postgres_a_version_7_database_learns_which_step_failed
);

/// Migration 8: resources that failed before it are told apart once, by the reason
/// homelabd wrote for a failed apply ("apply failed: …"); a failed apply is then applied
/// again after the upgrade instead of being rendered again.
async fn a_version_7_database_learns_which_step_failed(store: &Store, raw: &Raw) {
    let dir = tempfile::tempdir().unwrap();
    let rows: [&'static str; 3] = [
        "INSERT INTO deployment_instances (name, state, reason, updated_at)
         VALUES ('applying', 'failed', 'apply failed: exit 1; retrying in 5s',
                 '2024-05-01T00:00:00.000000Z')",
        "INSERT INTO deployment_instances (name, state, reason, updated_at)
         VALUES ('rendering', 'failed', 'render or write failed; retrying with backoff',
                 '2024-05-01T00:00:00.000000Z')",
        "INSERT INTO deployment_instances (name, state, reason, updated_at)
         VALUES ('fine', 'applied', 'applied by docker-compose',
                 '2024-05-01T00:00:00.000000Z')",
    ];
    database_before(raw, "0008", dir.path(), &rows).await;
    assert_eq!(
        store.migrate().await.unwrap(),
        vec![8, 9, 10, 11, 12, 13, 14]
    );
    let states: Vec<(String, ResourceState)> = store
        .resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.name, r.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("applying".to_owned(), ResourceState::ApplyFailed),
            ("fine".to_owned(), ResourceState::Applied),
            ("rendering".to_owned(), ResourceState::RenderFailed),
        ]
    );
}

contract!(
    a_version_5_database_keeps_its_history_through_the_migration,
    sqlite_a_version_5_database_keeps_its_history_through_the_migration,
    postgres_a_version_5_database_keeps_its_history_through_the_migration
);

/// A database created before history was kept (schema version 5, with renders and runs
/// under the old cascading foreign keys) is migrated in place: every row survives, and
/// from then on pruning keeps them.
async fn a_version_5_database_keeps_its_history_through_the_migration(store: &Store, raw: &Raw) {
    let dir = tempfile::tempdir().unwrap();
    let rows: [&'static str; 6] = [
        r#"INSERT INTO revisions ("commit", seen_at, valid, resources_valid, resources_invalid,
               errors, warnings)
           VALUES ('aaaa', '2024-05-01T00:00:00.000000Z', TRUE, 1, 0, 0, 0)"#,
        "INSERT INTO deployment_instances (name, state, updated_at, applied_hash)
         VALUES ('web', 'applied', '2024-05-01T00:00:00.000000Z', 'sha256:out')",
        "INSERT INTO render_results (resource, revision, input_hash, output_hash, outcome,
                                     rendered_at)
         VALUES ('web', 'aaaa', 'sha256:in', 'sha256:out', 'written',
                 '2024-05-01T00:00:01.000000Z')",
        "INSERT INTO apply_runs (resource, revision, executor, state, started_at, finished_at,
                                 operation, member)
         VALUES ('web', 'aaaa', 'docker compose', 'succeeded', '2024-05-01T00:00:02.000000Z',
                 '2024-05-01T00:00:03.000000Z', 'apply', 'member-1')",
        "INSERT INTO apply_runs (resource, revision, executor, state, started_at, operation)
         VALUES ('web', 'aaaa', 'docker compose', 'running', '2024-05-01T00:00:04.000000Z',
                 'destroy')",
        "INSERT INTO audit_log (at, actor, action, subject)
         VALUES ('2024-05-01T00:00:05.000000Z', 'daemon', 'destroy.started', 'web')",
    ];
    database_before(raw, "0006", dir.path(), &rows).await;
    assert_eq!(
        store.migrate().await.unwrap(),
        vec![6, 7, 8, 9, 10, 11, 12, 13, 14]
    );
    let runs = store.apply_runs(Some("web"), 10).await.unwrap();
    assert_eq!(runs.len(), 2, "runs survive the rebuild");
    assert_eq!(runs[1].state, RunState::Succeeded);
    assert_eq!(runs[1].duration_ms, None);
    assert_eq!(runs[0].operation, homelabd::store::RunOperation::Destroy);
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM apply_runs WHERE member = 'member-1'")
            .await,
        1
    );
    assert_eq!(store.render_results("web", 10).await.unwrap().len(), 1);
    let web = store.resource("web").await.unwrap().unwrap();
    assert_eq!((web.destroyed_at, web.shown_state()), (None, "applied"));
    // The interrupted destroy finishes after the upgrade: history stays.
    let interrupted = store.interrupt_running_applies().await.unwrap();
    assert_eq!(interrupted.len(), 1);
    let id = store
        .start_apply_run(
            "web",
            "aaaa",
            "docker compose",
            homelabd::store::RunOperation::Destroy,
            &audit_row("destroy.started", "web"),
        )
        .await
        .unwrap();
    let end = homelabd::store::ApplyRunEnd {
        state: RunState::Succeeded,
        argv: json!([]),
        exit_code: Some(0),
        finished_at: Utc::now(),
        duration_ms: 5,
        stdout_tail: String::new(),
        stderr_tail: String::new(),
        error: None,
    };
    let effects = homelabd::store::ApplyRunEffects {
        destroyed: Some(homelabd::store::Destroyed {
            name: "web".to_owned(),
            revision: "aaaa".to_owned(),
            at: Utc::now(),
            reason: "destroyed".to_owned(),
        }),
        ..Default::default()
    };
    store.finish_apply_run(&id, &end, &effects).await.unwrap();
    assert_eq!(store.apply_runs(Some("web"), 10).await.unwrap().len(), 3);
    assert_eq!(store.render_results("web", 10).await.unwrap().len(), 1);
    assert!(store.resources().await.unwrap().is_empty());
    assert_eq!(
        store.resource("web").await.unwrap().unwrap().shown_state(),
        "destroyed"
    );
}

contract!(
    endpoints_are_written_by_applies_and_observations_never_by_passes,
    sqlite_endpoints_are_written_by_applies_and_observations_never_by_passes,
    postgres_endpoints_are_written_by_applies_and_observations_never_by_passes
);

/// Endpoints come from the tools: an apply or an observation writes them (and the
/// address, the first one's), a pass leaves them alone, and destroying clears them.
async fn endpoints_are_written_by_applies_and_observations_never_by_passes(
    store: &Store,
    _raw: &Raw,
) {
    use homelabd::observe::Endpoint;
    migrated(store).await;
    let rev = commit('a');
    let pass = PassRecord {
        revision: Some(revision('a', "2024-05-01T00:00:00Z")),
        resources: vec![full_resource("vm", &rev)],
        ..Default::default()
    };
    store.record_pass(&pass).await.unwrap();
    let vm = |name: &str, address: &str| Endpoint {
        kind: "terraform/vms".to_owned(),
        name: name.to_owned(),
        address: address.to_owned(),
    };
    let id = store
        .start_apply_run(
            "vm",
            &rev,
            "terraform",
            homelabd::store::RunOperation::Apply,
            &audit_row("apply.started", "vm"),
        )
        .await
        .unwrap();
    let end = homelabd::store::ApplyRunEnd {
        state: RunState::Succeeded,
        argv: json!([]),
        exit_code: Some(0),
        finished_at: Utc::now(),
        duration_ms: 1,
        stdout_tail: String::new(),
        stderr_tail: String::new(),
        error: None,
    };
    let reached = vec![vm("vm-1", "10.0.0.5"), vm("vm-2", "fd00::5")];
    let effects = homelabd::store::ApplyRunEffects {
        endpoints: Some(("vm".to_owned(), reached.clone())),
        ..Default::default()
    };
    store.finish_apply_run(&id, &end, &effects).await.unwrap();
    let r = store.resource("vm").await.unwrap().unwrap();
    assert_eq!(r.endpoints, reached);
    assert_eq!(r.address.as_deref(), Some("10.0.0.5"));
    // A pass rewrites the row but not where it is reachable.
    store.record_pass(&pass).await.unwrap();
    assert_eq!(
        store.resource("vm").await.unwrap().unwrap().endpoints,
        reached
    );
    assert_eq!(store.resource_states().await.unwrap()[0].endpoints, reached);
    // An observation sees it elsewhere.
    let moved = vec![vm("vm-1", "nas.home.arpa:8080")];
    store
        .record_observation(&homelabd::store::ObservationWrite {
            endpoints: vec![("vm".to_owned(), moved.clone())],
            at: Utc::now(),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = store.resource("vm").await.unwrap().unwrap();
    assert_eq!(
        (r.endpoints, r.address.as_deref()),
        (moved, Some("nas.home.arpa:8080"))
    );
    // Destroyed: reachable nowhere.
    let id = store
        .start_apply_run(
            "vm",
            &rev,
            "terraform",
            homelabd::store::RunOperation::Destroy,
            &audit_row("destroy.started", "vm"),
        )
        .await
        .unwrap();
    let effects = homelabd::store::ApplyRunEffects {
        destroyed: Some(homelabd::store::Destroyed {
            name: "vm".to_owned(),
            revision: rev.clone(),
            at: Utc::now(),
            reason: "destroyed".to_owned(),
        }),
        ..Default::default()
    };
    let end = homelabd::store::ApplyRunEnd {
        finished_at: Utc::now(),
        ..end
    };
    store.finish_apply_run(&id, &end, &effects).await.unwrap();
    let r = store.resource("vm").await.unwrap().unwrap();
    assert_eq!((r.endpoints.len(), r.address), (0, None));
}

contract!(
    deviations_open_once_and_resolve_without_deletion,
    sqlite_deviations_open_once_and_resolve_without_deletion,
    postgres_deviations_open_once_and_resolve_without_deletion
);

async fn deviations_open_once_and_resolve_without_deletion(store: &Store, raw: &Raw) {
    use homelabd::observe::{Deviation, DeviationKind, Severity};
    migrated(store).await;
    let rev = commit('a');
    store
        .record_pass(&PassRecord {
            revision: Some(revision('a', "2024-05-01T00:00:00Z")),
            resources: vec![full_resource("web", &rev)],
            ..Default::default()
        })
        .await
        .unwrap();
    let missing = Deviation {
        resource: "web".to_owned(),
        key: "container/web".to_owned(),
        kind: DeviationKind::Missing,
        severity: Severity::Critical,
        auto_correctable: true,
        corrective_action: "re-apply".to_owned(),
        expected: json!({"image": "nginx:1"}),
        actual: serde_json::Value::Null,
        message: "container for service web is missing".to_owned(),
    };
    let write = homelabd::store::ObservationWrite {
        instances: vec![(
            "web".to_owned(),
            json!({"services": []}),
            json!({"containers": []}),
            true,
        )],
        new: vec![missing.clone()],
        resolved: vec![],
        endpoints: vec![],
        at: Utc::now(),
        audit: vec![audit_row("drift.detected", "web")],
        notifications: vec![],
        health: vec![],
    };
    store.record_observation(&write).await.unwrap();
    // Seen again: still one open row.
    store.record_observation(&write).await.unwrap();
    let open = store.deviations(true, 10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].deviation_type, "missing");
    assert_eq!(open[0].severity, "critical");
    assert_eq!(open[0].expected, Some(json!({"image": "nginx:1"})));
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM deployment_instances WHERE deviation_detected")
            .await,
        1
    );
    let keys = store.open_deviation_keys().await.unwrap();
    store
        .record_observation(&homelabd::store::ObservationWrite {
            resolved: vec![(keys[0].id.clone(), "self-heal".to_owned())],
            at: Utc::now(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(store.deviations(true, 10).await.unwrap().is_empty());
    let all = store.deviations(false, 10).await.unwrap();
    assert_eq!(all.len(), 1, "resolved, not deleted");
    assert_eq!(all[0].resolved_by.as_deref(), Some("self-heal"));
    assert!(all[0].resolved_at.unwrap() >= all[0].detected_at);
    // The same difference appearing later is a new row.
    store.record_observation(&write).await.unwrap();
    assert_eq!(store.deviations(false, 10).await.unwrap().len(), 2);
}

fn audit_row(action: &str, subject: &str) -> AuditRecord {
    AuditRecord {
        at: Utc::now(),
        actor: "daemon".to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        details: json!({}),
    }
}

contract!(
    which_step_failed_is_kept,
    sqlite_which_step_failed_is_kept,
    postgres_which_step_failed_is_kept
);

/// A failed apply and a failed render are both `failed` to a person, but the loop retries
/// them differently (apply the same render again / render again): the store keeps which
/// step failed in its own column, not in the reason text.
async fn which_step_failed_is_kept(store: &Store, raw: &Raw) {
    migrated(store).await;
    let mut apply = bare_resource("apply", ResourceState::ApplyFailed);
    apply.reason = Some("the tool said no".to_owned());
    let mut render = bare_resource("render", ResourceState::RenderFailed);
    render.reason = Some("apply failed: a reason that only looks like one".to_owned());
    store
        .record_pass(&PassRecord {
            resources: vec![apply.clone(), render.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.resources().await.unwrap(), vec![apply, render]);
    assert_eq!(
        raw.text("SELECT state FROM deployment_instances WHERE name = 'apply'")
            .await
            .as_deref(),
        Some("failed")
    );
    assert_eq!(
        raw.text("SELECT failure FROM deployment_instances WHERE name = 'apply'")
            .await
            .as_deref(),
        Some("apply")
    );
    // Leaving the failure clears the step.
    store
        .record_pass(&PassRecord {
            resources: vec![bare_resource("apply", ResourceState::Applied)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        raw.text("SELECT failure FROM deployment_instances WHERE name = 'apply'")
            .await,
        None
    );
}

contract!(
    concurrent_writers_never_see_busy,
    sqlite_concurrent_writers_never_see_busy,
    postgres_concurrent_writers_never_see_busy
);

/// Regression: writes in apply runs, observations and the outbox began deferred
/// transactions on SQLite, so concurrent writers could fail with SQLITE_BUSY instead of
/// waiting for the lock. Many tasks write at once through every write path; none fails.
async fn concurrent_writers_never_see_busy(store: &Store, _raw: &Raw) {
    use homelabd::observe::{Deviation, DeviationKind, Severity};
    use homelabd::store::{ApplyRunEffects, ApplyRunEnd, NotificationRecord, ObservationWrite};
    migrated(store).await;
    let rev = commit('a');
    let names: Vec<String> = (0..8).map(|i| format!("web{i}")).collect();
    store
        .record_pass(&PassRecord {
            revision: Some(revision('a', "2024-05-01T00:00:00Z")),
            resources: names.iter().map(|n| full_resource(n, &rev)).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for (task, name) in names.iter().enumerate() {
        let (store, rev, name) = (store.clone(), rev.clone(), name.clone());
        tasks.spawn(async move {
            for round in 0..12 {
                // Each write path reads inside its transaction before it writes.
                let id = store
                    .start_apply_run(
                        &name,
                        &rev,
                        "docker compose",
                        homelabd::store::RunOperation::Apply,
                        &audit_row("apply.started", &name),
                    )
                    .await
                    .map_err(|e| format!("start_apply_run: {e}"))?;
                let mut applied = full_resource(&name, &rev);
                applied.state = ResourceState::Applied;
                let end = ApplyRunEnd {
                    state: RunState::Succeeded,
                    argv: json!([["true"]]),
                    exit_code: Some(0),
                    finished_at: Utc::now(),
                    duration_ms: 1,
                    stdout_tail: String::new(),
                    stderr_tail: String::new(),
                    error: None,
                };
                let event = NotificationRecord {
                    id: uuid::Uuid::new_v4(),
                    event_type: "apply.recovered".to_owned(),
                    severity: "info".to_owned(),
                    subject: name.clone(),
                    summary: "applied".to_owned(),
                    details: json!({}),
                    occurred_at: Utc::now(),
                };
                let effects = ApplyRunEffects {
                    resource: Some(applied),
                    destroyed: None,
                    audit: vec![audit_row("apply.succeeded", &name)],
                    notifications: vec![event.clone()],
                    endpoints: None,
                };
                store
                    .finish_apply_run(&id, &end, &effects)
                    .await
                    .map_err(|e| format!("finish_apply_run: {e}"))?;
                let deviation = Deviation {
                    resource: name.clone(),
                    key: format!("container/{round}"),
                    kind: DeviationKind::Missing,
                    severity: Severity::Warning,
                    auto_correctable: false,
                    corrective_action: "re-apply".to_owned(),
                    expected: json!({}),
                    actual: serde_json::Value::Null,
                    message: "missing".to_owned(),
                };
                store
                    .record_observation(&ObservationWrite {
                        instances: vec![(name.clone(), json!({}), json!({}), true)],
                        new: vec![deviation],
                        resolved: vec![],
                        endpoints: vec![],
                        at: Utc::now(),
                        audit: vec![audit_row("drift.detected", &name)],
                        notifications: vec![],
                        health: vec![],
                    })
                    .await
                    .map_err(|e| format!("record_observation: {e}"))?;
                store
                    .record_notifications(&[NotificationRecord {
                        id: uuid::Uuid::new_v4(),
                        ..event
                    }])
                    .await
                    .map_err(|e| format!("record_notifications: {e}"))?;
                store
                    .request(
                        Some(&name),
                        "cli:test",
                        homelabd::store::RequestAction::Apply,
                    )
                    .await
                    .map_err(|e| format!("request: {e}"))?;
                let _ = task;
            }
            Ok::<(), String>(())
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.expect("writer task panicked") {
            failures.push(e);
        }
    }
    assert_eq!(failures, Vec::<String>::new(), "concurrent writes failed");
    assert_eq!(store.apply_runs(None, 1000).await.unwrap().len(), 8 * 12);
}

contract!(
    inventory_scans_upsert_mark_gone_and_never_delete,
    sqlite_inventory_scans_upsert_mark_gone_and_never_delete,
    postgres_inventory_scans_upsert_mark_gone_and_never_delete
);

/// A scan records what it saw with its time; the next scan that no longer reports an
/// item marks it gone (kept, with its last details), and one that reports it again
/// brings it back. Each scan writes an audit row.
async fn inventory_scans_upsert_mark_gone_and_never_delete(store: &Store, raw: &Raw) {
    use homelabd::observe::inventory::Item;
    migrated(store).await;
    let item = |key: &str, managed: Option<&str>, mem: u64| Item {
        key: key.to_owned(),
        kind: "vm".to_owned(),
        name: Some(key.replace("qemu/", "vm")),
        node: Some("pve-02".to_owned()),
        managed_by: managed.map(str::to_owned),
        details: json!({"status": "running", "memory_bytes": mem, "note": "nul\u{0}here"}),
    };
    let t1 = at("2024-05-01T10:00:00Z");
    let t2 = at("2024-05-01T10:05:00Z");
    let t3 = at("2024-05-01T10:10:00Z");
    let first = store
        .record_inventory(
            "proxmox",
            t1,
            &[item("qemu/100", Some("web"), 1), item("qemu/105", None, 2)],
            "mcp:agent",
        )
        .await
        .unwrap();
    assert_eq!((first.new, first.seen, first.gone), (2, 0, 0));
    store
        .record_inventory("docker", t1, &[item("container/abc", None, 3)], "daemon")
        .await
        .unwrap();
    let second = store
        .record_inventory(
            "proxmox",
            t2,
            &[item("qemu/100", Some("web"), 4)],
            "mcp:agent",
        )
        .await
        .unwrap();
    assert_eq!((second.new, second.seen, second.gone), (0, 1, 1));

    let present = store.inventory(Some("proxmox"), false).await.unwrap();
    assert_eq!(present.len(), 1);
    assert_eq!(
        present[0].item.details["memory_bytes"], 4,
        "details are the newest"
    );
    assert_eq!((present[0].first_seen_at, present[0].seen_at), (t1, t2));
    assert_eq!(present[0].item.managed_by.as_deref(), Some("web"));
    let all = store.inventory(Some("proxmox"), true).await.unwrap();
    let gone = all.iter().find(|r| r.item.key == "qemu/105").unwrap();
    assert_eq!((gone.seen_at, gone.gone_at), (t1, Some(t2)));
    assert_eq!(gone.item.details["memory_bytes"], 2, "kept as last seen");
    assert_eq!(
        store.inventory(None, false).await.unwrap().len(),
        2,
        "the docker source is untouched by proxmox scans"
    );

    store
        .record_inventory("proxmox", t3, &[item("qemu/105", None, 5)], "mcp:agent")
        .await
        .unwrap();
    let back = store.inventory(Some("proxmox"), false).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(
        (
            back[0].item.key.as_str(),
            back[0].first_seen_at,
            back[0].gone_at
        ),
        ("qemu/105", t1, None)
    );
    assert_eq!(raw.int("SELECT COUNT(*) FROM inventory_items").await, 3);
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM audit_log WHERE action = 'inventory.synced'")
            .await,
        4
    );
}

contract!(
    dashboard_lists_filter_count_and_page_in_the_database,
    sqlite_dashboard_lists_filter_count_and_page_in_the_database,
    postgres_dashboard_lists_filter_count_and_page_in_the_database
);

/// The dashboard's resource and audit lists: filters by provider, pool, state and text
/// (case-insensitive, wildcards taken literally), a total over all pages, and pages in
/// name order; destroyed resources only under `destroyed`; facets count existing ones.
async fn dashboard_lists_filter_count_and_page_in_the_database(store: &Store, _raw: &Raw) {
    use homelabd::store::{AuditFilter, ResourceFilter};
    migrated(store).await;
    let rev = commit('a');
    let mut resources = Vec::new();
    for i in 0..30 {
        let mut r = bare_resource(
            &format!("web-{i:02}"),
            if i % 3 == 0 {
                ResourceState::ApplyFailed
            } else {
                ResourceState::Applied
            },
        );
        r.provider = Some(if i % 2 == 0 {
            homelabd::model::Provider::Docker
        } else {
            homelabd::model::Provider::Proxmox
        });
        r.pool = Some("/home/rack".to_owned());
        r.reason = Some(format!("Reason {i} with 100%_done"));
        resources.push(r);
    }
    let mut gone = bare_resource("old-db", ResourceState::Applied);
    gone.destroyed_at = Some(at("2024-05-02T00:00:00Z"));
    gone.destroyed_revision = Some(rev.clone());
    resources.push(gone);
    store
        .record_pass(&PassRecord {
            revision: Some(revision('a', "2024-05-01T00:00:00Z")),
            resources,
            audit: (0..7)
                .map(|i| {
                    audit(
                        &format!("2024-05-01T00:00:0{i}Z"),
                        if i < 4 {
                            "resource.rendered"
                        } else {
                            "apply.requested"
                        },
                        &format!("Web-{i}"),
                    )
                })
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap();

    let all = store
        .resources_page(&ResourceFilter::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(all.total, 30, "destroyed ones are not listed by default");
    let names: Vec<&str> = all.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names[0], "web-00");
    assert_eq!(names[9], "web-09");
    assert!(
        all.items.iter().all(|r| r.placement.is_none()),
        "lists leave out documents"
    );
    let third = store
        .resources_page(&ResourceFilter::default(), 25, 10)
        .await
        .unwrap();
    assert_eq!((third.items.len(), third.total), (5, 30));

    let failed_docker = ResourceFilter {
        provider: Some(homelabd::model::Provider::Docker),
        state: Some("failed".into()),
        ..Default::default()
    };
    let page = store.resources_page(&failed_docker, 0, 50).await.unwrap();
    assert_eq!(page.total, 5, "i in 0, 6, 12, 18, 24");
    assert!(
        page.items
            .iter()
            .all(|r| r.state == ResourceState::ApplyFailed
                && r.provider == Some(homelabd::model::Provider::Docker))
    );

    let text = |t: &str| ResourceFilter {
        text: Some(t.into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .resources_page(&text("WEB-1"), 0, 50)
            .await
            .unwrap()
            .total,
        10
    );
    assert_eq!(
        store
            .resources_page(&text("reason 7 "), 0, 50)
            .await
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        store
            .resources_page(&text("100%_d"), 0, 50)
            .await
            .unwrap()
            .total,
        30
    );
    assert_eq!(
        store
            .resources_page(&text("100%x"), 0, 50)
            .await
            .unwrap()
            .total,
        0,
        "% is literal"
    );
    assert_eq!(
        store
            .resources_page(&text("web_0"), 0, 50)
            .await
            .unwrap()
            .total,
        0,
        "_ is literal"
    );

    let destroyed = ResourceFilter {
        state: Some("destroyed".into()),
        ..Default::default()
    };
    let page = store.resources_page(&destroyed, 0, 50).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].shown_state(), "destroyed");

    let facets = store.resource_facets().await.unwrap();
    assert_eq!(
        facets.states,
        vec![("applied".to_owned(), 20), ("failed".to_owned(), 10)]
    );
    assert_eq!(
        facets.providers,
        vec![
            (homelabd::model::Provider::Docker, 15),
            (homelabd::model::Provider::Proxmox, 15)
        ]
    );
    assert_eq!(facets.pools, vec![("/home/rack".to_owned(), 30)]);

    let audit_all = store
        .audit_page(&AuditFilter::default(), 0, 5)
        .await
        .unwrap();
    assert_eq!(audit_all.total, 7);
    assert_eq!(audit_all.items[0].record.subject, "Web-6", "newest first");
    let requested = AuditFilter {
        action: Some("apply.".into()),
        ..Default::default()
    };
    let page = store.audit_page(&requested, 0, 50).await.unwrap();
    assert_eq!(page.total, 3);
    let by_subject = AuditFilter {
        actor: Some("daemon".into()),
        subject: Some("web-2".into()),
        ..Default::default()
    };
    assert_eq!(store.audit_page(&by_subject, 0, 50).await.unwrap().total, 1);
    let nobody = AuditFilter {
        actor: Some("ui:nobody".into()),
        ..Default::default()
    };
    assert_eq!(store.audit_page(&nobody, 0, 50).await.unwrap().total, 0);
    assert!(store.deviations_of("web-00", 10).await.unwrap().is_empty());
}

contract!(
    the_text_filter_in_memory_finds_what_the_store_finds,
    sqlite_the_text_filter_in_memory_finds_what_the_store_finds,
    postgres_the_text_filter_in_memory_finds_what_the_store_finds
);

/// The dashboard's text filter searches a copy of the searchable columns in memory
/// (`ui::search`) and reads only the page it picked: for every filter the same totals
/// and pages, in the same order, as the store's own `LIKE` search; the copy follows a
/// change through the rows of the resources it names; and the pools page books a
/// change from the placements of the resources named since a point of the audit log.
async fn the_text_filter_in_memory_finds_what_the_store_finds(store: &Store, _raw: &Raw) {
    use homelabd::store::ResourceFilter;
    use homelabd::ui::search::SearchView;
    migrated(store).await;
    let mut resources = Vec::new();
    for i in 0..40 {
        let mut r = bare_resource(
            &format!("{}-{i:02}", ["web", "db", "cache_x", "Edge"][i % 4]),
            [
                ResourceState::Applied,
                ResourceState::ApplyFailed,
                ResourceState::Rendered,
            ][i % 3],
        );
        r.provider = Some(if i % 2 == 0 {
            homelabd::model::Provider::Docker
        } else {
            homelabd::model::Provider::Proxmox
        });
        r.pool = (i % 5 != 0).then(|| format!("/home/{}", ["rack", "attic"][i % 2]));
        r.reason = (i % 7 != 0).then(|| format!("Step {i}: 100%_Done \\ by OPS"));
        r.source = Some(format!("definitions/{}.yaml:{}", i % 6, i + 1));
        if i == 39 {
            r.destroyed_at = Some(at("2024-05-02T00:00:00Z"));
        }
        resources.push(r);
    }
    store
        .record_pass(&PassRecord {
            revision: Some(revision('a', "2024-05-01T00:00:00Z")),
            resources,
            audit: vec![audit(
                "2024-05-01T00:00:00Z",
                "revision.recorded",
                &commit('a'),
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    let view = SearchView::new(store.resource_search_rows().await.unwrap());
    assert_eq!(
        view.len(),
        39,
        "destroyed resources are not searched in memory"
    );
    let filter = |text: &str, provider: &str, pool: &str, state: &str| ResourceFilter {
        text: Some(text.into()),
        provider: homelabd::model::Provider::parse(provider),
        pool: Some(pool.into()),
        state: Some(state.into()),
    };
    let mut filters = Vec::new();
    for text in [
        "web", "WEB-0", "ops", "100%_d", "100%x", "_", "cache_", "cachex", "%", "\\", "\\ by",
        ".yaml:1", "edge-3", " db ", "nothing",
    ] {
        for (provider, pool, state) in [
            ("", "", ""),
            ("docker", "", ""),
            ("", "/home/rack", ""),
            ("", "", "failed"),
            ("proxmox", "/home/attic", "applied"),
        ] {
            filters.push(filter(text, provider, pool, state));
        }
    }
    let mut most = 0;
    for f in &filters {
        for (offset, limit) in [(0, 50), (0, 3), (2, 4), (100, 5)] {
            let sql = store.resources_page(f, offset, limit).await.unwrap();
            let (names, total) = view.page(f, offset as usize, limit as usize);
            let picked = store.resources_named(&names).await.unwrap();
            assert_eq!(total as i64, sql.total, "{f:?}");
            assert_eq!(picked, sql.items, "{f:?} from {offset}, {limit}");
            most = most.max(sql.total);
        }
    }
    assert!(most > 10, "some filters find many: {most}");

    // A change: one resource fails, one is destroyed; the view follows the rows the
    // audit log names.
    let since = store.last_audit_seq().await.unwrap();
    let mut failed = bare_resource("web-00", ResourceState::ApplyFailed);
    failed.reason = Some("Out of memory".into());
    let mut gone = bare_resource("db-01", ResourceState::Applied);
    gone.destroyed_at = Some(at("2024-05-03T00:00:00Z"));
    store
        .record_pass(&PassRecord {
            resources: vec![failed, gone],
            audit: vec![
                audit("2024-05-03T00:00:00Z", "apply.failed", "web-00"),
                audit("2024-05-03T00:00:01Z", "resource.destroyed", "db-01"),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let changes = store
        .changes_since(since, 10)
        .await
        .unwrap()
        .expect("two rows");
    let names: Vec<String> = changes.subjects.iter().cloned().collect();
    assert_eq!(names, ["db-01", "web-00"]);
    assert!(changes.actions.contains("apply.failed"));
    assert_eq!(
        store.changes_since(since, 1).await.unwrap(),
        None,
        "more than 1 row"
    );
    let rows = store.resource_search_rows_of(&names).await.unwrap();
    let mut followed = view.clone();
    assert!(followed.update(&names, rows), "no new resource");
    assert_eq!(
        followed,
        SearchView::new(store.resource_search_rows().await.unwrap())
    );
    let f = filter("memory", "", "", "");
    assert_eq!(followed.page(&f, 0, 50), (vec!["web-00".to_owned()], 1));
    assert_eq!(
        store.resources_page(&f, 0, 50).await.unwrap().total,
        1,
        "as the store finds it"
    );
}

contract!(
    degraded_state_and_window_overrides_are_kept,
    sqlite_degraded_state_and_window_overrides_are_kept,
    postgres_degraded_state_and_window_overrides_are_kept
);

/// The flapping limit's `degraded` state is stored by its name and read back, and an
/// apply request says whether it ignores the sync windows (`--ignore-windows`).
async fn degraded_state_and_window_overrides_are_kept(store: &Store, raw: &Raw) {
    use homelabd::store::RequestAction;
    migrated(store).await;
    let mut degraded = bare_resource("web", ResourceState::Degraded);
    degraded.reason = Some("degraded: 3 automatic applies within 10m failed".to_owned());
    store
        .record_pass(&PassRecord {
            resources: vec![degraded.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.resources().await.unwrap(), vec![degraded]);
    assert_eq!(
        raw.text("SELECT state FROM deployment_instances WHERE name = 'web'")
            .await
            .as_deref(),
        Some("degraded")
    );
    let plain = store
        .request(Some("web"), "cli:alice", RequestAction::Apply)
        .await
        .unwrap();
    let ignoring = store
        .request_ignoring_windows(Some("web"), "cli:alice", RequestAction::Apply)
        .await
        .unwrap();
    let taken = store.take_reconcile_requests().await.unwrap();
    assert_eq!(
        taken
            .iter()
            .map(|r| (r.id, r.action, r.ignore_windows))
            .collect::<Vec<_>>(),
        vec![
            (plain, RequestAction::Apply, false),
            (ignoring, RequestAction::Apply, true)
        ]
    );
    let log = store.audit_log(10).await.unwrap();
    assert_eq!(log[0].details["ignore_windows"], json!(true));
}

contract!(
    a_version_9_database_keeps_every_row_through_the_state_rebuild,
    sqlite_a_version_9_database_keeps_every_row_through_the_state_rebuild,
    postgres_a_version_9_database_keeps_every_row_through_the_state_rebuild
);

/// Migration 10 widens the states a resource can be in (SQLite rebuilds the table for
/// it): resources, the renders and runs that refer to them, and a generated template's
/// link to its resource all survive, and the foreign keys still hold.
async fn a_version_9_database_keeps_every_row_through_the_state_rebuild(store: &Store, raw: &Raw) {
    let dir = tempfile::tempdir().unwrap();
    let rows: [&'static str; 5] = [
        r#"INSERT INTO revisions ("commit", seen_at, valid, resources_valid, resources_invalid,
               errors, warnings)
           VALUES ('aaaa', '2024-05-01T00:00:00.000000Z', TRUE, 1, 0, 0, 0)"#,
        "INSERT INTO deployment_instances (name, state, updated_at, applied_hash, failure,
                                          endpoints)
         VALUES ('web', 'failed', '2024-05-01T00:00:00.000000Z', 'sha256:out', 'apply',
                 '[]')",
        "INSERT INTO render_results (resource, revision, input_hash, output_hash, outcome,
                                     rendered_at)
         VALUES ('web', 'aaaa', 'sha256:in', 'sha256:out', 'written',
                 '2024-05-01T00:00:01.000000Z')",
        "INSERT INTO apply_runs (resource, revision, executor, state, started_at, operation)
         VALUES ('web', 'aaaa', 'docker compose', 'failed', '2024-05-01T00:00:02.000000Z',
                 'apply')",
        "INSERT INTO generated_templates (name, source_instance, content)
         VALUES ('from-web', 'web', '{}')",
    ];
    database_before(raw, "0010", dir.path(), &rows).await;
    assert_eq!(store.migrate().await.unwrap(), vec![10, 11, 12, 13, 14]);
    let web = store.resource("web").await.unwrap().expect("web kept");
    assert_eq!(web.state, ResourceState::ApplyFailed);
    assert_eq!(web.applied_hash.as_deref(), Some("sha256:out"));
    assert_eq!(raw.int("SELECT COUNT(*) FROM apply_runs").await, 1);
    assert_eq!(raw.int("SELECT COUNT(*) FROM render_results").await, 1);
    assert_eq!(
        raw.text("SELECT source_instance FROM generated_templates")
            .await
            .as_deref(),
        Some("web")
    );
    if let Raw::Sqlite(p) = raw {
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(p)
            .await
            .unwrap();
        assert!(
            broken.is_empty(),
            "{} rows break a foreign key",
            broken.len()
        );
    }
    // A run for an unknown resource is still refused.
    let orphan = "INSERT INTO apply_runs (resource, revision, executor, state, started_at)
                  VALUES ('nosuch', 'aaaa', 'x', 'failed', '2024-05-01T00:00:05.000000Z')";
    let refused = match raw {
        Raw::Sqlite(p) => sqlx::query(orphan).execute(p).await.is_err(),
        Raw::Postgres(p) => sqlx::query(orphan).execute(p).await.is_err(),
    };
    assert!(refused, "the foreign key still holds");
    // And the new state is accepted.
    store
        .record_pass(&PassRecord {
            resources: vec![bare_resource("web", ResourceState::Degraded)],
            ..Default::default()
        })
        .await
        .unwrap();
}

contract!(
    health_checks_replace_the_last_one_and_open_and_resolve_with_the_observation,
    sqlite_health_checks_replace_the_last_one_and_open_and_resolve_with_the_observation,
    postgres_health_checks_replace_the_last_one_and_open_and_resolve_with_the_observation
);

async fn health_checks_replace_the_last_one_and_open_and_resolve_with_the_observation(
    store: &Store,
    _raw: &Raw,
) {
    use homelabd::reconcile::health::{HealthRecord, HealthStatus, deviation};
    migrated(store).await;
    let at = |s: &str| -> DateTime<Utc> { s.parse().unwrap() };
    assert_eq!(store.health_records().await.unwrap(), vec![]);
    let down = HealthRecord {
        resource: "db".to_owned(),
        status: HealthStatus::Unhealthy,
        reason: "TCP 10.0.0.5:5432: connection refused\0".to_owned(),
        checked_at: at("2024-05-01T00:00:01.5Z"),
        since: at("2024-05-01T00:00:01.5Z"),
        applied_hash: Some("h1".to_owned()),
    };
    let unhealthy = deviation("db", "connection refused");
    store
        .record_observation(&homelabd::store::ObservationWrite {
            new: vec![unhealthy],
            at: down.checked_at,
            health: vec![down.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let stored = store.health_records().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, HealthStatus::Unhealthy);
    assert_eq!(
        stored[0].reason,
        "TCP 10.0.0.5:5432: connection refused\u{fffd}"
    );
    assert_eq!(stored[0].since, down.since);
    assert_eq!(stored[0].applied_hash.as_deref(), Some("h1"));
    let open = store.open_deviation_keys().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].resource.as_str(), open[0].key.as_str()),
        ("db", "health")
    );
    // Healthy again: the row is replaced (one per resource) and the deviation resolved.
    let up = HealthRecord {
        status: HealthStatus::Healthy,
        reason: "TCP 10.0.0.5:5432 open".to_owned(),
        checked_at: at("2024-05-01T00:01:00Z"),
        since: at("2024-05-01T00:01:00Z"),
        applied_hash: None,
        ..down
    };
    store
        .record_observation(&homelabd::store::ObservationWrite {
            resolved: vec![(open[0].id.clone(), "health check".to_owned())],
            at: up.checked_at,
            health: vec![up.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.health_records().await.unwrap(), vec![up]);
    assert!(store.open_deviation_keys().await.unwrap().is_empty());
    let all = store.deviations(false, 10).await.unwrap();
    assert_eq!(all[0].resolved_by.as_deref(), Some("health check"));
}

contract!(
    audit_trail_filters_pages_and_keeps_client_addresses,
    sqlite_audit_trail_filters_pages_and_keeps_client_addresses,
    postgres_audit_trail_filters_pages_and_keeps_client_addresses
);

/// `homelabd audit` and `query-audit-log`: rows about a resource (its subject, or the
/// resource a proposal's details name), by an actor, by action prefix, since a time;
/// newest first in pages that follow each other without gaps or repeats; the client
/// address of an agent's call comes back as it was recorded (IPv4 and IPv6).
async fn audit_trail_filters_pages_and_keeps_client_addresses(store: &Store, _raw: &Raw) {
    use homelabd::store::AuditQuery;
    use std::net::IpAddr;
    migrated(store).await;
    let pass = PassRecord {
        audit: vec![
            audit("2026-05-01T10:00:00Z", "resource.rendered", "web"),
            audit("2026-05-01T11:00:00Z", "resource.rendered", "db"),
            AuditRecord {
                actor: "mcp:bot".into(),
                details: json!({"subject": "web", "tool": "deploy-with-intelligence"}),
                ..audit(
                    "2026-05-01T12:00:00Z",
                    "proposal.opened",
                    "homelabd/deploy/web-1",
                )
            },
        ],
        ..PassRecord::default()
    };
    store.record_pass(&pass).await.unwrap();
    let v4: IpAddr = "192.0.2.7".parse().unwrap();
    let v6: IpAddr = "2001:db8::5".parse().unwrap();
    let read = AuditRecord {
        actor: "mcp:ci".into(),
        details: json!({"tool": "get-deployment-status"}),
        ..audit("2026-05-01T13:00:00Z", "mcp.read", "web")
    };
    store.record_audit(&read, Some(v4)).await.unwrap();
    let refused = AuditRecord {
        actor: "mcp:anonymous".into(),
        details: json!({"status": 401}),
        ..audit("2026-05-01T14:00:00Z", "mcp.refused", "/mcp")
    };
    store.record_audit(&refused, Some(v6)).await.unwrap();
    store
        .record_audit(&audit("2026-05-01T15:00:00Z", "mcp.read", "db"), None)
        .await
        .unwrap();

    let all = store
        .audit_entries(&AuditQuery::default(), 100)
        .await
        .unwrap();
    let actions: Vec<&str> = all
        .entries
        .iter()
        .map(|e| e.record.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "mcp.read",
            "mcp.refused",
            "mcp.read",
            "proposal.opened",
            "resource.rendered",
            "resource.rendered"
        ],
        "newest recorded first"
    );
    assert_eq!(all.next_before, None);
    assert_eq!(all.entries[1].client_addr, Some(v6));
    assert_eq!(all.entries[2].client_addr, Some(v4));
    assert_eq!(all.entries[2].record, read);
    assert_eq!(all.entries[0].client_addr, None);

    let about_web = store
        .audit_entries(
            &AuditQuery {
                resource: Some("web".into()),
                ..AuditQuery::default()
            },
            100,
        )
        .await
        .unwrap();
    let actions: Vec<&str> = about_web
        .entries
        .iter()
        .map(|e| e.record.action.as_str())
        .collect();
    assert_eq!(
        actions,
        ["mcp.read", "proposal.opened", "resource.rendered"]
    );

    let by_ci_since = store
        .audit_entries(
            &AuditQuery {
                actor: Some("mcp:ci".into()),
                since: Some(at("2026-05-01T12:30:00Z")),
                ..AuditQuery::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(by_ci_since.entries.len(), 1);
    let mcp_rows = store
        .audit_entries(
            &AuditQuery {
                action: Some("mcp.".into()),
                since: Some(at("2026-05-01T13:30:00Z")),
                ..AuditQuery::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(mcp_rows.entries.len(), 2);
    let literal = store
        .audit_entries(
            &AuditQuery {
                action: Some("mcp%".into()),
                ..AuditQuery::default()
            },
            100,
        )
        .await
        .unwrap();
    assert!(
        literal.entries.is_empty(),
        "wildcards in a prefix are literal"
    );

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .audit_entries(
                &AuditQuery {
                    before,
                    ..AuditQuery::default()
                },
                4,
            )
            .await
            .unwrap();
        assert!(page.entries.len() <= 4);
        seen.extend(page.entries.iter().map(|e| e.seq));
        match page.next_before {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let expected: Vec<i64> = all.entries.iter().map(|e| e.seq).collect();
    assert_eq!(
        seen, expected,
        "pages follow each other without gaps or repeats"
    );
}

contract!(
    snapshots_and_generated_templates_round_trip,
    sqlite_snapshots_and_generated_templates_round_trip,
    postgres_snapshots_and_generated_templates_round_trip
);

/// A snapshot comes back by name (the newest of that name) with what it stored; a
/// generated template keeps its source only when the source has a row; the apply runs of
/// a set of resources are tallied (finished ones only).
async fn snapshots_and_generated_templates_round_trip(store: &Store, _raw: &Raw) {
    use homelabd::store::{ApplyRunEffects, ApplyRunEnd, RunState};
    migrated(store).await;
    let rev = commit('a');
    store
        .record_pass(&PassRecord {
            revision: Some(revision('a', "2026-05-01T10:00:00Z")),
            resources: vec![full_resource("web", &rev), full_resource("db", &rev)],
            ..PassRecord::default()
        })
        .await
        .unwrap();
    let first = json!({"resources": [{"name": "web"}], "unmanaged": []});
    let second =
        json!({"resources": [{"name": "web"}, {"name": "db"}], "unmanaged": [{"name": "x"}]});
    store
        .record_snapshot("weekly", at("2026-05-01T10:00:00Z"), "mcp:bot", &first)
        .await
        .unwrap();
    let id = store
        .record_snapshot("weekly", at("2026-05-08T10:00:00Z"), "stdio", &second)
        .await
        .unwrap();
    let got = store.snapshot("weekly").await.unwrap().unwrap();
    assert_eq!(
        (got.id, got.taken_by.as_str(), &got.content),
        (id, "stdio", &second)
    );
    assert!(store.snapshot("nope").await.unwrap().is_none());

    store
        .record_generated_template("web-copy", "web", &json!({"kind": "DeploymentTemplate"}))
        .await
        .unwrap();
    store
        .record_generated_template("ghost-copy", "ghost", &json!({}))
        .await
        .unwrap();
    let generated = store.generated_templates().await.unwrap();
    let source = |name: &str| {
        generated
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.source_instance.clone())
    };
    assert_eq!(source("web-copy"), Some(Some("web".into())));
    assert_eq!(source("ghost-copy"), Some(None), "no row, no link");

    for (resource, state) in [
        ("web", RunState::Succeeded),
        ("web", RunState::Failed),
        ("db", RunState::Succeeded),
    ] {
        let id = store
            .start_apply_run(
                resource,
                &rev,
                "docker",
                homelabd::store::RunOperation::Apply,
                &audit_row("apply.started", resource),
            )
            .await
            .unwrap();
        let end = ApplyRunEnd {
            state,
            argv: json!([]),
            exit_code: Some(0),
            finished_at: chrono::Utc::now(),
            duration_ms: 1,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            error: None,
        };
        store
            .finish_apply_run(&id, &end, &ApplyRunEffects::default())
            .await
            .unwrap();
    }
    // One still running: not counted.
    store
        .start_apply_run(
            "web",
            &rev,
            "docker",
            homelabd::store::RunOperation::Apply,
            &audit_row("apply.started", "web"),
        )
        .await
        .unwrap();
    let tally = store.run_tally(&["web".to_owned()]).await.unwrap();
    assert_eq!((tally.finished, tally.succeeded), (2, 1));
    let tally = store
        .run_tally(&["web".to_owned(), "db".to_owned()])
        .await
        .unwrap();
    assert_eq!((tally.finished, tally.succeeded), (3, 2));
    assert_eq!(store.run_tally(&[]).await.unwrap().finished, 0);
}

contract!(
    previews_keep_the_latest_outcome_of_each_head,
    sqlite_previews_keep_the_latest_outcome_of_each_head,
    postgres_previews_keep_the_latest_outcome_of_each_head
);

/// A preview is one row per pull request and head: a failed try is replaced by the
/// report of the same head, a new head is a row of its own; newest first, with audit rows.
async fn previews_keep_the_latest_outcome_of_each_head(store: &Store, raw: &Raw) {
    use homelabd::store::{PreviewRecord, PreviewStatus};
    migrated(store).await;
    let preview = |pull: i64, head: char, status: PreviewStatus, at_text: &str| PreviewRecord {
        pull,
        head: commit(head),
        base: Some(commit('b')),
        status,
        summary: "valid: 1 created\u{0}".into(),
        created: 1,
        changed: 2,
        removed: 3,
        errors: 0,
        pr_url: Some(format!("https://github.com/o/r/pull/{pull}")),
        reported: true,
        previewed_at: at(at_text),
    };
    let failed = PreviewRecord {
        base: None,
        summary: "preview failed: GitHub: no answer".into(),
        reported: false,
        ..preview(7, 'c', PreviewStatus::Failed, "2024-05-01T10:00:00Z")
    };
    let a = audit("2024-05-01T10:00:00Z", "preview.recorded", "pull/7");
    store.record_preview(&failed, &a).await.unwrap();
    let valid = preview(7, 'c', PreviewStatus::Valid, "2024-05-01T10:01:00Z");
    store.record_preview(&valid, &a).await.unwrap();
    let other = preview(8, 'd', PreviewStatus::Invalid, "2024-05-01T10:02:00Z");
    store.record_preview(&other, &a).await.unwrap();
    let got = store.previews(10).await.unwrap();
    assert_eq!(got.len(), 2, "the failed try was replaced: {got:#?}");
    assert_eq!(got[0].pull, 8);
    assert_eq!(got[0].status, PreviewStatus::Invalid);
    assert_eq!(got[1].status, PreviewStatus::Valid);
    assert_eq!(got[1].summary, "valid: 1 created", "NUL dropped");
    assert_eq!(
        (
            got[1].created,
            got[1].changed,
            got[1].removed,
            got[1].reported
        ),
        (1, 2, 3, true)
    );
    assert_eq!(got[1].base, Some(commit('b')));
    assert_eq!(store.previews(1).await.unwrap().len(), 1);
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM audit_log WHERE action = 'preview.recorded'")
            .await,
        3
    );
}

contract!(
    dashboard_sessions_expire_are_bounded_and_never_hold_the_cookie,
    sqlite_dashboard_sessions_expire_are_bounded_and_never_hold_the_cookie,
    postgres_dashboard_sessions_expire_are_bounded_and_never_hold_the_cookie
);

/// Sessions are found by digest, touched, ended with an audit row; a login deletes
/// sessions past their absolute expiry and, beyond the bound, the least recently used.
/// The store's change counter (the newest audit row) grows with each of those writes.
async fn dashboard_sessions_expire_are_bounded_and_never_hold_the_cookie(store: &Store, raw: &Raw) {
    use homelabd::store::UiSessionRecord;
    migrated(store).await;
    let session = |digest: &str, created: &str, expires: &str| UiSessionRecord {
        id_digest: digest.to_owned(),
        token_name: "ops".into(),
        scope: "read".into(),
        binding: "b".repeat(64),
        created_at: at(created),
        last_seen_at: at(created),
        expires_at: at(expires),
    };
    let login = audit("2024-05-01T10:00:00Z", "ui.login", "ops");
    let before = store.last_audit_seq().await.unwrap();
    let old = session("old", "2024-05-01T08:00:00Z", "2024-05-01T09:00:00Z");
    store
        .create_ui_session(&old, 3, &login, None)
        .await
        .unwrap();
    assert!(store.last_audit_seq().await.unwrap() > before);
    let a = session("a", "2024-05-01T10:00:00Z", "2024-05-02T10:00:00Z");
    let client: std::net::IpAddr = "2001:db8::7".parse().unwrap();
    store
        .create_ui_session(&a, 3, &login, Some(client))
        .await
        .unwrap();
    let logins = store
        .audit_page(&homelabd::store::AuditFilter::default(), 0, 1)
        .await
        .unwrap();
    assert_eq!(
        logins.items[0].client_addr,
        Some(client),
        "a login keeps the address it came from"
    );
    assert_eq!(
        store.ui_session("old").await.unwrap(),
        None,
        "expired, deleted"
    );
    assert_eq!(store.ui_session("a").await.unwrap(), Some(a.clone()));
    store
        .touch_ui_session("a", at("2024-05-01T10:30:00Z"))
        .await
        .unwrap();
    let touched = store.ui_session("a").await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, at("2024-05-01T10:30:00Z"));
    for (digest, when) in [
        ("b", "2024-05-01T10:10:00Z"),
        ("c", "2024-05-01T10:20:00Z"),
        ("d", "2024-05-01T10:40:00Z"),
    ] {
        store
            .create_ui_session(
                &session(digest, when, "2024-05-02T10:00:00Z"),
                3,
                &login,
                None,
            )
            .await
            .unwrap();
    }
    assert_eq!(raw.int("SELECT COUNT(*) FROM ui_sessions").await, 3);
    assert_eq!(
        store.ui_session("b").await.unwrap(),
        None,
        "the least recently used goes first"
    );
    assert!(store.ui_session("a").await.unwrap().is_some());
    let seq = store.last_audit_seq().await.unwrap();
    store
        .end_ui_session(
            "a",
            Some(&audit("2024-05-01T11:00:00Z", "ui.logout", "ops")),
            Some(client),
        )
        .await
        .unwrap();
    assert_eq!(store.ui_session("a").await.unwrap(), None);
    let logout = store
        .audit_page(&homelabd::store::AuditFilter::default(), 0, 1)
        .await
        .unwrap();
    assert_eq!(
        (
            logout.items[0].record.action.as_str(),
            logout.items[0].client_addr
        ),
        ("ui.logout", Some(client))
    );
    assert!(store.last_audit_seq().await.unwrap() > seq);
    store.end_ui_session("c", None, None).await.unwrap();
    assert_eq!(raw.int("SELECT COUNT(*) FROM ui_sessions").await, 1);
}

contract!(
    placement_bookings_are_the_part_of_placements_the_pool_tree_needs,
    sqlite_placement_bookings_are_the_part_of_placements_the_pool_tree_needs,
    postgres_placement_bookings_are_the_part_of_placements_the_pool_tree_needs
);

/// The pools page books from a cut of each placement document made in SQL: pool, CPU
/// and memory, nodes and GPUs; unplaced and destroyed resources are left out.
async fn placement_bookings_are_the_part_of_placements_the_pool_tree_needs(
    store: &Store,
    _raw: &Raw,
) {
    migrated(store).await;
    let placed = ResourceRecord {
        placement: Some(json!({
            "pool": "/homelab/compute",
            "size": {"cpu": 2, "memory_gb": 4.5, "sources": ["tier"]},
            "nodes": [{"name": "pve-01", "address": null, "labels": {}}],
            "gpus": [{"node": "pve-01", "model": "rtx", "pci_address": "0000:01:00.0"}],
            "reasons": ["a long reason"],
            "alternatives": [{"pool": "/other", "verdict": "full"}],
        })),
        ..full_resource("web", &commit('a'))
    };
    let unplaced = ResourceRecord {
        placement: None,
        ..full_resource("bare", &commit('a'))
    };
    store
        .record_pass(&PassRecord {
            revision: Some(revision('a', "2024-05-01T10:00:00Z")),
            resources: vec![placed, unplaced],
            ..Default::default()
        })
        .await
        .unwrap();
    let got = store.placement_bookings().await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "web");
    assert_eq!(
        store
            .placement_bookings_of(&["bare".into(), "web".into(), "nobody".into()])
            .await
            .unwrap(),
        got,
        "of named resources: the placed ones"
    );
    assert!(
        store
            .placement_bookings_of(&["bare".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        got[0].1,
        json!({
            "pool": "/homelab/compute",
            "size": {"cpu": 2, "memory_gb": 4.5},
            "nodes": [{"name": "pve-01", "address": null, "labels": {}}],
            "gpus": [{"node": "pve-01", "model": "rtx", "pci_address": "0000:01:00.0"}],
        })
    );
}

contract!(
    audit_pages_find_subjects_by_any_part,
    sqlite_audit_pages_find_subjects_by_any_part,
    postgres_audit_pages_find_subjects_by_any_part
);

/// The audit page's subject filter: any part of a subject, whatever the case, over rows
/// written by a pass and single rows alike (the database keeps the list of subjects the
/// filter reads), newest first and paged, each row with its client address.
async fn audit_pages_find_subjects_by_any_part(store: &Store, raw: &Raw) {
    use homelabd::store::AuditFilter;
    migrated(store).await;
    let at = |s: i64| {
        "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::seconds(s)
    };
    let rows = (0..30)
        .map(|i| AuditRecord {
            at: at(i),
            actor: "daemon".into(),
            action: "resource.rendered".into(),
            subject: format!("web-{:02}", i % 10),
            details: json!({"n": i}),
        })
        .collect();
    store
        .record_pass(&PassRecord {
            audit: rows,
            ..Default::default()
        })
        .await
        .unwrap();
    let address: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    let single = AuditRecord {
        at: at(100),
        actor: "mcp:anonymous".into(),
        action: "mcp.refused".into(),
        subject: "Web-07-Admin".into(),
        details: json!({}),
    };
    store.record_audit(&single, Some(address)).await.unwrap();
    let subject = |s: &str| AuditFilter {
        subject: Some(s.into()),
        ..Default::default()
    };

    let first = store.audit_page(&subject("WEB-07"), 0, 2).await.unwrap();
    assert_eq!(first.total, 4, "three pass rows and the single row");
    assert_eq!(first.items[0].record, single);
    assert_eq!(first.items[0].client_addr, Some(address));
    assert_eq!(first.items[1].record.at, at(27));
    assert_eq!(first.items[1].client_addr, None);
    let second = store.audit_page(&subject("web-07"), 2, 2).await.unwrap();
    let times: Vec<DateTime<Utc>> = second.items.iter().map(|e| e.record.at).collect();
    assert_eq!(
        times,
        vec![at(17), at(7)],
        "the next page, still newest first"
    );

    let rendered = AuditFilter {
        action: Some("resource.".into()),
        subject: Some("eb-0".into()),
        ..Default::default()
    };
    assert_eq!(store.audit_page(&rendered, 0, 50).await.unwrap().total, 30);
    for literal in ["web_0", "%", "admin\\"] {
        assert_eq!(
            store
                .audit_page(&subject(literal), 0, 50)
                .await
                .unwrap()
                .total,
            0,
            "{literal:?} is matched literally"
        );
    }
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM audit_subjects WHERE LOWER(subject) LIKE 'web-%'")
            .await,
        11,
        "each subject once"
    );
}

/// The migrations before `version` (e.g. "0013") of `raw`'s backend, copied into `dir`,
/// run on `raw`'s empty database, then `rows` inserted: a database as an older homelabd
/// left it.
async fn database_before(raw: &Raw, version: &str, dir: &std::path::Path, rows: &[&'static str]) {
    let backend = match raw {
        Raw::Sqlite(_) => "sqlite",
        Raw::Postgres(_) => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if file.as_str() < version {
            std::fs::copy(&path, dir.join(&file)).unwrap();
        }
    }
    let old = sqlx::migrate::Migrator::new(dir).await.unwrap();
    match raw {
        Raw::Sqlite(p) => {
            old.run(p).await.unwrap();
            for &sql in rows {
                sqlx::query(sql).execute(p).await.unwrap();
            }
        }
        Raw::Postgres(p) => {
            old.run(p).await.unwrap();
            for &sql in rows {
                sqlx::query(sql).execute(p).await.unwrap();
            }
        }
    }
}

contract!(
    rollbacks_are_recorded_as_rollbacks_and_queued_with_their_revision,
    sqlite_rollbacks_are_recorded_as_rollbacks_and_queued_with_their_revision,
    postgres_rollbacks_are_recorded_as_rollbacks_and_queued_with_their_revision
);

/// Migration 13 lets a run be a `rollback` and a request ask for one (SQLite rebuilds
/// both tables): earlier runs and queued requests survive with their ids, the queue's
/// ids are never reused, and a rollback run and request round-trip.
async fn rollbacks_are_recorded_as_rollbacks_and_queued_with_their_revision(
    store: &Store,
    raw: &Raw,
) {
    use homelabd::store::RequestAction;
    let dir = tempfile::tempdir().unwrap();
    database_before(
        raw,
        "0013",
        dir.path(),
        &[
            r#"INSERT INTO revisions ("commit", seen_at, valid, resources_valid,
                   resources_invalid, errors, warnings)
               VALUES ('aaaa', '2024-05-01T00:00:00.000000Z', TRUE, 1, 0, 0, 0)"#,
            "INSERT INTO deployment_instances (name, state, updated_at, endpoints)
             VALUES ('web', 'applied', '2024-05-01T00:00:00.000000Z', '[]')",
            "INSERT INTO apply_runs (resource, revision, executor, state, started_at, operation,
                                     member)
             VALUES ('web', 'aaaa', 'docker compose', 'succeeded',
                     '2024-05-01T00:00:02.000000Z', 'apply', 'member-1')",
            "INSERT INTO reconcile_requests (resource, requested_by, action)
             VALUES ('web', 'cli:a', 'apply')",
            "INSERT INTO reconcile_requests (resource, requested_by, action)
             VALUES ('web', 'cli:b', 'reconcile')",
            "DELETE FROM reconcile_requests WHERE requested_by = 'cli:b'",
        ],
    )
    .await;
    assert_eq!(store.migrate().await.unwrap(), vec![13, 14]);
    let runs = store.apply_runs(Some("web"), 10).await.unwrap();
    assert_eq!(runs.len(), 1, "runs survive the rebuild");
    assert_eq!(runs[0].operation, homelabd::store::RunOperation::Apply);
    assert_eq!(
        raw.int("SELECT COUNT(*) FROM apply_runs WHERE member = 'member-1'")
            .await,
        1
    );

    let id = store
        .start_apply_run(
            "web",
            "aaaa",
            "docker compose",
            homelabd::store::RunOperation::Rollback,
            &audit_row("rollback.started", "web"),
        )
        .await
        .unwrap();
    let runs = store.apply_runs(Some("web"), 10).await.unwrap();
    assert_eq!(runs[0].id, id);
    assert_eq!(runs[0].operation, homelabd::store::RunOperation::Rollback);

    let rollback = store
        .request_rollback("web", "cli:alice", Some("aaaa"))
        .await
        .unwrap();
    assert!(rollback > 2, "request ids are never reused: {rollback}");
    let taken = store.take_reconcile_requests().await.unwrap();
    let actions: Vec<(i64, RequestAction, Option<&str>)> = taken
        .iter()
        .map(|r| (r.id, r.action, r.revision.as_deref()))
        .collect();
    assert_eq!(
        actions,
        vec![
            (1, RequestAction::Apply, None),
            (rollback, RequestAction::Rollback, Some("aaaa"))
        ]
    );
    let audit = store.audit_log(10).await.unwrap();
    assert_eq!(audit[0].action, "rollback.requested");
    assert_eq!(audit[0].details["revision"], "aaaa");

    // Anything else is still refused.
    let bogus = "INSERT INTO apply_runs (resource, revision, executor, state, started_at,
                                         operation)
                 VALUES ('web', 'aaaa', 'x', 'failed', '2024-05-01T00:00:05.000000Z', 'revert')";
    let refused = match raw {
        Raw::Sqlite(p) => sqlx::query(bogus).execute(p).await.is_err(),
        Raw::Postgres(p) => sqlx::query(bogus).execute(p).await.is_err(),
    };
    assert!(refused, "the operation is still checked");
}
