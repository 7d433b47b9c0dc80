//! The pools page: the pool tree with what the placements book on every node, against
//! its capacity, and the live load of the last inventory scans.
//!
//! Booking 10,000 placements on ~2,000 nodes costs more than the page may take, and it
//! only changes when the store does, so the pools and their bookings are kept per store
//! change ([`super::kept`]): a page costs one read of the change counter and of the
//! inventory. After a change, only the resources the new audit rows name are read and
//! booked again (an apply: one resource), and the pools only after a pass; a change of
//! more than [`MAX_FOLLOWED`] rows, or a minute after the last full booking, books
//! everything again. The live load (unmanaged guests, measured memory) is always read
//! fresh, since it ages with the clock.

use super::kept::{Kept, KeptCell, MAX_FOLLOWED};
use super::*;
use crate::store::CatalogRecord;
use crate::ui::pools::{self as tree, Bookings};
use std::collections::BTreeMap;
use std::time::Instant;

/// The pools and what the placements book on them, as of one store change.
#[derive(Debug, Clone)]
pub(super) struct PoolsKept {
    pools: Arc<Vec<CatalogRecord>>,
    booked: Bookings,
}

/// The pools page's bookings, kept between store changes.
pub(super) type PoolsCache = KeptCell<PoolsKept>;

/// The pools and their bookings as the store holds them now: kept ones while the store
/// has not changed, followed through a small change, else read and booked again. The
/// counter is read before the data, so a change landing in between is read again at
/// the next page.
async fn pools_and_bookings(
    store: &Store,
    cache: &PoolsCache,
) -> Result<Arc<PoolsKept>, StoreError> {
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
        let mut placed: BTreeMap<String, serde_json::Value> = store
            .placement_bookings_of(&names)
            .await?
            .into_iter()
            .collect();
        let moved: Vec<(String, Option<serde_json::Value>)> = names
            .into_iter()
            .map(|name| {
                let placement = placed.remove(&name);
                (name, placement)
            })
            .collect();
        let pools = if changes.actions.contains("revision.recorded") {
            Some(Arc::new(store.pools().await?))
        } else {
            None
        };
        let Kept {
            change: was,
            rebuilt,
            mut value,
        } = k;
        cache.release(was);
        // Unless a page is reading them right now, booked in place: no copy of 10,000
        // bookings.
        let kept = Arc::make_mut(&mut value);
        kept.booked.apply(&moved);
        if let Some(pools) = pools {
            kept.pools = pools;
        }
        cache.put(Kept {
            change,
            rebuilt,
            value: Arc::clone(&value),
        });
        return Ok(value);
    }
    let pools = Arc::new(store.pools().await?);
    let booked = tree::bookings(&store.placement_bookings().await?);
    let value = Arc::new(PoolsKept { pools, booked });
    cache.put(Kept {
        change,
        rebuilt: Instant::now(),
        value: Arc::clone(&value),
    });
    Ok(value)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PoolsQuery {
    /// One pool whose nodes are all listed (paged).
    #[serde(default)]
    path: String,
    #[serde(default)]
    offset: i64,
}

pub(super) async fn pools(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(q): Query<PoolsQuery>,
) -> Response {
    let s = session_or_login!(ui, headers);
    let store = store_or!(ui);
    let kept = read!(ui, s, pools_and_bookings(store, &ui.pools));
    let inventory = read!(ui, s, store.inventory(None, false));
    let live = crate::observe::inventory::stored_loads(&inventory, chrono::Utc::now());
    let mut rows = tree::pool_tree(&kept.pools, &kept.booked, &live);
    let path = bounded(&q.path);
    let offset = q.offset.clamp(0, 1_000_000);
    let focus = rows.iter().find(|p| p.path == path).map(|p| p.node_count);
    tree::limit_nodes(&mut rows, focus.map(|_| path.as_str()), offset as usize);
    let pager = focus.map(|count| {
        views::pager(
            "/ui/pools",
            &[("path", path.as_str())],
            offset,
            tree::NODES_PER_PAGE as i64,
            count as i64,
        )
    });
    let mut ctx = base("pools", "Pools", &s);
    merge(
        &mut ctx,
        json!({
            "pools": rows,
            "focus": focus.map(|_| path.clone()),
            "pager": pager,
            "shown": tree::NODES_SHOWN,
        }),
    );
    ui.page("pools.html", &ctx)
}
