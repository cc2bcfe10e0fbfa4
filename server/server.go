package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/generated/apiserver"
	"github.com/polyjobs/polyjobs/server/store"
)

// Server implements the generated strict-server interface on a store.
type Server struct {
	store   store.Store
	metrics *Metrics
	// limiter is the per-key rate limit; nil when rate limiting is off.
	limiter *keyLimiter
	// pollHint is the Retry-After header sent with jobs that are not
	// terminal, in seconds; nil sends none. net/http only reads it.
	pollHint []string
}

var _ apiserver.StrictServerInterface = (*Server)(nil)

// errNoPrincipal means a request reached the handler unauthenticated: a
// pipeline bug, answered with a 500.
var errNoPrincipal = errors.New("handler reached without an authenticated principal")

// GetJob returns the caller's organization's job of the requested type and id.
// Another organization's job, an unknown id and a type mismatch are all the
// same 404, so the existence of other organizations' jobs does not leak.
func (s *Server) GetJob(ctx context.Context, req apiserver.GetJobRequestObject) (apiserver.GetJobResponseObject, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, errNoPrincipal
	}
	version := NewestVersion
	if req.Params.XPolytomicVersion != nil {
		version = *req.Params.XPolytomicVersion
	}
	if s.limiter != nil {
		if ok, wait := s.limiter.allow(p.KeyID, time.Now()); !ok {
			secs := pollHintSeconds(wait)
			key := "rate_limited"
			return apiserver.GetJob429JSONResponse{
				Body: api.APIError{Status: 429, Key: &key,
					Message: fmt.Sprintf("rate limit exceeded for this API key; retry after %d s", secs)},
				Headers: apiserver.GetJob429ResponseHeaders{XPolytomicVersion: version, RetryAfter: &secs},
			}, nil
		}
	}
	job, err := s.store.Job(ctx, p.OrgID, req.ID)
	if errors.Is(err, store.ErrNotFound) || err == nil && job.Type != req.Type {
		key := "not_found"
		return apiserver.GetJob404JSONResponse{
			Body:    api.APIError{Status: 404, Message: "job not found", Key: &key},
			Headers: apiserver.GetJob404ResponseHeaders{XPolytomicVersion: version},
		}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", req.ID, err)
	}
	s.metrics.observePolled(job.Status)
	var retryAfter []string
	if !job.Terminal() {
		retryAfter = s.pollHint
	}
	return newJobJSON(job, version, retryAfter), nil
}

// retryAfterHeader is the Retry-After value of a polling hint, or nil for none.
func retryAfterHeader(d time.Duration) []string {
	if secs := pollHintSeconds(d); secs > 0 {
		return []string{strconv.Itoa(secs)}
	}
	return nil
}

// pollHintSeconds rounds a polling hint up to whole seconds, as Retry-After needs.
func pollHintSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
