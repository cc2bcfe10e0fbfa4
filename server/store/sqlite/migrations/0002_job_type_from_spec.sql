-- The job types are the contract's (openapi.yaml, checked in Go by
-- store.NewJob), not the database's: a type added to the spec must need no
-- migration. SQLite cannot drop a CHECK constraint, so the table is rebuilt
-- without the one on type; the lifecycle's checks stay.
CREATE TABLE jobs_new (
    id          TEXT    PRIMARY KEY,
    org_id      TEXT    NOT NULL REFERENCES organizations (id),
    type        TEXT    NOT NULL CHECK (type <> ''),
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
INSERT INTO jobs_new (id, org_id, type, status, result, error, created_at, updated_at, finished_at)
    SELECT id, org_id, type, status, result, error, created_at, updated_at, finished_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_by_org ON jobs (org_id, created_at);
CREATE INDEX jobs_by_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
