package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

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

// MaxResultDepth bounds how deeply a result nests arrays and objects: well
// within what JSON decoders take (encoding/json stops at 10,000 levels for
// the whole response, Python's json near 1,000).
const MaxResultDepth = 512

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
		if len(t.Result) > 0 {
			if err := checkResult(t.Result); err != nil {
				return fmt.Errorf("%w: %v", ErrInvalid, err)
			}
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
		// Refused by PostgreSQL's text: the same rule on every store.
		if !utf8.ValidString(t.Error) || strings.IndexByte(t.Error, 0) >= 0 {
			return fmt.Errorf("%w: error message is not UTF-8 text without NUL bytes", ErrInvalid)
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

// checkResult says what makes result unfit to serve, if anything: every
// answer must be valid UTF-8 JSON that any client can decode, and match the
// contract.
func checkResult(result json.RawMessage) error {
	switch {
	case !json.Valid(result):
		return errors.New("result is not valid JSON")
	case !utf8.Valid(result):
		return errors.New("result is not valid UTF-8")
	case jsonDepth(result) > MaxResultDepth:
		return fmt.Errorf("result nests arrays and objects deeper than %d levels", MaxResultDepth)
	}
	// A bare number is the contract's number, a float64; a nested one is
	// the result's own business.
	if trimmed := bytes.TrimSpace(result); trimmed[0] == '-' || trimmed[0] >= '0' && trimmed[0] <= '9' {
		if _, err := strconv.ParseFloat(string(trimmed), 64); err != nil {
			return errors.New("result is a number beyond the range of a float64")
		}
	}
	return nil
}

// jsonDepth returns how deeply valid JSON nests arrays and objects.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// Normalized returns t with its result compacted (no insignificant
// whitespace, as encoding/json writes JSON) and a JSON null or empty result
// turned into no result, so that "null", "" and nothing are stored alike. A
// result that is not valid JSON is left as it is, for Validate to refuse.
func (t Transition) Normalized() Transition {
	if len(t.Result) > 0 && len(t.Result) <= MaxResultLength {
		var compact bytes.Buffer
		if json.Compact(&compact, t.Result) == nil {
			t.Result = compact.Bytes()
		}
	}
	if len(t.Result) == 0 || string(t.Result) == "null" {
		t.Result = nil
	}
	return t
}
