-- The timed steps of jobs' plans (the control API's), taken when due by
-- whichever replica comes first.
CREATE TABLE plan_steps (
    job_id uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    integer     NOT NULL,
    due_at timestamptz NOT NULL,
    status text        NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    result json,
    error  text,
    PRIMARY KEY (job_id, seq)
);

CREATE INDEX plan_steps_by_due_at ON plan_steps (due_at);
