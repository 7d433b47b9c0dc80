-- Several daemons on one PostgreSQL: members, the leader lease and the member that
-- started each apply run. SQLite stays single-daemon (a lock file refuses a second one),
-- so these tables stay empty here; they exist so both schemas have the same columns.
-- (Same tables and columns as the PostgreSQL migration; times are RFC 3339 text.)

CREATE TABLE cluster_members (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);

CREATE TABLE cluster_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL CHECK (epoch > 0),
    acquired_at TEXT NOT NULL,
    renewed_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

ALTER TABLE apply_runs ADD COLUMN member TEXT NULL;
