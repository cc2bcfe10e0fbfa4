package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

// SetPlan replaces a job's plan with steps, in one transaction.
func (s *Store) SetPlan(ctx context.Context, jobID uuid.UUID, steps []store.PlanStep) error {
	steps, err := store.NewPlan(steps)
	if err != nil {
		return fmt.Errorf("set plan of job %s: %w", jobID, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set plan of job %s: %w", jobID, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE id = ?`, jobID.String()).Scan(&n); err != nil {
		return fmt.Errorf("set plan of job %s: %w", jobID, err)
	}
	if n == 0 {
		return fmt.Errorf("set plan of job %s: %w", jobID, store.ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM plan_steps WHERE job_id = ?`, jobID.String()); err != nil {
		return fmt.Errorf("set plan of job %s: %w", jobID, err)
	}
	if err := insertSteps(ctx, tx, jobID, steps); err != nil {
		return fmt.Errorf("set plan of job %s: %w", jobID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set plan of job %s: %w", jobID, err)
	}
	return nil
}

// insertSteps inserts a job's plan, made by store.NewPlan, in tx.
func insertSteps(ctx context.Context, tx *sql.Tx, jobID uuid.UUID, steps []store.PlanStep) error {
	for i, st := range steps {
		t := st.Transition
		if _, err := tx.ExecContext(ctx, `INSERT INTO plan_steps (job_id, seq, due_at, status, result, error) VALUES (?, ?, ?, ?, ?, ?)`,
			jobID.String(), i, micros(st.At), string(t.To), nullString(string(t.Result)), nullString(t.Error)); err != nil {
			return err
		}
	}
	return nil
}

const selectStep = `SELECT job_id, seq, due_at, status, result, error FROM plan_steps`

// Plan returns the steps a job has still to take, in order.
func (s *Store) Plan(ctx context.Context, jobID uuid.UUID) ([]store.PlanStep, error) {
	return s.steps(ctx, selectStep+` WHERE job_id = ? ORDER BY seq`, jobID.String())
}

// DueSteps returns up to limit steps due at or before now, in the order due.
func (s *Store) DueSteps(ctx context.Context, now time.Time, limit int) ([]store.PlanStep, error) {
	return s.steps(ctx, selectStep+` WHERE due_at <= ? ORDER BY due_at, job_id, seq LIMIT ?`, micros(now), limit)
}

// TakeStep removes the step and moves its job, in one transaction; see
// store.Store.
func (s *Store) TakeStep(ctx context.Context, st store.PlanStep) (store.Job, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Job{}, fmt.Errorf("take step %d of job %s: %w", st.Seq, st.JobID, err)
	}
	defer tx.Rollback()
	// The step as it was read: a plan set anew since numbers its steps
	// from 0 again, and its step of the same number is another step.
	res, err := tx.ExecContext(ctx, `DELETE FROM plan_steps WHERE job_id = ? AND seq = ? AND due_at = ? AND status = ?`,
		st.JobID.String(), st.Seq, micros(st.At), string(st.Transition.To))
	if err != nil {
		return store.Job{}, fmt.Errorf("take step %d of job %s: %w", st.Seq, st.JobID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return store.Job{}, fmt.Errorf("take step %d of job %s: %w", st.Seq, st.JobID, cmp.Or(err, store.ErrNotFound))
	}
	job, err := transition(ctx, tx, st.JobID, st.Transition)
	if err != nil && !store.Moot(err) {
		return store.Job{}, err
	}
	if cerr := tx.Commit(); cerr != nil {
		return store.Job{}, fmt.Errorf("take step %d of job %s: %w", st.Seq, st.JobID, cerr)
	}
	if err == nil {
		s.subs.Notify(st.JobID)
	}
	return job, err
}

func (s *Store) steps(ctx context.Context, query string, args ...any) ([]store.PlanStep, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("plan steps: %w", err)
	}
	defer rows.Close()
	var steps []store.PlanStep
	for rows.Next() {
		var (
			st             store.PlanStep
			id, status     string
			due            int64
			result, errMsg sql.NullString
		)
		if err := rows.Scan(&id, &st.Seq, &due, &status, &result, &errMsg); err != nil {
			return nil, fmt.Errorf("plan steps: %w", err)
		}
		if st.JobID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("plan steps: corrupt job id: %w", err)
		}
		st.At = fromMicros(due)
		st.Transition = store.Transition{To: store.JobStatus(status), Error: errMsg.String}
		if result.Valid {
			st.Transition.Result = []byte(result.String)
		}
		steps = append(steps, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("plan steps: %w", err)
	}
	return steps, nil
}

// Reset deletes every organization, key, job and plan.
func (s *Store) Reset(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	defer tx.Rollback()
	for _, table := range []string{"plan_steps", "jobs", "api_keys", "organizations"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	return nil
}

// nullString is s, or SQL NULL when empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
