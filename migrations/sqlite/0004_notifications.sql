-- Notifications: a durable outbox. An event row is written in the same transaction as
-- what it describes (an apply run's end, an observation, a proposal); the delivery task
-- fans each event out to the configured sinks (one delivery row per sink) and retries
-- with backoff until the receiver accepts it. (Same columns as the PostgreSQL migration;
-- ids are UUID text, timestamps RFC 3339 text, JSON validated text.)

CREATE TABLE notification_outbox (
    id          TEXT PRIMARY KEY,
    event_type  TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    subject     TEXT NOT NULL,
    summary     TEXT NOT NULL,
    payload     TEXT NOT NULL CHECK (json_valid(payload)),
    created_at  TEXT NOT NULL
);
CREATE INDEX notification_outbox_created_at ON notification_outbox (created_at);

-- Every sink the delivery task has ever served, and since when: a sink added later is
-- not flooded with the whole history.
CREATE TABLE notification_sinks (
    name        TEXT PRIMARY KEY,
    since       TEXT NOT NULL
);

CREATE TABLE notification_deliveries (
    notification_id TEXT NOT NULL REFERENCES notification_outbox (id) ON DELETE CASCADE,
    sink            TEXT NOT NULL,
    -- `pending`, `delivered` or `skipped` (the sink's filter does not want it).
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    delivered_at    TEXT NULL,
    last_error      TEXT NULL,
    PRIMARY KEY (notification_id, sink)
);
CREATE INDEX notification_deliveries_due
    ON notification_deliveries (next_attempt_at) WHERE state = 'pending';
