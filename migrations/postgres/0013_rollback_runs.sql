-- Rollbacks: a run that puts a kept healthy output of an earlier revision in place again
-- (automatically after a failed or unhealthy revision, or by `homelabd rollback`) is
-- recorded as `rollback`, not as an apply of the revision it returns to. `homelabd
-- rollback NAME [--to REVISION]` is a queued request with the revision it asks for.
-- (Same columns as the SQLite migration.)
ALTER TABLE apply_runs DROP CONSTRAINT apply_runs_operation_check;
ALTER TABLE apply_runs ADD CONSTRAINT apply_runs_operation_check
    CHECK (operation IN ('apply', 'destroy', 'rollback'));

ALTER TABLE reconcile_requests DROP CONSTRAINT reconcile_requests_action_check;
ALTER TABLE reconcile_requests ADD CONSTRAINT reconcile_requests_action_check
    CHECK (action IN ('reconcile', 'apply', 'prune', 'observe', 'rollback'));
ALTER TABLE reconcile_requests ADD COLUMN revision TEXT NULL;
