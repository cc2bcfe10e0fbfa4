package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/polyjobs/polyjobs/internal/pgserver"
)

// trackedJob is a job the test created, with the state it should have now.
type trackedJob struct {
	typ, id string
	state   jobState
}

// TestReplicasServeTheSameState runs three replicas on one fresh database,
// started together so that their migrations race, moves jobs through their
// lifecycle with the admin command and checks that every replica serves each
// new state as soon as the command has returned. Then one replica stops
// (SIGTERM), one crashes (SIGKILL) and a new one starts: nothing is lost.
func TestReplicasServeTheSameState(t *testing.T) {
	t.Parallel()
	dsn := pgserver.DSN(t)
	// An admin command migrates the database too: it races the replicas.
	bin := polyjobsBinary(t, false)
	orgCreated := make(chan adminResult, 1)
	go func() { orgCreated <- runAdmin(bin, dsn, "org", "create", "acme") }()
	rs := startReplicas(t, "replica", dsn, 3)
	res := <-orgCreated
	if res.Code != 0 || res.Stderr != "" {
		t.Fatalf("admin org create, started with the replicas: exit %d, stderr %q", res.Code, res.Stderr)
	}
	checkMigratedOnce(t, dsn)

	c := newAPIClient(t)
	for _, r := range rs {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			if code, body := c.adminGet(r, path); code != http.StatusOK || body == "" {
				t.Errorf("%s: %s: %d %q", r.name, path, code, body)
			}
		}
	}
	acme := tenant{
		orgID:   strings.TrimSpace(res.Stdout),
		userKey: admin(t, dsn, "key", "create", "--org", "acme"),
		orgKey:  admin(t, dsn, "key", "create", "--org", "acme", "--kind", "org"),
	}
	admin(t, dsn, "org", "create", "globex")
	other := tenant{userKey: admin(t, dsn, "key", "create", "--org", "globex")}
	var jobs []*trackedJob

	// expectEverywhere asks every replica, once each and with both kinds of
	// credentials, for every job: no retry, the state must already be there.
	expectEverywhere := func(t *testing.T, replicas []*replica) {
		t.Helper()
		for _, r := range replicas {
			for _, j := range jobs {
				for _, cr := range acme.creds() {
					c.expectJob(r, cr, j.typ, j.id, j.state)
				}
			}
		}
	}
	create := func(typ string) *trackedJob {
		t.Helper()
		j := &trackedJob{typ: typ, id: admin(t, dsn, "job", "create", "--org", "acme", "--type", typ), state: jobState{Status: "created"}}
		jobs = append(jobs, j)
		expectEverywhere(t, rs)
		return j
	}
	move := func(j *trackedJob, state jobState, verb string, flags ...string) {
		t.Helper()
		admin(t, dsn, append([]string{"job", verb, j.id}, flags...)...)
		j.state = state
		expectEverywhere(t, rs)
	}

	export := create("exportlogs")
	move(export, jobState{Status: "running"}, "start")
	move(export, jobState{Status: "done", Result: `{"url":"https://storage.example.com/logs/export.json.gz?signature=abc"}`},
		"finish", "--result", `{"url": "https://storage.example.com/logs/export.json.gz?signature=abc"}`)

	preview := create("previewmodel")
	move(preview, jobState{Status: "running"}, "start")
	move(preview, jobState{Status: "failed", Error: `query failed: relation "users" does not exist`},
		"fail", "--error", `query failed: relation "users" does not exist`)

	sample := create("samplemodel")
	move(sample, jobState{Status: "done", Result: `{"records":[{"id":1,"name":"Ada"}],"warnings":[]}`},
		"finish", "--result", `{"records":[{"id":1,"name":"Ada"}],"warnings":[]}`)

	proxy := create("connectionproxy")
	move(proxy, jobState{Status: "failed", Error: "upstream timed out"}, "fail", "--error", "upstream timed out")

	running := create("createmodel")
	move(running, jobState{Status: "running"}, "start")
	create("updatemodel") // stays created

	// Every replica scopes jobs to the caller's organization and type.
	for _, r := range rs {
		c.expectStatus(r, other.bearer(), export.typ, export.id, http.StatusNotFound)
		c.expectStatus(r, other.bearer(), running.typ, running.id, http.StatusNotFound)
		c.expectStatus(r, acme.bearer(), "samplemodel", export.id, http.StatusNotFound)
	}
	if t.Failed() {
		t.FailNow()
	}

	// One replica goes away gracefully, another crashes; the last one still
	// serves everything.
	rs[0].stop(t)
	expectEverywhere(t, rs[1:])
	rs[1].Kill()
	expectEverywhere(t, rs[2:])

	// A replica started afterwards serves it too, and sees the next change.
	fresh := startReplica(t, "replica3", dsn)
	live := []*replica{rs[2], fresh}
	expectEverywhere(t, live)
	running.state = jobState{Status: "done"}
	admin(t, dsn, "job", "finish", running.id)
	expectEverywhere(t, live)

	for _, r := range live {
		if errs := r.logLines("ERROR"); len(errs) > 0 {
			t.Errorf("%s logged errors:\n%v", r.name, errs)
		}
		r.stop(t)
	}
}

// checkMigratedOnce checks that the schema migrations, applied by replicas
// starting together, were each recorded once.
func checkMigratedOnce(t *testing.T, dsn string) {
	t.Helper()
	var n, distinct int
	if err := connect(t, dsn).QueryRow(context.Background(), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatalf("schema_migrations: %v", err)
	}
	if n == 0 || n != distinct {
		t.Fatalf("schema_migrations has %d rows for %d versions", n, distinct)
	}
}
