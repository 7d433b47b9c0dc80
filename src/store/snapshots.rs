//! Infrastructure snapshots (what every resource looked like when one was taken: its
//! recorded state, placement, addresses, and the unmanaged guests the inventory saw) and
//! generated templates (a template made from a resource, and how the resources that
//! use it fare: their apply runs' success rate).

use super::dialect::{Arg, Row, json, text};
use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One stored snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub id: uuid::Uuid,
    pub name: String,
    pub taken_at: DateTime<Utc>,
    /// `mcp:<token name>`, `stdio`, `cli:<user>`.
    pub taken_by: String,
    pub content: serde_json::Value,
}

/// One template made from a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedTemplateRecord {
    pub name: String,
    /// The resource it was made from (`None` once that resource's row is gone).
    pub source_instance: Option<String>,
    pub content: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// How the apply runs of a set of resources went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunTally {
    /// Finished runs (succeeded or failed; running and interrupted ones are not counted).
    pub finished: i64,
    pub succeeded: i64,
}

impl Store {
    /// Stores a snapshot; returns its id.
    pub async fn record_snapshot(
        &self,
        name: &str,
        taken_at: DateTime<Utc>,
        taken_by: &str,
        content: &serde_json::Value,
    ) -> Result<uuid::Uuid, StoreError> {
        let id = uuid::Uuid::new_v4();
        self.execute(
            "INSERT INTO infrastructure_snapshots (id, name, taken_at, taken_by, content)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                Arg::Id(id),
                text(name),
                Arg::Time(Some(taken_at)),
                text(taken_by),
                json(content),
            ],
        )
        .await?;
        Ok(id)
    }

    /// The newest snapshot called `name`.
    pub async fn snapshot(&self, name: &str) -> Result<Option<SnapshotRecord>, StoreError> {
        let rows = self
            .fetch_all(
                "SELECT id, name, taken_at, taken_by, content FROM infrastructure_snapshots
                 WHERE name = $1 ORDER BY taken_at DESC LIMIT 1",
                &[text(name)],
            )
            .await?;
        rows.first().map(snapshot_from).transpose()
    }

    /// Records a template made from `source_instance`.
    pub async fn record_generated_template(
        &self,
        name: &str,
        source_instance: &str,
        content: &serde_json::Value,
    ) -> Result<(), StoreError> {
        // The source may have no row yet (defined, never recorded): keep the link only
        // when it exists, so the foreign key holds.
        self.execute(
            "INSERT INTO generated_templates (id, name, source_instance, content)
             VALUES ($1, $2,
                     (SELECT name FROM deployment_instances WHERE name = $3), $4)",
            &[
                Arg::Id(uuid::Uuid::new_v4()),
                text(name),
                text(source_instance),
                json(content),
            ],
        )
        .await?;
        Ok(())
    }

    /// Every recorded generated template, newest first.
    pub async fn generated_templates(&self) -> Result<Vec<GeneratedTemplateRecord>, StoreError> {
        self.fetch_all(
            "SELECT name, source_instance, content, created_at FROM generated_templates
             ORDER BY created_at DESC, name",
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(GeneratedTemplateRecord {
                name: row.get("name")?,
                source_instance: row.get("source_instance")?,
                content: row.json("content")?,
                created_at: row.time("created_at")?,
            })
        })
        .collect()
    }

    /// How the finished apply runs of `resources` went.
    pub async fn run_tally(&self, resources: &[String]) -> Result<RunTally, StoreError> {
        if resources.is_empty() {
            return Ok(RunTally::default());
        }
        let sql = format!(
            "SELECT count(*) AS finished,
                    COALESCE(sum(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END), 0) AS succeeded
             FROM apply_runs
             WHERE state IN ('succeeded', 'failed') AND {}",
            self.text_list("resource", 1)
        );
        let row = self
            .fetch_one(sqlx::AssertSqlSafe(sql), &[Arg::TextList(resources)])
            .await?;
        Ok(RunTally {
            finished: row.get("finished")?,
            succeeded: row.get("succeeded")?,
        })
    }
}

fn snapshot_from(row: &Row) -> Result<SnapshotRecord, StoreError> {
    Ok(SnapshotRecord {
        id: row.id("id")?,
        name: row.get("name")?,
        taken_at: row.time("taken_at")?,
        taken_by: row.get("taken_by")?,
        content: row.json("content")?,
    })
}
