package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/safetext"
)

// Sentinels for the conditions callers branch on. An *APIError matches the one
// for its status code with errors.Is.
var (
	// ErrBadRequest matches a 400: an unknown job type, a malformed id or an
	// unknown API version. GetJob also returns an error matching it, without
	// sending a request, for a job type it does not know.
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized matches a 401: missing, unknown or revoked credentials.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound matches a 404: no such job in the caller's organization, or
	// a job of another type.
	ErrNotFound = errors.New("not found")
	// ErrRateLimited matches a 429.
	ErrRateLimited = errors.New("rate limited")
	// ErrServer matches every 5xx.
	ErrServer = errors.New("server error")
	// ErrMalformedResponse is wrapped by the error for a 200 response whose
	// body is not the JSON job the contract describes.
	ErrMalformedResponse = errors.New("malformed response")
)

// ConfigError is New's error when an option is missing, conflicts with
// another or has a bad value. Option names the option at fault, so that a
// program that configures its Client from its own flags or settings can
// point its user at the right one.
type ConfigError struct {
	// Option is the name of the option at fault: "WithBaseURL", "WithAPIKey",
	// "WithOrgKey", "WithVersion" or "WithRetry"; empty when the
	// credentials are missing or both kinds were given.
	Option string
	// Err describes the problem. It never holds a key.
	Err error
}

// Error describes the problem, prefixed with "polyjobs: ".
func (e *ConfigError) Error() string { return "polyjobs: " + e.Err.Error() }

// Unwrap returns Err.
func (e *ConfigError) Unwrap() error { return e.Err }

// APIError is an error response from the API: a status other than 200. Its
// fields come from the body, an ApiError (a RestErrResponse for a 401); when
// the body has neither shape, Message holds the start of the raw body.
type APIError struct {
	// StatusCode is the HTTP status code, such as 404.
	StatusCode int
	// Status is the status text, such as "Not Found".
	Status string
	// Message is the server's description of the problem, as the server
	// sent it: escape it (as Error does) before printing it on a terminal.
	Message string
	// Key is a stable, machine-readable identifier of the kind of problem,
	// such as "not_found"; empty when the server sent none.
	Key string
	// Metadata holds details of the problem; nil when the server sent none.
	Metadata map[string]any
	// RequestID identifies the request to the server's operators: the
	// X-Request-Id header, else the body's request_id metadata.
	RequestID string
	// RetryAfter is how long the server asked the client to wait before trying
	// again (the Retry-After header, in seconds or as an HTTP date); zero when
	// it did not say.
	RetryAfter time.Duration
	// Body is the raw response body, up to its first MiB.
	Body []byte
}

// Error describes the error with its status, message and request id. The
// server's text is escaped (see Message), so the error is safe to print.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if e.Status != "" {
		b.WriteString(" " + safetext.Escape(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": " + safetext.Escape(e.Message))
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + safetext.Escape(e.RequestID) + ")")
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after " + e.RetryAfter.String() + ")")
	}
	return b.String()
}

// Is reports whether target is the sentinel for e's status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500 && e.StatusCode <= 599
	}
	return false
}

// JobFailedError is returned by Wait when the job ends in failure.
type JobFailedError struct {
	// Job is the failed job; its Error field says why it failed.
	Job *Job
}

// Error names the job and quotes its error message, escaped so that it is
// safe to print.
func (e *JobFailedError) Error() string {
	if e.Job == nil {
		return "polyjobs: job failed"
	}
	msg := e.Job.Error
	if msg == "" {
		msg = "no error message"
	}
	return fmt.Sprintf("polyjobs: job %s/%s failed: %s", safetext.Escape(string(e.Job.Type)), e.Job.ID, safetext.Escape(msg))
}

// maxMessageLen bounds the part of a raw body quoted in a message.
const maxMessageLen = 512

// newAPIError builds the error for a response with a status other than 200
// from its status, headers and (possibly truncated) body.
func newAPIError(resp *http.Response, body []byte, now time.Time) *APIError {
	e := &APIError{
		StatusCode: resp.StatusCode,
		Status:     statusText(resp),
		RequestID:  resp.Header.Get("X-Request-Id"),
		Body:       body,
	}
	e.RetryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	// A 401 comes from the authentication layer as a RestErrResponse; every
	// other error is an ApiError. Try the expected shape first, then the
	// other, then fall back to the raw body.
	shapes := []func([]byte) bool{e.fromAPIError, e.fromRestErr}
	if resp.StatusCode == http.StatusUnauthorized {
		shapes[0], shapes[1] = shapes[1], shapes[0]
	}
	if !shapes[0](body) && !shapes[1](body) {
		e.Message = quote(body)
	}
	if e.RequestID == "" {
		e.RequestID, _ = e.Metadata["request_id"].(string)
	}
	return e
}

// fromAPIError fills e from an ApiError body, reporting whether it was one.
func (e *APIError) fromAPIError(body []byte) bool {
	var v api.APIError
	if !decodeLenient(body, &v) || v.Message == "" {
		return false
	}
	e.Message = v.Message
	if v.Key != nil {
		e.Key = *v.Key
	}
	if v.Metadata != nil {
		e.Metadata = *v.Metadata
	}
	return true
}

// fromRestErr fills e from a RestErrResponse body, reporting whether it was one.
func (e *APIError) fromRestErr(body []byte) bool {
	var v api.RestErrResponse
	if !decodeLenient(body, &v) || v.Error == "" {
		return false
	}
	e.Message = v.Error
	if v.Context != nil {
		e.Metadata = *v.Context
	}
	return true
}

// decodeLenient decodes a JSON object into v, tolerating fields of an
// unexpected type (they are left zero), and reports whether body was a JSON
// object.
func decodeLenient(body []byte, v any) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return false
	}
	err := json.Unmarshal(body, v)
	var typeErr *json.UnmarshalTypeError
	return err == nil || errors.As(err, &typeErr)
}

// statusText returns the status text of a response: the standard one for its
// code, else what follows the code in its status line.
func statusText(resp *http.Response) string {
	if text := http.StatusText(resp.StatusCode); text != "" {
		return text
	}
	return strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
}

// quote returns the start of a raw body as printable text for a message.
func quote(body []byte) string {
	s := strings.ToValidUTF8(string(bytes.TrimSpace(body)), "\uFFFD")
	if len(s) > maxMessageLen {
		n := maxMessageLen
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
