-- The web dashboard.
--
-- Pull-request previews as the daemon made them: one row per pull request and head
-- with the latest outcome of that head (valid / invalid / failed), what it would change
-- and where the pull request is. The full report lives on the pull request itself.
-- (Same columns as the PostgreSQL migration.)
CREATE TABLE pull_request_previews (
    pull_number  INTEGER NOT NULL,
    head_commit  TEXT NOT NULL,
    base_commit  TEXT NULL,
    status       TEXT NOT NULL CHECK (status IN ('valid', 'invalid', 'failed')),
    summary      TEXT NOT NULL,
    created      INTEGER NOT NULL DEFAULT 0,
    changed      INTEGER NOT NULL DEFAULT 0,
    removed      INTEGER NOT NULL DEFAULT 0,
    errors       INTEGER NOT NULL DEFAULT 0,
    pr_url       TEXT NULL,
    reported     INTEGER NOT NULL DEFAULT 0 CHECK (reported IN (0, 1)),
    previewed_at TEXT NOT NULL CHECK (previewed_at LIKE '____-__-__T__:__:__.______Z'),
    PRIMARY KEY (pull_number, head_commit)
) STRICT;
CREATE INDEX pull_request_previews_previewed_at ON pull_request_previews (previewed_at);

-- Dashboard logins, so they outlive a restart and are shared by the members of a
-- cluster. The cookie's session id is never stored: only its SHA-256 (hex), and a
-- binding (HMAC of the id keyed by the token's digest) that stops matching when the
-- token is changed or removed. Rows past their absolute expiry are deleted at the next
-- login; the idle expiry is checked against last_seen_at.
CREATE TABLE ui_sessions (
    id_digest    TEXT PRIMARY KEY NOT NULL,
    token_name   TEXT NOT NULL,
    scope        TEXT NOT NULL,
    binding      TEXT NOT NULL,
    created_at   TEXT NOT NULL CHECK (created_at LIKE '____-__-__T__:__:__.______Z'),
    last_seen_at TEXT NOT NULL CHECK (last_seen_at LIKE '____-__-__T__:__:__.______Z'),
    expires_at   TEXT NOT NULL CHECK (expires_at LIKE '____-__-__T__:__:__.______Z')
) STRICT;
CREATE INDEX ui_sessions_expires_at ON ui_sessions (expires_at);
CREATE INDEX ui_sessions_last_seen_at ON ui_sessions (last_seen_at);

-- The dashboard's lists at 10,000 resources: existing resources by name with every
-- column the filters read, and by state (a filtered count or page reads these indexes,
-- not the rows with their placement documents); the audit log newest first with the
-- columns its filters read.
CREATE INDEX deployment_instances_browse
    ON deployment_instances (name, state, provider, pool, reason, source)
    WHERE destroyed_at IS NULL;
CREATE INDEX deployment_instances_live_state
    ON deployment_instances (state, name) WHERE destroyed_at IS NULL;
CREATE INDEX audit_log_browse ON audit_log (at, seq, actor, action, subject);
