-- History is kept: pruning marks an instance destroyed (when, and at which revision)
-- instead of deleting its row, and the rows that tell what happened to it — renders and
-- apply runs — no longer go with it. Deleting an instance that has history now fails
-- (the foreign keys have no ON DELETE action). A resource re-added later gets the same
-- row back, so its history continues.

ALTER TABLE deployment_instances ADD COLUMN destroyed_at TIMESTAMPTZ NULL;
ALTER TABLE deployment_instances ADD COLUMN destroyed_revision TEXT NULL;
CREATE INDEX deployment_instances_live ON deployment_instances (name) WHERE destroyed_at IS NULL;

ALTER TABLE render_results
    DROP CONSTRAINT render_results_resource_fkey,
    ADD CONSTRAINT render_results_resource_fkey FOREIGN KEY (resource)
        REFERENCES deployment_instances (name) ON UPDATE CASCADE;
ALTER TABLE apply_runs
    DROP CONSTRAINT apply_runs_resource_fkey,
    ADD CONSTRAINT apply_runs_resource_fkey FOREIGN KEY (resource)
        REFERENCES deployment_instances (name) ON UPDATE CASCADE;
