package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/internal/proctest"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
)

// TestMain stops the PostgreSQL server pgserver may start for these tests.
func TestMain(m *testing.M) { pgserver.Main(m) }

// Bounds of the harness. None is a performance assertion: each only keeps a
// broken test from hanging.
const (
	// stopTimeout bounds a graceful shutdown after SIGTERM (the server's
	// default --shutdown-grace is 10 s).
	stopTimeout = 20 * time.Second
	// adminTimeout bounds one admin command.
	adminTimeout = 60 * time.Second
	// requestTimeout bounds one HTTP request.
	requestTimeout = 10 * time.Second
)

// raceEnabled is set by race_test.go when the tests run with -race.
var raceEnabled bool

// polyjobsBinary returns the path of the polyjobs binary, with the race
// detector or not, built once per setting. The serve processes run it with
// raceEnabled, so that the servers are checked when the tests run with -race.
// The admin commands always run a build without it: a race-enabled process
// takes over a second to start, and the tests run about a hundred short admin
// commands: that would make them slow, for a detector that has little to find
// in a one-goroutine command.
func polyjobsBinary(t testing.TB, race bool) string {
	t.Helper()
	bin, err := proctest.Polyjobs(race)
	if err != nil {
		t.Fatalf("build polyjobs: %v", err)
	}
	return bin
}

// replica is one `polyjobs serve` process.
type replica struct {
	// URL() is the API's base URL; AdminURL() that of /healthz, /readyz
	// and /metrics.
	*proctest.Server
	name string
	log  *syncbuf.Buffer // stdout and stderr
}

// startReplica starts `polyjobs serve` on dsn with free loopback ports and
// the extra flags, and waits until its /readyz answers 200. The process is
// killed when t ends if it still runs; its output is logged if t failed.
func startReplica(t *testing.T, name, dsn string, flags ...string) *replica {
	t.Helper()
	r, err := launchReplica(polyjobsBinary(t, raceEnabled), name, dsn, flags)
	if r != nil {
		r.cleanupWith(t)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startReplicas starts n replicas at once, as a deployment would, so that
// their migrations race.
func startReplicas(t *testing.T, prefix, dsn string, n int, flags ...string) []*replica {
	t.Helper()
	bin := polyjobsBinary(t, raceEnabled)
	rs := make([]*replica, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { rs[i], errs[i] = launchReplica(bin, fmt.Sprintf("%s%d", prefix, i), dsn, flags) })
	}
	wg.Wait()
	for _, r := range rs {
		if r != nil {
			r.cleanupWith(t)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return rs
}

// launchReplica starts a replica logging JSON. On error the replica
// returned, if any, holds the output and has exited.
func launchReplica(bin, name, dsn string, flags []string) (*replica, error) {
	r := &replica{name: name, log: &syncbuf.Buffer{}}
	srv, err := proctest.Serve(context.Background(), proctest.ServeSpec{
		Name: name, Binary: bin, DB: dsn, Flags: append([]string{"--log-format", "json"}, flags...), Output: r.log,
	})
	if srv == nil {
		return nil, err
	}
	r.Server = srv
	return r, err
}

// cleanupWith kills the process when t ends, and logs its output if t failed.
func (r *replica) cleanupWith(t *testing.T) {
	t.Cleanup(func() {
		r.Kill()
		if t.Failed() {
			t.Logf("--- output of %s (%s, admin %s):\n%s", r.name, r.URL(), r.AdminURL(), r.log)
		}
	})
}

// stop sends SIGTERM and expects a graceful exit with code 0.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if err := r.Stop(stopTimeout); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.log.String(), `"msg":"stopped"`) {
		t.Errorf("%s exited 0 without logging that it stopped", r.name)
	}
}

// logLines returns the JSON log lines of the process at or above level
// ("WARN", "ERROR").
func (r *replica) logLines(level string) []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(r.log.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Level == level {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

// adminResult is what an admin command did.
type adminResult = proctest.AdminResult

// runAdmin runs `polyjobs admin --db dsn args...` and reports its exit code
// and output. A process that cannot be run at all, or is killed, gives code -1.
func runAdmin(bin, dsn string, args ...string) adminResult {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	return proctest.Admin(ctx, bin, dsn, args...)
}

// admin runs an admin command that must succeed quietly and returns its
// stdout, trimmed.
func admin(t *testing.T, dsn string, args ...string) string {
	t.Helper()
	res := runAdmin(polyjobsBinary(t, false), dsn, args...)
	if res.Code != 0 || res.Stderr != "" {
		t.Fatalf("polyjobs admin %s: exit %d, stderr %q", strings.Join(args, " "), res.Code, res.Stderr)
	}
	return strings.TrimSpace(res.Stdout)
}

// tenant is an organization with a user key and an organization key, made
// through the admin commands.
type tenant struct {
	orgID   string
	userKey string
	orgKey  string
}

func newTenant(t *testing.T, dsn, name string) tenant {
	t.Helper()
	org := admin(t, dsn, "org", "create", name)
	return tenant{
		orgID:   org,
		userKey: admin(t, dsn, "key", "create", "--org", name),
		orgKey:  admin(t, dsn, "key", "create", "--org", org, "--kind", "org"),
	}
}

// cred sets a request's credentials.
type cred struct {
	name  string
	apply func(*http.Request)
}

func (tn tenant) bearer() cred {
	return cred{"bearer user key", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tn.userKey) }}
}

func (tn tenant) basic() cred {
	return cred{"basic org key", func(r *http.Request) { r.SetBasicAuth(tn.orgID, tn.orgKey) }}
}

func (tn tenant) creds() []cred { return []cred{tn.bearer(), tn.basic()} }

// apiClient makes requests and validates every response against openapi.yaml.
type apiClient struct {
	t    *testing.T
	v    *apispec.Validator
	http *http.Client
}

func newAPIClient(t *testing.T) *apiClient {
	t.Helper()
	v, err := apispec.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, v: v, http: &http.Client{Timeout: requestTimeout}}
}

// response is an API response, already validated.
type response struct {
	status int
	header http.Header
	body   []byte
}

// getJob asks r for a job. A transport failure or a response the spec does
// not allow fails the test.
func (c *apiClient) getJob(r *replica, cr cred, typ, id string) response {
	c.t.Helper()
	resp, err := c.tryGetJob(c.http, r, cr, typ, id, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// tryGetJob asks r for a job through client, with the extra headers, and
// returns a transport failure or a response the spec does not allow as an
// error.
func (c *apiClient) tryGetJob(client *http.Client, r *replica, cr cred, typ, id string, header http.Header) (response, error) {
	url := fmt.Sprintf("%s/api/jobs/%s/%s", r.URL(), typ, id)
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return response{}, err
	}
	cr.apply(req)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s: GET %s: %w", r.name, url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return response{}, fmt.Errorf("%s: GET %s: read body: %w", r.name, url, err)
	}
	if err := c.v.ValidateResponse(req, resp.StatusCode, resp.Header, body); err != nil {
		return response{}, fmt.Errorf("%s: GET %s (%s): %d response does not match openapi.yaml: %v\n%s",
			r.name, url, cr.name, resp.StatusCode, err, body)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// jobState is what the API says of a job. Result is JSON ("" for null);
// Error is "" for null.
type jobState struct {
	Status string
	Result string
	Error  string
}

func (s jobState) terminal() bool { return s.Status == "done" || s.Status == "failed" }

// decodeJob decodes a 200 body of the job id and type.
func decodeJob(body []byte, typ, id string) (jobState, error) {
	var env struct {
		Data struct {
			JobID  string          `json:"job_id"`
			Type   string          `json:"type"`
			Status string          `json:"status"`
			Result json.RawMessage `json:"result"`
			Error  *string         `json:"error"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return jobState{}, err
	}
	d := env.Data
	if d.JobID != id || d.Type != typ {
		return jobState{}, fmt.Errorf("job_id %q type %q; want %q %q", d.JobID, d.Type, id, typ)
	}
	s := jobState{Status: d.Status}
	if r := strings.TrimSpace(string(d.Result)); r != "" && r != "null" {
		s.Result = r
	}
	if d.Error != nil {
		s.Error = *d.Error
	}
	return s, nil
}

// sameState compares job states, results as JSON values.
func sameState(got, want jobState) bool {
	if got.Status != want.Status || got.Error != want.Error || (got.Result == "") != (want.Result == "") {
		return false
	}
	if got.Result == "" {
		return true
	}
	var g, w any
	if json.Unmarshal([]byte(got.Result), &g) != nil || json.Unmarshal([]byte(want.Result), &w) != nil {
		return false
	}
	return reflect.DeepEqual(g, w)
}

// expectJob asks r for a job, once, and fails the test unless the answer is
// 200 with the wanted state, and Retry-After exactly while it is not terminal.
func (c *apiClient) expectJob(r *replica, cr cred, typ, id string, want jobState) {
	c.t.Helper()
	resp := c.getJob(r, cr, typ, id)
	if resp.status != http.StatusOK {
		c.t.Errorf("%s (%s): job %s/%s: %d %s; want 200 %s", r.name, cr.name, typ, id, resp.status, resp.body, want.Status)
		return
	}
	got, err := decodeJob(resp.body, typ, id)
	if err != nil {
		c.t.Errorf("%s (%s): job %s/%s: %v in %s", r.name, cr.name, typ, id, err, resp.body)
		return
	}
	if !sameState(got, want) {
		c.t.Errorf("%s (%s): job %s/%s is %+v; want %+v", r.name, cr.name, typ, id, got, want)
	}
	if hint := resp.header.Get("Retry-After"); (hint != "") == want.terminal() {
		c.t.Errorf("%s (%s): job %s/%s %s with Retry-After %q", r.name, cr.name, typ, id, got.Status, hint)
	}
}

// expectStatus asks r for a job, once, and fails the test unless the answer
// has the given status; it returns the response.
func (c *apiClient) expectStatus(r *replica, cr cred, typ, id string, status int) response {
	c.t.Helper()
	resp := c.getJob(r, cr, typ, id)
	if resp.status != status {
		c.t.Errorf("%s (%s): job %s/%s: %d %s; want %d", r.name, cr.name, typ, id, resp.status, resp.body, status)
	}
	return resp
}

// adminGet does a GET on r's admin listener and returns the status and body.
func (c *apiClient) adminGet(r *replica, path string) (int, string) {
	c.t.Helper()
	resp, err := c.http.Get(r.AdminURL() + path)
	if err != nil {
		c.t.Fatalf("%s: GET %s: %v", r.name, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
