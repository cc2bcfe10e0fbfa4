package store

import (
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
)

// JobType is the kind of a job, as the API names it.
type JobType = api.JobType

// JobStatus is where a job is in its lifecycle, as the API names it.
type JobStatus = api.JobStatus

// Organization is a tenant: it owns API keys and jobs.
type Organization struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time
}

// KeyKind says which authentication scheme a key is for.
type KeyKind string

const (
	// KeyKindUser is a user API key, sent as a bearer token.
	KeyKindUser KeyKind = "user"
	// KeyKindOrg is an organization-scoped key, sent as the password of HTTP
	// Basic credentials whose user name is the organization id.
	KeyKindOrg KeyKind = "org"
)

// Valid reports whether k is a known key kind.
func (k KeyKind) Valid() bool { return k == KeyKindUser || k == KeyKindOrg }

// KeyHash is the SHA-256 digest of an API key's secret: all the store keeps of it.
type KeyHash [sha256.Size]byte

// Key is a stored API key: never its secret, only its hash.
type Key struct {
	ID        uuid.UUID
	OrgID     uuid.UUID
	Kind      KeyKind
	Hash      KeyHash
	CreatedAt time.Time
	// RevokedAt is the time the key was revoked, or nil while it is valid.
	RevokedAt *time.Time
}

// Revoked reports whether the key has been revoked.
func (k Key) Revoked() bool { return k.RevokedAt != nil }

// Job is the stored state of an asynchronous job.
type Job struct {
	ID     uuid.UUID
	OrgID  uuid.UUID
	Type   JobType
	Status JobStatus
	// Result is the job's JSON result, set only when Status is done (and may
	// be nil even then).
	Result json.RawMessage
	// Error is the failure message, set only when Status is failed.
	Error     string
	CreatedAt time.Time
	UpdatedAt time.Time
	// FinishedAt is when the job became terminal, or nil.
	FinishedAt *time.Time
}

// Terminal reports whether the job is done or failed and so will never change.
func (j Job) Terminal() bool { return IsTerminal(j.Status) }

// IsTerminal reports whether a job in status s will never change again.
func IsTerminal(s JobStatus) bool {
	return s == api.JobStatusDone || s == api.JobStatusFailed
}

// JobTypes returns every job type of the contract, in the spec's order.
func JobTypes() []JobType { return api.JobTypeValues() }

// PlanStep is a timed step of a job's plan: at At, the job takes Transition
// (the control API gives jobs plans, and the server takes their steps when
// due, on whichever replica comes first).
type PlanStep struct {
	JobID uuid.UUID
	// Seq orders a job's steps, from 0.
	Seq        int
	At         time.Time
	Transition Transition
}
