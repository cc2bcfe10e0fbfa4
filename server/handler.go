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
}

var _ apiserver.StrictServerInterface = (*handler)(nil)

// GetJob returns the caller's organization's job of the requested type and id.
// Another organization's job, an unknown id and a type mismatch are all the
// same 404, so the existence of other organizations' jobs does not leak.
func (h *handler) GetJob(ctx context.Context, req apiserver.GetJobRequestObject) (apiserver.GetJobResponseObject, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, errNoPrincipal
	}
	job, err := h.store.Job(ctx, p.OrgID, req.ID)
	if errors.Is(err, store.ErrNotFound) || err == nil && job.Type != req.Type {
		return nil, errJobNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", req.ID, err)
	}
	h.metrics.observePolled(job.Status)
	var retryAfter []string
	if !job.Terminal() {
		retryAfter = h.pollHint
	}
	return jobResponse{id: job.ID, typ: job.Type, status: job.Status, result: job.Result, errMsg: job.Error,
		retryAfter: retryAfter}, nil
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
}

var _ apiserver.GetJobResponseObject = jobResponse{}

// bodyPool recycles response buffers; oversized ones are dropped.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledBody = 64 << 10

// contentTypeJSON is the Content-Type header value of a job (net/http only reads it).
var contentTypeJSON = []string{"application/json"}

// VisitGetJobResponse writes the job as a JobResponseEnvelope.
func (r jobResponse) VisitGetJobResponse(w http.ResponseWriter) error {
	if !r.typ.Valid() || !r.status.Valid() {
		return fmt.Errorf("job %s: stored type %q or status %q is not in the contract", r.id, r.typ, r.status)
	}
	bp := bodyPool.Get().(*[]byte)
	body := jobjson.Append((*bp)[:0], r.id, string(r.typ), string(r.status), r.result, r.errMsg)
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	if r.retryAfter != nil {
		h["Retry-After"] = r.retryAfter
	}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	if cap(body) <= maxPooledBody {
		*bp = body
		bodyPool.Put(bp)
	}
	return err
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
