package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/polyjobs/polyjobs/server/store"
)

const jobColumns = `id, org_id, type, status, result, error, created_at, updated_at, finished_at`

const selectJob = `SELECT ` + jobColumns + ` FROM jobs`

// CreateJob creates a job of the given type in the created state.
func (s *Store) CreateJob(ctx context.Context, orgID uuid.UUID, typ store.JobType, plan ...store.PlanStep) (store.Job, error) {
	job, err := store.NewJob(orgID, typ)
	if err != nil {
		return store.Job{}, err
	}
	if plan, err = store.NewPlan(plan); err != nil {
		return store.Job{}, fmt.Errorf("create job: %w", err)
	}
	t := job.CreatedAt
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO jobs (id, org_id, type, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			job.ID, job.OrgID, string(job.Type), string(job.Status), t, t); err != nil {
			return err
		}
		return insertSteps(ctx, tx, job.ID, plan)
	})
	switch {
	case hasCode(err, codeForeignKeyViolation):
		return store.Job{}, fmt.Errorf("create job: organization %s: %w", orgID, store.ErrNotFound)
	case isBadText(err):
		return store.Job{}, fmt.Errorf("create job: %w: a result or error of its plan is not valid UTF-8 text", store.ErrInvalid)
	case err != nil:
		return store.Job{}, fmt.Errorf("create job: %w", err)
	}
	return job, nil
}

// Job returns the job with the given id if it belongs to orgID.
func (s *Store) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	job, err := scanJob(s.pool.QueryRow(ctx, selectJob+` WHERE id = $1 AND org_id = $2`, id, orgID))
	if err != nil {
		return store.Job{}, notFound(err, "job "+id.String())
	}
	return job, nil
}

// JobsByKeys implements store.BatchReader: one query reads every job named by
// keys, the database matching each id with its organization.
func (s *Store) JobsByKeys(ctx context.Context, keys []store.JobKey) ([]store.Job, error) {
	ids, orgs := make([]uuid.UUID, len(keys)), make([]uuid.UUID, len(keys))
	for i, k := range keys {
		ids[i], orgs[i] = k.ID, k.OrgID
	}
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs
		JOIN unnest($1::uuid[], $2::uuid[]) AS wanted (id, org_id) USING (id, org_id)`, ids, orgs)
	if err != nil {
		return nil, fmt.Errorf("jobs by keys: %w", err)
	}
	return collectJobs(rows, len(keys))
}

// BatchConcurrency implements store.BatchReader: half of the pool's
// connections, so that writers and the purge always find one.
func (s *Store) BatchConcurrency() int {
	return max(1, int(s.pool.Config().MaxConns)/2)
}

// JobByID returns the job with the given id, whatever its organization.
func (s *Store) JobByID(ctx context.Context, id uuid.UUID) (store.Job, error) {
	return jobByID(ctx, s.pool, id)
}

// jobByID is JobByID on q, a transaction or the pool.
func jobByID(ctx context.Context, q querier, id uuid.UUID) (store.Job, error) {
	job, err := scanJob(q.QueryRow(ctx, selectJob+` WHERE id = $1`, id))
	if err != nil {
		return store.Job{}, notFound(err, "job "+id.String())
	}
	return job, nil
}

// ListJobs returns the jobs f selects, oldest first.
func (s *Store) ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.OrgID != uuid.Nil {
		where = append(where, `org_id = `+arg(f.OrgID))
	}
	if len(f.Types) > 0 {
		types := make([]string, len(f.Types))
		for i, t := range f.Types {
			types[i] = string(t)
		}
		where = append(where, `type = ANY (`+arg(types)+`)`)
	}
	if len(f.Statuses) > 0 {
		where = append(where, `status = ANY (`+arg(statusStrings(f.Statuses))+`)`)
	}
	query := selectJob
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	if f.Limit > 0 {
		// The newest f.Limit, then oldest first.
		query = `SELECT * FROM (` + query + ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(f.Limit) + `) AS newest`
	}
	rows, err := s.pool.Query(ctx, query+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	jobs, err := collectJobs(rows, 0)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

// collectJobs scans and closes rows of jobColumns.
func collectJobs(rows pgx.Rows, capacity int) ([]store.Job, error) {
	defer rows.Close()
	jobs := make([]store.Job, 0, capacity)
	for rows.Next() {
		job, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, rows.Err()
}

// Transition moves a job to t.To if its current status allows it. The UPDATE's
// WHERE clause is the compare-and-set: concurrent writers queue on the row
// lock and each re-checks the status once the previous one commits, so
// exactly one matches the old status.
func (s *Store) Transition(ctx context.Context, id uuid.UUID, t store.Transition) (store.Job, error) {
	job, err := transition(ctx, s.pool, id, t)
	if err == nil {
		// The database notifies every listener (this one included) at
		// commit; this process's own waiters need not wait for the echo.
		s.notify.subs.Notify(id)
	}
	return job, err
}

// querier is what the pool and a transaction have in common that
// transition uses.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// transition is Transition on q, a transaction or the pool, without
// notifying: the caller does once the change is committed.
func transition(ctx context.Context, q querier, id uuid.UUID, t store.Transition) (store.Job, error) {
	t = t.Normalized()
	if err := t.Validate(); err != nil {
		return store.Job{}, fmt.Errorf("job %s: %w", id, err)
	}
	at := store.Now()
	var finished, result, errMsg any
	if store.IsTerminal(t.To) {
		finished = at
	}
	if t.Result != nil {
		result = []byte(t.Result)
	}
	if t.Error != "" {
		errMsg = t.Error
	}
	job, err := scanJob(q.QueryRow(ctx, `UPDATE jobs SET status = $1, result = $2, error = $3, updated_at = $4, finished_at = $5
		WHERE id = $6 AND status = ANY ($7)
		RETURNING `+jobColumns,
		string(t.To), result, errMsg, at, finished, id, statusStrings(t.AllowedFrom())))
	if err == nil {
		return job, nil
	}
	if isBadText(err) {
		return store.Job{}, fmt.Errorf("job %s: transition to %s: %w: the result or error is not valid UTF-8 text", id, t.To, store.ErrInvalid)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Job{}, fmt.Errorf("job %s: transition to %s: %w", id, t.To, err)
	}
	current, err := jobByID(ctx, q, id)
	if err != nil {
		return store.Job{}, err
	}
	return store.Job{}, &store.TransitionError{JobID: id, From: current.Status, To: t.To}
}

// PurgeJobs deletes terminal jobs that finished before the given time.
func (s *Store) PurgeJobs(ctx context.Context, finishedBefore time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1`,
		finishedBefore.UTC().Truncate(time.Microsecond))
	if err != nil {
		return 0, fmt.Errorf("purge jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// statusStrings converts statuses to the text[] the queries compare against.
func statusStrings(statuses []store.JobStatus) []string {
	out := make([]string, len(statuses))
	for i, st := range statuses {
		out[i] = string(st)
	}
	return out
}

func scanJob(row pgx.Row) (store.Job, error) {
	var (
		job         store.Job
		typ, status string
		result      []byte
		errMsg      *string
		finished    *time.Time
	)
	if err := row.Scan(&job.ID, &job.OrgID, &typ, &status, &result, &errMsg, &job.CreatedAt, &job.UpdatedAt, &finished); err != nil {
		return store.Job{}, err
	}
	job.Type = store.JobType(typ)
	job.Status = store.JobStatus(status)
	if result != nil {
		job.Result = json.RawMessage(result)
	}
	if errMsg != nil {
		job.Error = *errMsg
	}
	job.CreatedAt = job.CreatedAt.UTC()
	job.UpdatedAt = job.UpdatedAt.UTC()
	if finished != nil {
		t := finished.UTC()
		job.FinishedAt = &t
	}
	return job, nil
}
