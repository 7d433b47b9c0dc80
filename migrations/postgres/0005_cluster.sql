-- Several daemons on one PostgreSQL: who is running (members, with a heartbeat every
-- ~2 s), who leads (one lease row, renewed with the heartbeat; a takeover bumps the
-- epoch) and which member started each apply run. Times are the database's clock, so
-- the members' clocks never have to agree.

CREATE TABLE cluster_members (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE cluster_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL CHECK (epoch > 0),
    acquired_at TIMESTAMPTZ NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE apply_runs ADD COLUMN member TEXT NULL;
