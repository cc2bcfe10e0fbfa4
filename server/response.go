package server

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated"
	"github.com/polyjobs/polyjobs/server/store"
)

// jobJSON is the 200 response of getJob. It implements the generated
// GetJobResponseObject like generated.GetJob200JSONResponse, with the same
// headers and the same JSON, but writes the body with appends into a pooled
// buffer instead of reflection: this is the hot path of the server.
type jobJSON struct {
	job     store.Job
	version generated.APIVersion
	// retryAfter is the polling hint in seconds; zero sends none.
	retryAfter int
}

var _ generated.GetJobResponseObject = jobJSON{}

// bodyPool recycles response buffers; oversized ones are dropped.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledBody = 64 << 10

// Header values shared by every response; net/http never modifies them.
var (
	contentTypeJSON = []string{"application/json"}
	versionValues   = func() map[generated.APIVersion][]string {
		m := map[generated.APIVersion][]string{}
		for _, v := range Versions {
			m[v] = []string{string(v)}
		}
		return m
	}()
)

// VisitGetJobResponse writes the job as a JobResponseEnvelope.
func (r jobJSON) VisitGetJobResponse(w http.ResponseWriter) error {
	bp := bodyPool.Get().(*[]byte)
	body, err := appendJobEnvelope((*bp)[:0], r.job)
	if err != nil {
		bodyPool.Put(bp)
		return err
	}
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h[headerVersion] = versionValues[servedVersion(string(r.version))]
	if r.retryAfter > 0 {
		h["Retry-After"] = []string{strconv.Itoa(r.retryAfter)}
	}
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	if cap(body) <= maxPooledBody {
		*bp = body
		bodyPool.Put(bp)
	}
	return err
}

// appendJobEnvelope appends {"data": JobResponse} as encoding/json would write
// generated.JobResponseEnvelope (fields in the same order, a final newline).
func appendJobEnvelope(b []byte, job store.Job) ([]byte, error) {
	if !job.Type.Valid() || !job.Status.Valid() {
		return b, fmt.Errorf("job %s: stored type %q or status %q is not in the contract", job.ID, job.Type, job.Status)
	}
	b = append(b, `{"data":{"error":`...)
	if job.Error == "" {
		b = append(b, "null"...)
	} else {
		quoted, err := json.Marshal(job.Error)
		if err != nil {
			return b, err
		}
		b = append(b, quoted...)
	}
	b = append(b, `,"job_id":"`...)
	b = appendUUID(b, job.ID)
	b = append(b, `","result":`...)
	if len(job.Result) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, job.Result...)
	}
	b = append(b, `,"status":"`...)
	b = append(b, job.Status...)
	b = append(b, `","type":"`...)
	b = append(b, job.Type...)
	b = append(b, "\"}}\n"...)
	return b, nil
}

// appendUUID appends the canonical form of id without allocating.
func appendUUID(b []byte, id uuid.UUID) []byte {
	var buf [36]byte
	hex.Encode(buf[0:8], id[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], id[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], id[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], id[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], id[10:])
	return append(b, buf[:]...)
}
