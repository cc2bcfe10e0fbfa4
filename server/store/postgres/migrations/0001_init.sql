-- The PostgreSQL twin of server/store/sqlite/migrations/0001_init.sql: same
-- tables, columns and invariants, with native types (uuid, timestamptz, bytea).

-- Organizations own API keys and jobs.
CREATE TABLE organizations (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL UNIQUE CHECK (name <> ''),
    created_at timestamptz NOT NULL
);

-- API keys: only the SHA-256 hash of the secret is stored.
CREATE TABLE api_keys (
    id         uuid        PRIMARY KEY,
    org_id     uuid        NOT NULL REFERENCES organizations (id),
    kind       text        NOT NULL CHECK (kind IN ('user', 'org')),
    hash       bytea       NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE TABLE jobs (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL REFERENCES organizations (id),
    type        text        NOT NULL CHECK (type IN ('createmodel', 'updatemodel', 'previewmodel',
                                                     'samplemodel', 'exportlogs', 'connectionproxy')),
    status      text        NOT NULL CHECK (status IN ('created', 'running', 'done', 'failed')),
    -- json, not jsonb: it validates the document yet keeps its exact bytes (key
    -- order, whitespace), so both stores return a result as it was given.
    result      json,
    error       text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    finished_at timestamptz,
    -- result only with done, error only (and always) with failed, finished_at only when terminal.
    CONSTRAINT jobs_result_only_when_done CHECK (result IS NULL OR status = 'done'),
    CONSTRAINT jobs_error_iff_failed CHECK ((error IS NOT NULL) = (status = 'failed')),
    CONSTRAINT jobs_finished_iff_terminal CHECK ((finished_at IS NOT NULL) = (status IN ('done', 'failed')))
);

CREATE INDEX jobs_by_org ON jobs (org_id, created_at);
CREATE INDEX jobs_by_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
