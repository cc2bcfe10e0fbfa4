package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	// maxPrealloc bounds the buffer allocated for a body on the word of its
	// Content-Length alone.
	maxPrealloc = 1 << 20
)

// GetJob fetches the current state of the job of type typ with id id.
//
// Failed attempts are retried as the Client's RetryPolicy says. The error is
// an *APIError when the server answered with an error status; when typ is not
// a known JobType it matches ErrBadRequest and no request is sent. See the
// package documentation for the other errors.
func (c *Client) GetJob(ctx context.Context, typ JobType, id uuid.UUID) (*Job, error) {
	job, _, err := c.get(ctx, typ, id, nil)
	return job, err
}

// GetJobIfChanged fetches the job last again, but only if it has changed
// since last was fetched, for callers who poll themselves: it sends last's
// ETag in If-None-Match and, when wait is at least a second, asks the server
// to hold the request until the job changes, for at most wait (Prefer:
// wait=<seconds>). last must be a job returned by GetJob, GetJobIfChanged or
// Wait.
//
// When the job has changed, GetJobIfChanged returns its new state and true.
// When it has not, the server answers 304 Not Modified, which is not an
// error: GetJobIfChanged returns a copy of last with the ETag, RetryAfter and
// WaitApplied of that answer, and false.
//
// The returned job's WaitApplied says whether to call again at once. When it
// is positive, the server held the request (for at most that long): asking
// again at once is how to wait for the next change. When it is zero, the
// server answered at once: it does not hold requests (Polytomic's API, an
// older server, a proxy that drops the headers) or not now (it is at its
// limit, or the job is terminal), so pause before asking again, for
// RetryAfter when the server gave it.
//
// wait is sent in whole seconds, trimmed so that the held request ends before
// ctx's deadline (the server may add up to 1/16 at random) and within half
// the timeout of the Client's *http.Client; under a second, nothing is asked.
// The server caps it too: the reference server at 20 s by default. Against a
// server that sends no ETag, such as Polytomic's API, last has none, the
// request is GetJob's, and changed reports whether the status, result or
// error differ from last's.
//
// Retries, Retry-After and errors are GetJob's. When an attempt that asked to
// be held fails as a connection cut on the way would (a network error, 408,
// 502 or 504), the retries ask for no wait.
func (c *Client) GetJobIfChanged(ctx context.Context, last *Job, wait time.Duration) (job *Job, changed bool, err error) {
	if last == nil {
		return nil, false, errors.New("polyjobs: get job if changed: no job given")
	}
	if !sendableETag(last.ETag) {
		return nil, false, fmt.Errorf("polyjobs: get job %s/%s: ETag %q cannot be sent in a header; no request sent", last.Type, last.ID, last.ETag)
	}
	job, changed, _, err = c.refresh(ctx, last, c.holdFor(ctx, wait, 0))
	return job, changed, err
}

// refresh is GetJobIfChanged with the wait already trimmed; dropped reports
// that the wait was given up after an attempt failed as a cut connection
// would.
func (c *Client) refresh(ctx context.Context, last *Job, wait time.Duration) (job *Job, changed, dropped bool, err error) {
	cond := &condition{etag: last.ETag, wait: wait}
	job, notModified, err := c.get(ctx, last.Type, last.ID, cond)
	dropped = wait > 0 && cond.wait == 0
	if err != nil {
		return nil, false, dropped, err
	}
	if notModified {
		same := *last
		if job.ETag != "" {
			same.ETag = job.ETag
		}
		same.RetryAfter, same.WaitApplied = job.RetryAfter, job.WaitApplied
		return &same, false, dropped, nil
	}
	return job, !sameState(last, job), dropped, nil
}

// sameState reports whether a and b show the same state of a job: the same
// ETag when both have one, else the same status, result and error.
func sameState(a, b *Job) bool {
	if a.ETag != "" && b.ETag != "" {
		return a.ETag == b.ETag
	}
	return a.Status == b.Status && a.Error == b.Error && bytes.Equal(a.Result, b.Result)
}

// holdFor returns the wait to ask a server for, at most want, in whole
// seconds: short enough that the held request, with the server's random
// extra of up to 1/16 and rtt for the answer to come back, ends before ctx's
// deadline, and within half the timeout of the Client's *http.Client. Zero
// when that leaves less than a second.
func (c *Client) holdFor(ctx context.Context, want, rtt time.Duration) time.Duration {
	if c.httpTimeout > 0 {
		want = min(want, c.httpTimeout/2)
	}
	if deadline, ok := ctx.Deadline(); ok {
		want = min(want, (deadline.Sub(c.now())-rtt)/17*16)
	}
	if want < time.Second {
		return 0
	}
	return want.Truncate(time.Second)
}

// condition makes a request conditional.
type condition struct {
	// etag is the entity tag of the state the caller has seen, sent in
	// If-None-Match; empty sends an unconditional request.
	etag string
	// wait is how long the server may hold the request until the job
	// changes (Prefer: wait), in whole seconds; zero asks for no wait.
	wait time.Duration
}

// get fetches a job, retrying failed attempts as the Client's RetryPolicy
// says. With cond, the request is conditional: a 304 gives notModified and a
// Job that holds only what the 304's headers say (ETag, RetryAfter,
// WaitApplied). When an attempt that asked the server to hold it fails as a
// cut connection would, cond.wait is set to zero for the retries: something
// between the client and the server does not let requests be held.
func (c *Client) get(ctx context.Context, typ JobType, id uuid.UUID, cond *condition) (job *Job, notModified bool, err error) {
	if !typ.Valid() {
		return nil, false, &unknownJobTypeError{typ: typ}
	}
	for attempt := 1; ; attempt++ {
		job, notModified, err := c.getOnce(ctx, typ, id, cond)
		if err == nil {
			return job, notModified, nil
		}
		if !retryable(ctx, err) {
			return nil, false, fmt.Errorf("polyjobs: get job %s/%s: %w", typ, id, err)
		}
		if attempt >= c.retry.MaxAttempts {
			if attempt == 1 {
				return nil, false, fmt.Errorf("polyjobs: get job %s/%s: %w", typ, id, err)
			}
			return nil, false, fmt.Errorf("polyjobs: get job %s/%s: %w (gave up after %d attempts)", typ, id, err, attempt)
		}
		if cond != nil && cond.wait > 0 && cutWhileHeld(err) {
			cond.wait = 0
		}
		delay, whyNot := c.retryDelay(ctx, attempt, err)
		if whyNot != "" {
			return nil, false, fmt.Errorf("polyjobs: get job %s/%s: %w (%s)", typ, id, err, whyNot)
		}
		if sleepErr := c.sleep(ctx, delay); sleepErr != nil {
			return nil, false, fmt.Errorf("polyjobs: get job %s/%s: %w while waiting to retry after: %w", typ, id, sleepErr, err)
		}
	}
}

// cutWhileHeld reports whether a request that asked to be held failed as it
// would if something on the way (a proxy, a load balancer, a client timeout)
// cut requests that stay idle for long: a network error, 408, 502 or 504.
func cutWhileHeld(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch apiErr.StatusCode {
		case http.StatusRequestTimeout, http.StatusBadGateway, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var tErr *transportError
	return errors.As(err, &tErr)
}

// getOnce makes one attempt at fetching a job. It sends the request with the
// generated client but decodes the response itself, into the generated
// models: the generated ParseGetJobResponse fails outright, losing the status,
// on a Retry-After given as an HTTP date, on a 401 in ApiError shape and on any
// JSON error body that does not match its schema.
//
// A 304 answers a conditional request (cond with an etag) and has no body:
// the Job then holds only what its headers say. A 304 to any other request
// is an *APIError, like any status but 200.
func (c *Client) getOnce(ctx context.Context, typ JobType, id uuid.UUID, cond *condition) (*Job, bool, error) {
	params := &api.GetJobParams{XPolytomicVersion: &c.version}
	if cond != nil && cond.etag != "" {
		// The generated client sends header parameters as they are: an
		// entity tag's quotes and W/ reach the server untouched.
		params.IfNoneMatch = &cond.etag
		if secs := int(cond.wait / time.Second); secs > 0 {
			prefer := "wait=" + strconv.Itoa(secs)
			params.Prefer = &prefer
		}
	}
	resp, err := c.gen.GetJob(ctx, typ, id, params)
	if err != nil {
		return nil, false, &transportError{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode < http.StatusOK {
		// An informational answer net/http passes on (101 Switching
		// Protocols): its body is the raw connection, which the context
		// does not end; it is closed unread.
		return nil, false, newAPIError(resp, nil, c.now())
	}
	if resp.StatusCode == http.StatusNotModified && params.IfNoneMatch != nil {
		job := &Job{ID: id, Type: typ}
		c.readJobHeaders(resp, job)
		return job, true, nil
	}
	limit := int64(maxJobBody)
	if resp.StatusCode != http.StatusOK {
		limit = maxErrorBody
	}
	body, err := readBody(resp, limit)
	if err != nil {
		return nil, false, &transportError{err: fmt.Errorf("reading the response body: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, newAPIError(resp, body[:min(int64(len(body)), limit)], c.now())
	}
	if int64(len(body)) > limit {
		return nil, false, fmt.Errorf("%w: HTTP 200 body larger than %d MiB", ErrMalformedResponse, limit>>20)
	}
	job, err := c.decodeJob(resp, body, typ, id)
	return job, false, err
}

// readJobHeaders sets the fields of job that come from the headers of the
// response that showed it, a 200 or a 304.
func (c *Client) readJobHeaders(resp *http.Response, job *Job) {
	job.RetryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	if etag := resp.Header.Get("ETag"); sendableETag(etag) {
		job.ETag = etag
	}
	job.WaitApplied = parsePreferenceApplied(resp.Header.Values("Preference-Applied"))
}

// sendableETag reports whether an entity tag can be sent back in a header:
// it holds no control character but the tab (net/http refuses them).
func sendableETag(etag string) bool {
	for i := 0; i < len(etag); i++ {
		if b := etag[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// parsePreferenceApplied returns the wait a Preference-Applied header says
// the server applied (RFC 7240: comma-separated preferences, the name
// case-insensitive, the value optionally quoted), or 0 for none.
func parsePreferenceApplied(values []string) time.Duration {
	for _, v := range values {
		for _, pref := range strings.Split(v, ",") {
			pref, _, _ = strings.Cut(pref, ";")
			name, value, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			secs, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(value), `"`), 10, 16)
			if err != nil {
				return 0
			}
			return time.Duration(secs) * time.Second
		}
	}
	return 0
}

// readBody reads up to limit+1 bytes of a response body, in one allocation
// when the server announced a length of at most maxPrealloc: a larger one
// is not taken on trust, and the buffer grows as the bytes come.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit+1)
	n := resp.ContentLength
	if n <= 0 || n > min(limit, maxPrealloc) {
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
	c.readJobHeaders(resp, job)
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
