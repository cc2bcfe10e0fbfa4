package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/pgserver"
)

// TestMain stops the PostgreSQL server pgserver may start for these tests.
func TestMain(m *testing.M) { pgserver.Main(m) }

// Bounds of the harness. None is a performance assertion: each only keeps a
// broken test from hanging.
const (
	// readyTimeout bounds how long a serve process may take to answer /readyz.
	readyTimeout = 30 * time.Second
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

// build is one build of the polyjobs binary, done once per test binary.
type build struct {
	once sync.Once
	path string
	err  error
}

var (
	serverBuild, adminBuild build
	// outDir is where the binaries go (see binaryDir).
	outDir struct {
		once sync.Once
		path string
		err  error
	}
)

// serverBinary returns the path of the polyjobs binary the serve processes
// run, building it on first use: with the race detector when the tests run
// with -race, so that the servers are checked too.
func serverBinary(t testing.TB) string {
	t.Helper()
	return serverBuild.get(t, "polyjobs", raceEnabled)
}

// adminBinary returns the path of the polyjobs binary the admin commands run:
// the server binary, except under -race, where it is a build without the
// race detector. A race-enabled process takes over a second to start, and the
// tests run about a hundred short admin commands: that would make them slow,
// for a detector that has little to find in a one-goroutine command.
func adminBinary(t testing.TB) string {
	t.Helper()
	if !raceEnabled {
		return serverBinary(t)
	}
	return adminBuild.get(t, "polyjobs-norace", false)
}

func (b *build) get(t testing.TB, name string, race bool) string {
	t.Helper()
	b.once.Do(func() { b.path, b.err = buildBinary(name, race) })
	if b.err != nil {
		t.Fatalf("build polyjobs: %v", b.err)
	}
	return b.path
}

// buildBinary runs go build -o DIR/name ./cmd/polyjobs in the module's root.
func buildBinary(name string, race bool) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	outDir.once.Do(func() { outDir.path, outDir.err = binaryDir() })
	if outDir.err != nil {
		return "", outDir.err
	}
	out := filepath.Join(outDir.path, name)
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool(), append(args, "./cmd/polyjobs")...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s ./cmd/polyjobs in %s: %w\n%s", strings.Join(args, " "), root, err, b)
	}
	return out, nil
}

// binaryDir is where the binaries go: beside the test binary when go test
// built it in its work directory, which go test removes afterwards; otherwise
// (go test -c, -o) a temporary directory that pgserver.Main's os.Exit leaves
// behind, said so on stderr.
func binaryDir() (string, error) {
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		if strings.Contains(dir, "go-build") && strings.HasPrefix(dir, os.TempDir()) {
			return dir, nil
		}
	}
	dir, err := os.MkdirTemp("", "polyjobs-e2e-")
	if err == nil {
		fmt.Fprintf(os.Stderr, "e2e: the polyjobs binaries are built in %s, which is left behind\n", dir)
	}
	return dir, err
}

// moduleRoot walks up from the working directory to the go.mod of
// github.com/polyjobs/polyjobs.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		first, _, _ := strings.Cut(string(b), "\n")
		if err == nil && strings.TrimSpace(first) == "module github.com/polyjobs/polyjobs" {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/polyjobs/polyjobs above the working directory")
		}
		dir = parent
	}
}

// goTool is the go command: go test puts the go command that runs the tests
// first on the test binary's PATH.
func goTool() string { return "go" }

// processEnv is our environment without POLYJOBS_* variables, so that the
// processes see only the flags the tests give them.
func processEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POLYJOBS_") {
			env = append(env, kv)
		}
	}
	return env
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// replica is one `polyjobs serve` process.
type replica struct {
	name     string
	apiURL   string // http://127.0.0.1:PORT
	adminURL string // http://127.0.0.1:PORT of /healthz, /readyz, /metrics
	cmd      *exec.Cmd
	log      *lockedBuffer // stdout and stderr
	exited   chan struct{} // closed once the process has exited
	waitErr  error         // the process's exit status, once exited is closed
}

// errPortTaken means a port picked as free was taken before the server bound it.
var errPortTaken = errors.New("address already in use")

// startReplica starts `polyjobs serve` on dsn with free loopback ports and
// the extra flags, and waits until its /readyz answers 200. The process is
// killed when t ends if it still runs; its output is logged if t failed.
func startReplica(t *testing.T, name, dsn string, flags ...string) *replica {
	t.Helper()
	r, err := launchReplica(serverBinary(t), name, dsn, flags)
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
	bin := serverBinary(t)
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

// launchReplica starts a replica, retrying with other ports when the ones it
// picked were taken meanwhile. On error the replica returned, if any, holds
// the output of the last attempt and has exited.
func launchReplica(bin, name, dsn string, flags []string) (*replica, error) {
	var r *replica
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		r, err = launchOnce(bin, name, dsn, flags)
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return r, err
}

func launchOnce(bin, name, dsn string, flags []string) (*replica, error) {
	apiPort, err := pgserver.FreePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := pgserver.FreePort()
	if err != nil {
		return nil, err
	}
	apiAddr, admin := fmt.Sprintf("127.0.0.1:%d", apiPort), fmt.Sprintf("127.0.0.1:%d", adminPort)
	args := append([]string{"serve", "--addr", apiAddr, "--admin-addr", admin, "--db", dsn, "--log-format", "json"}, flags...)
	r := &replica{
		name: name, apiURL: "http://" + apiAddr, adminURL: "http://" + admin,
		log: &lockedBuffer{}, exited: make(chan struct{}),
	}
	r.cmd = exec.Command(bin, args...)
	r.cmd.Env = processEnv()
	r.cmd.Stdout = r.log
	r.cmd.Stderr = r.log
	r.cmd.SysProcAttr = serverProcAttr()
	started := make(chan error, 1)
	go func() {
		// Fork from a thread that lives as long as the process (see
		// serverProcAttr): lock it and return only once the process has exited.
		runtime.LockOSThread()
		if err := r.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	if err := r.waitReady(); err != nil {
		r.kill()
		if strings.Contains(r.log.String(), "address already in use") {
			return r, fmt.Errorf("%s: %w", name, errPortTaken)
		}
		return r, fmt.Errorf("%s: %w; its output:\n%s", name, err, r.log)
	}
	return r, nil
}

// waitReady polls /readyz until it answers 200, the process exits, or
// readyTimeout passes.
func (r *replica) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	client := &http.Client{Timeout: time.Second}
	var last string
	for {
		resp, err := client.Get(r.adminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not 200 after %v (last: %s)", readyTimeout, last)
		}
		select {
		case <-r.exited:
			return fmt.Errorf("exited before it was ready: %v", r.waitErr)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// cleanupWith kills the process when t ends, and logs its output if t failed.
func (r *replica) cleanupWith(t *testing.T) {
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("--- output of %s (%s, admin %s):\n%s", r.name, r.apiURL, r.adminURL, r.log)
		}
	})
}

// alive reports whether the process is still running.
func (r *replica) alive() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// kill kills the process if it runs and waits until it has exited.
func (r *replica) kill() {
	if r.alive() {
		_ = r.cmd.Process.Kill()
	}
	<-r.exited
}

// stop sends SIGTERM and expects a graceful exit with code 0.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if !r.alive() {
		t.Fatalf("%s exited before it was stopped: %v", r.name, r.waitErr)
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", r.name, err)
	}
	select {
	case <-r.exited:
	case <-time.After(stopTimeout):
		r.kill()
		t.Fatalf("%s still running %v after SIGTERM; killed", r.name, stopTimeout)
	}
	if r.waitErr != nil {
		t.Fatalf("%s exited with %v after SIGTERM; want exit code 0", r.name, r.waitErr)
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
type adminResult struct {
	code           int
	stdout, stderr string
}

// runAdmin runs `polyjobs admin --db dsn args...` and reports its exit code
// and output. A process that cannot be run at all, or is killed, gives code -1.
func runAdmin(bin, dsn string, args ...string) adminResult {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"admin", "--db", dsn}, args...)...)
	cmd.Env = processEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := adminResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		res.code = -1
		res.stderr += err.Error()
	}
	return res
}

// admin runs an admin command that must succeed quietly and returns its
// stdout, trimmed.
func admin(t *testing.T, dsn string, args ...string) string {
	t.Helper()
	res := runAdmin(adminBinary(t), dsn, args...)
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("polyjobs admin %s: exit %d, stderr %q", strings.Join(args, " "), res.code, res.stderr)
	}
	return strings.TrimSpace(res.stdout)
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
	resp, err := c.tryGetJob(r, cr, typ, id)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// tryGetJob is getJob returning its failure.
func (c *apiClient) tryGetJob(r *replica, cr cred, typ, id string) (response, error) {
	url := fmt.Sprintf("%s/api/jobs/%s/%s", r.apiURL, typ, id)
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return response{}, err
	}
	cr.apply(req)
	resp, err := c.http.Do(req)
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
	resp, err := c.http.Get(r.adminURL + path)
	if err != nil {
		c.t.Fatalf("%s: GET %s: %v", r.name, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
