// Package servertest runs the real reference server in-process for other
// people's tests, the way net/http/httptest runs a handler: one call gives a
// server on 127.0.0.1 backed by a temporary SQLite database, an organization
// with a key of each kind, helpers that create and advance jobs, and fault
// injection for testing clients.
//
//	srv := servertest.New(t)
//	id := srv.CreateJob(servertest.JobTypeExportLogs)
//	c, _ := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(srv.UserKey))
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// Job types, re-exported for convenience.
const (
	JobTypeCreateModel     = api.JobTypeCreateModel
	JobTypeUpdateModel     = api.JobTypeUpdateModel
	JobTypePreviewModel    = api.JobTypePreviewModel
	JobTypeSampleModel     = api.JobTypeSampleModel
	JobTypeExportLogs      = api.JobTypeExportLogs
	JobTypeConnectionProxy = api.JobTypeConnectionProxy
)

// Server is a running reference server.
type Server struct {
	// URL is the base URL of the server, http://127.0.0.1:port, with no
	// trailing slash.
	URL string
	// OrgID is the organization the keys belong to.
	OrgID uuid.UUID
	// UserKey is a user API key of the organization, for bearer authentication.
	UserKey string
	// OrgKey is an organization-scoped key, for basic authentication with OrgID.
	OrgKey string
	// Store is the server's store, for tests that need more than the helpers.
	Store store.Store

	tb      testing.TB
	http    *httptest.Server
	control *control.Control
	stop    context.CancelFunc
	served  atomic.Int64
	dir     string
	handler *server.Handler
	// listener serves s.http as `polyjobs serve` does: held requests are
	// parked off net/http while they wait.
	listener *server.Listener
}

// Option configures a Server.
type Option func(*config)

type config struct {
	pollHint time.Duration
	logger   *slog.Logger
	rate     float64
	burst    int
	maxWait  time.Duration
}

// WithPollHint sets the Retry-After the server sends with jobs that are not
// terminal; negative sends none. Default: the server's default.
func WithPollHint(d time.Duration) Option { return func(c *config) { c.pollHint = d } }

// WithRateLimit turns on the server's per-key rate limit: rate requests per
// second with bursts of burst. By default servertest has none, so that
// client tests and benchmarks are not throttled.
func WithRateLimit(rate float64, burst int) Option {
	return func(c *config) { c.rate, c.burst = rate, burst }
}

// WithMaxWait caps how long the server holds a request that asks to wait
// for its job to change (Prefer: wait); negative never holds, like a server
// without the feature (it still sends ETags and 304s). Default: the server's
// default, server.DefaultMaxWait. The server announces the applied wait in
// whole seconds, so use at least a second for a server that holds.
func WithMaxWait(d time.Duration) Option { return func(c *config) { c.maxWait = d } }

// WithLogger sends the server's logs to logger. Default: discarded.
func WithLogger(logger *slog.Logger) Option { return func(c *config) { c.logger = logger } }

// New starts a server for the duration of the test; it is closed by t.Cleanup.
// Helpers fail the test on error.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := start(tb, opts)
	if err != nil {
		tb.Fatalf("servertest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// NewServer starts a server that the caller must Close. Helpers panic on error.
func NewServer(opts ...Option) (*Server, error) {
	return start(nil, opts)
}

func start(tb testing.TB, opts []Option) (s *Server, err error) {
	cfg := config{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), rate: -1}
	for _, o := range opts {
		o(&cfg)
	}
	dir, err := os.MkdirTemp("", "servertest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "polyjobs.db"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	s = &Server{Store: st, tb: tb, dir: dir}
	h, err := server.New(server.Config{Store: st, Logger: cfg.logger, PollHint: cfg.pollHint, Rate: cfg.rate, Burst: cfg.burst,
		MaxWait: cfg.maxWait, Control: &control.Options{Logger: cfg.logger}})
	if err != nil {
		return nil, err
	}
	// The helpers are the control API's operations, as test suites in other
	// languages use them over HTTP (under control.Prefix on s.URL).
	s.control = h.Control()
	org, err := s.control.CreateOrganization(ctx, "servertest")
	if err != nil {
		return nil, err
	}
	s.OrgID = org.ID
	if s.UserKey, err = s.newKey(ctx, store.KeyKindUser); err == nil {
		s.OrgKey, err = s.newKey(ctx, store.KeyKindOrg)
	}
	if err != nil {
		return nil, err
	}
	var runCtx context.Context
	runCtx, s.stop = context.WithCancel(context.Background())
	go s.control.Run(runCtx)
	s.http = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.served.Add(1)
		h.ServeHTTP(w, r)
	}))
	s.http.Config = server.HTTPServer("", s.http.Config.Handler, cfg.logger)
	s.listener = server.NewListener(s.http.Listener, s.http.Config, maxConns)
	s.http.Listener = s.listener
	s.handler = h
	s.http.Start()
	s.URL = s.http.URL
	return s, nil
}

func (s *Server) newKey(ctx context.Context, kind store.KeyKind) (string, error) {
	k, err := s.control.CreateKey(ctx, s.OrgID.String(), kind)
	return k.Secret, err
}

// maxConns caps the connections of a test server.
const maxConns = 1024

// Close shuts the server down and removes its database. Requests it holds
// are answered at once (304).
func (s *Server) Close() {
	s.stop()
	s.handler.EndWaits()
	s.http.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.listener.Drain(ctx)
	s.Store.Close()
	os.RemoveAll(s.dir)
}

// Requests returns how many requests the server has received, faults included.
func (s *Server) Requests() int64 { return s.served.Load() }

// Waiting returns how many requests the server holds now until their job
// changes (Prefer: wait), so that a test can change a job while a request is
// held rather than just sent.
func (s *Server) Waiting() int { return s.handler.Waiting() }

// NewUserKey creates another user key of the organization and returns it.
func (s *Server) NewUserKey() string {
	key, err := s.newKey(context.Background(), store.KeyKindUser)
	s.check(err)
	return key
}

// CreateJob creates a job of the given type in the server's organization,
// with a plan if steps are given: the server moves it through them, each
// control.Step's After after the one before (see control.Service.CreateJob).
func (s *Server) CreateJob(typ api.JobType, steps ...control.Step) uuid.UUID {
	job, err := s.control.CreateJob(context.Background(), s.OrgID.String(), typ, steps)
	s.check(err)
	return job.ID
}

// Start moves a job to running.
func (s *Server) Start(id uuid.UUID) { s.transition(id, store.Start()) }

// Finish moves a job to done with result marshalled as JSON (nil for none).
// A json.RawMessage is stored as is.
func (s *Server) Finish(id uuid.UUID, result any) {
	var raw json.RawMessage
	switch r := result.(type) {
	case nil:
	case json.RawMessage:
		raw = r
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep URLs readable: & not \u0026
		s.check(enc.Encode(r))
		raw = bytes.TrimSpace(buf.Bytes())
	}
	s.transition(id, store.Finish(raw))
}

// Fail moves a job to failed with the given message.
func (s *Server) Fail(id uuid.UUID, message string) { s.transition(id, store.Fail(message)) }

func (s *Server) transition(id uuid.UUID, t store.Transition) {
	_, err := s.control.MoveJob(context.Background(), id, t)
	s.check(err)
}

func (s *Server) check(err error) {
	if err == nil {
		return
	}
	if s.tb != nil {
		s.tb.Helper()
		s.tb.Fatalf("servertest: %v", err)
	}
	panic(fmt.Sprintf("servertest: %v", err))
}
