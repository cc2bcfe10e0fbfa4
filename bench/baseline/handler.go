package main

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

// retryAfter is the polling hint of jobs that are not terminal, as polyjobs
// sends it by default (--poll-hint 2s).
const retryAfter = "2"

// Error bodies: fixed, since the benchmark only measures 200s.
const (
	body400 = `{"status":400,"message":"bad request","key":"bad_request"}`
	body401 = `{"code":401,"error":"invalid credentials","status":"Unauthorized"}`
	body404 = `{"status":404,"message":"job not found","key":"not_found"}`
)

// handler serves the jobs of one fixture to the holder of its key.
type handler struct {
	bearer []byte // "Bearer <key>"
	jobs   map[uuid.UUID]fixture.Job
}

// bodyPool recycles response buffers, as polyjobs does.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// newHandler returns the echo instance serving f.
func newHandler(f *fixture.Fixture) *echo.Echo {
	h := &handler{bearer: []byte("Bearer " + f.Key), jobs: make(map[uuid.UUID]fixture.Job, len(f.Jobs))}
	for _, j := range f.Jobs {
		h.jobs[j.ID] = j
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/api/jobs/:type/:id", h.getJob)
	return e
}

// getJob is GET /api/jobs/:type/:id.
func (h *handler) getJob(c echo.Context) error {
	req := c.Request()
	version := req.Header.Get("X-Polytomic-Version")
	switch {
	case version == "":
		version = fixture.NewestVersion
	case !slices.Contains(fixture.Versions, version):
		return c.JSONBlob(http.StatusBadRequest, []byte(body400))
	}
	c.Response().Header().Set("X-Polytomic-Version", version)
	if subtle.ConstantTimeCompare([]byte(req.Header.Get("Authorization")), h.bearer) != 1 {
		return c.JSONBlob(http.StatusUnauthorized, []byte(body401))
	}
	typ, rawID := c.Param("type"), c.Param("id")
	id, err := uuid.Parse(rawID)
	if !fixture.ValidType(typ) || err != nil || len(rawID) != 36 { // 36: the canonical form only
		return c.JSONBlob(http.StatusBadRequest, []byte(body400))
	}
	job, ok := h.jobs[id]
	if !ok || job.Type != typ {
		return c.JSONBlob(http.StatusNotFound, []byte(body404))
	}
	if !job.Terminal() {
		c.Response().Header().Set("Retry-After", retryAfter)
	}
	bp := bodyPool.Get().(*[]byte)
	body := fixture.AppendBody((*bp)[:0], job)
	err = c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	*bp = body
	bodyPool.Put(bp)
	return err
}
