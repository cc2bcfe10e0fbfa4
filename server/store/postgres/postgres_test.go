package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/server/internal/fastpath"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/postgres"
	"github.com/polyjobs/polyjobs/server/store/storetest"
)

func TestMain(m *testing.M) { pgserver.Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(ctx(t), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the suite on the store, and on the store behind the
// server's fast paths (whose lookups share JobsByKeys queries).
func TestConformance(t *testing.T) {
	newStore := func(t *testing.T) *postgres.Store {
		s, err := postgres.Open(ctx(t), pgserver.DSN(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	t.Run("plain", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
	})
	t.Run("fast", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return fastpath.NewStore(newStore(t), fastpath.StoreConfig{}) })
	})
}

func TestOpenRefusesOtherDSNs(t *testing.T) {
	for _, dsn := range []string{"", "host=localhost dbname=x", "sqlite:///tmp/x.db", "/tmp/polyjobs.db"} {
		if s, err := postgres.Open(context.Background(), dsn); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	for _, dsn := range []string{
		// Nothing listens on port 1.
		"postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2",
		"postgres://u@127.0.0.1:1/db?connect_timeout=2&password=hunter2",
		"postgresql://u@127.0.0.1:1/db?sslmode=disable&PASSWORD=hunter2&connect_timeout=2",
		// Unparsable.
		"postgres://u:hunter2@127.0.0.1:notaport/db",
		"postgres://u@127.0.0.1/db?password=hunter2&pool_max_conns=many",
	} {
		_, err := postgres.Open(ctx(t), dsn)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", dsn)
		}
		if msg := err.Error(); strings.Contains(msg, "hunter2") {
			t.Errorf("error reveals the password: %s", msg)
		}
	}
}

// TestConcurrentOpen starts several replicas at once on one fresh database:
// the migration lock lets exactly one apply the migrations.
func TestConcurrentOpen(t *testing.T) {
	dsn := pgserver.DSN(t)
	const replicas = 5
	var (
		wg     sync.WaitGroup
		stores [replicas]*postgres.Store
		errs   [replicas]error
	)
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(ctx(t), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	var versions, migrations int
	if err := stores[0].Pool().QueryRow(ctx(t), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&versions, &migrations); err != nil {
		t.Fatal(err)
	}
	if versions == 0 || versions != migrations {
		t.Fatalf("schema_migrations has %d rows for %d versions; want each version once", versions, migrations)
	}
	// Every replica works.
	org := storetest.MustOrg(t, stores[0])
	for i, s := range stores {
		if _, err := s.Organization(ctx(t), org.ID); err != nil {
			t.Fatalf("replica %d: Organization: %v", i, err)
		}
	}
	// Opening again applies nothing.
	open(t, dsn)
	var again int
	if err := stores[0].Pool().QueryRow(ctx(t), `SELECT count(*) FROM schema_migrations`).Scan(&again); err != nil || again != versions {
		t.Fatalf("after reopening: %d rows, want %d (%v)", again, versions, err)
	}
}

// TestOpenRefusesNewerSchema: a database a newer polyjobs upgraded is
// refused, not read and written without knowing its schema.
func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := pgserver.DSN(t)
	s := open(t, dsn)
	if _, err := s.Pool().Exec(ctx(t), `INSERT INTO schema_migrations (version, applied_at) VALUES (999, now())`); err != nil {
		t.Fatal(err)
	}
	if other, err := postgres.Open(ctx(t), dsn); err == nil || !strings.Contains(err.Error(), "schema is at version 999, newer than this polyjobs knows") {
		if other != nil {
			other.Close()
		}
		t.Fatalf("opening a newer schema: %v; want a refusal that says so", err)
	}
}

func TestAdvisoryLock(t *testing.T) {
	dsn := pgserver.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	c := ctx(t)
	const key = postgres.PurgeLockKey

	holding, release := make(chan struct{}), make(chan struct{})
	var (
		firstAcquired bool
		firstErr      error
		done          = make(chan struct{})
	)
	go func() {
		defer close(done)
		firstAcquired, firstErr = a.WithAdvisoryLock(c, key, func(context.Context) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	for name, s := range map[string]*postgres.Store{"another replica": b, "the same store": a} {
		called := false
		got, err := s.WithAdvisoryLock(c, key, func(context.Context) error { called = true; return nil })
		if err != nil || got || called {
			t.Fatalf("%s while the lock is held: acquired %v, err %v, fn called %v; want false, nil, false", name, got, err, called)
		}
	}
	// Another key is free.
	if got, err := b.WithAdvisoryLock(c, key+1000, func(context.Context) error { return nil }); err != nil || !got {
		t.Fatalf("another key: %v, %v", got, err)
	}
	close(release)
	<-done
	if firstErr != nil || !firstAcquired {
		t.Fatalf("first holder: %v, %v", firstAcquired, firstErr)
	}

	// Released: the other replica gets it now, and fn's error comes back.
	boom := errors.New("boom")
	got, err := b.WithAdvisoryLock(c, key, func(context.Context) error { return boom })
	if !got || !errors.Is(err, boom) {
		t.Fatalf("after release: %v, %v; want true, boom", got, err)
	}
	// A panicking fn releases the lock too.
	func() {
		defer func() { recover() }()
		a.WithAdvisoryLock(c, key, func(context.Context) error { panic("oops") })
	}()
	if got, err := b.WithAdvisoryLock(c, key, func(context.Context) error { return nil }); err != nil || !got {
		t.Fatalf("after a panic: %v, %v; want true, nil", got, err)
	}
}

// TestAdvisoryLockLeavesThePool: fn may query through the store while the
// lock is held, even when the pool has a single connection (the purge, run
// under the lock at start, used to wait for ever for the one the lock held).
func TestAdvisoryLockLeavesThePool(t *testing.T) {
	dsn := pgserver.DSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	s := open(t, dsn+sep+"pool_max_conns=1")
	c, cancel := context.WithTimeout(ctx(t), 10*time.Second)
	defer cancel()
	var purged int64
	got, err := s.TryExclusive(c, "purge", func(c context.Context) (err error) {
		purged, err = s.PurgeJobs(c, time.Now())
		return err
	})
	if err != nil || !got {
		t.Fatalf("purge under the lock with pool_max_conns=1: ran %v, %d purged, %v", got, purged, err)
	}
}

// TestRecovery stops PostgreSQL under a store: calls fail, without panicking,
// and succeed again soon after the server is back.
func TestRecovery(t *testing.T) {
	srv := pgserver.StartServer(t)
	s := open(t, srv.DSN(t))
	org := storetest.MustOrg(t, s)
	job := storetest.MustJob(t, s, org.ID, api.JobTypeExportLogs)

	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	calls := map[string]func(context.Context) error{
		"Ping": s.Ping,
		"Organization": func(c context.Context) error {
			_, err := s.Organization(c, org.ID)
			return err
		},
		"CreateJob": func(c context.Context) error {
			_, err := s.CreateJob(c, org.ID, api.JobTypeSampleModel)
			return err
		},
		"Transition": func(c context.Context) error {
			_, err := s.Transition(c, job.ID, store.Start())
			return err
		},
		"ListJobs": func(c context.Context) error {
			_, err := s.ListJobs(c, store.JobFilter{OrgID: org.ID, Statuses: []store.JobStatus{api.JobStatusCreated}})
			return err
		},
		"WithAdvisoryLock": func(c context.Context) error {
			_, err := s.WithAdvisoryLock(c, postgres.PurgeLockKey, func(context.Context) error { return nil })
			return err
		},
	}
	for name, call := range calls {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := call(c)
		cancel()
		if err == nil {
			t.Fatalf("%s with the server down succeeded", name)
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalid) {
			t.Fatalf("%s with the server down: %v; want an error that is none of the store's", name, err)
		}
		t.Logf("%s with the server down (%v): %v", name, time.Since(start).Round(time.Millisecond), err)
	}

	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.Transition(c, job.ID, store.Start())
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing 10s after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, call := range calls {
		if name == "Transition" {
			continue // the job is running now
		}
		if err := call(ctx(t)); err != nil {
			t.Fatalf("%s after the restart: %v", name, err)
		}
	}
	if got, err := s.Job(ctx(t), org.ID, job.ID); err != nil || got.Status != api.JobStatusRunning {
		t.Fatalf("Job after the restart: %+v, %v", got, err)
	}
}

// TestTextPostgresCannotStore checks that bytes SQLite would store but
// PostgreSQL refuses (NUL, invalid UTF-8) are ErrInvalid, not a server error.
func TestTextPostgresCannotStore(t *testing.T) {
	s := open(t, pgserver.DSN(t))
	c := ctx(t)
	for _, name := range []string{"nul\x00name", "bad\xffutf8"} {
		if _, err := s.CreateOrganization(c, name); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateOrganization(%q) = %v; want ErrInvalid", name, err)
		}
		if _, err := s.OrganizationByName(c, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("OrganizationByName(%q) = %v; want ErrNotFound", name, err)
		}
	}
	org := storetest.MustOrg(t, s)
	job := storetest.MustJob(t, s, org.ID, api.JobTypeExportLogs)
	if _, err := s.Transition(c, job.ID, store.Fail("nul\x00message")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Fail with a NUL = %v; want ErrInvalid", err)
	}
	if _, err := s.Transition(c, job.ID, store.Finish([]byte("\"\xff\""))); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Finish with invalid UTF-8 = %v; want ErrInvalid", err)
	}
	// The result keeps its text, escaped NUL, key order and number forms
	// included, without its insignificant whitespace.
	result := []byte(`{"z": 1,  "a": "\u0000", "n": [1.0, 2]}`)
	want := `{"z":1,"a":"\u0000","n":[1.0,2]}`
	got, err := s.Transition(c, job.ID, store.Finish(result))
	if err != nil || string(got.Result) != want {
		t.Fatalf("Finish = %s, %v; want %s", got.Result, err, want)
	}
	if stored, err := s.Job(c, org.ID, job.ID); err != nil || string(stored.Result) != want {
		t.Fatalf("stored result = %s, %v; want %s", stored.Result, err, want)
	}
}

func TestUnknownIDs(t *testing.T) {
	s := open(t, pgserver.DSN(t))
	if _, err := s.JobByID(ctx(t), uuid.Nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("JobByID(nil uuid) = %v", err)
	}
}

// hearing collects the ids a subscription hears.
type hearing struct {
	mu  sync.Mutex
	ids []uuid.UUID
}

func (h *hearing) add(id uuid.UUID) {
	h.mu.Lock()
	h.ids = append(h.ids, id)
	h.mu.Unlock()
}

// wait waits up to d to hear id.
func (h *hearing) wait(id uuid.UUID, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		heard := slices.Contains(h.ids, id)
		h.mu.Unlock()
		if heard {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// TestChangesReachOtherReplicas: a status change made through another
// store, or by hand in SQL, reaches a replica's subscribers through LISTEN.
func TestChangesReachOtherReplicas(t *testing.T) {
	dsn := pgserver.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	var heard hearing
	stop := b.Subscribe(heard.add)
	defer stop()
	if !heard.wait(uuid.Nil, 5*time.Second) {
		t.Fatal("the listener never said it was connected (uuid.Nil)")
	}
	org := storetest.MustOrg(t, a)
	job := storetest.MustJob(t, a, org.ID, api.JobTypeExportLogs)
	start := time.Now()
	if _, err := a.Transition(ctx(t), job.ID, store.Start()); err != nil {
		t.Fatal(err)
	}
	if !heard.wait(job.ID, 5*time.Second) {
		t.Fatal("a transition through another replica was not heard")
	}
	t.Logf("heard another replica's transition after %v", time.Since(start))
	byHand := storetest.MustJob(t, a, org.ID, api.JobTypeExportLogs)
	if _, err := a.Pool().Exec(ctx(t), `UPDATE jobs SET status = 'running' WHERE id = $1`, byHand.ID); err != nil {
		t.Fatal(err)
	}
	if !heard.wait(byHand.ID, 5*time.Second) {
		t.Fatal("a change made by hand in SQL was not heard")
	}
	// No change of status, no notification.
	quiet := storetest.MustJob(t, a, org.ID, api.JobTypeExportLogs)
	if _, err := a.Pool().Exec(ctx(t), `UPDATE jobs SET updated_at = now() WHERE id = $1`, quiet.ID); err != nil {
		t.Fatal(err)
	}
	if heard.wait(quiet.ID, 300*time.Millisecond) {
		t.Fatal("an update that left the status alone was announced")
	}
}

// TestListenerReconnects stops PostgreSQL under a subscribed store: once it
// is back, the listener reconnects within moments, says so (uuid.Nil, so
// that waiters re-read what they missed) and hears changes again.
func TestListenerReconnects(t *testing.T) {
	srv := pgserver.StartServer(t)
	dsn := srv.DSN(t)
	s := open(t, dsn)
	var heard hearing
	stop := s.Subscribe(heard.add)
	defer stop()
	if !heard.wait(uuid.Nil, 5*time.Second) {
		t.Fatal("the listener never connected")
	}
	org := storetest.MustOrg(t, s)
	job := storetest.MustJob(t, s, org.ID, api.JobTypeExportLogs)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	heard.mu.Lock()
	heard.ids = nil
	heard.mu.Unlock()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	if !heard.wait(uuid.Nil, 10*time.Second) {
		t.Fatal("the listener did not reconnect")
	}
	t.Logf("listening again %v after PostgreSQL came back", time.Since(back))
	other := open(t, dsn)
	if _, err := other.Transition(ctx(t), job.ID, store.Start()); err != nil {
		t.Fatal(err)
	}
	if !heard.wait(job.ID, 5*time.Second) {
		t.Fatal("after reconnecting, a change by another replica was not heard")
	}
}

func TestUnreachable(t *testing.T) {
	_, err := postgres.Open(ctx(t), "postgres://u@127.0.0.1:1/db?connect_timeout=2")
	if err == nil || !postgres.Unreachable(err) {
		t.Fatalf("nothing listening: %v; want Unreachable", err)
	}
	// A server that answers, but with an error: not worth waiting for.
	dsn := pgserver.DSN(t)
	u, _ := url.Parse(dsn)
	u.Path = "/no_such_database"
	if _, err := postgres.Open(ctx(t), u.String()); err == nil || postgres.Unreachable(err) {
		t.Fatalf("a missing database: %v; want an error that is not Unreachable", err)
	}
}
