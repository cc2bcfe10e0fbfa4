package servertest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyjobs/polyjobs/generated/api"
)

// faults holds the fault injection a test has asked for.
type faults struct {
	mu         sync.Mutex
	failNext   int
	status     int
	retryAfter string
	latency    time.Duration
}

// FailNext makes the next n API requests fail with status (429, 500, 503, ...)
// and an ApiError body, without reaching the server. A positive retryAfter
// adds a Retry-After header in whole seconds.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	ra := ""
	if retryAfter > 0 {
		ra = strconv.Itoa(int((retryAfter + time.Second - 1) / time.Second))
	}
	s.FailNextWithRetryAfter(n, status, ra)
}

// FailNextWithRetryAfter is FailNext with a raw Retry-After value, such as an
// HTTP date; empty sends none.
func (s *Server) FailNextWithRetryAfter(n, status int, retryAfter string) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.failNext, s.faults.status, s.faults.retryAfter = n, status, retryAfter
}

// SetLatency delays every API response by d (zero for none).
func (s *Server) SetLatency(d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.latency = d
}

// next returns the fault to apply to one request, if any.
func (f *faults) next() (latency time.Duration, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext > 0 {
		f.failNext--
		return f.latency, f.status, f.retryAfter
	}
	return f.latency, 0, ""
}

func (f *faults) wrap(served *atomic.Int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		latency, status, retryAfter := f.next()
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-r.Context().Done():
				return
			}
		}
		if status == 0 {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Polytomic-Version", string(api.APIVersion20250918))
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(api.APIError{Status: status, Message: "injected fault: " + http.StatusText(status)})
	})
}
