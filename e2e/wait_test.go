package e2e_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/pgserver"
)

// heldAnswer is the answer to a held request, and when it came.
type heldAnswer struct {
	resp response
	at   time.Time
	err  error
}

// holdJob sends, in the background, a request for the job with
// If-None-Match of its current state and Prefer: wait=wait.
func (c *apiClient) holdJob(r *replica, cr cred, typ, id string, wait int) <-chan heldAnswer {
	c.t.Helper()
	first := c.getJob(r, cr, typ, id)
	etag := first.header.Get("ETag")
	if first.status != http.StatusOK || etag == "" {
		c.t.Fatalf("%s: %d without ETag", r.name, first.status)
	}
	header := http.Header{}
	header.Set("If-None-Match", etag)
	header.Set("Prefer", fmt.Sprintf("wait=%d", wait))
	client := &http.Client{Timeout: time.Duration(wait+10) * time.Second}
	out := make(chan heldAnswer, 1)
	go func() {
		resp, err := c.tryGetJob(client, r, cr, typ, id, header)
		out <- heldAnswer{resp: resp, at: time.Now(), err: err}
	}()
	return out
}

// waitHeld waits until r holds n requests (its polyjobs_waiters gauge).
func (c *apiClient) waitHeld(r *replica, n int) {
	c.t.Helper()
	want := fmt.Sprintf("polyjobs_waiters %d\n", n)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, body := c.adminGet(r, "/metrics"); strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s never held %d requests", r.name, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expectChanged checks that a held request ended with the job in status.
func expectChanged(t *testing.T, a heldAnswer, typ, id, status string) {
	t.Helper()
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.resp.status != http.StatusOK || a.resp.header.Get("Preference-Applied") == "" {
		t.Fatalf("held request: %d, Preference-Applied %q; want 200 after a held wait", a.resp.status, a.resp.header.Get("Preference-Applied"))
	}
	got, err := decodeJob(a.resp.body, typ, id)
	if err != nil || got.Status != status {
		t.Fatalf("held request: %+v, %v; want status %s", got, err, status)
	}
}

// TestWaitWokenByAdminOnSQLite: a job moved by `polyjobs admin`, another
// process, on the SQLite file a server holds requests on, ends those
// requests with the new state.
func TestWaitWokenByAdminOnSQLite(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "polyjobs.db")
	r := startReplica(t, "sqlite", db)
	acme := newTenant(t, db, "acme")
	c := newAPIClient(t)
	var lags []time.Duration
	for range 5 {
		id := admin(t, db, "job", "create", "--org", "acme", "--type", "exportlogs")
		answer := c.holdJob(r, acme.bearer(), "exportlogs", id, 15)
		c.waitHeld(r, 1)
		admin(t, db, "job", "start", id)
		committed := time.Now()
		a := <-answer
		expectChanged(t, a, "exportlogs", id, "running")
		lags = append(lags, a.at.Sub(committed))
	}
	t.Logf("admin transitions reached a waiting request after %v (measured from the admin command's exit)", lags)
}

// TestWaitAcrossReplicas: a request held by one replica ends when the job
// changes through another process on the same PostgreSQL database.
func TestWaitAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgserver.DSN(t)
	rs := startReplicas(t, "replica", dsn, 2)
	acme := newTenant(t, dsn, "acme")
	c := newAPIClient(t)
	var lags []time.Duration
	for i := range 6 {
		id := admin(t, dsn, "job", "create", "--org", "acme", "--type", "samplemodel")
		r := rs[i%2]
		answer := c.holdJob(r, acme.basic(), "samplemodel", id, 15)
		c.waitHeld(r, 1)
		admin(t, dsn, "job", "fail", id, "--error", "warehouse unreachable")
		committed := time.Now()
		a := <-answer
		expectChanged(t, a, "samplemodel", id, "failed")
		lags = append(lags, a.at.Sub(committed))
	}
	slices.Sort(lags)
	t.Logf("transitions by another process reached a waiting replica after %v", lags)
}

// TestWaitSurvivesPostgresRestart: a change made while a replica's
// notification connection is down (PostgreSQL restarted) is not lost: once
// it reconnects, the replica re-reads what its requests wait for.
func TestWaitSurvivesPostgresRestart(t *testing.T) {
	t.Parallel()
	srv := pgserver.StartServer(t)
	dsn := srv.DSN(t)
	r := startReplica(t, "replica", dsn)
	acme := newTenant(t, dsn, "acme")
	id := admin(t, dsn, "job", "create", "--org", "acme", "--type", "exportlogs")
	c := newAPIClient(t)
	answer := c.holdJob(r, acme.bearer(), "exportlogs", id, 20)
	c.waitHeld(r, 1)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// At once, before the replica can have reconnected (it waits about a
	// second first): its notification is lost.
	admin(t, dsn, "job", "start", id)
	committed := time.Now()
	a := <-answer
	expectChanged(t, a, "exportlogs", id, "running")
	t.Logf("the change made during the reconnection reached the waiting request after %v", a.at.Sub(committed))
}
