-- homelabd store, PostgreSQL, version 1: the original WTT system's tables.
-- Native types throughout: UUID keys (gen_random_uuid(), built in since PostgreSQL 13),
-- JSONB documents, TIMESTAMPTZ times (microsecond precision), INET addresses.

-- Hierarchical resource pools, synced from ResourcePool definitions on every valid pass.
CREATE TABLE resource_pools (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        TEXT NOT NULL UNIQUE,
    path        TEXT NOT NULL UNIQUE CHECK (path LIKE '/%'),
    parent_path TEXT NULL,
    pool_type   TEXT NULL,
    provider    TEXT NULL,
    properties  JSONB NOT NULL DEFAULT '{}'::jsonb,
    spec        JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX resource_pools_parent_path ON resource_pools (parent_path);

-- Parameterised deployment templates, synced from DeploymentTemplate definitions.
CREATE TABLE deployment_templates (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name       TEXT NOT NULL UNIQUE,
    spec       JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Free-form string tags of pools, templates and resources.
CREATE TABLE resource_dimensions (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    entity_kind TEXT NOT NULL CHECK (entity_kind IN ('pool', 'template', 'resource')),
    entity_name TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    UNIQUE (entity_kind, entity_name, key)
);
CREATE INDEX resource_dimensions_key_value ON resource_dimensions (key, value);

-- One row per resource: its reconcile state, plus expected/actual state for drift checks.
CREATE TABLE deployment_instances (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name               TEXT NOT NULL UNIQUE,
    state              TEXT NOT NULL
                       CHECK (state IN ('rendered', 'invalid', 'orphaned', 'applied', 'failed')),
    reason             TEXT NULL,
    provider           TEXT NULL,
    pool               TEXT NULL,
    chart              TEXT NULL,
    resource_type      TEXT NULL,
    placement          JSONB NULL,
    dimensions         JSONB NULL,
    desired_revision   TEXT NULL,
    input_hash         TEXT NULL,
    output_hash        TEXT NULL,
    source             TEXT NULL,
    last_error         TEXT NULL,
    last_error_at      TIMESTAMPTZ NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    expected_state     JSONB NULL,
    actual_state       JSONB NULL,
    state_last_checked TIMESTAMPTZ NULL,
    deviation_detected BOOLEAN NOT NULL DEFAULT false,
    address            INET NULL
);
CREATE INDEX deployment_instances_state ON deployment_instances (state);

-- Point-in-time captures of what exists.
CREATE TABLE infrastructure_snapshots (
    id       UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name     TEXT NOT NULL,
    taken_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    taken_by TEXT NOT NULL,
    content  JSONB NOT NULL
);
CREATE INDEX infrastructure_snapshots_taken_at ON infrastructure_snapshots (taken_at);

-- Differences between expected and actual state. `resource` is deliberately not a foreign
-- key: an unmanaged resource has no deployment_instances row.
CREATE TABLE state_deviations (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    resource          TEXT NOT NULL,
    deviation_type    TEXT NOT NULL
                      CHECK (deviation_type IN ('missing', 'config_drift', 'resource_change', 'unmanaged')),
    severity          TEXT NOT NULL,
    auto_correctable  BOOLEAN NOT NULL DEFAULT false,
    corrective_action TEXT NULL,
    expected          JSONB NULL,
    actual            JSONB NULL,
    detected_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at       TIMESTAMPTZ NULL,
    resolved_by       TEXT NULL,
    CHECK (resolved_at IS NULL OR resolved_at >= detected_at)
);
CREATE INDEX state_deviations_open ON state_deviations (resource) WHERE resolved_at IS NULL;

-- Templates generated from a running instance.
CREATE TABLE generated_templates (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name            TEXT NOT NULL,
    source_instance TEXT NULL REFERENCES deployment_instances (name)
                    ON UPDATE CASCADE ON DELETE SET NULL,
    content         JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Who did what, written in the same transaction as the change it describes.
-- `seq` orders rows written within the same microsecond.
CREATE TABLE audit_log (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    seq         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    details     JSONB NOT NULL DEFAULT '{}'::jsonb,
    client_addr INET NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
