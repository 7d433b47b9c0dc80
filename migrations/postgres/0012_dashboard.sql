-- The web dashboard.
--
-- Pull-request previews as the daemon made them: one row per pull request and head
-- with the latest outcome of that head (valid / invalid / failed), what it would change
-- and where the pull request is. The full report lives on the pull request itself.
CREATE TABLE pull_request_previews (
    pull_number  BIGINT NOT NULL,
    head_commit  TEXT NOT NULL,
    base_commit  TEXT NULL,
    status       TEXT NOT NULL CHECK (status IN ('valid', 'invalid', 'failed')),
    summary      TEXT NOT NULL,
    created      BIGINT NOT NULL DEFAULT 0,
    changed      BIGINT NOT NULL DEFAULT 0,
    removed      BIGINT NOT NULL DEFAULT 0,
    errors       BIGINT NOT NULL DEFAULT 0,
    pr_url       TEXT NULL,
    reported     BOOLEAN NOT NULL DEFAULT false,
    previewed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pull_number, head_commit)
);
CREATE INDEX pull_request_previews_previewed_at ON pull_request_previews (previewed_at);

-- Dashboard logins, so they outlive a restart and are shared by the members of a
-- cluster. The cookie's session id is never stored: only its SHA-256 (hex), and a
-- binding (HMAC of the id keyed by the token's digest) that stops matching when the
-- token is changed or removed. Rows past their absolute expiry are deleted at the next
-- login; the idle expiry is checked against last_seen_at.
CREATE TABLE ui_sessions (
    id_digest    TEXT PRIMARY KEY,
    token_name   TEXT NOT NULL,
    scope        TEXT NOT NULL,
    binding      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX ui_sessions_expires_at ON ui_sessions (expires_at);
CREATE INDEX ui_sessions_last_seen_at ON ui_sessions (last_seen_at);

-- The dashboard's lists at 10,000 resources: existing resources by state and name (the
-- placement documents are stored out of line, so a scan of the rows is cheap here; a
-- reason can be too long for a b-tree entry), and the audit log newest first.
CREATE INDEX deployment_instances_live_state
    ON deployment_instances (state, name) WHERE destroyed_at IS NULL;
CREATE INDEX audit_log_at_seq ON audit_log (at, seq);
