//! Pagination of long answers: items sorted by a key, a page of `limit`, and a cursor that
//! is the key of the last item returned. Keys (not offsets) keep pages stable when the
//! repository changes between calls: nothing is skipped or repeated that did not change.

use serde::Serialize;

/// Items per page when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most items one page may hold.
pub const MAX_LIMIT: u32 = 500;

/// Where a page sits in the whole list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PageInfo {
    /// How many items match in all (every page together).
    pub total: usize,
    /// Pass this as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One page of `items` (already sorted by `key`): those after `cursor`, at most `limit`.
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> (Vec<T>, PageInfo) {
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
    let total = items.len();
    let mut page: Vec<T> = items
        .into_iter()
        .filter(|item| cursor.is_none_or(|c| key(item) > c))
        .take(limit + 1)
        .collect();
    let next_cursor = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|last| key(last).to_owned())
    } else {
        None
    };
    (page, PageInfo { total, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats() {
        let items: Vec<String> = (0..7).map(|i| format!("r{i}")).collect();
        let (first, info) = paginate(items.clone(), |s| s.as_str(), Some(3), None);
        assert_eq!(first, ["r0", "r1", "r2"]);
        assert_eq!(info.total, 7);
        assert_eq!(info.next_cursor.as_deref(), Some("r2"));
        let (second, info) = paginate(items.clone(), |s| s.as_str(), Some(3), Some("r2"));
        assert_eq!(second, ["r3", "r4", "r5"]);
        let (last, info) = paginate(items, |s| s.as_str(), Some(3), info.next_cursor.as_deref());
        assert_eq!(last, ["r6"]);
        assert_eq!(info.next_cursor, None);
    }

    #[test]
    fn limits_are_clamped() {
        let items: Vec<String> = (0..3).map(|i| format!("r{i}")).collect();
        assert_eq!(
            paginate(items.clone(), |s| s.as_str(), Some(0), None)
                .0
                .len(),
            1
        );
        assert_eq!(paginate(items, |s| s.as_str(), None, None).0.len(), 3);
    }
}
