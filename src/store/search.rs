//! What the dashboard's text filter searches, read in one go: every existing resource's
//! name, state, provider, pool, reason and source (the columns of the browse index, not
//! the rows with their documents), in the database's name order; and the listed
//! resources for a page of names the filter picked.

use super::browse::LIST_COLUMNS;
use super::dialect::{Arg, Row};
use super::{ResourceRecord, Store, StoreError};
use sqlx::AssertSqlSafe;

/// One existing resource as the text filter sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRow {
    pub name: String,
    /// The stored state (`applied`, `failed`, …), as the state filter names it.
    pub state: String,
    pub provider: Option<String>,
    pub pool: Option<String>,
    pub reason: Option<String>,
    /// The definition's file (and line).
    pub source: Option<String>,
}

/// The searchable columns of existing resources, open for one more `AND` condition.
const SEARCH_ROWS: &str = "SELECT name, state, provider, pool, reason, source
     FROM deployment_instances WHERE destroyed_at IS NULL";

fn search_row(row: &Row) -> Result<SearchRow, StoreError> {
    Ok(SearchRow {
        name: row.get("name")?,
        state: row.get("state")?,
        provider: row.get("provider")?,
        pool: row.get("pool")?,
        reason: row.get("reason")?,
        source: row.get("source")?,
    })
}

impl Store {
    /// Every existing (not destroyed) resource's searchable columns, ordered by name as
    /// the database orders names (so pages of a search list in the same order as the
    /// unfiltered lists).
    pub async fn resource_search_rows(&self) -> Result<Vec<SearchRow>, StoreError> {
        let sql = format!("{SEARCH_ROWS} ORDER BY name");
        let rows = self.fetch_all(AssertSqlSafe(sql), &[]).await?;
        rows.iter().map(search_row).collect()
    }

    /// [`Store::resource_search_rows`] of the resources in `names` only (a name missing
    /// from the answer is destroyed, or no resource).
    pub async fn resource_search_rows_of(
        &self,
        names: &[String],
    ) -> Result<Vec<SearchRow>, StoreError> {
        let sql = format!(
            "{SEARCH_ROWS} AND {} ORDER BY name",
            self.text_list("name", 1)
        );
        let rows = self
            .fetch_all(AssertSqlSafe(sql), &[Arg::TextList(names)])
            .await?;
        rows.iter().map(search_row).collect()
    }

    /// The resources named in `names` that exist (destroyed or not), ordered by name,
    /// without their placement and dimensions documents, as the lists show them.
    pub async fn resources_named(
        &self,
        names: &[String],
    ) -> Result<Vec<ResourceRecord>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM deployment_instances WHERE {} ORDER BY name",
            self.text_list("name", 1)
        );
        self.fetch_all(AssertSqlSafe(sql), &[Arg::TextList(names)])
            .await?
            .iter()
            .map(super::records::resource_from)
            .collect()
    }
}
