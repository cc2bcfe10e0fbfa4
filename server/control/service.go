// Package control is the control API of the reference server, which makes
// it a stateful test double of Polytomic's Get Job endpoint for test suites
// in any language: organizations, keys, jobs with timed plans, jobs moved by
// hand, faults injected into the API's answers, and a reset. Service carries
// the operations out, for the HTTP API (control.openapi.yaml, served under
// Prefix by Control), server/servertest and `polyjobs serve --dev` alike.
package control

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
)

// Service carries out the control operations on a store.
type Service struct {
	store  store.Store
	faults *Faults
	logger *slog.Logger
	// lastWarn is when Run last warned of a failure.
	lastWarn time.Time
}

// NewService returns the operations on s; faults receives injected faults.
func NewService(s store.Store, faults *Faults, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{store: s, faults: faults, logger: logger}
}

// Faults returns the faults the service injects.
func (s *Service) Faults() *Faults { return s.faults }

// CreateOrganization creates an organization.
func (s *Service) CreateOrganization(ctx context.Context, name string) (store.Organization, error) {
	return s.store.CreateOrganization(ctx, name)
}

// Organization finds an organization by id or, failing that, by name.
func (s *Service) Organization(ctx context.Context, ref string) (store.Organization, error) {
	if id, err := uuid.Parse(ref); err == nil && len(ref) == 36 {
		return s.store.Organization(ctx, id)
	}
	return s.store.OrganizationByName(ctx, ref)
}

// Key is a new API key with its secret, which is shown once.
type Key struct {
	store.Key
	Secret string
}

// CreateKey creates an API key of the kind for the organization ref names.
func (s *Service) CreateKey(ctx context.Context, orgRef string, kind store.KeyKind) (Key, error) {
	org, err := s.Organization(ctx, orgRef)
	if err != nil {
		return Key{}, err
	}
	if !kind.Valid() {
		return Key{}, fmt.Errorf("create key: %w: unknown kind %q (user or org)", store.ErrInvalid, kind)
	}
	secret, hash, err := apikey.New(kind)
	if err != nil {
		return Key{}, err
	}
	k, err := s.store.CreateKey(ctx, org.ID, kind, hash)
	if err != nil {
		return Key{}, err
	}
	return Key{Key: k, Secret: secret}, nil
}

// RevokeKey revokes an API key.
func (s *Service) RevokeKey(ctx context.Context, id uuid.UUID) error {
	return s.store.RevokeKey(ctx, id)
}

// Step is a step of a plan: After the previous step, or the job's creation,
// the job takes Transition.
type Step struct {
	After      time.Duration
	Transition store.Transition
}

// MaxStepDelay bounds the delay of a plan's step.
const MaxStepDelay = 24 * time.Hour

// Job is a job and what remains of its plan.
type Job struct {
	store.Job
	Plan []store.PlanStep
}

// CreateJob creates a job of type typ for the organization ref names, with
// a plan: its steps must take it through its lifecycle from created.
func (s *Service) CreateJob(ctx context.Context, orgRef string, typ store.JobType, plan []Step) (Job, error) {
	org, err := s.Organization(ctx, orgRef)
	if err != nil {
		return Job{}, err
	}
	if err := checkPlan(plan); err != nil {
		return Job{}, err
	}
	// The steps are timed from now, microseconds before the job's
	// creation, and stored with the job, in one transaction.
	steps := make([]store.PlanStep, len(plan))
	at := store.Now()
	for i, st := range plan {
		at = at.Add(st.After)
		steps[i] = store.PlanStep{Seq: i, At: at, Transition: st.Transition.Normalized()}
	}
	job, err := s.store.CreateJob(ctx, org.ID, typ, steps...)
	if err != nil {
		return Job{}, err
	}
	for i := range steps {
		steps[i].JobID = job.ID
	}
	return Job{Job: job, Plan: steps}, nil
}

// checkPlan reports whether plan takes a job from created through legal
// transitions, each well formed and not too far off.
func checkPlan(plan []Step) error {
	status := store.JobStatus("created")
	for i, st := range plan {
		t := st.Transition.Normalized()
		if st.After < 0 || st.After > MaxStepDelay {
			return fmt.Errorf("plan step %d: %w: after %v, want between 0 and %v", i+1, store.ErrInvalid, st.After, MaxStepDelay)
		}
		if err := t.Validate(); err != nil {
			return fmt.Errorf("plan step %d: %w", i+1, err)
		}
		if !slices.Contains(t.AllowedFrom(), status) {
			return fmt.Errorf("plan step %d: %w: a job cannot move from %s to %s", i+1, store.ErrInvalid, status, t.To)
		}
		status = t.To
	}
	return nil
}

// Job returns a job, whatever its organization, with what remains of its plan.
func (s *Service) Job(ctx context.Context, id uuid.UUID) (Job, error) {
	job, err := s.store.JobByID(ctx, id)
	if err != nil {
		return Job{}, err
	}
	plan, err := s.store.Plan(ctx, id)
	if err != nil {
		return Job{}, err
	}
	return Job{Job: job, Plan: plan}, nil
}

// ListJobs lists the jobs f selects, of the organization orgRef names when
// it is not empty.
func (s *Service) ListJobs(ctx context.Context, orgRef string, f store.JobFilter) ([]store.Job, error) {
	if orgRef != "" {
		org, err := s.Organization(ctx, orgRef)
		if err != nil {
			return nil, err
		}
		f.OrgID = org.ID
	}
	return s.store.ListJobs(ctx, f)
}

// MoveJob moves a job by hand, dropping what remains of its plan. A move the
// lifecycle refuses from the job's status leaves the plan as it was.
func (s *Service) MoveJob(ctx context.Context, id uuid.UUID, t store.Transition) (Job, error) {
	if err := t.Normalized().Validate(); err != nil {
		return Job{}, fmt.Errorf("job %s: %w", id, err)
	}
	current, err := s.store.JobByID(ctx, id)
	if err != nil {
		return Job{}, err
	}
	if !slices.Contains(t.AllowedFrom(), current.Status) {
		return Job{}, &store.TransitionError{JobID: id, From: current.Status, To: t.To}
	}
	// The plan goes first, so that none of its steps is taken afterwards: a
	// step is taken with its removal (store.TakeStep), so one being taken
	// now either is gone before the plan is dropped, or finds itself gone.
	// A step or another move may still have changed the job since it was
	// read: the transition is then refused, and the plan stays dropped, as
	// whoever moved the job meant.
	if err := s.store.SetPlan(ctx, id, nil); err != nil {
		return Job{}, err
	}
	job, err := s.store.Transition(ctx, id, t)
	if err != nil {
		return Job{}, err
	}
	return Job{Job: job}, nil
}

// Reset deletes every organization, key, job and plan, and every fault.
func (s *Service) Reset(ctx context.Context) error {
	s.faults.Clear()
	return s.store.Reset(ctx)
}

// dueBatch bounds the steps taken in one round.
const dueBatch = 100

// TakeDueSteps takes the plans' steps that are due, whichever process made
// the plans, and returns how many it took. Several processes may read the
// same step at once: store.TakeStep removes it with the move, so one takes
// it, and the others, like a step whose plan a move by hand dropped
// meanwhile, find it gone.
func (s *Service) TakeDueSteps(ctx context.Context) (int, error) {
	steps, err := s.store.DueSteps(ctx, time.Now(), dueBatch)
	if err != nil {
		return 0, err
	}
	taken := 0
	for _, st := range steps {
		_, err := s.store.TakeStep(ctx, st)
		switch {
		case err == nil:
			taken++
		case store.Moot(err):
			// Taken elsewhere, dropped by a move by hand, refused by the
			// job's status, purged: the step is gone.
		default:
			return taken, err
		}
	}
	return taken, nil
}

// StepEvery is how often Run looks for due steps, and warnEvery how often
// at most it warns that it cannot (while the database is down).
const (
	StepEvery = 100 * time.Millisecond
	warnEvery = time.Minute
)

// Run takes the plans' steps as they fall due, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(StepEvery)
	defer t.Stop()
	for {
		if _, err := s.TakeDueSteps(ctx); err != nil && ctx.Err() == nil && time.Since(s.lastWarn) > warnEvery {
			s.lastWarn = time.Now()
			s.logger.Warn("taking due plan steps failed; trying again", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
