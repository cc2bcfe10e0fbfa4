-- The timed steps of jobs' plans (the control API's), taken when due.
CREATE TABLE plan_steps (
    job_id TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    status TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    result TEXT,
    error  TEXT,
    PRIMARY KEY (job_id, seq)
);

CREATE INDEX plan_steps_by_due_at ON plan_steps (due_at);
