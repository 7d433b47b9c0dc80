-- A resource whose automatic applies (retries, self-heal) hit the flapping limit is
-- `degraded`: nothing is tried again until its definition changes or an operator asks.
ALTER TABLE deployment_instances DROP CONSTRAINT deployment_instances_state_check;
ALTER TABLE deployment_instances ADD CONSTRAINT deployment_instances_state_check
    CHECK (state IN ('rendered', 'invalid', 'orphaned', 'applied', 'failed', 'degraded'));

-- `homelabd apply --ignore-windows`: the request applies outside the sync windows.
ALTER TABLE reconcile_requests ADD COLUMN ignore_windows BOOLEAN NOT NULL DEFAULT false;
