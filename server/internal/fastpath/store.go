package fastpath

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

// Defaults of StoreConfig.
const (
	DefaultKeyTTL         = 10 * time.Second
	DefaultJobTTL         = time.Minute
	DefaultMaxKeys        = 10_000
	DefaultMaxJobs        = 4096
	DefaultMaxResultBytes = 4 << 10
	// UnknownKeyTTL is how long a key the store does not know is remembered
	// as unknown: repeated attempts with it cost no lookup, and a key created
	// by another process works here at most this long after its creation.
	UnknownKeyTTL = time.Second
)

// StoreConfig bounds the caches of a Store. Zero values take the defaults.
type StoreConfig struct {
	// KeyTTL is how long a key lookup is reused, and so how long a key
	// revoked elsewhere keeps working here. Negative disables the key cache.
	KeyTTL time.Duration
	// JobTTL is how long a terminal job is reused, and so how long a purged
	// job may still be served. Negative disables the job cache.
	JobTTL time.Duration
	// MaxKeys and MaxJobs bound the number of cached entries.
	MaxKeys, MaxJobs int
	// MaxResultBytes is the largest result a cached job may carry; jobs with
	// larger results are always read from the store.
	MaxResultBytes int
}

// withDefaults fills in the zero fields.
func (c StoreConfig) withDefaults() StoreConfig {
	if c.KeyTTL == 0 {
		c.KeyTTL = DefaultKeyTTL
	}
	if c.JobTTL == 0 {
		c.JobTTL = DefaultJobTTL
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.MaxJobs <= 0 {
		c.MaxJobs = DefaultMaxJobs
	}
	if c.MaxResultBytes <= 0 {
		c.MaxResultBytes = DefaultMaxResultBytes
	}
	return c
}

// Store is a store.Store whose two request-path lookups, the API key and
// the job, take the fast paths:
//
//   - Keys are cached for KeyTTL, unknown keys for UnknownKeyTTL. A key
//     revoked through this process stops working at once, lookups in
//     flight included (see ttlMap's generation); one revoked elsewhere
//     (another replica, the admin command) keeps working for at most
//     KeyTTL.
//   - A terminal job never changes, so it is cached for JobTTL; the only
//     later change is the retention purge, so a purged job may be served for
//     at most JobTTL.
//   - A job that is not terminal is served again only while the store's
//     ChangeToken (store.ChangeWatcher) says nothing at all was committed
//     since it was read, by any process: the database would return the same
//     row. Stores without a token read it every time.
//   - Lookups that reach a store.BatchReader share queries (see jobBatcher).
type Store struct {
	store.Store
	cfg   StoreConfig
	keys  *ttlMap[store.KeyHash, cachedKey]
	jobs  *ttlMap[store.JobKey, cachedJob]
	watch store.ChangeWatcher // nil when the store has no change token
	batch *jobBatcher         // nil when the store reads one job at a time
	now   func() time.Time
}

// cachedKey is a key lookup's outcome: the key, or that there is none.
type cachedKey struct {
	key   store.Key
	found bool
}

// cachedJob is a job and the change token read just before it. A job that
// is not terminal is cached only when the token is known.
type cachedJob struct {
	job   store.Job
	token store.ChangeToken
}

var _ store.Store = (*Store)(nil)

// NewStore puts the fast paths in front of s.
func NewStore(s store.Store, cfg StoreConfig) *Store {
	cfg = cfg.withDefaults()
	f := &Store{
		Store: s,
		cfg:   cfg,
		keys:  newTTLMap[store.KeyHash, cachedKey](cfg.MaxKeys),
		jobs:  newTTLMap[store.JobKey, cachedJob](cfg.MaxJobs),
		now:   monotonicNow,
	}
	f.watch, _ = s.(store.ChangeWatcher)
	if b, ok := s.(store.BatchReader); ok {
		f.batch = newJobBatcher(b.BatchConcurrency(), b.JobsByKeys)
	}
	return f
}

// monotonicNow is time.Now for the caches' expiry: a time read from the
// monotonic clock alone, which costs half as much as time.Now (two clock
// reads), and every request reads it twice.
func monotonicNow() time.Time { return clockBase.Add(time.Since(clockBase)) }

var clockBase = time.Now()

// KeyByHash returns the key from the cache, or from the store and caches it.
func (s *Store) KeyByHash(ctx context.Context, hash store.KeyHash) (store.Key, error) {
	if s.cfg.KeyTTL < 0 {
		return s.Store.KeyByHash(ctx, hash)
	}
	now := s.now()
	c, gen, ok := s.keys.get(hash, now)
	if ok {
		if !c.found {
			return store.Key{}, store.ErrNotFound
		}
		return c.key, nil
	}
	k, err := s.Store.KeyByHash(ctx, hash)
	switch {
	case err == nil:
		s.keys.put(gen, hash, cachedKey{key: k, found: true}, now, now.Add(s.cfg.KeyTTL))
	case errors.Is(err, store.ErrNotFound):
		s.keys.put(gen, hash, cachedKey{}, now, now.Add(min(UnknownKeyTTL, s.cfg.KeyTTL)))
	}
	return k, err
}

// CreateKey creates the key in the store and forgets that it was unknown.
func (s *Store) CreateKey(ctx context.Context, orgID uuid.UUID, kind store.KeyKind, hash store.KeyHash) (store.Key, error) {
	k, err := s.Store.CreateKey(ctx, orgID, kind, hash)
	s.keys.delete(hash)
	return k, err
}

// RevokeKey revokes the key in the store and forgets every cached key, so a
// key revoked through this process stops working at once.
func (s *Store) RevokeKey(ctx context.Context, id uuid.UUID) error {
	err := s.Store.RevokeKey(ctx, id)
	s.keys.clear()
	return err
}

// Job returns the job from the cache when the database would return the same
// (see Store), or reads it and caches it.
func (s *Store) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	if s.cfg.JobTTL < 0 {
		return s.read(ctx, store.JobKey{OrgID: orgID, ID: id})
	}
	k := store.JobKey{OrgID: orgID, ID: id}
	now := s.now()
	var (
		token   store.ChangeToken
		watched bool
	)
	if s.watch != nil {
		token, watched = s.watch.ChangeToken()
	}
	c, gen, ok := s.jobs.get(k, now)
	if ok && (c.job.Terminal() || watched && c.token == token) {
		return c.job, nil
	}
	job, err := s.read(ctx, k)
	if err == nil && (job.Terminal() || watched) && len(job.Result) <= s.cfg.MaxResultBytes {
		s.jobs.put(gen, k, cachedJob{job: job, token: token}, now, now.Add(s.cfg.JobTTL))
	}
	return job, err
}

// read reads a job from the store, through the batcher when there is one.
func (s *Store) read(ctx context.Context, k store.JobKey) (store.Job, error) {
	if s.batch != nil {
		return s.batch.lookup(ctx, k)
	}
	return s.Store.Job(ctx, k.OrgID, k.ID)
}

// PurgeJobs purges the store and forgets every cached job.
func (s *Store) PurgeJobs(ctx context.Context, finishedBefore time.Time) (int64, error) {
	n, err := s.Store.PurgeJobs(ctx, finishedBefore)
	s.jobs.clear()
	return n, err
}

// Reset empties the store and forgets everything cached.
func (s *Store) Reset(ctx context.Context) error {
	err := s.Store.Reset(ctx)
	s.keys.clear()
	s.jobs.clear()
	return err
}
