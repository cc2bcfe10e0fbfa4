package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/internal/proctest"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
)

// recoverTimeout bounds how long a replica may take to serve again once
// PostgreSQL is back.
const recoverTimeout = 15 * time.Second

// TestDatabaseOutage stops PostgreSQL under a running replica: requests that
// need the database get a JSON 500 that names a request id and nothing
// internal, a terminal job already cached is still served, /readyz says 503
// and /healthz 200, and the process keeps running. Once PostgreSQL is back
// the replica recovers by itself.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	pg := pgserver.StartServer(t)
	// The throwaway server trusts every connection, so a password in the URL is
	// accepted and ignored: it must never show up in any output.
	dsn := withPassword(t, pg.DSN(t), password)
	// Long cache lifetimes, so that what was cached before the outage is
	// still cached during it, however slow the machine.
	r := startReplica(t, "replica", dsn, "--key-cache-ttl", "10m", "--job-cache-ttl", "10m", "--rate", "-1")
	c := newAPIClient(t)
	acme := newTenant(t, dsn, "acme")
	bearer := acme.bearer()

	running := admin(t, dsn, "job", "create", "--org", "acme", "--type", "exportlogs")
	admin(t, dsn, "job", "start", running)
	done := admin(t, dsn, "job", "create", "--org", "acme", "--type", "samplemodel")
	doneState := jobState{Status: "done", Result: `{"records":[],"warnings":["empty table"]}`}
	admin(t, dsn, "job", "finish", done, "--result", doneState.Result)
	c.expectJob(r, bearer, "exportlogs", running, jobState{Status: "running"})
	c.expectJob(r, bearer, "samplemodel", done, doneState) // now cached, with the key
	if code, body := c.adminGet(r, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d %s", code, body)
	}
	if t.Failed() {
		t.FailNow()
	}

	if err := pg.Stop(); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	t.Logf("PostgreSQL stopped")

	// A terminal job polled before the outage is served from the cache.
	c.expectJob(r, bearer, "samplemodel", done, doneState)

	// A job that is not terminal needs the database: a 500, whether the key
	// is cached (bearer) or must be looked up (the org key, never used yet:
	// an outage must not pass for bad credentials).
	forbidden := []string{"postgres", "pgx", "pgconn", "dial", "connect", "refused", "sqlstate", "127.0.0.1",
		fmt.Sprint(pg.Port()), dbName(t, dsn), "panic", "goroutine", ".go:"}
	for _, cr := range []struct {
		cred
		what string
	}{{bearer, "cached key"}, {acme.basic(), "uncached key"}, {bearer, "cached key, again"}} {
		resp := c.expectStatus(r, cr.cred, "exportlogs", running, http.StatusInternalServerError)
		if resp.status != http.StatusInternalServerError {
			continue
		}
		checkServerError(t, cr.what, resp, forbidden)
	}
	if !r.Running() {
		t.Fatalf("the replica exited during the outage: %v", r.Err())
	}
	if code, body := c.adminGet(r, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d %s; want 503", code, body)
	} else if strings.Contains(strings.ToLower(body), "postgres") || strings.Contains(body, dbName(t, dsn)) {
		t.Errorf("/readyz reveals internals: %s", body)
	}
	if code, body := c.adminGet(r, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz during the outage: %d %s; want 200", code, body)
	}

	// The admin command fails cleanly too: exit 1, one line on stderr.
	res := runAdmin(polyjobsBinary(t, false), dsn, "job", "finish", running)
	if res.Code != 1 || res.Stdout != "" || strings.Count(strings.TrimRight(res.Stderr, "\n"), "\n") != 0 ||
		strings.Contains(res.Stderr, password) {
		t.Errorf("admin job finish during the outage: exit %d, stdout %q, stderr %q; want exit 1 and one line without the password",
			res.Code, res.Stdout, res.Stderr)
	}
	// A replica that starts during the outage waits for the database, saying
	// so, as a replica in an orchestrator should.
	late := serveDuringOutage(t, dsn)

	if err := pg.Start(); err != nil {
		t.Fatalf("start PostgreSQL again: %v", err)
	}
	back := time.Now()
	t.Logf("PostgreSQL started again")

	// The replica recovers by itself.
	var last response
	for deadline := back.Add(recoverTimeout); ; time.Sleep(50 * time.Millisecond) {
		last = c.getJob(r, bearer, "exportlogs", running)
		if last.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 200 within %v of PostgreSQL's restart; last: %d %s", recoverTimeout, last.status, last.body)
		}
	}
	t.Logf("API served the job again %v after PostgreSQL restarted", time.Since(back).Round(time.Millisecond))
	for deadline := back.Add(recoverTimeout); ; time.Sleep(50 * time.Millisecond) {
		code, body := c.adminGet(r, "/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within %v of PostgreSQL's restart; last: %d %s", recoverTimeout, code, body)
		}
	}
	t.Logf("/readyz 200 again %v after PostgreSQL restarted", time.Since(back).Round(time.Millisecond))

	// Everything is as it was, and the next change is served at once.
	c.expectJob(r, bearer, "exportlogs", running, jobState{Status: "running"})
	c.expectJob(r, acme.basic(), "exportlogs", running, jobState{Status: "running"})
	c.expectJob(r, bearer, "samplemodel", done, doneState)
	admin(t, dsn, "job", "fail", running, "--error", "the export was interrupted")
	c.expectJob(r, bearer, "exportlogs", running, jobState{Status: "failed", Error: "the export was interrupted"})
	late.serves(t)
	r.stop(t)
	if strings.Contains(r.log.String(), password) {
		t.Errorf("the replica logged the database password")
	}
	if len(r.logLines("ERROR")) == 0 {
		t.Errorf("the replica logged no error for the 500s of the outage")
	}
}

// password is the database password of TestDatabaseOutage.
const password = "pj-secret-8f3a"

// withPassword puts a password in a postgres:// URL.
func withPassword(t *testing.T, dsn, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// lateReplica is a `polyjobs serve` started while the database was down.
type lateReplica struct {
	proctest.Server
	log *syncbuf.Buffer // stdout and stderr
}

// serveDuringOutage starts `polyjobs serve` on an unreachable database and
// checks that it waits, saying so without the password, and does not listen.
func serveDuringOutage(t *testing.T, dsn string) *lateReplica {
	t.Helper()
	ports, err := proctest.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	l := &lateReplica{Server: proctest.Server{API: ports[0], Admin: ports[1]}, log: &syncbuf.Buffer{}}
	l.Process, err = proctest.Start(proctest.Spec{
		Name:   "the late replica",
		Argv:   []string{polyjobsBinary(t, raceEnabled), "serve", "--addr", l.API, "--admin-addr", l.Admin, "--db", dsn},
		Output: l.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Kill)
	deadline := time.Now().Add(proctest.ReadyTimeout)
	for !strings.Contains(l.log.String(), "still opening the database") {
		select {
		case <-l.Exited():
			t.Fatalf("serve during the outage exited (%v) rather than wait; output:\n%s", l.Err(), l.log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve during the outage never said it waits; output:\n%s", l.log)
		}
	}
	if out := l.log.String(); strings.Contains(out, password) || strings.Contains(out, "msg=listening") {
		t.Errorf("serve during the outage: %q; want notices without the password, and no API listener", out)
	}
	// Its admin listener answers meanwhile: alive, not ready.
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		resp, err := http.Get(l.AdminURL() + path)
		if err != nil {
			t.Errorf("%s of the waiting replica: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s of the waiting replica: %d; want %d", path, resp.StatusCode, want)
		}
	}
	return l
}

// serves checks that the late replica became ready once the database came
// back, then stops it: exit 0.
func (l *lateReplica) serves(t *testing.T) {
	t.Helper()
	err := l.WaitReady(context.Background(), recoverTimeout+openNotice, proctest.ReadyProbe(l.AdminURL()))
	if err != nil {
		t.Fatalf("the replica started during the outage is not ready after the database came back: %v", err)
	}
	if err := l.Stop(stopTimeout); err != nil {
		t.Fatal(err)
	}
}

// openNotice is how often serve says it still waits for its database.
const openNotice = 5 * time.Second

// checkServerError checks a 500 body: an ApiError naming the response's
// request id, without internals.
func checkServerError(t *testing.T, what string, resp response, forbidden []string) {
	t.Helper()
	rid := resp.header.Get("X-Request-Id")
	var body struct {
		Status   int            `json:"status"`
		Message  string         `json:"message"`
		Key      string         `json:"key"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		t.Errorf("%s: 500 body is not JSON: %v: %s", what, err, resp.body)
		return
	}
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: 500 with Content-Type %q", what, ct)
	}
	if rid == "" || body.Status != 500 || !strings.Contains(body.Message, rid) || body.Metadata["request_id"] != rid {
		t.Errorf("%s: 500 body %s with X-Request-Id %q; want status 500 and the request id in message and metadata", what, resp.body, rid)
	}
	// The request id is random hex, which could contain the port by chance.
	text := string(resp.body)
	if rid != "" {
		text = strings.ReplaceAll(text, rid, "<request id>")
	}
	lower := strings.ToLower(text)
	for _, word := range forbidden {
		if strings.Contains(lower, strings.ToLower(word)) {
			t.Errorf("%s: 500 body reveals %q: %s", what, word, resp.body)
		}
	}
}

// dbName is the database name of a postgres:// URL.
func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}
