// Package store defines the durable state of the reference server: organizations,
// their API keys and their jobs. The Store interface is the only place that knows
// SQL; the sqlite and postgres packages implement it and the storetest package
// holds the conformance suite both must pass.
package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store is the persistence the reference server needs. Implementations must be
// safe for concurrent use by many goroutines and, for shared databases, by many
// processes: job transitions are compare-and-set, so exactly one of several
// concurrent conflicting transitions wins.
type Store interface {
	// CreateOrganization creates an organization with a unique name.
	// A duplicate name is an error wrapping ErrConflict.
	CreateOrganization(ctx context.Context, name string) (Organization, error)
	// Organization returns the organization with the given id, or ErrNotFound.
	Organization(ctx context.Context, id uuid.UUID) (Organization, error)
	// OrganizationByName returns the organization with the given name, or ErrNotFound.
	OrganizationByName(ctx context.Context, name string) (Organization, error)

	// CreateKey stores a new API key of an organization. Only the key's hash is
	// stored; the secret itself never reaches the store.
	CreateKey(ctx context.Context, orgID uuid.UUID, kind KeyKind, hash KeyHash) (Key, error)
	// KeyByHash returns the key whose secret hashes to hash, revoked or not,
	// or ErrNotFound.
	KeyByHash(ctx context.Context, hash KeyHash) (Key, error)
	// RevokeKey marks a key revoked; revoking twice is not an error.
	// An unknown id is ErrNotFound.
	RevokeKey(ctx context.Context, id uuid.UUID) error

	// CreateJob creates a job in the created state, with plan as its plan
	// (see SetPlan), in one transaction: the job is never left without the
	// plan it was created with. An unknown organization is ErrNotFound; an
	// unknown type, or a malformed step, is ErrInvalid.
	CreateJob(ctx context.Context, orgID uuid.UUID, typ JobType, plan ...PlanStep) (Job, error)
	// Job returns the job with the given id if it belongs to orgID, or ErrNotFound.
	Job(ctx context.Context, orgID, id uuid.UUID) (Job, error)
	// JobByID returns the job with the given id whatever its organization, or
	// ErrNotFound. It is for administration, never for serving the API.
	JobByID(ctx context.Context, id uuid.UUID) (Job, error)
	// ListJobs returns the jobs f selects, oldest first.
	ListJobs(ctx context.Context, f JobFilter) ([]Job, error)
	// Transition moves a job to a new status if the lifecycle allows it from the
	// job's current status, atomically. An illegal or lost transition returns a
	// *TransitionError (errors.Is(err, ErrConflict)); an unknown job ErrNotFound;
	// a malformed transition ErrInvalid.
	Transition(ctx context.Context, id uuid.UUID, t Transition) (Job, error)
	// PurgeJobs deletes terminal jobs that finished before the given time and
	// returns how many it deleted.
	PurgeJobs(ctx context.Context, finishedBefore time.Time) (int64, error)

	// SetPlan gives a job timed steps to take (see PlanStep), replacing any
	// it had; no steps removes its plan. An unknown job is ErrNotFound.
	SetPlan(ctx context.Context, jobID uuid.UUID, steps []PlanStep) error
	// Plan returns the steps a job has still to take, in order.
	Plan(ctx context.Context, jobID uuid.UUID) ([]PlanStep, error)
	// DueSteps returns up to limit steps due at or before now, of every job,
	// in the order they are due.
	DueSteps(ctx context.Context, now time.Time, limit int) ([]PlanStep, error)
	// TakeStep takes a due step, as DueSteps read it: in one transaction, it
	// removes the step and moves its job as the step says, so that a step
	// whose plan was dropped or replaced (a move by hand) or that another
	// process took is never applied. A step that is gone is ErrNotFound; a transition the job's status
	// refuses (or a malformed one) still removes the step, which is moot,
	// and returns the transition's error.
	TakeStep(ctx context.Context, step PlanStep) (Job, error)

	// Reset deletes every organization, key, job and plan: the control API's
	// reset of a test double. Never for production data.
	Reset(ctx context.Context) error

	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// JobFilter selects jobs for ListJobs. Zero fields select everything.
type JobFilter struct {
	// OrgID keeps only the jobs of one organization; uuid.Nil keeps all.
	OrgID uuid.UUID
	// Types and Statuses keep only jobs of one of these types and statuses.
	Types    []JobType
	Statuses []JobStatus
	// Limit keeps at most this many of the newest matching jobs (still
	// listed oldest first); zero keeps all.
	Limit int
}

// JobKey names a job the way the API looks it up: by its organization and id.
type JobKey struct {
	OrgID, ID uuid.UUID
}

// MultiReader is implemented by stores that read many jobs in one query.
type MultiReader interface {
	// JobsByKeys returns the jobs named by keys that exist, each checked
	// against its organization by the database; keys that match no job are
	// missing from the result, in no particular order.
	JobsByKeys(ctx context.Context, keys []JobKey) ([]Job, error)
}

// BatchReader is implemented by stores for which one query for many jobs is
// much cheaper than one query each (PostgreSQL, over the network). The
// server's fast path gathers concurrent lookups into such queries.
type BatchReader interface {
	MultiReader
	// BatchConcurrency is how many JobsByKeys queries may run at once.
	BatchConcurrency() int
}

// ChangeNotifier is implemented by stores that tell when a job's status
// changes, so that requests waiting for a change are woken at once.
type ChangeNotifier interface {
	// Subscribe calls fn with the id of each job whose status changes, once
	// the change is committed: the changes made through this store, and
	// those it learns of from elsewhere (PostgreSQL's notifications, from
	// every replica and admin command). fn(uuid.Nil) means changes may have
	// been missed (the notifications' connection was lost and is back):
	// re-read every job of interest. fn must not block. stop ends the
	// subscription.
	Subscribe(fn func(id uuid.UUID)) (stop func())
}

// ChangeToken is an opaque snapshot of a database's commit state: two equal
// tokens mean nothing was committed between them.
type ChangeToken [12]uint32

// ChangeWatcher is implemented by stores that can tell, without a query,
// whether anything was committed since an earlier moment, by any process
// (SQLite, through its WAL index). The server's fast path serves a job it
// read again while nothing changed, and wakes waiters on any commit.
type ChangeWatcher interface {
	// ChangeToken returns the current token, or false when the store cannot
	// tell right now; then callers must read the database.
	ChangeToken() (ChangeToken, bool)
}

// Exclusive is implemented by stores that several processes share (the
// PostgreSQL store): TryExclusive runs fn only if no other process is running
// work of the same name, and reports whether it ran. It is for avoiding
// duplicate idempotent work, such as the retention purge every replica
// schedules, not for mutual exclusion that correctness depends on.
type Exclusive interface {
	TryExclusive(ctx context.Context, name string, fn func(ctx context.Context) error) (ran bool, err error)
}
