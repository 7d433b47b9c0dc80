-- Health checks (spec.health): each resource's last check — healthy or unhealthy, what
-- the attempt saw, when it was checked, since when the status holds, and the applied
-- render it was checked against. One row per resource, replaced at every check.
-- (Same columns as the PostgreSQL migration.)

CREATE TABLE resource_health (
    resource     TEXT PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('healthy', 'unhealthy')),
    reason       TEXT NOT NULL,
    checked_at   TEXT NOT NULL CHECK (checked_at LIKE '____-__-__T__:__:__.______Z'),
    since        TEXT NOT NULL CHECK (since LIKE '____-__-__T__:__:__.______Z'),
    applied_hash TEXT NULL
) STRICT;
