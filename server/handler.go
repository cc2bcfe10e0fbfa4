package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/generated/apiserver"
	"github.com/polyjobs/polyjobs/internal/jobjson"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store"
)

// The API's one route: its echo path, and the methods it answers (the Allow
// header of a 405).
const (
	apiRoutePath   = "/api/jobs/:type/:id"
	allowedMethods = "GET, HEAD"
)

// handler implements the generated strict-server interface on a store.
type handler struct {
	store   store.Store
	metrics *Metrics
	// pollHint is the Retry-After header sent with jobs that are not
	// terminal, in seconds; nil sends none. net/http only reads it.
	pollHint []string
	// waits holds the requests that wait for their job to change, for at
	// most maxWait (wait.go).
	waits   *waitHub
	maxWait time.Duration
	// faults are the control API's injected faults; nil when it is off.
	faults *control.Faults
	// parking lets held requests leave net/http (park.go), which then
	// answers them through errors and accounts for them through pipeline.
	parking  bool
	errors   *errorHandler
	pipeline *pipeline
}

var _ apiserver.StrictServerInterface = (*handler)(nil)

// GetJob returns the caller's organization's job of the requested type and id.
// Another organization's job, an unknown id and a type mismatch are all the
// same 404, so the existence of other organizations' jobs does not leak.
//
// A request whose If-None-Match names the job's state gets a 304, after
// waiting for a change when it asks to (Prefer: wait; see wait.go).
func (h *handler) GetJob(ctx context.Context, req apiserver.GetJobRequestObject) (apiserver.GetJobResponseObject, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, errNoPrincipal
	}
	// A fault for this job applies only to a request that finds it: another
	// organization's request is served as one for an unknown id (the other
	// faults apply, then the 404), and leaves the fault to the job's own.
	// Faults for the job are taken only once it was found: one added
	// meanwhile waits for the next request.
	faulted := uuid.Nil
	if h.faults.NamesJob(req.ID) {
		_, err := h.job(ctx, p.OrgID, req.ID, req.Type)
		switch {
		case err == nil:
			faulted = req.ID
		case !errors.Is(err, errJobNotFound):
			return nil, err
		}
	}
	if err := h.injectFault(ctx, p.KeyID, faulted); err != nil {
		return nil, err
	}
	version := NewestVersion
	if req.Params.XPolytomicVersion != nil {
		version = *req.Params.XPolytomicVersion
	}
	job, err := h.job(ctx, p.OrgID, req.ID, req.Type)
	if err != nil {
		return nil, err
	}
	etag := jobETag(job.ID, job.Status, version)
	if req.Params.IfNoneMatch == nil || !ifNoneMatch(*req.Params.IfNoneMatch, etag) {
		return h.found(job, etag, ""), nil
	}
	if req.Params.Prefer != nil && !job.Terminal() {
		if wait := preferWait(*req.Params.Prefer); wait > 0 {
			if w, ok := h.waits.join(job, p.KeyID); ok {
				// A change committed between the read above and join
				// notified no waiter: read the job again, here rather than
				// on the held request's small stack.
				a := &heldAnswer{h: h, ctx: ctx, w: w, typ: job.Type, version: version}
				if changed, err := a.reread(); changed != nil || err != nil {
					a.leave(err)
					if err != nil {
						return nil, err
					}
					return h.found(*changed, jobETag(changed.ID, changed.Status, version), ""), nil
				}
				a.d, a.applied = appliedWait(wait, h.maxWait)
				return a, nil
			}
		}
	}
	return notModified{etag: etag, retryAfter: h.retryAfter(job)}, nil
}

// heldAnswer is the answer to a request held until its job changes (see
// wait.go): a 200 with the new state, or a 304 when the wait runs out.
//
// It waits in VisitGetJobResponse, after the handler has returned: parked
// off any goroutine of net/http's when it can (park.go), else on its own
// goroutine, with little on the stack, which the runtime then shrinks to a
// few KiB. With thousands of requests held, that memory is what counts.
type heldAnswer struct {
	h   *handler
	ctx context.Context
	// w is the waiter: the job, as the request saw it.
	w       *waiter
	d       time.Duration
	typ     store.JobType
	version api.APIVersion
	// applied is the Preference-Applied header's value.
	applied string
}

// VisitGetJobResponse waits, then writes the answer. It and the functions
// it waits in keep small frames (the answer is built after the wait, in
// write), for the stack's sake.
func (a *heldAnswer) VisitGetJobResponse(rw http.ResponseWriter) error {
	if a.h.parking && a.park(rw) {
		return nil
	}
	timer := time.NewTimer(a.d)
	defer timer.Stop()
	closing, gone := a.h.waits.closing, stateFrom(a.ctx).gone()
	job, err := a.wait(func() waitEnd { return a.w.wait(timer.C, closing, gone) })
	if err != nil {
		return err
	}
	return a.write(rw, job)
}

// wait waits, for as long as block allows, for the job to change, and
// returns it when it did, or nil when it did not (the wait ran out, the
// server is shutting down, or the client left). block blocks until the
// waiter is woken or the wait ends, and says which.
func (a *heldAnswer) wait(block func() waitEnd) (*store.Job, error) {
	for {
		cause := "changed"
		switch block() {
		case woken:
			job, err := a.reread()
			if job == nil && err == nil {
				continue // woken for nothing: the job is as it was
			}
			a.leave(err)
			return job, err
		case timedOut:
			cause = "timed_out"
		case shuttingDown:
			cause = "shutdown"
		case clientGone:
			cause = "canceled"
		}
		a.h.waits.leave(a.w, cause)
		return nil, nil
	}
}

// leave ends the wait of a request whose job changed, or could not be read
// again (err; errJobNotFound when it was purged meanwhile, a change too).
func (a *heldAnswer) leave(err error) {
	cause := "changed"
	if err != nil && !errors.Is(err, errJobNotFound) {
		cause = "error"
	}
	a.h.waits.leave(a.w, cause)
}

// reread reads the awaited job again: it returns the job when its status
// changed, nil when it did not, or the error (errJobNotFound when it was
// purged meanwhile).
func (a *heldAnswer) reread() (*store.Job, error) {
	job, err := a.h.job(a.ctx, a.w.key.OrgID, a.w.key.ID, a.typ)
	if err != nil {
		return nil, err
	}
	if job.Status == a.w.status {
		return nil, nil
	}
	return &job, nil
}

// write writes the answer: the changed job, or a 304 when job is nil (the
// job as the request saw it, not terminal: it sends the polling hint).
func (a *heldAnswer) write(rw http.ResponseWriter, job *store.Job) error {
	if job != nil {
		return a.h.found(*job, jobETag(job.ID, job.Status, a.version), a.applied).VisitGetJobResponse(rw)
	}
	etag := jobETag(a.w.key.ID, a.w.status, a.version)
	return notModified{etag: etag, retryAfter: a.h.pollHint, applied: a.applied}.VisitGetJobResponse(rw)
}

// injectFault applies the control API's first fault matching the request:
// its latency, then its status as an error.
func (h *handler) injectFault(ctx context.Context, keyID, jobID uuid.UUID) error {
	f, ok := h.faults.Take(keyID, jobID)
	if !ok {
		return nil
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-stateFrom(ctx).gone():
		case <-h.waits.closing: // the server is shutting down: answer now
		}
	}
	if f.Status == 0 {
		return nil
	}
	stateFrom(ctx).injected = true
	return &apiError{status: f.Status, message: fmt.Sprintf("injected fault: %d %s", f.Status, statusPhrase(f.Status)), retryAfter: f.RetryAfter}
}

// job reads the job of type typ and id a request names, in the principal's
// organization.
func (h *handler) job(ctx context.Context, orgID, id uuid.UUID, typ store.JobType) (store.Job, error) {
	job, err := h.store.Job(ctx, orgID, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && job.Type != typ {
		return store.Job{}, errJobNotFound
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	return job, nil
}

// found is the 200 response showing job.
func (h *handler) found(job store.Job, etag, applied string) jobResponse {
	h.metrics.observePolled(job.Status)
	return jobResponse{id: job.ID, typ: job.Type, status: job.Status, result: job.Result, errMsg: job.Error,
		etag: etag, applied: applied, retryAfter: h.retryAfter(job)}
}

// retryAfter is the Retry-After header of a response showing job.
func (h *handler) retryAfter(job store.Job) []string {
	if job.Terminal() {
		return nil
	}
	return h.pollHint
}

// retryAfterValue is the Retry-After header value of a polling hint, or nil
// for none.
func retryAfterValue(d time.Duration) []string {
	if secs := wholeSeconds(d); secs > 0 {
		return []string{strconv.Itoa(secs)}
	}
	return nil
}

// jobResponse is the 200 response of getJob. It implements the generated
// GetJobResponseObject like apiserver.GetJob200JSONResponse, with the same
// JSON, but writes the body with appends into a pooled buffer instead of
// reflection: this is the hot path of the server. (The X-Polytomic-Version
// header is already set, for every response, by the pipeline.)
//
// It keeps only what the response shows, not the whole store.Job: it is
// boxed into the response interface on every request, so every byte left out
// is garbage the collector never sees.
type jobResponse struct {
	id     uuid.UUID
	typ    store.JobType
	status store.JobStatus
	result json.RawMessage
	errMsg string
	// retryAfter is the Retry-After header's value (the polling hint in
	// seconds), shared by every response; nil sends none.
	retryAfter []string
	// etag is the ETag header's value; applied the Preference-Applied
	// header's, empty for none.
	etag, applied string
}

var _ apiserver.GetJobResponseObject = jobResponse{}

// buffers recycles the buffers that response bodies and access log lines
// are appended into (getBuffer, putBuffer); oversized ones are dropped.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledBuffer is the largest buffer putBuffer keeps.
const maxPooledBuffer = 64 << 10

// getBuffer returns a pooled buffer, empty.
func getBuffer() *[]byte {
	bp := buffers.Get().(*[]byte)
	*bp = (*bp)[:0]
	return bp
}

// putBuffer gives bp back to the pool holding b, what was appended to it,
// unless b grew too large to keep.
func putBuffer(bp *[]byte, b []byte) {
	if cap(b) <= maxPooledBuffer {
		*bp = b
		buffers.Put(bp)
	}
}

// contentTypeJSON is the Content-Type header value of a job (net/http only reads it).
var contentTypeJSON = []string{"application/json"}

// VisitGetJobResponse writes the job as a JobResponseEnvelope.
func (r jobResponse) VisitGetJobResponse(w http.ResponseWriter) error {
	if !r.typ.Valid() || !r.status.Valid() {
		return fmt.Errorf("job %s: stored type %q or status %q is not in the contract", r.id, r.typ, r.status)
	}
	bp := getBuffer()
	body := jobjson.Append(*bp, r.id, string(r.typ), string(r.status), r.result, r.errMsg)
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	setJobHeaders(h, r.etag, r.retryAfter, r.applied)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	putBuffer(bp, body)
	return err
}

// notModified is the 304 response: the job is as If-None-Match says.
type notModified struct {
	etag       string
	retryAfter []string
	applied    string
}

var _ apiserver.GetJobResponseObject = notModified{}

// VisitGetJobResponse writes the headers of a 304, without a body.
func (r notModified) VisitGetJobResponse(w http.ResponseWriter) error {
	setJobHeaders(w.Header(), r.etag, r.retryAfter, r.applied)
	w.WriteHeader(http.StatusNotModified)
	return nil
}

// setJobHeaders sets the headers that describe a job's state, on a 200 or a 304.
func setJobHeaders(h http.Header, etag string, retryAfter []string, applied string) {
	h["Etag"] = []string{etag}
	if retryAfter != nil {
		h["Retry-After"] = retryAfter
	}
	if applied != "" {
		h["Preference-Applied"] = []string{applied}
	}
}

// headerVersion is the request and response header naming the API version.
const headerVersion = "X-Polytomic-Version"

// NewestVersion is the version served when a request names none: the last
// of the versions the contract lists, oldest first.
var NewestVersion = func() api.APIVersion {
	versions := api.APIVersionValues()
	return versions[len(versions)-1]
}()

// versionValues are the X-Polytomic-Version header values, shared by every
// response (net/http only reads them).
var versionValues = func() map[api.APIVersion][]string {
	m := map[api.APIVersion][]string{}
	for _, v := range api.APIVersionValues() {
		m[v] = []string{string(v)}
	}
	return m
}()

// servedVersion returns the version a request is served with: the one it
// asked for when that is known, else the newest. (An unknown version is then
// refused by the validator, with a 400 that still names a real version.)
func servedVersion(requested string) api.APIVersion {
	if v := api.APIVersion(requested); v.Valid() {
		return v
	}
	return NewestVersion
}
