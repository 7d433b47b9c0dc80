//! The resources list filtered by text: the search view ([`crate::ui::search`]) kept
//! per store change and followed through small changes like the pools page's bookings
//! ([`super::kept`]), and the page of resources it picked read from the store. Lists
//! without a text, and the destroyed resources, are filtered and paged in SQL.

use super::kept::{Kept, KeptCell, MAX_FOLLOWED};
use crate::store::{Page, ResourceFilter, ResourceRecord, Store, StoreError};
use crate::ui::search::SearchView;
use std::sync::Arc;
use std::time::Instant;

/// The text filter's view of the resources, kept between store changes.
pub(super) type SearchCache = KeptCell<SearchView>;

/// The search view as the store holds the resources now: the kept one while the store
/// has not changed, updated with the rows of the resources a small change names, else
/// read whole.
async fn search_view(store: &Store, cache: &SearchCache) -> Result<Arc<SearchView>, StoreError> {
    let change = store.last_audit_seq().await?;
    let kept = cache.fresh();
    if let Some(k) = &kept
        && k.change == change
    {
        return Ok(Arc::clone(&k.value));
    }
    if let Some(k) = kept.filter(|k| k.change < change)
        && let Some(changes) = store.changes_since(k.change, MAX_FOLLOWED).await?
    {
        let names: Vec<String> = changes.subjects.into_iter().collect();
        let rows = store.resource_search_rows_of(&names).await?;
        let Kept {
            change: was,
            rebuilt,
            mut value,
        } = k;
        cache.release(was);
        // Unless a page is reading it right now, updated in place: no copy of 10,000 rows.
        if Arc::make_mut(&mut value).update(&names, rows) {
            cache.put(Kept {
                change,
                rebuilt,
                value: Arc::clone(&value),
            });
            return Ok(value);
        }
    }
    let value = Arc::new(SearchView::new(store.resource_search_rows().await?));
    cache.put(Kept {
        change,
        rebuilt: Instant::now(),
        value: Arc::clone(&value),
    });
    Ok(value)
}

/// At most `limit` resources matching `filter` from `offset` on, and how many match: a
/// text filter over existing resources through the search view, anything else in SQL.
pub(super) async fn resources_page(
    store: &Store,
    cache: &SearchCache,
    filter: &ResourceFilter,
    offset: i64,
    limit: i64,
) -> Result<Page<ResourceRecord>, StoreError> {
    let text = filter.text.as_deref().map(str::trim).unwrap_or_default();
    if text.is_empty() || !SearchView::answers(filter) {
        return store.resources_page(filter, offset, limit).await;
    }
    let view = search_view(store, cache).await?;
    let (names, total) = view.page(
        filter,
        usize::try_from(offset).unwrap_or(0),
        usize::try_from(limit).unwrap_or(0),
    );
    let items = store.resources_named(&names).await?;
    Ok(Page {
        items,
        total: i64::try_from(total).unwrap_or(i64::MAX),
    })
}
