package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

const selectJob = `SELECT id, org_id, type, status, result, error, created_at, updated_at, finished_at FROM jobs`

// CreateJob creates a job of the given type in the created state.
func (s *Store) CreateJob(ctx context.Context, orgID uuid.UUID, typ store.JobType, plan ...store.PlanStep) (store.Job, error) {
	job, err := store.NewJob(orgID, typ)
	if err != nil {
		return store.Job{}, err
	}
	if plan, err = store.NewPlan(plan); err != nil {
		return store.Job{}, fmt.Errorf("create job: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Job{}, fmt.Errorf("create job: %w", err)
	}
	defer tx.Rollback()
	t := job.CreatedAt
	_, err = tx.ExecContext(ctx, `INSERT INTO jobs (id, org_id, type, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		job.ID.String(), job.OrgID.String(), string(job.Type), string(job.Status), micros(t), micros(t))
	if isConstraint(err, constraintForeignKey) {
		return store.Job{}, fmt.Errorf("create job: organization %s: %w", orgID, store.ErrNotFound)
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("create job: %w", err)
	}
	if err := insertSteps(ctx, tx, job.ID, plan); err != nil {
		return store.Job{}, fmt.Errorf("create job: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return store.Job{}, fmt.Errorf("create job: %w", err)
	}
	return job, nil
}

// Job returns the job with the given id if it belongs to orgID.
func (s *Store) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	job, err := scanJob(s.getJob.QueryRowContext(ctx, id.String(), orgID.String()))
	if err != nil {
		return store.Job{}, notFound(err, "job "+id.String())
	}
	return job, nil
}

// jobsByKeysChunk bounds the keys of one JobsByKeys query (two variables
// each, well under SQLite's limit).
const jobsByKeysChunk = 1000

// JobsByKeys implements store.MultiReader: one query per thousand keys, the
// database matching each id with its organization.
func (s *Store) JobsByKeys(ctx context.Context, keys []store.JobKey) ([]store.Job, error) {
	jobs := make([]store.Job, 0, len(keys))
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), jobsByKeysChunk)]
		keys = keys[len(chunk):]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.ID.String(), k.OrgID.String())
		}
		rows, err := s.db.QueryContext(ctx, selectJob+` WHERE (id, org_id) IN (VALUES (?, ?)`+
			strings.Repeat(`, (?, ?)`, len(chunk)-1)+`)`, args...)
		if err == nil {
			jobs, err = appendJobs(jobs, rows)
		}
		if err != nil {
			return nil, fmt.Errorf("jobs by keys: %w", err)
		}
	}
	return jobs, nil
}

// appendJobs appends the jobs of rows to jobs, and closes rows.
func appendJobs(jobs []store.Job, rows *sql.Rows) ([]store.Job, error) {
	defer rows.Close()
	for rows.Next() {
		job, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, rows.Err()
}

// JobByID returns the job with the given id, whatever its organization.
func (s *Store) JobByID(ctx context.Context, id uuid.UUID) (store.Job, error) {
	return jobByID(ctx, s.db, id)
}

// jobByID is JobByID on q, a transaction or the database.
func jobByID(ctx context.Context, q querier, id uuid.UUID) (store.Job, error) {
	job, err := scanJob(q.QueryRowContext(ctx, selectJob+` WHERE id = ?`, id.String()))
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
	if f.OrgID != uuid.Nil {
		where, args = append(where, `org_id = ?`), append(args, f.OrgID.String())
	}
	if len(f.Types) > 0 {
		where = append(where, `type IN (?`+strings.Repeat(`, ?`, len(f.Types)-1)+`)`)
		for _, t := range f.Types {
			args = append(args, string(t))
		}
	}
	if len(f.Statuses) > 0 {
		where = append(where, `status IN (?`+strings.Repeat(`, ?`, len(f.Statuses)-1)+`)`)
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	query := selectJob
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	if f.Limit > 0 {
		// The newest f.Limit, then oldest first.
		query = `SELECT * FROM (` + query + ` ORDER BY created_at DESC, id DESC LIMIT ?)`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY created_at, id`, args...)
	var jobs []store.Job
	if err == nil {
		jobs, err = appendJobs(nil, rows)
	}
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

// Transition moves a job to t.To if its current status allows it. The UPDATE's
// WHERE clause is the compare-and-set: of concurrent writers exactly one
// matches the old status.
func (s *Store) Transition(ctx context.Context, id uuid.UUID, t store.Transition) (store.Job, error) {
	job, err := transition(ctx, s.db, id, t)
	if err == nil {
		s.subs.Notify(id)
	}
	return job, err
}

// querier is what *sql.DB and *sql.Tx have in common that transition uses.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// transition is Transition on q, a transaction or the database, without
// notifying: the caller does once the change is committed.
func transition(ctx context.Context, q querier, id uuid.UUID, t store.Transition) (store.Job, error) {
	t = t.Normalized()
	if err := t.Validate(); err != nil {
		return store.Job{}, fmt.Errorf("job %s: %w", id, err)
	}
	from := t.AllowedFrom()
	at := micros(store.Now())
	var finished, result, errMsg any
	if store.IsTerminal(t.To) {
		finished = at
	}
	if t.Result != nil {
		result = string(t.Result)
	}
	if t.Error != "" {
		errMsg = t.Error
	}
	args := []any{string(t.To), result, errMsg, at, finished, id.String()}
	for _, st := range from {
		args = append(args, string(st))
	}
	query := `UPDATE jobs SET status = ?, result = ?, error = ?, updated_at = ?, finished_at = ?
		WHERE id = ? AND status IN (?` + strings.Repeat(`, ?`, len(from)-1) + `)
		RETURNING id, org_id, type, status, result, error, created_at, updated_at, finished_at`
	job, err := scanJob(q.QueryRowContext(ctx, query, args...))
	if err == nil {
		return job, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
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
	res, err := s.db.ExecContext(ctx, `DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?`, micros(finishedBefore))
	if err != nil {
		return 0, fmt.Errorf("purge jobs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge jobs: %w", err)
	}
	return n, nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

func scanJob(row scanner) (store.Job, error) {
	var (
		job                    store.Job
		id, orgID, typ, status string
		result                 []byte
		errMsg                 sql.NullString
		created, updated       int64
		finished               sql.NullInt64
	)
	if err := row.Scan(&id, &orgID, &typ, &status, &result, &errMsg, &created, &updated, &finished); err != nil {
		return store.Job{}, err
	}
	var err error
	if job.ID, err = uuid.Parse(id); err != nil {
		return store.Job{}, fmt.Errorf("corrupt job id: %w", err)
	}
	if job.OrgID, err = uuid.Parse(orgID); err != nil {
		return store.Job{}, fmt.Errorf("corrupt job org id: %w", err)
	}
	job.Type = store.JobType(typ)
	job.Status = store.JobStatus(status)
	job.Result = result
	job.Error = errMsg.String
	job.CreatedAt = fromMicros(created)
	job.UpdatedAt = fromMicros(updated)
	if finished.Valid {
		t := fromMicros(finished.Int64)
		job.FinishedAt = &t
	}
	return job, nil
}
