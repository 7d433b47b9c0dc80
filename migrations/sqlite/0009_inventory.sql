-- Live inventory: what the providers report exists (Proxmox nodes, guests, storage and
-- GPUs; Docker engines and containers; Kubernetes nodes), one row per item and source,
-- with when it was first and last seen and when a scan stopped reporting it. A scan
-- upserts what it saw and marks the rest of its source gone; rows are never deleted.
-- `managed_by` names the resource in git that accounts for the item (NULL: unmanaged).
-- (Same columns as the PostgreSQL migration.)

CREATE TABLE inventory_items (
    source        TEXT NOT NULL,
    item_key      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NULL,
    node          TEXT NULL,
    managed_by    TEXT NULL,
    details       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    first_seen_at TEXT NOT NULL CHECK (first_seen_at LIKE '____-__-__T__:__:__.______Z'),
    seen_at       TEXT NOT NULL CHECK (seen_at LIKE '____-__-__T__:__:__.______Z'),
    gone_at       TEXT NULL CHECK (gone_at LIKE '____-__-__T__:__:__.______Z'),
    PRIMARY KEY (source, item_key)
) STRICT;
CREATE INDEX inventory_items_present ON inventory_items (source, kind) WHERE gone_at IS NULL;
