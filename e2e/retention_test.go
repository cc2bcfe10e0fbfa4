package e2e_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/pgserver"
)

// purgeTimeout bounds how long a terminal job past its retention may still be
// served: retention (1 s) plus a purge interval (200 ms) plus the job cache's
// lifetime (500 ms), with a wide margin for a slow machine.
const purgeTimeout = 10 * time.Second

// retention is the replicas' --retention.
const retention = time.Second

// TestRetentionPurgeAcrossReplicas runs two replicas with a retention of one
// second: terminal jobs end up 404 on both (a replica that did not purge may
// serve its cached copy for at most the job cache's lifetime), while jobs that
// are not terminal are never purged, however old.
func TestRetentionPurgeAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgserver.DSN(t)
	rs := startReplicas(t, "replica", dsn, 2,
		"--retention", retention.String(), "--purge-interval", "200ms", "--job-cache-ttl", "500ms", "--rate", "-1")
	c := newAPIClient(t)
	acme := newTenant(t, dsn, "acme")
	bearer := acme.bearer()

	type job struct {
		typ, id string
		state   jobState
		// The job finished between these two times: just before the admin
		// command ending it was run, and once it had returned.
		finishing, finished time.Time
	}
	// The jobs that must survive are the oldest.
	running := job{typ: "createmodel", state: jobState{Status: "running"}}
	running.id = admin(t, dsn, "job", "create", "--org", "acme", "--type", running.typ)
	admin(t, dsn, "job", "start", running.id)
	created := job{typ: "updatemodel", state: jobState{Status: "created"}}
	created.id = admin(t, dsn, "job", "create", "--org", "acme", "--type", created.typ)
	keep := []job{running, created}

	done := job{typ: "exportlogs", state: jobState{Status: "done", Result: `{"url":"https://storage.example.com/x.json.gz"}`}}
	done.id = admin(t, dsn, "job", "create", "--org", "acme", "--type", done.typ)
	admin(t, dsn, "job", "start", done.id)
	done.finishing = time.Now()
	admin(t, dsn, "job", "finish", done.id, "--result", done.state.Result)
	done.finished = time.Now()
	failed := job{typ: "previewmodel", state: jobState{Status: "failed", Error: "no such table"}}
	failed.id = admin(t, dsn, "job", "create", "--org", "acme", "--type", failed.typ)
	failed.finishing = time.Now()
	admin(t, dsn, "job", "fail", failed.id, "--error", failed.state.Error)
	failed.finished = time.Now()
	expired := []job{done, failed}

	// Poll the finished jobs, so that each replica caches them while they
	// exist, until both replicas answer 404 for both. Meanwhile the other
	// jobs are always there.
	gone := map[string]time.Duration{} // replica/job -> first 404, at most this long after the job finished
	for deadline := failed.finished.Add(purgeTimeout); len(gone) < len(rs)*len(expired); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v, only %d of %d (replica, job) pairs are purged: %v", purgeTimeout, len(gone), len(rs)*len(expired), gone)
		}
		for _, r := range rs {
			for _, j := range expired {
				resp := c.getJob(r, bearer, j.typ, j.id)
				k := r.name + "/" + j.state.Status
				switch resp.status {
				case http.StatusNotFound:
					if _, ok := gone[k]; !ok {
						gone[k] = time.Since(j.finishing).Round(time.Millisecond)
						// The purge deletes what finished more than the
						// retention ago, on the clock of this same machine,
						// and the job finished after j.finishing.
						if gone[k] < retention {
							t.Errorf("%s: the %s job is gone at most %v after it finished, before its %v retention", r.name, j.state.Status, gone[k], retention)
						}
					}
				case http.StatusOK:
					if _, ok := gone[k]; ok {
						t.Fatalf("%s: the %s job came back after a 404: %s", r.name, j.state.Status, resp.body)
					}
					if st, err := decodeJob(resp.body, j.typ, j.id); err != nil || !sameState(st, j.state) {
						t.Fatalf("%s: the %s job is %+v (%v); want %+v", r.name, j.state.Status, st, err, j.state)
					}
				default:
					t.Fatalf("%s: the %s job: %d %s", r.name, j.state.Status, resp.status, resp.body)
				}
			}
			for _, j := range keep {
				c.expectJob(r, bearer, j.typ, j.id, j.state)
			}
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	t.Logf("first 404, at most this long after the job finished: %v", gone)

	// The surviving jobs are older than the retention and have been through
	// several purges; they are still there, on both replicas.
	for _, r := range rs {
		for _, j := range keep {
			for _, cr := range acme.creds() {
				c.expectJob(r, cr, j.typ, j.id, j.state)
			}
		}
		for _, j := range expired {
			c.expectStatus(r, acme.basic(), j.typ, j.id, http.StatusNotFound)
		}
	}
	for _, r := range rs {
		r.stop(t)
	}
}
