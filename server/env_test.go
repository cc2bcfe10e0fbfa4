package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// storeFactories are the stores every server-level test runs against.
var storeFactories = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "polyjobs.db"))
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		return s
	},
}

// forEachStore runs fn once per store implementation.
func forEachStore(t *testing.T, fn func(t *testing.T, newStore func(t *testing.T) store.Store)) {
	for name, newStore := range storeFactories {
		t.Run(name, func(t *testing.T) { fn(t, newStore) })
	}
}

// setup is one way to run the server: on a store, with the fast paths or
// plain (Config.Plain). Server tests run every way, so that the plain path
// stays the reference the fast paths must match.
type setup struct {
	newStore func(t *testing.T) store.Store
	plain    bool
}

// env starts a server of this setup on a fresh store.
func (s setup) env(t *testing.T, mutate ...func(*server.Config)) *env {
	t.Helper()
	mode := func(c *server.Config) { c.Plain = s.plain }
	return newEnv(t, s.newStore(t), append([]func(*server.Config){mode}, mutate...)...)
}

// forEachSetup runs fn once per store implementation, fast and plain.
func forEachSetup(t *testing.T, fn func(t *testing.T, s setup)) {
	for name, newStore := range storeFactories {
		for mode, plain := range map[string]bool{"fast": false, "plain": true} {
			t.Run(name+"/"+mode, func(t *testing.T) { fn(t, setup{newStore: newStore, plain: plain}) })
		}
	}
}

// tenant is an organization with one key of each kind.
type tenant struct {
	org     store.Organization
	userKey string
	orgKey  string
	userID  uuid.UUID
}

func (tn tenant) bearer() string { return "Bearer " + tn.userKey }

func (tn tenant) basic() string {
	return basicAuth(tn.org.ID.String(), tn.orgKey)
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// env is a reference server on a real store, driven through e.ServeHTTP.
type env struct {
	t     testing.TB
	store store.Store
	e     *server.Handler
	logs  *syncbuf.Buffer
	v     *apispec.Validator
	// metrics are the server's.
	metrics *server.Metrics
}

func newEnv(t testing.TB, s store.Store, mutate ...func(*server.Config)) *env {
	t.Helper()
	logs := &syncbuf.Buffer{}
	// The access log as serve writes it (NewLogger), on a JSON logger.
	logger, err := server.NewLogger(logs, "json", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: s, Logger: logger, Metrics: server.NewMetrics()}
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	v, err := apispec.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &env{t: t, store: s, e: e, logs: logs, v: v, metrics: cfg.Metrics}
}

func (en *env) tenant(name string) tenant {
	en.t.Helper()
	ctx := context.Background()
	org, err := en.store.CreateOrganization(ctx, name)
	if err != nil {
		en.t.Fatal(err)
	}
	tn := tenant{org: org}
	var hash store.KeyHash
	tn.userKey, hash, _ = apikey.New(store.KeyKindUser)
	k, err := en.store.CreateKey(ctx, org.ID, store.KeyKindUser, hash)
	if err != nil {
		en.t.Fatal(err)
	}
	tn.userID = k.ID
	tn.orgKey, hash, _ = apikey.New(store.KeyKindOrg)
	if _, err := en.store.CreateKey(ctx, org.ID, store.KeyKindOrg, hash); err != nil {
		en.t.Fatal(err)
	}
	return tn
}

func (en *env) job(orgID uuid.UUID, typ store.JobType, steps ...store.Transition) store.Job {
	en.t.Helper()
	job, err := en.store.CreateJob(context.Background(), orgID, typ)
	if err != nil {
		en.t.Fatal(err)
	}
	for _, s := range steps {
		if job, err = en.store.Transition(context.Background(), job.ID, s); err != nil {
			en.t.Fatal(err)
		}
	}
	return job
}

// response is a recorded response with its body decoded loosely.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// documented are the statuses openapi.yaml declares for getJob.
var documented = map[int]bool{200: true, 304: true, 400: true, 401: true, 404: true, 429: true, 500: true}

// do serves req and checks the response against openapi.yaml: documented
// statuses with ValidateResponse, the others (405, 413, unknown routes)
// against the ApiError schema.
func (en *env) do(req *http.Request) response {
	en.t.Helper()
	r, err := en.serve(req)
	if err != nil {
		en.t.Fatal(err)
	}
	return r
}

// serve is do for any goroutine: it returns what is wrong rather than
// failing the test.
func (en *env) serve(req *http.Request) (response, error) {
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	return r, en.validate(req, r)
}

// validate checks a response against openapi.yaml.
func (en *env) validate(req *http.Request, r response) error {
	if req.Method == http.MethodHead {
		// The recorder keeps what a HEAD response would send as its body:
		// it must be what the GET would send.
		req = req.Clone(req.Context())
		req.Method = http.MethodGet
	}
	if ct := r.header.Get("Content-Type"); r.status != http.StatusNotModified && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%s %s: Content-Type = %q; want application/json", req.Method, req.URL, ct)
	}
	if r.header.Get("X-Request-Id") == "" {
		return fmt.Errorf("%s %s: no X-Request-Id header", req.Method, req.URL)
	}
	err := en.v.ValidateResponse(req, r.status, r.header, r.body)
	if errors.Is(err, apispec.ErrNoRoute) || (err == nil && !documented[r.status]) {
		err = en.v.ValidateSchema("ApiError", r.body)
	} else if err != nil && !documented[r.status] {
		err = en.v.ValidateSchema("ApiError", r.body)
	}
	if err != nil {
		return fmt.Errorf("%s %s: response %d %s does not match openapi.yaml: %w", req.Method, req.URL, r.status, r.body, err)
	}
	return nil
}

func get(path string, headers ...string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func jobPath(typ store.JobType, id uuid.UUID) string {
	return "/api/jobs/" + string(typ) + "/" + id.String()
}
