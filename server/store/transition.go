package store

import (
	"encoding/json"
	"fmt"

	"github.com/polyjobs/polyjobs/generated/api"
)

// Transition is a requested change of a job's status.
type Transition struct {
	// To is the new status: running, done or failed.
	To JobStatus
	// Result is the JSON result of a job moving to done; it must be empty otherwise.
	Result json.RawMessage
	// Error is the failure message of a job moving to failed; it is required
	// then and must be empty otherwise.
	Error string
}

// Start is the transition to running.
func Start() Transition { return Transition{To: api.JobStatusRunning} }

// Finish is the transition to done with the given JSON result (nil for none).
func Finish(result json.RawMessage) Transition {
	return Transition{To: api.JobStatusDone, Result: result}
}

// Fail is the transition to failed with the given message.
func Fail(message string) Transition {
	return Transition{To: api.JobStatusFailed, Error: message}
}

// MaxErrorLength bounds a failure message, in bytes.
const MaxErrorLength = 4096

// MaxResultLength bounds a result, in bytes of JSON.
const MaxResultLength = 8 << 20

// Validate reports whether t is well formed, with an error wrapping ErrInvalid
// when it is not. A JSON null result is normalized by the caller to nil.
func (t Transition) Validate() error {
	switch t.To {
	case api.JobStatusRunning:
		if len(t.Result) > 0 || t.Error != "" {
			return fmt.Errorf("%w: a job moving to running has neither result nor error", ErrInvalid)
		}
	case api.JobStatusDone:
		if t.Error != "" {
			return fmt.Errorf("%w: a done job has no error", ErrInvalid)
		}
		if len(t.Result) > MaxResultLength {
			return fmt.Errorf("%w: result is larger than %d bytes", ErrInvalid, MaxResultLength)
		}
		if len(t.Result) > 0 && !json.Valid(t.Result) {
			return fmt.Errorf("%w: result is not valid JSON", ErrInvalid)
		}
	case api.JobStatusFailed:
		if len(t.Result) > 0 {
			return fmt.Errorf("%w: a failed job has no result", ErrInvalid)
		}
		if t.Error == "" {
			return fmt.Errorf("%w: a failed job needs an error message", ErrInvalid)
		}
		if len(t.Error) > MaxErrorLength {
			return fmt.Errorf("%w: error message is longer than %d bytes", ErrInvalid, MaxErrorLength)
		}
	default:
		return fmt.Errorf("%w: cannot transition a job to %q", ErrInvalid, t.To)
	}
	return nil
}

// AllowedFrom returns the statuses from which a job may move to t.To.
func (t Transition) AllowedFrom() []JobStatus {
	switch t.To {
	case api.JobStatusRunning:
		return []JobStatus{api.JobStatusCreated}
	case api.JobStatusDone, api.JobStatusFailed:
		return []JobStatus{api.JobStatusCreated, api.JobStatusRunning}
	}
	return nil
}

// Normalized returns t with a JSON null result turned into no result, so that
// "null" and nothing are stored alike.
func (t Transition) Normalized() Transition {
	if string(t.Result) == "null" {
		t.Result = nil
	}
	return t
}
