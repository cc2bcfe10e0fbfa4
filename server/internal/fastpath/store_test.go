package fastpath_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/internal/fastpath"
	"github.com/polyjobs/polyjobs/server/store"
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

// The fast store is a store: it passes the conformance suite unchanged, on
// SQLite (with its change token) here and on PostgreSQL (with its batches) in
// the postgres package's tests.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return fastpath.NewStore(openSQLite(t), fastpath.StoreConfig{}) })
}

// counting counts the lookups that reach the underlying store, and passes on
// its change token.
type counting struct {
	store.Store
	keys, jobs atomic.Int64
}

func (c *counting) ChangeToken() (store.ChangeToken, bool) {
	return c.Store.(store.ChangeWatcher).ChangeToken()
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

func setup(t *testing.T, cfg fastpath.StoreConfig) (*fastpath.Store, *counting, *clock, store.Organization) {
	base := &counting{Store: openSQLite(t)}
	c := fastpath.NewStore(base, cfg)
	clk := &clock{t: time.Now()}
	c.SetClock(clk.now)
	t.Cleanup(func() { c.Close() })
	org, err := c.CreateOrganization(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return c, base, clk, org
}

// withoutToken hides a store's change token, as PostgreSQL has none.
type withoutToken struct{ *counting }

func (withoutToken) ChangeToken() (store.ChangeToken, bool) { return store.ChangeToken{}, false }

// TestWithoutTokenOnlyTerminalJobsAreCached: a store that cannot tell what
// changed gets every lookup of a job that may still change.
func TestWithoutTokenOnlyTerminalJobsAreCached(t *testing.T) {
	ctx := context.Background()
	base := &counting{Store: openSQLite(t)}
	c := fastpath.NewStore(withoutToken{base}, fastpath.StoreConfig{JobTTL: time.Minute})
	clk := &clock{t: time.Now()}
	c.SetClock(clk.now)
	t.Cleanup(func() { c.Close() })
	org, _ := c.CreateOrganization(ctx, "acme")
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

// TestUnchangedDatabaseIsNotReadAgain: with a change token, repeated lookups
// of a job that may still change cost one read until anything is committed.
func TestUnchangedDatabaseIsNotReadAgain(t *testing.T) {
	ctx := context.Background()
	c, base, _, org := setup(t, fastpath.StoreConfig{})
	job, _ := c.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
	base.jobs.Store(0)
	for i := 0; i < 10; i++ {
		got, err := c.Job(ctx, org.ID, job.ID)
		if err != nil || got.Status != api.JobStatusCreated {
			t.Fatalf("Job = %+v, %v", got, err)
		}
	}
	if n := base.jobs.Load(); n != 1 {
		t.Fatalf("%d database reads for 10 lookups of an unchanged job; want 1", n)
	}
	// Any commit, even to another job, makes the next lookup read again.
	c.CreateJob(ctx, org.ID, api.JobTypeSampleModel)
	c.Job(ctx, org.ID, job.ID)
	if n := base.jobs.Load(); n != 2 {
		t.Fatalf("%d database reads after a commit; want 2", n)
	}
	// Another organization never gets the cached job.
	if _, err := c.Job(ctx, uuid.New(), job.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another organization got the job: %v", err)
	}
}

// TestEveryCommitIsSeen interleaves writes by another connection pool (as
// another process would) with cached reads: every read sees the latest
// committed state.
func TestEveryCommitIsSeen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "seen.db")
	reader, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	c := fastpath.NewStore(reader, fastpath.StoreConfig{})
	t.Cleanup(func() { c.Close(); writer.Close() })
	org, _ := writer.CreateOrganization(ctx, "acme")
	for i := 0; i < 100; i++ {
		job, _ := writer.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
		steps := []store.Transition{store.Start(), store.Finish(json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))}
		if i%2 == 1 {
			steps[1] = store.Fail(fmt.Sprintf("failure %d", i))
		}
		if got, _ := c.Job(ctx, org.ID, job.ID); got.Status != api.JobStatusCreated {
			t.Fatalf("job %d: %s; want created", i, got.Status)
		}
		for _, step := range steps {
			want, err := writer.Transition(ctx, job.ID, step)
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 2; k++ {
				got, err := c.Job(ctx, org.ID, job.ID)
				if err != nil || got.Status != want.Status || string(got.Result) != string(want.Result) || got.Error != want.Error {
					t.Fatalf("job %d after %s: read %+v, %v; want %+v", i, step.To, got, err, want)
				}
			}
		}
	}
}

// TestUnknownKeysAreRemembered: an unknown key costs one lookup per
// UnknownKeyTTL, and a key created through the store works at once.
func TestUnknownKeysAreRemembered(t *testing.T) {
	ctx := context.Background()
	c, base, clk, org := setup(t, fastpath.StoreConfig{})
	hash := store.KeyHash(sha256.Sum256([]byte("not yet")))
	for i := 0; i < 5; i++ {
		if _, err := c.KeyByHash(ctx, hash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown key: %v; want ErrNotFound", err)
		}
	}
	if n := base.keys.Load(); n != 1 {
		t.Fatalf("%d lookups of an unknown key; want 1", n)
	}
	clk.advance(fastpath.UnknownKeyTTL)
	c.KeyByHash(ctx, hash)
	if n := base.keys.Load(); n != 2 {
		t.Fatalf("%d lookups after UnknownKeyTTL; want 2", n)
	}
	if _, err := c.CreateKey(ctx, org.ID, store.KeyKindUser, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeyByHash(ctx, hash); err != nil {
		t.Fatalf("a key created through the store: %v", err)
	}
}

func TestPurgeForgetsCachedJobs(t *testing.T) {
	ctx := context.Background()
	c, _, _, org := setup(t, fastpath.StoreConfig{})
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
	c, base, clk, org := setup(t, fastpath.StoreConfig{KeyTTL: 10 * time.Second})
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

// TestRevokeDuringALookup: a lookup that read the key before it was
// revoked through this process, and returns after, must not cache the key
// as valid again; nor may a job read before a purge be cached after it.
func TestRevokeDuringALookup(t *testing.T) {
	ctx := context.Background()
	base := &paused{Store: openSQLite(t)}
	c := fastpath.NewStore(base, fastpath.StoreConfig{})
	t.Cleanup(func() { c.Close() })
	org, _ := c.CreateOrganization(ctx, "acme")
	hash := store.KeyHash(sha256.Sum256([]byte("k")))
	key, err := c.CreateKey(ctx, org.ID, store.KeyKindUser, hash)
	if err != nil {
		t.Fatal(err)
	}
	base.pauseNext()
	looked := make(chan error)
	go func() {
		_, err := c.KeyByHash(ctx, hash) // a request's lookup, paused after its read
		looked <- err
	}()
	<-base.read
	if err := c.RevokeKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	close(base.resume)
	if err := <-looked; err != nil {
		t.Fatal(err)
	}
	if k, err := c.KeyByHash(ctx, hash); err != nil || !k.Revoked() {
		t.Fatalf("after the revocation: %+v, %v; want the key revoked", k, err)
	}

	job, _ := c.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
	if _, err := c.Transition(ctx, job.ID, store.Finish(nil)); err != nil {
		t.Fatal(err)
	}
	base.pauseNext()
	go func() {
		_, err := c.Job(ctx, org.ID, job.ID) // read before the purge, cached after
		looked <- err
	}()
	<-base.read
	if _, err := c.PurgeJobs(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	close(base.resume)
	if err := <-looked; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Job(ctx, org.ID, job.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the purge: %v; want the job gone", err)
	}
}

// paused pauses the next key or job lookup once it has read the store, until
// resume is closed.
type paused struct {
	store.Store
	armed        atomic.Bool
	read, resume chan struct{}
}

func (p *paused) pauseNext() {
	p.read, p.resume = make(chan struct{}), make(chan struct{})
	p.armed.Store(true)
}

func (p *paused) pause() {
	if p.armed.CompareAndSwap(true, false) {
		close(p.read)
		<-p.resume
	}
}

func (p *paused) KeyByHash(ctx context.Context, h store.KeyHash) (store.Key, error) {
	k, err := p.Store.KeyByHash(ctx, h)
	p.pause()
	return k, err
}

func (p *paused) Job(ctx context.Context, org, id uuid.UUID) (store.Job, error) {
	j, err := p.Store.Job(ctx, org, id)
	p.pause()
	return j, err
}

func TestDisabledAndBounded(t *testing.T) {
	ctx := context.Background()
	c, base, _, org := setup(t, fastpath.StoreConfig{KeyTTL: -1, JobTTL: -1})
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

	b, _, _, org2 := setup(t, fastpath.StoreConfig{MaxJobs: 50})
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
	c, _, clk, org := setup(t, fastpath.StoreConfig{JobTTL: time.Second})
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
