// Command baseline is the denominator of the load benchmark (make bench-load):
// GET /api/jobs/:type/:id on bare echo v4, with no middleware, no validator,
// no database and no logging. It checks the bearer key against the one known
// key and the path by hand (type in the enum, id a canonical UUID), looks the
// job up in a map and writes the same body and headers polyjobs writes for a
// 200. It is what this HTTP stack can do at best on this machine; polyjobs is
// measured as a fraction of it.
//
//	baseline --addr 127.0.0.1:8090 --fixture jobs.json
//
// The fixture (see bench/internal/fixture) holds the key and the jobs;
// polybench writes it. SIGINT or SIGTERM stops the server.
package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
	"github.com/polyjobs/polyjobs/generated/api"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	path := flag.String("fixture", "", "fixture file: the key and the jobs to serve (required)")
	flag.Parse()
	if err := run(*addr, *path); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

// run serves the fixture at path on addr until SIGINT or SIGTERM.
func run(addr, path string) error {
	if path == "" {
		return errors.New("--fixture is required")
	}
	f, err := fixture.Load(path)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newHandler(f), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

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
		version = fixture.Version
	case !api.APIVersion(version).Valid():
		return c.JSONBlob(http.StatusBadRequest, []byte(body400))
	}
	c.Response().Header().Set("X-Polytomic-Version", version)
	if subtle.ConstantTimeCompare([]byte(req.Header.Get("Authorization")), h.bearer) != 1 {
		return c.JSONBlob(http.StatusUnauthorized, []byte(body401))
	}
	typ, rawID := c.Param("type"), c.Param("id")
	id, err := uuid.Parse(rawID)
	if !api.JobType(typ).Valid() || err != nil || len(rawID) != 36 { // 36: the canonical form only
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
	body := job.AppendBody((*bp)[:0])
	err = c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	*bp = body
	bodyPool.Put(bp)
	return err
}
