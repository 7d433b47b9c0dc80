-- Health checks (spec.health): each resource's last check — healthy or unhealthy, what
-- the attempt saw, when it was checked, since when the status holds, and the applied
-- render it was checked against. One row per resource, replaced at every check.

CREATE TABLE resource_health (
    resource     TEXT PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('healthy', 'unhealthy')),
    reason       TEXT NOT NULL,
    checked_at   TIMESTAMPTZ NOT NULL,
    since        TIMESTAMPTZ NOT NULL,
    applied_hash TEXT NULL
);
