-- Organizations own API keys and jobs.
CREATE TABLE organizations (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- API keys: only the SHA-256 hash of the secret is stored.
CREATE TABLE api_keys (
    id         TEXT    PRIMARY KEY,
    org_id     TEXT    NOT NULL REFERENCES organizations (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('user', 'org')),
    hash       BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE jobs (
    id          TEXT    PRIMARY KEY,
    org_id      TEXT    NOT NULL REFERENCES organizations (id),
    type        TEXT    NOT NULL CHECK (type IN ('createmodel', 'updatemodel', 'previewmodel',
                                                 'samplemodel', 'exportlogs', 'connectionproxy')),
    status      TEXT    NOT NULL CHECK (status IN ('created', 'running', 'done', 'failed')),
    result      TEXT,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER,
    -- result only with done, error only (and always) with failed, finished_at only when terminal.
    CHECK (result IS NULL OR status = 'done'),
    CHECK ((error IS NOT NULL) = (status = 'failed')),
    CHECK ((finished_at IS NOT NULL) = (status IN ('done', 'failed')))
);

CREATE INDEX jobs_by_org ON jobs (org_id, created_at);
CREATE INDEX jobs_by_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
