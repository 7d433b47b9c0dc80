//! The resources page's text filter (pure): a compact copy of what the filter searches —
//! every existing resource's name, reason and source lower-cased, with its state,
//! provider and pool — kept by the dashboard between store changes, so a search over
//! 10,000 resources is a scan of a few hundred kilobytes in memory instead of a
//! `LIKE '%…%'` over every row, which no index serves on either backend. The store is
//! then asked only for the page of resources the filter picked.
//!
//! The text matches any part of the name, reason or source, whatever the case (Unicode
//! lower case on both sides); `%`, `_` and `\` are characters like any other. Provider,
//! pool and state match exactly. Destroyed resources are not here: a search under
//! `destroyed` stays with the store.

use crate::store::{ResourceFilter, SearchRow};
use std::collections::{HashMap, HashSet};

/// One existing resource as the filter sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    state: String,
    provider: Option<String>,
    pool: Option<String>,
    /// Name, reason and source, lower-cased, each searched on its own (a match never
    /// spans two of them).
    lowered: [String; 3],
}

/// Every existing resource's searchable text, in the store's name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchView {
    entries: Vec<Entry>,
    /// Name → position in `entries`.
    index: HashMap<String, usize>,
}

fn entry(r: SearchRow) -> Entry {
    Entry {
        lowered: [
            r.name.to_lowercase(),
            r.reason.unwrap_or_default().to_lowercase(),
            r.source.unwrap_or_default().to_lowercase(),
        ],
        name: r.name,
        state: r.state,
        provider: r.provider,
        pool: r.pool,
    }
}

fn index_of(entries: &[Entry]) -> HashMap<String, usize> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.clone(), i))
        .collect()
}

/// A condition as given: trimmed; empty means "any" (as the store reads a filter).
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl SearchView {
    /// The view of `rows`, kept in their order (the store's name order).
    pub fn new(rows: Vec<SearchRow>) -> SearchView {
        let entries: Vec<Entry> = rows.into_iter().map(entry).collect();
        let index = index_of(&entries);
        SearchView { entries, index }
    }

    /// Follows a change of the resources in `changed`, `rows` being those of them that
    /// exist now: theirs replace the kept ones, and the others leave the view. `false`,
    /// with the view untouched, when a row is new to it — where a new name sorts is the
    /// store's to say, so the view is then read again whole.
    pub fn update(&mut self, changed: &[String], rows: Vec<SearchRow>) -> bool {
        if rows.iter().any(|r| !self.index.contains_key(&r.name)) {
            return false;
        }
        let present: HashSet<String> = rows.iter().map(|r| r.name.clone()).collect();
        for row in rows {
            if let Some(&at) = self.index.get(&row.name) {
                self.entries[at] = entry(row);
            }
        }
        let gone: HashSet<&str> = changed
            .iter()
            .map(String::as_str)
            .filter(|name| !present.contains(*name) && self.index.contains_key(*name))
            .collect();
        if !gone.is_empty() {
            self.entries.retain(|e| !gone.contains(e.name.as_str()));
            self.index = index_of(&self.entries);
        }
        true
    }

    /// Resources in the view.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the view holds no resource.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Does the view answer `filter`? Not under `destroyed`, which it does not hold.
    pub fn answers(filter: &ResourceFilter) -> bool {
        given(&filter.state) != Some("destroyed")
    }

    /// The names of at most `limit` resources matching `filter` from `offset` on, in
    /// the store's name order, and how many match in all.
    pub fn page(
        &self,
        filter: &ResourceFilter,
        offset: usize,
        limit: usize,
    ) -> (Vec<String>, usize) {
        let provider = filter.provider.map(crate::model::Provider::as_str);
        let pool = given(&filter.pool);
        let state = given(&filter.state);
        let needle = given(&filter.text).map(str::to_lowercase);
        let matching = self.entries.iter().filter(|e| {
            provider.is_none_or(|p| e.provider.as_deref() == Some(p))
                && pool.is_none_or(|p| e.pool.as_deref() == Some(p))
                && state.is_none_or(|s| e.state == s)
                && needle
                    .as_deref()
                    .is_none_or(|n| e.lowered.iter().any(|text| text.contains(n)))
        });
        let mut total = 0;
        let mut names = Vec::new();
        for entry in matching {
            if total >= offset && names.len() < limit {
                names.push(entry.name.clone());
            }
            total += 1;
        }
        (names, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, state: &str, provider: &str, reason: &str, source: &str) -> SearchRow {
        SearchRow {
            name: name.into(),
            state: state.into(),
            provider: Some(provider.into()),
            pool: Some("/home/rack".into()),
            reason: Some(reason.into()),
            source: Some(source.into()),
        }
    }

    /// The four rows every test starts from.
    fn rows() -> Vec<SearchRow> {
        vec![
            row(
                "db-01",
                "applied",
                "docker",
                "Placed on NODE-1",
                "definitions/db.yaml:3",
            ),
            row(
                "web-01",
                "failed",
                "docker",
                "exit 1: 100%_done",
                "definitions/web.yaml:1",
            ),
            row(
                "web-02",
                "applied",
                "proxmox",
                "Prüfung bestanden",
                "definitions\\web.yaml:9",
            ),
            row("web_03", "applied", "docker", "", ""),
        ]
    }

    fn view() -> SearchView {
        SearchView::new(rows())
    }

    fn text(t: &str) -> ResourceFilter {
        ResourceFilter {
            text: Some(t.into()),
            ..Default::default()
        }
    }

    #[test]
    fn text_matches_any_part_of_name_reason_or_source_whatever_the_case() {
        let v = view();
        assert_eq!(
            v.page(&text("WEB-0"), 0, 50),
            (vec!["web-01".into(), "web-02".into()], 2)
        );
        assert_eq!(v.page(&text("node-1"), 0, 50).1, 1, "the reason");
        assert_eq!(v.page(&text("DB.YAML:3"), 0, 50).1, 1, "the source");
        assert_eq!(v.page(&text("PRÜFUNG"), 0, 50).1, 1, "beyond ASCII too");
        assert_eq!(
            v.page(&text("  web-01 "), 0, 50).1,
            1,
            "trimmed, as the store trims"
        );
        assert_eq!(v.page(&text("   "), 0, 50).1, 4, "blank is no filter");
        assert_eq!(
            v.page(&text("01placed"), 0, 50).1,
            0,
            "never across two columns"
        );
    }

    #[test]
    fn wildcards_and_backslashes_are_plain_characters() {
        let v = view();
        assert_eq!(v.page(&text("100%_d"), 0, 50).1, 1);
        assert_eq!(v.page(&text("100%x"), 0, 50).1, 0, "% is literal");
        assert_eq!(
            v.page(&text("web_0"), 0, 50),
            (vec!["web_03".into()], 1),
            "_ is literal"
        );
        assert_eq!(v.page(&text("s\\web"), 0, 50).1, 1, "\\ is literal");
        assert_eq!(v.page(&text("%"), 0, 50).1, 1);
    }

    #[test]
    fn a_change_replaces_or_removes_the_changed_rows_and_a_new_name_reads_all_again() {
        let v = view();
        let listed = |failed: bool| {
            let mut r = rows();
            if failed {
                r[3] = row("web_03", "failed", "docker", "OOM killed", "");
            }
            r
        };
        assert_eq!(SearchView::new(listed(false)), v);
        let changed = vec![
            "web_03".to_owned(),
            "web-01".to_owned(),
            "abc1234".to_owned(),
        ];
        let now: Vec<SearchRow> = listed(true)
            .into_iter()
            .filter(|r| r.name == "web_03")
            .collect();
        let mut next = v.clone();
        assert!(next.update(&changed, now), "no new name");
        let mut expected = listed(true);
        expected.remove(1);
        assert_eq!(
            next,
            SearchView::new(expected),
            "web-01 destroyed, web_03 failed"
        );
        assert_eq!(next.page(&text("oom"), 0, 50).0, vec!["web_03".to_owned()]);
        let mut untouched = v.clone();
        assert!(!untouched.update(
            &["web_03".into(), "new-01".into()],
            vec![
                row("new-01", "rendered", "docker", "", ""),
                row("web_03", "failed", "docker", "OOM killed", ""),
            ]
        ));
        assert_eq!(untouched, v, "a new name leaves the view as it was");
        assert!(untouched.update(&[], vec![]));
        assert_eq!(untouched, v);
    }

    #[test]
    fn text_combines_with_provider_pool_and_state_and_pages_in_order() {
        let v = view();
        let f = ResourceFilter {
            provider: Some(crate::model::Provider::Docker),
            state: Some("applied".into()),
            pool: Some("/home/rack".into()),
            text: Some("0".into()),
        };
        assert_eq!(
            v.page(&f, 0, 50),
            (vec!["db-01".into(), "web_03".into()], 2)
        );
        let other_pool = ResourceFilter {
            pool: Some("/elsewhere".into()),
            ..f.clone()
        };
        assert_eq!(v.page(&other_pool, 0, 50).1, 0);
        let all = text("");
        assert_eq!(
            v.page(&all, 1, 2),
            (vec!["web-01".into(), "web-02".into()], 4)
        );
        assert_eq!(
            v.page(&all, 10, 2),
            (vec![], 4),
            "past the end: no rows, same total"
        );
        assert!(!SearchView::answers(&ResourceFilter {
            state: Some(" destroyed".into()),
            ..Default::default()
        }));
        assert!(SearchView::answers(&f));
        assert_eq!(v.len(), 4);
    }
}
