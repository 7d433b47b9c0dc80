//! Paged, filtered reads for people browsing the store (the web dashboard): resources by
//! provider, pool, state and text, the audit log by actor, action and subject, the
//! values there are to filter by, and one resource's deviations. Filtering, counting and
//! paging happen in SQL, so a page of 10,000 resources costs one page of rows.

use super::dialect::{Arg, text};
use super::{AuditEntry, DeviationRecord, ResourceRecord, Store, StoreError};
use crate::model::Provider;
// Every dynamic statement here is composed from constants (column lists, conditions),
// never from input: input is always bound.
use sqlx::AssertSqlSafe;
use std::collections::{BTreeMap, BTreeSet};

/// Which resources to list. `None` (or an empty string) means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    pub provider: Option<Provider>,
    pub pool: Option<String>,
    /// A stored state (`applied`, `failed`, …) or `destroyed` (destroyed resources are
    /// listed only under it).
    pub state: Option<String>,
    /// Case-insensitive substring of the name, reason or source.
    pub text: Option<String>,
}

/// Which audit rows to list. `None` (or an empty string) means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exact actor (`daemon`, `cli:alice`, `ui:ops`, …).
    pub actor: Option<String>,
    /// Action prefix (`resource.` matches `resource.rendered`, …).
    pub action: Option<String>,
    /// Case-insensitive substring of the subject.
    pub subject: Option<String>,
}

/// One page of a longer list, and how long the whole list is.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Rows matching the filter, over all pages.
    pub total: i64,
}

/// What the audit rows written since a point of the log name (see
/// [`Store::changes_since`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Their subjects: resources, commits, tokens, tools.
    pub subjects: BTreeSet<String>,
    /// Their actions (`revision.recorded`, `apply.succeeded`, …).
    pub actions: BTreeSet<String>,
}

/// The values present in a column and how many existing resources have each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facets {
    pub states: Vec<(String, i64)>,
    pub providers: Vec<(Provider, i64)>,
    pub pools: Vec<(String, i64)>,
}

/// The columns of a listed resource: everything but its placement and dimensions
/// documents (read as NULL), which a list never shows.
pub(super) const LIST_COLUMNS: &str =
    "name, state, failure, reason, provider, pool, chart, resource_type,
     CASE WHEN 1 = 0 THEN placement END AS placement,
     CASE WHEN 1 = 0 THEN dimensions END AS dimensions,
     desired_revision, input_hash, output_hash, source, last_error,
     last_error_at, updated_at, applied_hash, applied_revision, policy,
     destroyed_at, destroyed_revision, address, endpoints";

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `%text%` for `LIKE … ESCAPE '\'`, lower-cased, with the wildcards in `text` escaped.
fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// `prefix%` for `LIKE … ESCAPE '\'`.
fn prefix_pattern(text: &str) -> String {
    let mut out = contains_pattern(text);
    out.remove(0);
    out
}

/// The WHERE clause and its arguments for `filter`: only the conditions given, so the
/// database can use the browse indexes (a condition like `$1 IS NULL OR provider = $1`
/// would make it read every row). The clause is composed from constant fragments;
/// values are always bound.
fn resource_where<'a>(filter: &'a ResourceFilter, text: Option<&'a str>) -> (String, Vec<Arg<'a>>) {
    let mut sql = String::from("WHERE ");
    let mut args: Vec<Arg<'a>> = Vec::new();
    let state = given(&filter.state);
    if state == Some("destroyed") {
        sql.push_str("destroyed_at IS NOT NULL");
    } else {
        sql.push_str("destroyed_at IS NULL");
    }
    let mut equal = |column: &str, value: Option<&'a str>, sql: &mut String| {
        if let Some(v) = value {
            args.push(Arg::Text(Some(v)));
            sql.push_str(&format!(" AND {column} = ${}", args.len()));
        }
    };
    equal("provider", filter.provider.map(Provider::as_str), &mut sql);
    equal("pool", given(&filter.pool), &mut sql);
    equal("state", state.filter(|s| *s != "destroyed"), &mut sql);
    if let Some(pattern) = text {
        args.push(Arg::Text(Some(pattern)));
        let n = args.len();
        sql.push_str(&format!(
            " AND (LOWER(name) LIKE ${n} ESCAPE '\\'
                  OR LOWER(COALESCE(reason, '')) LIKE ${n} ESCAPE '\\'
                  OR LOWER(COALESCE(source, '')) LIKE ${n} ESCAPE '\\')"
        ));
    }
    (sql, args)
}

/// The WHERE clause and its arguments for an audit filter (an action prefix and a
/// subject substring already as `LIKE` patterns): only the conditions given, as for the
/// resources. A subject substring is matched against the distinct subjects
/// (`audit_subjects`: a resource or tool is the subject of many rows), and the rows are
/// then found through the index by subject, so the log is not scanned row by row.
fn audit_where<'a>(
    filter: &'a AuditFilter,
    action: Option<&'a str>,
    subject: Option<&'a str>,
) -> (String, Vec<Arg<'a>>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Arg<'a>> = Vec::new();
    let clauses = [
        (given(&filter.actor), "actor = $N"),
        (action, "action LIKE $N ESCAPE '\\'"),
        (
            subject,
            "subject IN (SELECT subject FROM audit_subjects WHERE LOWER(subject) LIKE $N ESCAPE '\\')",
        ),
    ];
    for (value, clause) in clauses {
        if let Some(v) = value {
            args.push(Arg::Text(Some(v)));
            conditions.push(clause.replace("$N", &format!("${}", args.len())));
        }
    }
    if conditions.is_empty() {
        return (String::new(), args);
    }
    (format!("WHERE {}", conditions.join(" AND ")), args)
}

impl Store {
    /// At most `limit` resources matching `filter` from `offset` on, ordered by name,
    /// without their placement and dimensions documents; and how many match in all.
    pub async fn resources_page(
        &self,
        filter: &ResourceFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Page<ResourceRecord>, StoreError> {
        let text_pattern = given(&filter.text).map(contains_pattern);
        let (condition, args) = resource_where(filter, text_pattern.as_deref());
        let total: i64 = self
            .fetch_one(
                AssertSqlSafe(format!(
                    "SELECT count(*) AS n FROM deployment_instances {condition}"
                )),
                &args,
            )
            .await?
            .get("n")?;
        let mut paged = args.clone();
        paged.push(Arg::Int(Some(limit.max(0))));
        paged.push(Arg::Int(Some(offset.max(0))));
        let (limit_at, offset_at) = (args.len() + 1, args.len() + 2);
        let items = self
            .fetch_all(
                AssertSqlSafe(format!(
                    "SELECT {LIST_COLUMNS} FROM deployment_instances {condition}
                     ORDER BY name LIMIT ${limit_at} OFFSET ${offset_at}"
                )),
                &paged,
            )
            .await?
            .iter()
            .map(super::records::resource_from)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, total })
    }

    /// The states, providers and pools of existing resources, each with its count,
    /// ordered by value (a resource without provider or pool is not counted there). One
    /// pass over the browse index.
    pub async fn resource_facets(&self) -> Result<Facets, StoreError> {
        let rows = self
            .fetch_all(
                "SELECT state, provider, pool, count(*) AS n FROM deployment_instances
                 WHERE destroyed_at IS NULL GROUP BY state, provider, pool",
                &[],
            )
            .await?;
        let mut states: BTreeMap<String, i64> = BTreeMap::new();
        let mut providers: BTreeMap<Provider, i64> = BTreeMap::new();
        let mut pools: BTreeMap<String, i64> = BTreeMap::new();
        for row in &rows {
            let n: i64 = row.get("n")?;
            for (column, into) in [("state", &mut states), ("pool", &mut pools)] {
                if let Some(value) = row.get::<Option<String>>(column)? {
                    *into.entry(value).or_default() += n;
                }
            }
            if let Some(p) = row.get::<Option<String>>("provider")? {
                let provider = Provider::parse(&p)
                    .ok_or_else(|| StoreError::Corrupt(format!("resource provider {p:?}")))?;
                *providers.entry(provider).or_default() += n;
            }
        }
        // By name, as the other facets: the dashboard lists them in this order.
        let mut providers: Vec<(Provider, i64)> = providers.into_iter().collect();
        providers.sort_by_key(|(p, _)| p.as_str());
        Ok(Facets {
            states: states.into_iter().collect(),
            providers,
            pools: pools.into_iter().collect(),
        })
    }

    /// At most `limit` audit rows matching `filter` from `offset` on, newest first, with
    /// the client address each came from; and how many match in all.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let action = given(&filter.action).map(prefix_pattern);
        let subject = given(&filter.subject).map(contains_pattern);
        let (condition, args) = audit_where(filter, action.as_deref(), subject.as_deref());
        let total: i64 = self
            .fetch_one(
                AssertSqlSafe(format!("SELECT count(*) AS n FROM audit_log {condition}")),
                &args,
            )
            .await?
            .get("n")?;
        let mut paged = args.clone();
        paged.push(Arg::Int(Some(limit.max(0))));
        paged.push(Arg::Int(Some(offset.max(0))));
        let (limit_at, offset_at) = (args.len() + 1, args.len() + 2);
        // The page's rows are picked from the indexes first; only those 50 are read
        // with their details.
        let items = self
            .fetch_all(
                AssertSqlSafe(format!(
                    "SELECT seq, at, actor, action, subject, details, {} AS client_addr
                     FROM audit_log
                     WHERE seq IN (SELECT seq FROM audit_log {condition}
                                   ORDER BY at DESC, seq DESC
                                   LIMIT ${limit_at} OFFSET ${offset_at})
                     ORDER BY at DESC, seq DESC",
                    super::audit::address_column(self.backend())
                )),
                &paged,
            )
            .await?
            .iter()
            .map(super::audit::entry_from)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, total })
    }

    /// The newest audit row's sequence number (0 for none): it grows with every change
    /// the store records, so watching it is watching the store.
    pub async fn last_audit_seq(&self) -> Result<i64, StoreError> {
        self.fetch_one("SELECT COALESCE(MAX(seq), 0) AS n FROM audit_log", &[])
            .await?
            .get("n")
    }

    /// What the pool tree books, for every existing resource that is placed, by name:
    /// the part of its placement document the bookings need (`pool`, `size.cpu`,
    /// `size.memory_gb`, `nodes`, `gpus`), cut out in SQL so the reasons and
    /// alternatives of 10,000 placements are neither sent nor parsed.
    pub async fn placement_bookings(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let sql = format!("{} ORDER BY name", self.placement_cut());
        self.fetch_all(AssertSqlSafe(sql), &[])
            .await?
            .iter()
            .map(|row| Ok((row.get("name")?, row.json("placement")?)))
            .collect()
    }

    /// [`Store::placement_bookings`] of the resources in `names` only: those of them
    /// that exist and are placed (a name missing from the answer books nothing).
    pub async fn placement_bookings_of(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let sql = format!(
            "{} AND {} ORDER BY name",
            self.placement_cut(),
            self.text_list("name", 1)
        );
        self.fetch_all(AssertSqlSafe(sql), &[Arg::TextList(names)])
            .await?
            .iter()
            .map(|row| Ok((row.get("name")?, row.json("placement")?)))
            .collect()
    }

    /// The query behind the placement bookings, open for one more `AND` condition.
    fn placement_cut(&self) -> &'static str {
        match self.backend() {
            super::Backend::Sqlite => {
                "SELECT name, json_object(
                     'pool', json_extract(placement, '$.pool'),
                     'size', json_object('cpu', json_extract(placement, '$.size.cpu'),
                                         'memory_gb', json_extract(placement, '$.size.memory_gb')),
                     'nodes', json_extract(placement, '$.nodes'),
                     'gpus', json_extract(placement, '$.gpus')) AS placement
                 FROM deployment_instances
                 WHERE destroyed_at IS NULL AND placement IS NOT NULL"
            }
            super::Backend::Postgres => {
                "SELECT name, jsonb_build_object(
                     'pool', placement->'pool',
                     'size', jsonb_build_object('cpu', placement->'size'->'cpu',
                                                'memory_gb', placement->'size'->'memory_gb'),
                     'nodes', placement->'nodes',
                     'gpus', placement->'gpus') AS placement
                 FROM deployment_instances
                 WHERE destroyed_at IS NULL AND placement IS NOT NULL"
            }
        }
    }

    /// The subjects and actions of the audit rows written after the one numbered
    /// `after` (every write that places, moves or destroys a resource names it as a
    /// row's subject, and a pass — the only writer of the pools — writes a
    /// `revision.recorded` row), or `None` when more than `max` rows were written since:
    /// then reading everything again is cheaper than following the change.
    pub async fn changes_since(&self, after: i64, max: i64) -> Result<Option<Changes>, StoreError> {
        let rows = self
            .fetch_all(
                "SELECT subject, action FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[
                    Arg::Int(Some(after)),
                    Arg::Int(Some(max.max(0).saturating_add(1))),
                ],
            )
            .await?;
        if rows.len() as i64 > max {
            return Ok(None);
        }
        let mut changes = Changes::default();
        for row in &rows {
            changes.subjects.insert(row.get("subject")?);
            changes.actions.insert(row.get("action")?);
        }
        Ok(Some(changes))
    }

    /// At most `limit` deviations of `resource`, open and resolved, newest first.
    pub async fn deviations_of(
        &self,
        resource: &str,
        limit: i64,
    ) -> Result<Vec<DeviationRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM state_deviations WHERE resource = $1
             ORDER BY detected_at DESC, deviation_key LIMIT $2",
            super::drift::COLUMNS
        );
        self.fetch_all(
            AssertSqlSafe(sql),
            &[text(resource), Arg::Int(Some(limit.max(0)))],
        )
        .await?
        .iter()
        .map(super::drift::from_row)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_ignore_case() {
        assert_eq!(contains_pattern("Web_1%"), "%web\\_1\\%%");
        assert_eq!(prefix_pattern("resource."), "resource.%");
        assert_eq!(given(&Some("  ".into())), None);
        assert_eq!(given(&Some(" x ".into())), Some("x"));
    }
}
