-- Rollbacks: a run that puts a kept healthy output of an earlier revision in place again
-- (automatically after a failed or unhealthy revision, or by `homelabd rollback`) is
-- recorded as `rollback`, not as an apply of the revision it returns to. `homelabd
-- rollback NAME [--to REVISION]` is a queued request with the revision it asks for.
-- (Same columns as the PostgreSQL migration.)
--
-- SQLite cannot change a CHECK in place: both tables are rebuilt with the same columns,
-- rows and indexes (as in 0006). No table refers to either, so dropping them deletes
-- nothing elsewhere.
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
    operation   TEXT NOT NULL DEFAULT 'apply'
                CHECK (operation IN ('apply', 'destroy', 'rollback')),
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

-- AUTOINCREMENT: the rebuilt queue continues the old one's ids (never reused).
CREATE TABLE reconcile_requests_kept (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    resource       TEXT NULL,
    requested_by   TEXT NOT NULL,
    requested_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
                   CHECK (requested_at LIKE '____-__-__T__:__:__.______Z'),
    action         TEXT NOT NULL DEFAULT 'reconcile'
                   CHECK (action IN ('reconcile', 'apply', 'prune', 'observe', 'rollback')),
    ignore_windows INTEGER NOT NULL DEFAULT 0 CHECK (ignore_windows IN (0, 1)),
    revision       TEXT NULL
) STRICT;
INSERT INTO reconcile_requests_kept (id, resource, requested_by, requested_at, action,
                                     ignore_windows)
    SELECT id, resource, requested_by, requested_at, action, ignore_windows
    FROM reconcile_requests;
DELETE FROM sqlite_sequence WHERE name = 'reconcile_requests_kept';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'reconcile_requests_kept', seq FROM sqlite_sequence WHERE name = 'reconcile_requests';
DROP TABLE reconcile_requests;
ALTER TABLE reconcile_requests_kept RENAME TO reconcile_requests;
