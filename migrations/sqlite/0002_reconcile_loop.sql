-- homelabd store, SQLite, version 2: what the reconcile loop needs.
-- Same type mapping as 0001_wtt_schema.sql.

CREATE TABLE revisions (
    "commit"          TEXT PRIMARY KEY NOT NULL,
    seen_at           TEXT NOT NULL CHECK (seen_at LIKE '____-__-__T__:__:__.______Z'),
    valid             INTEGER NOT NULL CHECK (valid IN (0, 1)),
    resources_valid   INTEGER NOT NULL CHECK (resources_valid >= 0),
    resources_invalid INTEGER NOT NULL CHECK (resources_invalid >= 0),
    errors            INTEGER NOT NULL CHECK (errors >= 0),
    warnings          INTEGER NOT NULL CHECK (warnings >= 0),
    diagnostics       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(diagnostics))
) STRICT;
CREATE INDEX revisions_seen_at ON revisions (seen_at);

-- `seq` orders rows written within the same microsecond.
CREATE TABLE render_results (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    resource    TEXT NOT NULL REFERENCES deployment_instances (name)
                ON UPDATE CASCADE ON DELETE CASCADE,
    revision    TEXT NOT NULL REFERENCES revisions ("commit"),
    input_hash  TEXT NOT NULL,
    output_hash TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('written', 'unchanged')),
    rendered_at TEXT NOT NULL CHECK (rendered_at LIKE '____-__-__T__:__:__.______Z')
) STRICT;
CREATE INDEX render_results_resource_rendered_at ON render_results (resource, rendered_at);

CREATE TABLE apply_runs (
    id          TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    resource    TEXT NOT NULL REFERENCES deployment_instances (name)
                ON UPDATE CASCADE ON DELETE CASCADE,
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
    CHECK (finished_at IS NULL OR finished_at >= started_at)
) STRICT;
CREATE INDEX apply_runs_resource_started_at ON apply_runs (resource, started_at);
CREATE INDEX apply_runs_running ON apply_runs (resource) WHERE state = 'running';

CREATE TABLE proposals (
    id         TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    tool       TEXT NOT NULL,
    client     TEXT NOT NULL,
    branch     TEXT NOT NULL,
    "commit"   TEXT NULL,
    pr_url     TEXT NULL,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
               CHECK (created_at LIKE '____-__-__T__:__:__.______Z'),
    details    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
) STRICT;
CREATE INDEX proposals_created_at ON proposals (created_at);

-- AUTOINCREMENT: an id is never reused, even after the queue has been emptied.
CREATE TABLE reconcile_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    resource     TEXT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
                 CHECK (requested_at LIKE '____-__-__T__:__:__.______Z')
) STRICT;
