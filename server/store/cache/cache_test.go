package cache_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/cache"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
	"github.com/polyjobs/polyjobs/server/store/storetest"
)

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The cached store is a store: it passes the conformance suite unchanged.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return cache.New(openSQLite(t), cache.Config{}) })
}

// counting counts the lookups that reach the underlying store.
type counting struct {
	store.Store
	keys, jobs atomic.Int64
}

func (c *counting) KeyByHash(ctx context.Context, h store.KeyHash) (store.Key, error) {
	c.keys.Add(1)
	return c.Store.KeyByHash(ctx, h)
}

func (c *counting) Job(ctx context.Context, org, id uuid.UUID) (store.Job, error) {
	c.jobs.Add(1)
	return c.Store.Job(ctx, org, id)
}

// clock is a manual clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func setup(t *testing.T, cfg cache.Config) (*cache.Store, *counting, *clock, store.Organization) {
	base := &counting{Store: openSQLite(t)}
	c := cache.New(base, cfg)
	clk := &clock{t: time.Now()}
	c.SetClock(clk.now)
	t.Cleanup(func() { c.Close() })
	org, err := c.CreateOrganization(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return c, base, clk, org
}

func TestOnlyTerminalJobsAreCached(t *testing.T) {
	ctx := context.Background()
	c, base, clk, org := setup(t, cache.Config{JobTTL: time.Minute})
	job, _ := c.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
	for i := 0; i < 3; i++ {
		if _, err := c.Job(ctx, org.ID, job.ID); err != nil {
			t.Fatal(err)
		}
	}
	if base.jobs.Load() != 3 {
		t.Fatalf("created job: %d store lookups; want 3 (never cached)", base.jobs.Load())
	}
	if _, err := c.Transition(ctx, job.ID, store.Start()); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Job(ctx, org.ID, job.ID); got.Status != api.JobStatusRunning {
		t.Fatalf("status %s after start; want running", got.Status)
	}
	if _, err := c.Transition(ctx, job.ID, store.Finish(json.RawMessage(`{"url":"x"}`))); err != nil {
		t.Fatal(err)
	}
	base.jobs.Store(0)
	for i := 0; i < 5; i++ {
		got, err := c.Job(ctx, org.ID, job.ID)
		if err != nil || got.Status != api.JobStatusDone || string(got.Result) != `{"url":"x"}` {
			t.Fatalf("done job = %+v, %v", got, err)
		}
	}
	if base.jobs.Load() != 1 {
		t.Fatalf("done job: %d store lookups; want 1", base.jobs.Load())
	}
	// The cache is scoped by organization like the store.
	if _, err := c.Job(ctx, uuid.New(), job.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other organization: %v; want ErrNotFound", err)
	}
	// After JobTTL the store is asked again, so a purge elsewhere shows.
	clk.advance(time.Minute)
	c.Job(ctx, org.ID, job.ID)
	if base.jobs.Load() != 3 {
		t.Fatalf("after TTL: %d lookups; want 3", base.jobs.Load())
	}
}

func TestPurgeForgetsCachedJobs(t *testing.T) {
	ctx := context.Background()
	c, _, _, org := setup(t, cache.Config{})
	job, _ := c.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
	c.Transition(ctx, job.ID, store.Finish(nil))
	if _, err := c.Job(ctx, org.ID, job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeJobs(ctx, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Job(ctx, org.ID, job.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("purged job: %v; want ErrNotFound", err)
	}
}

// TestRevokedKeyBound states the bound: a key revoked through this cache stops
// at once; one revoked behind its back works for at most KeyTTL.
func TestRevokedKeyBound(t *testing.T) {
	ctx := context.Background()
	c, base, clk, org := setup(t, cache.Config{KeyTTL: 10 * time.Second})
	hash := store.KeyHash(sha256.Sum256([]byte("k1")))
	key, err := c.CreateKey(ctx, org.ID, store.KeyKindUser, hash)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if k, err := c.KeyByHash(ctx, hash); err != nil || k.Revoked() {
			t.Fatalf("KeyByHash = %+v, %v", k, err)
		}
	}
	if base.keys.Load() != 1 {
		t.Fatalf("%d store lookups; want 1", base.keys.Load())
	}
	// Revoked elsewhere (straight in the store): still served until KeyTTL.
	if err := base.Store.RevokeKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	clk.advance(9 * time.Second)
	if k, _ := c.KeyByHash(ctx, hash); k.Revoked() {
		t.Fatal("the cache saw a revocation made elsewhere before KeyTTL; the test's premise is wrong")
	}
	clk.advance(time.Second)
	if k, err := c.KeyByHash(ctx, hash); err != nil || !k.Revoked() {
		t.Fatalf("after KeyTTL: %+v, %v; want the key revoked", k, err)
	}

	// Revoked through the cache: at once.
	hash2 := store.KeyHash(sha256.Sum256([]byte("k2")))
	key2, _ := c.CreateKey(ctx, org.ID, store.KeyKindUser, hash2)
	c.KeyByHash(ctx, hash2)
	if err := c.RevokeKey(ctx, key2.ID); err != nil {
		t.Fatal(err)
	}
	if k, _ := c.KeyByHash(ctx, hash2); !k.Revoked() {
		t.Fatal("a key revoked through the cache still works")
	}
}

func TestDisabledAndBounded(t *testing.T) {
	ctx := context.Background()
	c, base, _, org := setup(t, cache.Config{KeyTTL: -1, JobTTL: -1})
	hash := store.KeyHash(sha256.Sum256([]byte("k")))
	c.CreateKey(ctx, org.ID, store.KeyKindOrg, hash)
	job, _ := c.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
	c.Transition(ctx, job.ID, store.Finish(nil))
	for i := 0; i < 3; i++ {
		c.KeyByHash(ctx, hash)
		c.Job(ctx, org.ID, job.ID)
	}
	if base.keys.Load() != 3 || base.jobs.Load() != 3 {
		t.Fatalf("disabled caches: %d key and %d job lookups; want 3 and 3", base.keys.Load(), base.jobs.Load())
	}

	b, _, _, org2 := setup(t, cache.Config{MaxJobs: 50})
	for i := 0; i < 200; i++ {
		j, _ := b.CreateJob(ctx, org2.ID, api.JobTypeExportLogs)
		b.Transition(ctx, j.ID, store.Finish(nil))
		b.Job(ctx, org2.ID, j.ID)
	}
	if _, jobs := b.Sizes(); jobs > 50 {
		t.Fatalf("%d cached jobs; want at most 50", jobs)
	}
}

// TestExpiredEntriesAreSwept: a cache that is never full still forgets jobs
// whose TTL passed, so memory follows the jobs polled within the TTL.
func TestExpiredEntriesAreSwept(t *testing.T) {
	ctx := context.Background()
	c, _, clk, org := setup(t, cache.Config{JobTTL: time.Second})
	for i := 0; i < 100; i++ {
		j, _ := c.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
		c.Transition(ctx, j.ID, store.Finish(nil))
		c.Job(ctx, org.ID, j.ID)
	}
	if _, jobs := c.Sizes(); jobs != 100 {
		t.Fatalf("%d cached jobs; want 100", jobs)
	}
	clk.advance(time.Minute)
	j, _ := c.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
	c.Transition(ctx, j.ID, store.Finish(nil))
	c.Job(ctx, org.ID, j.ID)
	if _, jobs := c.Sizes(); jobs != 1 {
		t.Fatalf("%d cached jobs after the others expired; want 1", jobs)
	}
}
