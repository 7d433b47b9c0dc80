-- A resource whose automatic applies (retries, self-heal) hit the flapping limit is
-- `degraded`: nothing is tried again until its definition changes or an operator asks.
-- (Same states as the PostgreSQL migration.)
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt with the same
-- columns, rows and indexes. Other tables refer to it (apply runs, renders, generated
-- templates), so their foreign keys are checked at commit, after the rows are back; the
-- generated templates' links, which dropping the table sets to NULL, are put back.
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE deployment_instances_kept AS SELECT * FROM deployment_instances;
CREATE TEMP TABLE generated_templates_links AS
    SELECT id, source_instance FROM generated_templates WHERE source_instance IS NOT NULL;
DROP TABLE deployment_instances;

CREATE TABLE deployment_instances (
    id                 TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    name               TEXT NOT NULL UNIQUE,
    state              TEXT NOT NULL
                       CHECK (state IN ('rendered', 'invalid', 'orphaned', 'applied', 'failed', 'degraded')),
    reason             TEXT NULL,
    provider           TEXT NULL,
    pool               TEXT NULL,
    chart              TEXT NULL,
    resource_type      TEXT NULL,
    placement          TEXT NULL CHECK (json_valid(placement)),
    dimensions         TEXT NULL CHECK (json_valid(dimensions)),
    desired_revision   TEXT NULL,
    input_hash         TEXT NULL,
    output_hash        TEXT NULL,
    source             TEXT NULL,
    last_error         TEXT NULL,
    last_error_at      TEXT NULL CHECK (last_error_at LIKE '____-__-__T__:__:__.______Z'),
    updated_at         TEXT NOT NULL CHECK (updated_at LIKE '____-__-__T__:__:__.______Z'),
    expected_state     TEXT NULL CHECK (json_valid(expected_state)),
    actual_state       TEXT NULL CHECK (json_valid(actual_state)),
    state_last_checked TEXT NULL CHECK (state_last_checked LIKE '____-__-__T__:__:__.______Z'),
    deviation_detected INTEGER NOT NULL DEFAULT 0 CHECK (deviation_detected IN (0, 1)),
    address            TEXT NULL,
    applied_hash       TEXT NULL,
    applied_revision   TEXT NULL,
    policy             TEXT NULL CHECK (policy IS NULL OR json_valid(policy)),
    destroyed_at       TEXT NULL CHECK (destroyed_at LIKE '____-__-__T__:__:__.______Z'),
    destroyed_revision TEXT NULL,
    endpoints          TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(endpoints)),
    failure            TEXT NULL CHECK (failure IN ('render', 'apply'))
) STRICT;
INSERT INTO deployment_instances (id, name, state, reason, provider, pool, chart, resource_type,
                                  placement, dimensions, desired_revision, input_hash,
                                  output_hash, source, last_error, last_error_at, updated_at,
                                  expected_state, actual_state, state_last_checked,
                                  deviation_detected, address, applied_hash, applied_revision,
                                  policy, destroyed_at, destroyed_revision, endpoints, failure)
    SELECT id, name, state, reason, provider, pool, chart, resource_type, placement, dimensions,
           desired_revision, input_hash, output_hash, source, last_error, last_error_at,
           updated_at, expected_state, actual_state, state_last_checked, deviation_detected,
           address, applied_hash, applied_revision, policy, destroyed_at, destroyed_revision,
           endpoints, failure
    FROM deployment_instances_kept;
DROP TABLE deployment_instances_kept;
CREATE INDEX deployment_instances_state ON deployment_instances (state);
CREATE INDEX deployment_instances_live ON deployment_instances (name) WHERE destroyed_at IS NULL;

UPDATE generated_templates
   SET source_instance = (SELECT l.source_instance FROM generated_templates_links l
                           WHERE l.id = generated_templates.id)
 WHERE id IN (SELECT id FROM generated_templates_links);
DROP TABLE generated_templates_links;

-- `homelabd apply --ignore-windows`: the request applies outside the sync windows.
ALTER TABLE reconcile_requests ADD COLUMN ignore_windows INTEGER NOT NULL DEFAULT 0
    CHECK (ignore_windows IN (0, 1));
