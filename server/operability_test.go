package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

func TestRateLimitPerKey(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t, func(c *server.Config) { c.Rate, c.Burst = 0.5, 3 })
		acme, globex := en.tenant("acme"), en.tenant("globex")
		job := en.job(acme.org.ID, api.JobTypeExportLogs)
		other := en.job(globex.org.ID, api.JobTypeExportLogs)
		for i := 0; i < 3; i++ {
			if r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer())); r.status != 200 {
				t.Fatalf("request %d within the burst: %d", i, r.status)
			}
		}
		r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer()))
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("request over the burst: %d %s; want 429", r.status, r.body)
		}
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 2 {
			t.Fatalf("Retry-After = %q; want 1 or 2 seconds at 0.5 req/s", r.header.Get("Retry-After"))
		}
		if body := r.json(t); body["key"] != "rate_limited" {
			t.Fatalf("429 body = %s", r.body)
		}
		// Limits are per key: the organization key of the same tenant and
		// another tenant's key are unaffected.
		if r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.basic())); r.status != 200 {
			t.Fatalf("another key of the same organization: %d", r.status)
		}
		if r := en.do(get(jobPath(other.Type, other.ID), "Authorization", globex.bearer())); r.status != 200 {
			t.Fatalf("another organization's key: %d", r.status)
		}
	})
}

func TestRateLimitOff(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t), func(c *server.Config) { c.Rate, c.Burst = -1, 1 })
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	for i := 0; i < 20; i++ {
		if r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer())); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
}

// TestRefusalMetrics: polyjobs_rate_limited_total counts the requests
// refused because their key was over its rate, and polyjobs_auth_failures_total
// the refused credentials; neither counts an address's failed
// authentications nor the control API's injected faults.
func TestRefusalMetrics(t *testing.T) {
	s := storeFactories["sqlite"](t)
	m := server.NewMetrics()
	en := newEnv(t, s, func(c *server.Config) {
		c.Metrics, c.Control = m, &control.Options{}
		c.Rate, c.Burst = 0.001, 2
		c.AuthFailureRate, c.AuthFailureBurst = 0.001, 1
	})
	acme, globex := en.tenant("acme"), en.tenant("globex")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	globexJob := en.job(globex.org.ID, api.JobTypeExportLogs)
	for _, status := range []int{401, 429} {
		body := fmt.Sprintf(`{"key_id":%q,"status":%d}`, globex.userID, status)
		req := httptest.NewRequest(http.MethodPost, control.Prefix+"/faults", strings.NewReader(body))
		req.Host, req.RemoteAddr = "127.0.0.1", "127.0.0.1:1234"
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		en.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("inject a %d: %d %s", status, rec.Code, rec.Body)
		}
	}
	from := func(addr string, req *http.Request) *http.Request { req.RemoteAddr = addr + ":1234"; return req }
	for _, step := range []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"injected 401", get(jobPath(globexJob.Type, globexJob.ID), "Authorization", globex.bearer()), 401},
		{"injected 429", get(jobPath(globexJob.Type, globexJob.ID), "Authorization", globex.bearer()), 429},
		{"the key's first token", get(jobPath(job.Type, job.ID), "Authorization", acme.bearer()), 200},
		{"the key's second token", get(jobPath(job.Type, job.ID), "Authorization", acme.bearer()), 200},
		{"the key over its rate", get(jobPath(job.Type, job.ID), "Authorization", acme.bearer()), 429},
		{"an unknown key", from("192.0.2.7", get(jobPath(job.Type, job.ID), "Authorization", "Bearer "+strings.Repeat("x", 10))), 401},
		{"the address over its failures", from("192.0.2.7", get(jobPath(job.Type, job.ID), "Authorization", acme.bearer())), 429},
	} {
		if r := en.do(step.req); r.status != step.status {
			t.Fatalf("%s: %d %s; want %d", step.name, r.status, r.body, step.status)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Host = "127.0.0.1:9090"
	server.AdminHandler(server.AdminConfig{Store: s, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).ServeHTTP(rec, req)
	for _, want := range []string{"polyjobs_rate_limited_total 1\n", "polyjobs_auth_failures_total 1\n"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", strings.TrimSpace(want), rec.Body)
		}
	}
}

// TestAdminWhileTheStoreOpens: behind a StoreGate, /healthz answers
// throughout, and /readyz says starting until the store is open, and
// stopping once the server stops, without touching the closed store.
func TestAdminWhileTheStoreOpens(t *testing.T) {
	gate := &server.StoreGate{}
	admin := server.AdminHandler(server.AdminConfig{Store: gate, Metrics: server.NewMetrics()})
	call := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := call("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while starting: %d %s", code, body)
	}
	if code, body := call("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"reason":"starting: opening the database"`) {
		t.Fatalf("/readyz while starting: %d %s", code, body)
	}
	st := storeFactories["sqlite"](t)
	gate.Open(st)
	if code, body := call("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz once open: %d %s", code, body)
	}
	gate.Stop()
	st.Close()
	if code, body := call("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"reason":"stopping"`) {
		t.Fatalf("/readyz once stopping: %d %s", code, body)
	}
	if code, body := call("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz once stopping: %d %s", code, body)
	}
}

func TestAdminEndpointsAndMetrics(t *testing.T) {
	s := storeFactories["sqlite"](t)
	m := server.NewMetrics()
	en := newEnv(t, s, func(c *server.Config) { c.Metrics = m })
	admin := server.AdminHandler(server.AdminConfig{Store: s, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	acme := en.tenant("acme")
	done := en.job(acme.org.ID, api.JobTypeExportLogs, store.Finish(nil))
	running := en.job(acme.org.ID, api.JobTypeSampleModel, store.Start())
	en.do(get(jobPath(done.Type, done.ID), "Authorization", acme.bearer()))
	en.do(get(jobPath(done.Type, done.ID), "Authorization", acme.bearer()))
	en.do(get(jobPath(running.Type, running.ID), "Authorization", acme.bearer()))
	en.do(get(jobPath(running.Type, running.ID)))
	// Nothing was committed since the running job was read: SQLite's change
	// token lets this poll be answered from memory, and it is no database call.
	en.do(get(jobPath(running.Type, running.ID), "Authorization", acme.bearer()))
	en.do(get("/nope"))

	call := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = "127.0.0.1:9090"
		admin.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, body := call("/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	if code, body := call("/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	code, metrics := call("/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`polyjobs_http_requests_total{code="200",route="/api/jobs/{type}/{id}"} 4`,
		`polyjobs_http_requests_total{code="401",route="/api/jobs/{type}/{id}"} 1`,
		`polyjobs_http_requests_total{code="404",route="other"} 1`,
		`polyjobs_auth_failures_total 1`,
		`polyjobs_jobs_polled_total{status="done"} 2`,
		`polyjobs_jobs_polled_total{status="running"} 2`,
		`polyjobs_http_request_duration_seconds_count{route="/api/jobs/{type}/{id}"} 5`,
		`polyjobs_store_duration_seconds_count{op="job"} 2`, // one read of each job; the other polls are answered from memory
		`polyjobs_store_duration_seconds_count{op="key"} 1`, // the key is cached after its first use
		`polyjobs_rate_limited_total 0`,
		`polyjobs_validation_memo_hits_total 3`, // the later polls of each path (one unauthenticated)
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, acme.userKey) {
		t.Fatal("a key appears in the metrics")
	}
	if code, _ := call("/debug/pprof/cmdline"); code != http.StatusNotFound {
		t.Fatalf("/debug/pprof/cmdline without AdminConfig.Pprof = %d; want 404", code)
	}
	s.Close()
	if code, body := call("/readyz"); code != 503 || strings.Contains(body, "sql") {
		t.Fatalf("/readyz with the store closed = %d %s; want 503 without internals", code, body)
	}
}

// TestLogsNeverContainKeyMaterial sends every kind of request with real and
// broken credentials and checks that no log line holds any of them.
func TestLogsNeverContainKeyMaterial(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t), func(c *server.Config) { c.Rate, c.Burst = 1, 1 })
	acme, globex := en.tenant("acme"), en.tenant("globex")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	path := jobPath(job.Type, job.ID)
	auths := []string{
		acme.bearer(), acme.basic(), globex.bearer(), globex.basic(),
		"Bearer " + acme.orgKey, basicAuth(globex.org.ID.String(), acme.orgKey), basicAuth(acme.org.ID.String(), acme.userKey),
		"Bearer " + acme.userKey[:len(acme.userKey)-1] + "x", "Token " + acme.userKey, "Basic " + acme.orgKey,
	}
	for _, a := range auths {
		for _, p := range []string{path, "/api/jobs/nope/" + job.ID.String(), "/api/jobs/exportlogs/x", "/elsewhere"} {
			en.do(get(p, "Authorization", a, "X-Request-Id", "req-1"))
		}
	}
	logs := en.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, "authentication failed") {
		t.Fatalf("the test expects access and auth-failure log lines:\n%s", logs)
	}
	for _, secret := range []string{acme.userKey, acme.orgKey, globex.userKey, globex.orgKey} {
		body := secret[len("pju_"):]
		for _, leak := range []string{body, body[:20], body[len(body)-20:]} {
			if strings.Contains(logs, leak) {
				t.Fatalf("the logs contain key material %q", leak)
			}
		}
	}
	for _, a := range auths {
		if strings.Contains(logs, strings.TrimPrefix(strings.TrimPrefix(a, "Basic "), "Bearer ")) {
			t.Fatalf("the logs contain credentials %q", a)
		}
	}
}

// TestFailedAuthenticationsLimitedPerAddress: past its burst of failed
// authentications, an address waits, answered 429 before any key is looked
// up; another address, and the limit's end, are unaffected.
func TestFailedAuthenticationsLimitedPerAddress(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		m := server.NewMetrics()
		en := s.env(t, func(c *server.Config) { c.AuthFailureRate, c.AuthFailureBurst, c.Metrics = 1, 5, m })
		acme := en.tenant("acme")
		job := en.job(acme.org.ID, api.JobTypeExportLogs)
		unknown, _, _ := apikey.New(store.KeyKindUser)
		from := func(addr, auth string) response {
			req := get(jobPath(job.Type, job.ID), "Authorization", auth)
			req.RemoteAddr = addr
			return en.do(req)
		}
		const attacker, other = "203.0.113.7:40000", "198.51.100.2:40000"
		for i := range 5 {
			if r := from(attacker, "Bearer "+unknown); r.status != http.StatusUnauthorized {
				t.Fatalf("failure %d within the burst: %d", i+1, r.status)
			}
		}
		lookups := counterValue(t, m, "polyjobs_store_duration_seconds")
		r := from(attacker, "Bearer "+unknown)
		if r.status != http.StatusTooManyRequests || r.json(t)["key"] != "rate_limited" {
			t.Fatalf("past the burst: %d %s; want 429 rate_limited", r.status, r.body)
		}
		if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
			t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
		}
		// Even good credentials wait: the limit is the address's.
		if r := from(attacker, acme.bearer()); r.status != http.StatusTooManyRequests {
			t.Fatalf("good key from the limited address: %d", r.status)
		}
		if got := counterValue(t, m, "polyjobs_store_duration_seconds"); got != lookups {
			t.Fatalf("refused requests reached the store: %v lookups, then %v", lookups, got)
		}
		if r := from(other, acme.bearer()); r.status != http.StatusOK {
			t.Fatalf("another address: %d", r.status)
		}
		time.Sleep(1100 * time.Millisecond) // one token back at 1/s
		if r := from(attacker, acme.bearer()); r.status != http.StatusOK {
			t.Fatalf("after waiting: %d %s", r.status, r.body)
		}
	})
}

// TestAdminToken: with a token, metrics and profiles need it; health and
// readiness stay open for load balancers.
func TestAdminToken(t *testing.T) {
	s := storeFactories["sqlite"](t)
	t.Cleanup(func() { s.Close() })
	admin := server.AdminHandler(server.AdminConfig{Store: s, Metrics: server.NewMetrics(), Token: "s3cret", Pprof: true})
	call := func(path string, auth ...string) int {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, a := range auth {
			req.Header.Add("Authorization", a)
		}
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tc := range []struct {
		path string
		auth []string
		want int
	}{
		{"/healthz", nil, 200},
		{"/readyz", nil, 200},
		{"/metrics", nil, 401},
		{"/metrics", []string{"Bearer wrong"}, 401},
		{"/metrics", []string{"Basic czNjcmV0"}, 401},
		{"/metrics", []string{"Bearer s3cret", "Bearer s3cret"}, 401},
		{"/metrics", []string{"Bearer s3cret"}, 200},
		{"/debug/pprof/cmdline", nil, 401},
		{"/debug/pprof/cmdline", []string{"Bearer s3cret"}, 200},
	} {
		if got := call(tc.path, tc.auth...); got != tc.want {
			t.Errorf("%s with %q: %d; want %d", tc.path, tc.auth, got, tc.want)
		}
	}
}

// TestAdminWithoutTokenAnswersDirectHosts: without a token, metrics and
// profiles answer only requests addressed by IP address or as localhost,
// which a page rebinding its own name to the server's address cannot send;
// health and readiness answer any.
func TestAdminWithoutTokenAnswersDirectHosts(t *testing.T) {
	s := storeFactories["sqlite"](t)
	t.Cleanup(func() { s.Close() })
	admin := server.AdminHandler(server.AdminConfig{Store: s, Metrics: server.NewMetrics(), Pprof: true})
	for _, tc := range []struct {
		path, host string
		want       int
	}{
		{"/metrics", "127.0.0.1:9090", 200},
		{"/metrics", "localhost:9090", 200},
		{"/metrics", "[::1]:9090", 200},
		{"/metrics", "10.0.0.5:9090", 200},
		{"/metrics", "rebound.example:9090", 403},
		{"/debug/pprof/cmdline", "127.0.0.1:9090", 200},
		{"/debug/pprof/cmdline", "rebound.example:9090", 403},
		{"/healthz", "rebound.example:9090", 200},
		{"/readyz", "rebound.example:9090", 200},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s with Host %s: %d; want %d", tc.path, tc.host, rec.Code, tc.want)
		}
	}
}

// TestReadyzNoticesAReplacedDatabase: a SQLite file deleted or replaced under
// the server makes it unready, and the log says why.
func TestReadyzNoticesAReplacedDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "polyjobs.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	logs := &syncbuf.Buffer{}
	admin := server.AdminHandler(server.AdminConfig{Store: s, Metrics: server.NewMetrics(), Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	ready := func() int {
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	if code := ready(); code != 200 {
		t.Fatalf("/readyz = %d", code)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if code := ready(); code != http.StatusServiceUnavailable || !strings.Contains(logs.String(), "was deleted") {
		t.Fatalf("/readyz after the file was deleted = %d; log:\n%s", code, logs)
	}
}
