package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// faultyStore breaks one method of a real store.
type faultyStore struct {
	store.Store
	job func() (store.Job, error)
}

func (f faultyStore) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	return f.job()
}

func TestServerErrorsRevealNothing(t *testing.T) {
	cases := []struct {
		name    string
		job     func() (store.Job, error)
		closeDB bool
		inLog   string
	}{
		{"store error", func() (store.Job, error) {
			return store.Job{}, errors.New(`pq: relation "jobs" does not exist at /var/lib/secret`)
		}, false, "relation"},
		{"panic", func() (store.Job, error) { panic("boom at /var/lib/secret") }, false, "boom"},
		{"closed database", nil, true, "closed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			real := storeFactories["sqlite"](t)
			var s store.Store = real
			if tc.job != nil {
				s = faultyStore{Store: real, job: tc.job}
			}
			en := newEnv(t, s)
			acme := en.tenant("acme")
			job := en.job(acme.org.ID, api.JobTypeExportLogs)
			if tc.closeDB {
				real.Close()
			}
			r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer()))
			if r.status != http.StatusInternalServerError {
				t.Fatalf("status %d %s; want 500", r.status, r.body)
			}
			body := r.json(t)
			rid := r.header.Get("X-Request-Id")
			meta, _ := body["metadata"].(map[string]any)
			if meta["request_id"] != rid || !strings.Contains(body["message"].(string), rid) {
				t.Fatalf("500 body %s does not carry request id %s", r.body, rid)
			}
			for _, leak := range []string{"secret", "relation", "boom", "sql", "closed", "/var"} {
				if strings.Contains(string(r.body), leak) {
					t.Fatalf("500 body %s leaks %q", r.body, leak)
				}
			}
			if !strings.Contains(en.logs.String(), tc.inLog) || !strings.Contains(en.logs.String(), rid) {
				t.Fatalf("log does not record the cause %q with request id %s:\n%s", tc.inLog, rid, en.logs.String())
			}
		})
	}
}

// blockingStore's lookups wait for their context to end, as they do on a
// locked table.
type blockingStore struct {
	store.Store
	keys, jobs bool
}

func (b blockingStore) KeyByHash(ctx context.Context, hash store.KeyHash) (store.Key, error) {
	if b.keys {
		<-ctx.Done()
		return store.Key{}, ctx.Err()
	}
	return b.Store.KeyByHash(ctx, hash)
}

func (b blockingStore) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	if b.jobs {
		<-ctx.Done()
		return store.Job{}, ctx.Err()
	}
	return b.Store.Job(ctx, orgID, id)
}

// TestLookupsAreBounded: a request's context is never cancelled, so a key
// or job lookup stuck in the database (a locked table) would hold the
// request for ever; the server gives up after its lookup timeout with a 500.
func TestLookupsAreBounded(t *testing.T) {
	server.SetLookupTimeout(t, 50*time.Millisecond)
	for _, tc := range []struct {
		name       string
		keys, jobs bool
	}{{"key lookup", true, false}, {"job lookup", false, true}} {
		for _, plain := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/plain=%v", tc.name, plain), func(t *testing.T) {
				en := newEnv(t, blockingStore{Store: storeFactories["sqlite"](t), keys: tc.keys, jobs: tc.jobs},
					func(c *server.Config) { c.Plain = plain })
				acme := en.tenant("acme")
				job := en.job(acme.org.ID, api.JobTypeExportLogs)
				r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer()))
				if r.status != http.StatusInternalServerError {
					t.Fatalf("%d %s; want 500", r.status, r.body)
				}
				if !strings.Contains(en.logs.String(), "deadline exceeded") {
					t.Fatalf("the log does not say why:\n%s", en.logs)
				}
			})
		}
	}
}

// flakyStore fails every lookup while down is set.
type flakyStore struct {
	store.Store
	down *atomic.Bool
}

func (f flakyStore) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	if f.down.Load() {
		return store.Job{}, errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")
	}
	return f.Store.Job(ctx, orgID, id)
}

func (f flakyStore) KeyByHash(ctx context.Context, h store.KeyHash) (store.Key, error) {
	if f.down.Load() {
		return store.Key{}, errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")
	}
	return f.Store.KeyByHash(ctx, h)
}

// TestRecoversWhenStoreReturns: while the store is down every request is a
// JSON 500; the first request after it returns succeeds (no circuit breaker
// or poisoned state to wait out).
func TestRecoversWhenStoreReturns(t *testing.T) {
	down := &atomic.Bool{}
	en := newEnv(t, flakyStore{Store: storeFactories["sqlite"](t), down: down}, func(c *server.Config) { c.KeyCacheTTL = -1 })
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
	req := func() response { return en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer())) }
	if r := req(); r.status != 200 {
		t.Fatalf("before the outage: %d", r.status)
	}
	down.Store(true)
	for i := 0; i < 5; i++ {
		if r := req(); r.status != 500 || strings.Contains(string(r.body), "10.0.0.5") {
			t.Fatalf("during the outage: %d %s; want a 500 without internals", r.status, r.body)
		}
	}
	down.Store(false)
	if r := req(); r.status != 200 {
		t.Fatalf("first request after the outage: %d %s; want 200", r.status, r.body)
	}
}

// TestLockedDatabaseDoesNotStallPolls holds a write transaction open on the
// SQLite database from another connection, as a slow admin command or a
// second process would: polls keep answering (WAL readers never wait for a
// writer) with the last committed state, and see the change once committed.
func TestLockedDatabaseDoesNotStallPolls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	en := newEnv(t, s)
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())

	other, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.DB().BeginTx(context.Background(), nil) // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE jobs SET status = 'done', finished_at = 1 WHERE id = ?`, job.ID.String()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer()))
		if r.status != 200 || r.json(t)["data"].(map[string]any)["status"] != "running" {
			t.Fatalf("poll while the database is locked: %d %s; want 200 with the committed state", r.status, r.body)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer()))
	if r.status != 200 || r.json(t)["data"].(map[string]any)["status"] != "done" {
		t.Fatalf("poll after the commit: %d %s; want done", r.status, r.body)
	}
}
