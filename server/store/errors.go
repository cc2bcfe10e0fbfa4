package store

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// ErrNotFound means the organization, key or job does not exist (or, for a
// job, does not belong to the organization asked about).
var ErrNotFound = errors.New("not found")

// ErrConflict means the change conflicts with the current state: a duplicate
// name, or a job transition the lifecycle does not allow from the job's status.
var ErrConflict = errors.New("conflict")

// ErrInvalid means the request itself is malformed: an unknown job type, a
// result that is not JSON, a failure without a message.
var ErrInvalid = errors.New("invalid")

// TransitionError is returned when a job cannot move to the requested status
// because of the status it is in, typically because another writer won.
type TransitionError struct {
	JobID uuid.UUID
	From  JobStatus
	To    JobStatus
}

// Error describes the refused transition.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("job %s: cannot move from %s to %s", e.JobID, e.From, e.To)
}

// Is makes errors.Is(err, ErrConflict) true for a TransitionError.
func (e *TransitionError) Is(target error) bool { return target == ErrConflict }

// Moot reports whether err, a transition's error, makes the move pointless
// rather than worth retrying: the lifecycle refused it (ErrConflict), the job
// is gone (ErrNotFound) or the transition is malformed (ErrInvalid). A plan's
// step that fails so is dropped.
func Moot(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid)
}
