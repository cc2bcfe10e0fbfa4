package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/postgres"
)

const (
	// writers is how many writers race for each job in
	// TestConcurrentFinishAcrossProcesses.
	writers = 50
	// gateTimeout bounds how long the test waits for every writer to queue
	// on the job's row lock.
	gateTimeout = 45 * time.Second
)

// writer is one of the racers: an admin process, or a goroutine on one of the
// test's own stores (each a separate connection pool).
type writer struct {
	n       int
	process bool
	store   int // index of the store, when not a process
	// to is the target status; want the state it would leave.
	to   string
	want jobState
	// outcome
	err    error // in-process writers
	result adminResult
}

func (w *writer) String() string {
	if w.process {
		return fmt.Sprintf("writer %d (admin process, %s)", w.n, w.to)
	}
	return fmt.Sprintf("writer %d (store %d in the test process, %s)", w.n, w.store, w.to)
}

func (w *writer) won() bool {
	if w.process {
		return w.result.Code == 0
	}
	return w.err == nil
}

// TestConcurrentFinishAcrossProcesses makes 50 writers race to end the same
// job, each with its own result or error: 25 are separate `polyjobs admin job
// finish|fail` processes, 25 are goroutines spread over three stores opened
// by the test (three more connection pools). To make them really race, the
// test holds the job's row lock until every writer's UPDATE is queued on it,
// then lets them all go at once. Exactly one must win; the 49 others must be
// refused with the conflict naming the winner's status, and every replica
// must then serve the winner's state: no lost update.
func TestConcurrentFinishAcrossProcesses(t *testing.T) {
	t.Parallel()
	dsn := pgserver.DSN(t)
	rs := startReplicas(t, "replica", dsn, 3)
	c := newAPIClient(t)
	acme := newTenant(t, dsn, "acme")
	bin := polyjobsBinary(t, false)

	ctx := context.Background()
	stores := make([]*postgres.Store, 3)
	for i := range stores {
		s, err := postgres.Open(ctx, withPoolSize(t, dsn, writers))
		if err != nil {
			t.Fatalf("open store %d: %v", i, err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	// gate holds the job's row lock; monitor watches the writers queue on it
	// (not inside gate's transaction, where pg_stat_activity is a snapshot).
	gate, monitor := connect(t, dsn), connect(t, dsn)

	rounds := []struct {
		typ     string
		running bool
	}{
		{"exportlogs", true},
		{"samplemodel", false},
		{"connectionproxy", true},
	}
	winners := map[string]int{}
	for round, rd := range rounds {
		id := admin(t, dsn, "job", "create", "--org", "acme", "--type", rd.typ)
		if rd.running {
			admin(t, dsn, "job", "start", id)
		}
		ws := race(t, bin, dsn, stores, gate, monitor, id, round)

		var won []*writer
		for _, w := range ws {
			if w.won() {
				won = append(won, w)
			}
		}
		if len(won) != 1 {
			for _, w := range won {
				t.Errorf("round %d: %s won", round, w)
			}
			t.Fatalf("round %d: %d writers won; want exactly 1", round, len(won))
		}
		winner := won[0]
		if winner.process {
			winners["admin process"]++
		} else {
			winners["in-process store"]++
		}
		t.Logf("round %d (%s, from %s): %s won", round, rd.typ, map[bool]string{true: "running", false: "created"}[rd.running], winner)
		for _, w := range ws {
			if w != winner {
				checkRefused(t, w, winner.want.Status)
			}
		}

		// The stored state is the winner's, on every replica and every pool.
		for _, r := range rs {
			for _, cr := range acme.creds() {
				c.expectJob(r, cr, rd.typ, id, winner.want)
			}
		}
		for i, s := range stores {
			j, err := s.JobByID(ctx, uuid.MustParse(id))
			if err != nil {
				t.Fatalf("store %d: %v", i, err)
			}
			got := jobState{Status: string(j.Status), Result: string(j.Result), Error: j.Error}
			if !sameState(got, winner.want) {
				t.Errorf("store %d: job %s is %+v; want the winner's %+v", i, id, got, winner.want)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("winners: %v", winners)
	for _, r := range rs {
		r.stop(t)
	}
}

// race runs the writers against job id, all queued behind a row lock the test
// holds until they are all waiting for it, and returns them with their
// outcomes.
func race(t *testing.T, bin, dsn string, stores []*postgres.Store, gate, monitor *pgx.Conn, id string, round int) []*writer {
	t.Helper()
	ctx := context.Background()
	tx, err := gate.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatalf("lock job %s: %v", id, err)
	}

	// PostgreSQL hands the row over in the order the writers queued for it,
	// so the first to queue wins. In even rounds the in-process writers,
	// which are connected already, queue first; in odd rounds they wait until
	// the admin processes have queued, so that a process wins.
	processesFirst := round%2 == 1
	ws := make([]*writer, writers)
	processes := 0
	for n := range writers {
		w := &writer{n: n, process: n%4 < 2, store: n % len(stores)}
		if w.process {
			processes++
		}
		if n%2 == 0 {
			result := fmt.Sprintf(`{"writer":%d,"round":%d}`, n, round)
			w.to, w.want = "done", jobState{Status: "done", Result: result}
		} else {
			msg := fmt.Sprintf("writer %d gave up in round %d", n, round)
			w.to, w.want = "failed", jobState{Status: "failed", Error: msg}
		}
		ws[n] = w
	}
	var finished atomic.Int32
	var wg sync.WaitGroup
	inProcess := make(chan struct{})
	for _, w := range ws {
		wg.Go(func() {
			defer finished.Add(1)
			if w.process {
				args := []string{"job", "fail", id, "--error", w.want.Error}
				if w.to == "done" {
					args = []string{"job", "finish", id, "--result", w.want.Result}
				}
				w.result = runAdmin(bin, dsn, args...)
				return
			}
			<-inProcess
			tr := store.Fail(w.want.Error)
			if w.to == "done" {
				tr = store.Finish(json.RawMessage(w.want.Result))
			}
			_, w.err = stores[w.store].Transition(ctx, uuid.MustParse(id), tr)
		})
	}
	if !processesFirst {
		close(inProcess)
	}

	// Open the gate once every writer waits on the lock.
	deadline := time.Now().Add(gateTimeout)
	for {
		var waiting int
		err := monitor.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE jobs%'`).Scan(&waiting)
		if err != nil {
			t.Fatalf("count waiting writers: %v", err)
		}
		if processesFirst && waiting >= processes {
			processesFirst = false
			close(inProcess)
		}
		if done := int(finished.Load()); done > 0 {
			t.Errorf("round %d: %d writers ended while the job was locked", round, done)
			break
		}
		if waiting == writers {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("round %d: only %d of %d writers queued on the row lock after %v", round, waiting, writers, gateTimeout)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if processesFirst {
		close(inProcess)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return ws
}

// checkRefused checks that a losing writer was refused with the conflict,
// naming the status the winner left the job in.
func checkRefused(t *testing.T, w *writer, winnerStatus string) {
	t.Helper()
	want := fmt.Sprintf("cannot move from %s to %s", winnerStatus, w.to)
	if w.process {
		res := w.result
		lines := strings.Count(strings.TrimRight(res.Stderr, "\n"), "\n") + 1
		if res.Code != 1 || res.Stdout != "" || lines != 1 || !strings.Contains(res.Stderr, want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", w, res.Code, res.Stdout, res.Stderr, want)
		}
		return
	}
	var te *store.TransitionError
	if !errors.As(w.err, &te) || !errors.Is(w.err, store.ErrConflict) ||
		te.From != api.JobStatus(winnerStatus) || te.To != api.JobStatus(w.to) {
		t.Errorf("%s: %v; want a TransitionError %q", w, w.err, want)
	}
}

// withPoolSize sets pgxpool's pool_max_conns on a DSN, so that a store can
// run n transitions at once.
func withPoolSize(t *testing.T, dsn string, n int) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", fmt.Sprint(n))
	u.RawQuery = q.Encode()
	return u.String()
}

// connect opens a connection of the test's own, closed when t ends.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
