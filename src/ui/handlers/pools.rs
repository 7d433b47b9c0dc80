//! The pools page: the pool tree with what the placements book on every node, against
//! its capacity, and the live load of the last inventory scans.
//!
//! Booking 10,000 placements on ~2,000 nodes costs more than the page may take, and it
//! only changes when the store does, so the pools and their bookings are kept per store
//! change: the newest audit row's sequence number, which every write that places,
//! moves or destroys a resource (a pass, an apply) or changes the pools (a pass)
//! advances. A page costs one read of that counter and of the inventory; the live load
//! (unmanaged guests, measured memory) is always read fresh, since it ages with the
//! clock.

use super::*;
use crate::store::CatalogRecord;
use crate::ui::pools::{self as tree, Bookings};
use std::time::Instant;

/// How long kept bookings may serve while the change counter stands still. On
/// PostgreSQL, sequence numbers are taken when a row is written and become visible at
/// commit, so a write can commit below a counter already read; this bounds how long
/// such a write stays unseen.
const MAX_AGE: Duration = Duration::from_secs(60);

/// The pools and their bookings as of one store change.
#[derive(Debug)]
struct Kept {
    change: i64,
    at: Instant,
    pools: Arc<Vec<CatalogRecord>>,
    booked: Arc<Bookings>,
}

/// The pools page's bookings, kept between store changes.
#[derive(Debug, Default)]
pub(super) struct PoolsCache(Mutex<Option<Kept>>);

impl PoolsCache {
    /// The pools and bookings kept for `change`, unless they are older than [`MAX_AGE`].
    fn get(&self, change: i64) -> Option<(Arc<Vec<CatalogRecord>>, Arc<Bookings>)> {
        let kept = self.0.lock().ok()?;
        kept.as_ref()
            .filter(|k| k.change == change && k.at.elapsed() < MAX_AGE)
            .map(|k| (Arc::clone(&k.pools), Arc::clone(&k.booked)))
    }

    fn put(&self, change: i64, pools: &Arc<Vec<CatalogRecord>>, booked: &Arc<Bookings>) {
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some(Kept {
                change,
                at: Instant::now(),
                pools: Arc::clone(pools),
                booked: Arc::clone(booked),
            });
        }
    }
}

/// The pools and their bookings as the store holds them now: kept ones while the store
/// has not changed, else read and booked again. The counter is read before the data, so
/// a change landing in between is booked again at the next page.
async fn pools_and_bookings(
    store: &Store,
    cache: &PoolsCache,
) -> Result<(Arc<Vec<CatalogRecord>>, Arc<Bookings>), StoreError> {
    let change = store.last_audit_seq().await?;
    if let Some(kept) = cache.get(change) {
        return Ok(kept);
    }
    let pools = Arc::new(store.pools().await?);
    let placements = store.placement_bookings().await?;
    let booked = Arc::new(tree::bookings(&placements));
    cache.put(change, &pools, &booked);
    Ok((pools, booked))
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
    let (pools, booked) = read!(ui, s, pools_and_bookings(store, &ui.pools));
    let inventory = read!(ui, s, store.inventory(None, false));
    let live = crate::observe::inventory::stored_loads(&inventory, chrono::Utc::now());
    let mut rows = tree::pool_tree(&pools, &booked, &live);
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
