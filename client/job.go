package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrNoResult is returned by Job.DecodeResult when the job has no result: it
// is not done, or it finished without one.
var ErrNoResult = errors.New("job has no result")

// Job is the state of an asynchronous job at the time it was fetched.
type Job struct {
	// ID is the job's identifier.
	ID uuid.UUID
	// Type is the job's type.
	Type JobType
	// Status is where the job is in its lifecycle.
	Status JobStatus
	// Error says why the job failed; empty unless Status is JobStatusFailed.
	Error string
	// Result is the job's result as raw JSON, whose shape depends on Type;
	// nil until Status is JobStatusDone, and nil when the result is null.
	Result json.RawMessage
	// RetryAfter is the server's hint of when polling again is worthwhile
	// (its Retry-After header); zero when it gave none.
	RetryAfter time.Duration
	// ETag is the server's entity tag of this state of the job (its ETag
	// header), which GetJobIfChanged sends back to ask for the job only if
	// it changed. Empty when the server sent none, as Polytomic's API does.
	ETag string
	// WaitApplied is how long the server was prepared to hold the request
	// that fetched this job until the job changed (its Preference-Applied
	// header; see GetJobIfChanged). Zero when it did not hold it: a server
	// without the feature, a request that did not ask, a terminal job, or
	// a server at its limit.
	WaitApplied time.Duration
}

// Terminal reports whether the job has finished, as done or failed (false
// for a nil job); a terminal job never changes again.
func (j *Job) Terminal() bool {
	return j != nil && (j.Status == JobStatusDone || j.Status == JobStatusFailed)
}

// DecodeResult unmarshals the job's result into v, as json.Unmarshal does. It
// returns an error wrapping ErrNoResult when the job has no result, or is
// nil (as Wait's is when it ends before any answer).
func (j *Job) DecodeResult(v any) error {
	if j == nil {
		return fmt.Errorf("polyjobs: no job: %w", ErrNoResult)
	}
	if len(j.Result) == 0 {
		return fmt.Errorf("polyjobs: job %s/%s (status %s): %w", j.Type, j.ID, j.Status, ErrNoResult)
	}
	if err := json.Unmarshal(j.Result, v); err != nil {
		return fmt.Errorf("polyjobs: decode result of job %s/%s: %w", j.Type, j.ID, err)
	}
	return nil
}
