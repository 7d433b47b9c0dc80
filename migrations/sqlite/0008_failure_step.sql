-- Which step of a failed resource failed: `render` (rendered again) or `apply` (the same
-- render applied again after a backoff). Until now the reason text told them apart ("apply
-- failed: …"); rows written before this migration are classified by it once, here.
-- (Same column as the PostgreSQL migration.)

ALTER TABLE deployment_instances ADD COLUMN failure TEXT NULL
    CHECK (failure IN ('render', 'apply'));

UPDATE deployment_instances
   SET failure = CASE WHEN reason LIKE 'apply failed%' THEN 'apply' ELSE 'render' END
 WHERE state = 'failed';
