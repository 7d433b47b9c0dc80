-- Apply and drift: what was last applied per resource, its effective policy, the kind of
-- each apply run, and a stable identity for deviations so one difference seen on every
-- observation pass stays one open row.

ALTER TABLE deployment_instances ADD COLUMN applied_hash TEXT NULL;
ALTER TABLE deployment_instances ADD COLUMN applied_revision TEXT NULL;
ALTER TABLE deployment_instances ADD COLUMN policy JSONB NULL;

ALTER TABLE apply_runs ADD COLUMN operation TEXT NOT NULL DEFAULT 'apply'
    CHECK (operation IN ('apply', 'destroy'));
ALTER TABLE apply_runs ADD COLUMN error TEXT NULL;

ALTER TABLE state_deviations ADD COLUMN deviation_key TEXT NOT NULL DEFAULT '';
ALTER TABLE state_deviations ADD COLUMN message TEXT NULL;
ALTER TABLE state_deviations ADD CONSTRAINT state_deviations_severity
    CHECK (severity IN ('info', 'warning', 'critical'));
CREATE UNIQUE INDEX state_deviations_open_key
    ON state_deviations (resource, deviation_key) WHERE resolved_at IS NULL;
CREATE INDEX state_deviations_detected_at ON state_deviations (detected_at);

-- What a queued request asks for: a reconcile pass, an apply (`homelabd apply`), an
-- apply that may prune past the guard (`--prune --force`), or an observation pass.
ALTER TABLE reconcile_requests ADD COLUMN action TEXT NOT NULL DEFAULT 'reconcile'
    CHECK (action IN ('reconcile', 'apply', 'prune', 'observe'));
