package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
)

// Bounds on the response bodies a Client reads, so that a misbehaving server
// cannot exhaust memory.
const (
	// maxJobBody bounds a 200 body; a larger one is an error.
	maxJobBody = 128 << 20
	// maxErrorBody bounds the part of an error body that is read and kept.
	maxErrorBody = 1 << 20
)

// GetJob fetches the current state of the job of type typ with id id.
//
// Failed attempts are retried as the Client's RetryPolicy says. The error is
// an *APIError when the server answered with an error status; when typ is not
// a known JobType it matches ErrBadRequest and no request is sent. See the
// package documentation for the other errors.
func (c *Client) GetJob(ctx context.Context, typ JobType, id uuid.UUID) (*Job, error) {
	if !typ.Valid() {
		return nil, &unknownJobTypeError{typ: typ}
	}
	for attempt := 1; ; attempt++ {
		job, err := c.getOnce(ctx, typ, id)
		if err == nil {
			return job, nil
		}
		if !retryable(ctx, err) {
			return nil, fmt.Errorf("polyjobs: get job %s/%s: %w", typ, id, err)
		}
		if attempt >= c.retry.MaxAttempts {
			if attempt == 1 {
				return nil, fmt.Errorf("polyjobs: get job %s/%s: %w", typ, id, err)
			}
			return nil, fmt.Errorf("polyjobs: get job %s/%s: %w (gave up after %d attempts)", typ, id, err, attempt)
		}
		delay, whyNot := c.retryDelay(ctx, attempt, err)
		if whyNot != "" {
			return nil, fmt.Errorf("polyjobs: get job %s/%s: %w (%s)", typ, id, err, whyNot)
		}
		if sleepErr := c.sleep(ctx, delay); sleepErr != nil {
			return nil, fmt.Errorf("polyjobs: get job %s/%s: %w while waiting to retry after: %w", typ, id, sleepErr, err)
		}
	}
}

// getOnce makes one attempt at fetching a job. It sends the request with the
// generated client but decodes the response itself, into the generated
// models: the generated ParseGetJobResponse fails outright, losing the status,
// on a Retry-After given as an HTTP date, on a 401 in ApiError shape and on any
// JSON error body that does not match its schema.
func (c *Client) getOnce(ctx context.Context, typ JobType, id uuid.UUID) (*Job, error) {
	resp, err := c.gen.GetJob(ctx, typ, id, &api.GetJobParams{XPolytomicVersion: &c.version})
	if err != nil {
		return nil, &transportError{err: err}
	}
	defer resp.Body.Close()
	limit := int64(maxJobBody)
	if resp.StatusCode != http.StatusOK {
		limit = maxErrorBody
	}
	body, err := readBody(resp, limit)
	if err != nil {
		return nil, &transportError{err: fmt.Errorf("reading the response body: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, newAPIError(resp, body[:min(int64(len(body)), limit)], c.now())
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: HTTP 200 body larger than %d MiB", ErrMalformedResponse, limit>>20)
	}
	return c.decodeJob(resp, body, typ, id)
}

// readBody reads up to limit+1 bytes of a response body, in one allocation
// when the server announced the body's length.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit+1)
	n := resp.ContentLength
	if n <= 0 || n > limit {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// decodeJob turns a 200 response into a Job, checking that it is the job
// that was asked for.
func (c *Client) decodeJob(resp *http.Response, body []byte, typ JobType, id uuid.UUID) (*Job, error) {
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: HTTP 200 (Content-Type %q): %s; body starts %q",
			ErrMalformedResponse, resp.Header.Get("Content-Type"), fmt.Sprintf(format, args...), start(body))
	}
	var env api.JobResponseEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, malformed("not a JSON job: %v", err)
	}
	data := env.Data
	switch {
	case data.Status == "":
		return nil, malformed("no data.status")
	case !data.Status.Valid():
		return nil, malformed("unknown job status %q", data.Status)
	case data.JobID != uuid.Nil && data.JobID != id:
		return nil, malformed("job_id %s is not the requested %s", data.JobID, id)
	case data.Type != "" && data.Type != typ:
		return nil, malformed("type %q is not the requested %q", data.Type, typ)
	}
	job := &Job{ID: id, Type: typ, Status: data.Status}
	if data.Error != nil {
		job.Error = *data.Error
	}
	if r := bytes.TrimSpace(data.Result); len(r) > 0 && !bytes.Equal(r, []byte("null")) {
		job.Result = r
	}
	job.RetryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	return job, nil
}

// start returns the first bytes of a body, for an error message.
func start(body []byte) string {
	const n = 64
	if len(body) <= n {
		return string(body)
	}
	return string(body[:n]) + "..."
}

// unknownJobTypeError is GetJob's error for a job type it does not know; it
// matches ErrBadRequest, as the server's answer would.
type unknownJobTypeError struct{ typ JobType }

func (e *unknownJobTypeError) Error() string {
	names := make([]string, 0, 6)
	for _, t := range JobTypes() {
		names = append(names, string(t))
	}
	return fmt.Sprintf("polyjobs: get job: unknown job type %q (want one of %s); no request sent",
		e.typ, strings.Join(names, ", "))
}

func (e *unknownJobTypeError) Is(target error) bool { return target == ErrBadRequest }
