-- homelabd store, SQLite, version 1: the original WTT system's tables.
-- The same tables and columns as migrations/postgres, in STRICT tables:
--   UUID        → TEXT, a random version-4 UUID by default
--   JSONB       → TEXT holding JSON, CHECK (json_valid(…))
--   TIMESTAMPTZ → TEXT, RFC 3339 in UTC with exactly six fractional digits
--                 ('2024-05-01T12:34:56.123456Z'): fixed width, so text order is time order
--   BOOLEAN     → INTEGER 0 / 1
--   INET        → TEXT

CREATE TABLE resource_pools (
    id          TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    name        TEXT NOT NULL UNIQUE,
    path        TEXT NOT NULL UNIQUE CHECK (path LIKE '/%'),
    parent_path TEXT NULL,
    pool_type   TEXT NULL,
    provider    TEXT NULL,
    properties  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(properties)),
    spec        TEXT NOT NULL CHECK (json_valid(spec)),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
                CHECK (updated_at LIKE '____-__-__T__:__:__.______Z')
) STRICT;
CREATE INDEX resource_pools_parent_path ON resource_pools (parent_path);

CREATE TABLE deployment_templates (
    id         TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    name       TEXT NOT NULL UNIQUE,
    spec       TEXT NOT NULL CHECK (json_valid(spec)),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
               CHECK (updated_at LIKE '____-__-__T__:__:__.______Z')
) STRICT;

CREATE TABLE resource_dimensions (
    id          TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    entity_kind TEXT NOT NULL CHECK (entity_kind IN ('pool', 'template', 'resource')),
    entity_name TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    UNIQUE (entity_kind, entity_name, key)
) STRICT;
CREATE INDEX resource_dimensions_key_value ON resource_dimensions (key, value);

CREATE TABLE deployment_instances (
    id                 TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    name               TEXT NOT NULL UNIQUE,
    state              TEXT NOT NULL
                       CHECK (state IN ('rendered', 'invalid', 'orphaned', 'applied', 'failed')),
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
    address            TEXT NULL
) STRICT;
CREATE INDEX deployment_instances_state ON deployment_instances (state);

CREATE TABLE infrastructure_snapshots (
    id       TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    name     TEXT NOT NULL,
    taken_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
             CHECK (taken_at LIKE '____-__-__T__:__:__.______Z'),
    taken_by TEXT NOT NULL,
    content  TEXT NOT NULL CHECK (json_valid(content))
) STRICT;
CREATE INDEX infrastructure_snapshots_taken_at ON infrastructure_snapshots (taken_at);

-- `resource` is deliberately not a foreign key: an unmanaged resource has no instance row.
CREATE TABLE state_deviations (
    id                TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    resource          TEXT NOT NULL,
    deviation_type    TEXT NOT NULL
                      CHECK (deviation_type IN ('missing', 'config_drift', 'resource_change', 'unmanaged')),
    severity          TEXT NOT NULL,
    auto_correctable  INTEGER NOT NULL DEFAULT 0 CHECK (auto_correctable IN (0, 1)),
    corrective_action TEXT NULL,
    expected          TEXT NULL CHECK (json_valid(expected)),
    actual            TEXT NULL CHECK (json_valid(actual)),
    detected_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
                      CHECK (detected_at LIKE '____-__-__T__:__:__.______Z'),
    resolved_at       TEXT NULL CHECK (resolved_at LIKE '____-__-__T__:__:__.______Z'),
    resolved_by       TEXT NULL,
    CHECK (resolved_at IS NULL OR resolved_at >= detected_at)
) STRICT;
CREATE INDEX state_deviations_open ON state_deviations (resource) WHERE resolved_at IS NULL;

CREATE TABLE generated_templates (
    id              TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    name            TEXT NOT NULL,
    source_instance TEXT NULL REFERENCES deployment_instances (name)
                    ON UPDATE CASCADE ON DELETE SET NULL,
    content         TEXT NOT NULL CHECK (json_valid(content)),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
                    CHECK (created_at LIKE '____-__-__T__:__:__.______Z')
) STRICT;

-- `seq` orders rows written within the same microsecond.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
                CHECK (at LIKE '____-__-__T__:__:__.______Z'),
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    client_addr TEXT NULL
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at);
