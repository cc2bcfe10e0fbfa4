package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/polyjobs/polyjobs/server/store"
)

// SetPlan replaces a job's plan with steps, in one transaction.
func (s *Store) SetPlan(ctx context.Context, jobID uuid.UUID, steps []store.PlanStep) error {
	steps, err := store.NewPlan(steps)
	if err != nil {
		return fmt.Errorf("set plan of job %s: %w", jobID, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1)`, jobID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM plan_steps WHERE job_id = $1`, jobID); err != nil {
			return err
		}
		return insertSteps(ctx, tx, jobID, steps)
	})
	if isBadText(err) {
		return fmt.Errorf("set plan of job %s: %w: a result or error is not valid UTF-8 text", jobID, store.ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("set plan of job %s: %w", jobID, err)
	}
	return nil
}

// insertSteps inserts a job's plan, made by store.NewPlan, in tx.
func insertSteps(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, steps []store.PlanStep) error {
	for i, st := range steps {
		t := st.Transition
		var result, errMsg any
		if len(t.Result) > 0 {
			result = []byte(t.Result)
		}
		if t.Error != "" {
			errMsg = t.Error
		}
		if _, err := tx.Exec(ctx, `INSERT INTO plan_steps (job_id, seq, due_at, status, result, error) VALUES ($1, $2, $3, $4, $5, $6)`,
			jobID, i, st.At.UTC().Truncate(time.Microsecond), string(t.To), result, errMsg); err != nil {
			return err
		}
	}
	return nil
}

const selectStep = `SELECT job_id, seq, due_at, status, result, error FROM plan_steps`

// Plan returns the steps a job has still to take, in order.
func (s *Store) Plan(ctx context.Context, jobID uuid.UUID) ([]store.PlanStep, error) {
	return s.steps(ctx, selectStep+` WHERE job_id = $1 ORDER BY seq`, jobID)
}

// DueSteps returns up to limit steps due at or before now, in the order due.
func (s *Store) DueSteps(ctx context.Context, now time.Time, limit int) ([]store.PlanStep, error) {
	return s.steps(ctx, selectStep+` WHERE due_at <= $1 ORDER BY due_at, job_id, seq LIMIT $2`, now.UTC(), limit)
}

// TakeStep removes the step and moves its job, in one transaction; see
// store.Store. The DELETE locks the step's row: a concurrent SetPlan (a move
// by hand dropping the plan) or TakeStep of the same step waits for this
// transaction, then finds the step gone.
func (s *Store) TakeStep(ctx context.Context, st store.PlanStep) (store.Job, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.Job{}, fmt.Errorf("take step %d of job %s: %w", st.Seq, st.JobID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The step as it was read: a plan set anew since numbers its steps
	// from 0 again, and its step of the same number is another step.
	tag, err := tx.Exec(ctx, `DELETE FROM plan_steps WHERE job_id = $1 AND seq = $2 AND due_at = $3 AND status = $4`,
		st.JobID, st.Seq, st.At.UTC().Truncate(time.Microsecond), string(st.Transition.To))
	if err != nil {
		return store.Job{}, fmt.Errorf("take step %d of job %s: %w", st.Seq, st.JobID, err)
	}
	if tag.RowsAffected() == 0 {
		return store.Job{}, fmt.Errorf("take step %d of job %s: %w", st.Seq, st.JobID, store.ErrNotFound)
	}
	job, err := transition(ctx, tx, st.JobID, st.Transition)
	if err != nil && !store.Moot(err) {
		return store.Job{}, err
	}
	if cerr := tx.Commit(ctx); cerr != nil {
		return store.Job{}, fmt.Errorf("take step %d of job %s: %w", st.Seq, st.JobID, cerr)
	}
	if err == nil {
		s.notify.subs.Notify(st.JobID)
	}
	return job, err
}

func (s *Store) steps(ctx context.Context, query string, args ...any) ([]store.PlanStep, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("plan steps: %w", err)
	}
	defer rows.Close()
	var steps []store.PlanStep
	for rows.Next() {
		var (
			st     store.PlanStep
			status string
			result []byte
			errMsg *string
		)
		if err := rows.Scan(&st.JobID, &st.Seq, &st.At, &status, &result, &errMsg); err != nil {
			return nil, fmt.Errorf("plan steps: %w", err)
		}
		st.At = st.At.UTC()
		st.Transition = store.Transition{To: store.JobStatus(status), Result: result}
		if errMsg != nil {
			st.Transition.Error = *errMsg
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
	if _, err := s.pool.Exec(ctx, `TRUNCATE plan_steps, jobs, api_keys, organizations`); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	return nil
}
