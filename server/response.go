package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/generated/apiserver"
	"github.com/polyjobs/polyjobs/internal/jobjson"
	"github.com/polyjobs/polyjobs/server/store"
)

// jobJSON is the 200 response of getJob. It implements the generated
// GetJobResponseObject like apiserver.GetJob200JSONResponse, with the same
// headers and the same JSON, but writes the body with appends into a pooled
// buffer instead of reflection: this is the hot path of the server.
//
// It keeps only what the response shows, not the whole store.Job: it is
// boxed into the response interface on every request, so every byte left out
// is garbage the collector never sees.
type jobJSON struct {
	id      uuid.UUID
	typ     store.JobType
	status  store.JobStatus
	result  json.RawMessage
	errMsg  string
	version api.APIVersion
	// retryAfter is the Retry-After header's value (the polling hint in
	// seconds), shared by every response; nil sends none.
	retryAfter []string
}

// newJobJSON returns the 200 response showing job.
func newJobJSON(job store.Job, version api.APIVersion, retryAfter []string) jobJSON {
	return jobJSON{id: job.ID, typ: job.Type, status: job.Status, result: job.Result, errMsg: job.Error,
		version: version, retryAfter: retryAfter}
}

var _ apiserver.GetJobResponseObject = jobJSON{}

// bodyPool recycles response buffers; oversized ones are dropped.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledBody = 64 << 10

// Header values shared by every response; net/http never modifies them.
var (
	contentTypeJSON = []string{"application/json"}
	versionValues   = func() map[api.APIVersion][]string {
		m := map[api.APIVersion][]string{}
		for _, v := range api.APIVersionValues() {
			m[v] = []string{string(v)}
		}
		return m
	}()
)

// VisitGetJobResponse writes the job as a JobResponseEnvelope.
func (r jobJSON) VisitGetJobResponse(w http.ResponseWriter) error {
	bp := bodyPool.Get().(*[]byte)
	body, err := appendJobEnvelope((*bp)[:0], r.id, r.typ, r.status, r.result, r.errMsg)
	if err != nil {
		bodyPool.Put(bp)
		return err
	}
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h[headerVersion] = versionValues[servedVersion(string(r.version))]
	if r.retryAfter != nil {
		h["Retry-After"] = r.retryAfter
	}
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	if cap(body) <= maxPooledBody {
		*bp = body
		bodyPool.Put(bp)
	}
	return err
}

// appendJobEnvelope appends {"data": JobResponse} for a job, refusing a
// stored type or status outside the contract.
func appendJobEnvelope(b []byte, id uuid.UUID, typ store.JobType, status store.JobStatus, result json.RawMessage, errMsg string) ([]byte, error) {
	if !typ.Valid() || !status.Valid() {
		return b, fmt.Errorf("job %s: stored type %q or status %q is not in the contract", id, typ, status)
	}
	return jobjson.Append(b, id, string(typ), string(status), result, errMsg), nil
}
