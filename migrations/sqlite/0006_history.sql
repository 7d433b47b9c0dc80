-- History is kept: pruning marks an instance destroyed (when, and at which revision)
-- instead of deleting its row, and the rows that tell what happened to it — renders and
-- apply runs — no longer go with it. Deleting an instance that has history now fails
-- (the foreign keys have no ON DELETE action). A resource re-added later gets the same
-- row back, so its history continues. (Same columns as the PostgreSQL migration.)

ALTER TABLE deployment_instances ADD COLUMN destroyed_at TEXT NULL
    CHECK (destroyed_at LIKE '____-__-__T__:__:__.______Z');
ALTER TABLE deployment_instances ADD COLUMN destroyed_revision TEXT NULL;
CREATE INDEX deployment_instances_live ON deployment_instances (name) WHERE destroyed_at IS NULL;

-- SQLite cannot change a foreign key in place: the two tables are rebuilt with the same
-- columns, rows (ids and `seq` included) and indexes. Dropping them deletes nothing
-- elsewhere: no table refers to them.
CREATE TABLE render_results_kept (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    resource    TEXT NOT NULL REFERENCES deployment_instances (name) ON UPDATE CASCADE,
    revision    TEXT NOT NULL REFERENCES revisions ("commit"),
    input_hash  TEXT NOT NULL,
    output_hash TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('written', 'unchanged')),
    rendered_at TEXT NOT NULL CHECK (rendered_at LIKE '____-__-__T__:__:__.______Z')
) STRICT;
INSERT INTO render_results_kept (seq, id, resource, revision, input_hash, output_hash, outcome,
                                 rendered_at)
    SELECT seq, id, resource, revision, input_hash, output_hash, outcome, rendered_at
    FROM render_results;
DROP TABLE render_results;
ALTER TABLE render_results_kept RENAME TO render_results;
CREATE INDEX render_results_resource_rendered_at ON render_results (resource, rendered_at);

CREATE TABLE apply_runs_kept (
    id          TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    resource    TEXT NOT NULL REFERENCES deployment_instances (name) ON UPDATE CASCADE,
    revision    TEXT NOT NULL REFERENCES revisions ("commit"),
    executor    TEXT NOT NULL,
    argv        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(argv)),
    state       TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'interrupted')),
    exit_code   INTEGER NULL,
    started_at  TEXT NOT NULL CHECK (started_at LIKE '____-__-__T__:__:__.______Z'),
    finished_at TEXT NULL CHECK (finished_at LIKE '____-__-__T__:__:__.______Z'),
    duration_ms INTEGER NULL CHECK (duration_ms >= 0),
    stdout_tail TEXT NULL,
    stderr_tail TEXT NULL,
    operation   TEXT NOT NULL DEFAULT 'apply' CHECK (operation IN ('apply', 'destroy')),
    error       TEXT NULL,
    member      TEXT NULL,
    CHECK (finished_at IS NULL OR finished_at >= started_at)
) STRICT;
INSERT INTO apply_runs_kept (id, resource, revision, executor, argv, state, exit_code,
                             started_at, finished_at, duration_ms, stdout_tail, stderr_tail,
                             operation, error, member)
    SELECT id, resource, revision, executor, argv, state, exit_code, started_at, finished_at,
           duration_ms, stdout_tail, stderr_tail, operation, error, member
    FROM apply_runs;
DROP TABLE apply_runs;
ALTER TABLE apply_runs_kept RENAME TO apply_runs;
CREATE INDEX apply_runs_resource_started_at ON apply_runs (resource, started_at);
CREATE INDEX apply_runs_running ON apply_runs (resource) WHERE state = 'running';
