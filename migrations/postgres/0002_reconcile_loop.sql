-- homelabd store, PostgreSQL, version 2: what the reconcile loop needs.

-- Every commit the daemon looked at, and what validation said about it.
CREATE TABLE revisions (
    "commit"          TEXT PRIMARY KEY,
    seen_at           TIMESTAMPTZ NOT NULL,
    valid             BOOLEAN NOT NULL,
    resources_valid   BIGINT NOT NULL CHECK (resources_valid >= 0),
    resources_invalid BIGINT NOT NULL CHECK (resources_invalid >= 0),
    errors            BIGINT NOT NULL CHECK (errors >= 0),
    warnings          BIGINT NOT NULL CHECK (warnings >= 0),
    diagnostics       JSONB NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX revisions_seen_at ON revisions (seen_at);

-- One render of one resource. `seq` orders rows written within the same microsecond.
CREATE TABLE render_results (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    seq         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    resource    TEXT NOT NULL REFERENCES deployment_instances (name)
                ON UPDATE CASCADE ON DELETE CASCADE,
    revision    TEXT NOT NULL REFERENCES revisions ("commit"),
    input_hash  TEXT NOT NULL,
    output_hash TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('written', 'unchanged')),
    rendered_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX render_results_resource_rendered_at ON render_results (resource, rendered_at);

-- One run of an executor (terraform, ansible-playbook, docker compose, kubectl…),
-- recorded before it starts and after it ends.
CREATE TABLE apply_runs (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    resource    TEXT NOT NULL REFERENCES deployment_instances (name)
                ON UPDATE CASCADE ON DELETE CASCADE,
    revision    TEXT NOT NULL REFERENCES revisions ("commit"),
    executor    TEXT NOT NULL,
    argv        JSONB NOT NULL DEFAULT '[]'::jsonb,
    state       TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'interrupted')),
    exit_code   INTEGER NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NULL,
    duration_ms BIGINT NULL CHECK (duration_ms >= 0),
    stdout_tail TEXT NULL,
    stderr_tail TEXT NULL,
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);
CREATE INDEX apply_runs_resource_started_at ON apply_runs (resource, started_at);
CREATE INDEX apply_runs_running ON apply_runs (resource) WHERE state = 'running';

-- Changes proposed through MCP tools (a branch, a commit, maybe a pull request).
CREATE TABLE proposals (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tool       TEXT NOT NULL,
    client     TEXT NOT NULL,
    branch     TEXT NOT NULL,
    "commit"   TEXT NULL,
    pr_url     TEXT NULL,
    status     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    details    JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX proposals_created_at ON proposals (created_at);

-- Requests for an immediate reconcile, queued by `homelabd reconcile` and taken by the daemon.
CREATE TABLE reconcile_requests (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource     TEXT NULL,
    requested_by TEXT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
