package servertest

import (
	"math"
	"strconv"
	"time"

	"github.com/polyjobs/polyjobs/server/control"
)

// FailNext makes the next n API requests fail with status (429, 500, 503, ...)
// and an ApiError body: a fault of the control API, for any key and job; n
// of 0 or less fails none. A positive retryAfter adds a Retry-After header in
// whole seconds.
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
	if n <= 0 {
		return // the control API's faults take 0 for 1
	}
	s.control.Faults().Add(control.Fault{Remaining: n, Status: status, RetryAfter: retryAfter})
}

// SetLatency delays every API answer by d from now on (zero for none): a
// fault of the control API that lasts.
func (s *Server) SetLatency(d time.Duration) {
	faults := s.control.Faults()
	for _, f := range faults.List() {
		if f.Status == 0 {
			faults.Remove(f.ID)
		}
	}
	if d > 0 {
		faults.Add(control.Fault{Remaining: math.MaxInt, Latency: d})
	}
}
