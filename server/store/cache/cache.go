// Package cache puts a read cache in front of a store.Store for the two
// lookups every API request makes: the API key and the job.
//
// Both caches are safe across replicas because of what they hold and for how
// long:
//   - Terminal jobs never change, so caching them is always correct. The only
//     later change is the retention purge; a purged job may still be served
//     from a replica's cache for at most JobTTL.
//   - Keys are cached for KeyTTL. A key revoked through this process stops
//     working at once; a key revoked elsewhere (another replica, the admin
//     command) keeps working for at most KeyTTL. That bound is the price of
//     not hitting the database for every request; set KeyTTL to a negative
//     duration to turn the key cache off.
//
// Jobs that are not terminal are never cached: their next poll must see the
// next status.
package cache

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

// Defaults of Config.
const (
	DefaultKeyTTL         = 10 * time.Second
	DefaultJobTTL         = time.Minute
	DefaultMaxKeys        = 10_000
	DefaultMaxJobs        = 4096
	DefaultMaxResultBytes = 4 << 10
)

// Config bounds the caches. Zero values take the defaults.
type Config struct {
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

// Store is a store.Store with cached key and terminal-job lookups.
type Store struct {
	store.Store
	cfg  Config
	keys *ttlMap[store.KeyHash, store.Key]
	jobs *ttlMap[jobKey, store.Job]
	now  func() time.Time
}

type jobKey struct{ org, id uuid.UUID }

var _ store.Store = (*Store)(nil)

// New wraps s with caches configured by cfg.
func New(s store.Store, cfg Config) *Store {
	if cfg.KeyTTL == 0 {
		cfg.KeyTTL = DefaultKeyTTL
	}
	if cfg.JobTTL == 0 {
		cfg.JobTTL = DefaultJobTTL
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.MaxJobs <= 0 {
		cfg.MaxJobs = DefaultMaxJobs
	}
	if cfg.MaxResultBytes <= 0 {
		cfg.MaxResultBytes = DefaultMaxResultBytes
	}
	return &Store{
		Store: s,
		cfg:   cfg,
		keys:  newTTLMap[store.KeyHash, store.Key](cfg.MaxKeys),
		jobs:  newTTLMap[jobKey, store.Job](cfg.MaxJobs),
		now:   time.Now,
	}
}

// KeyByHash returns the key from the cache, or from the store and caches it.
// Unknown keys are not cached, so a new key works at once.
func (s *Store) KeyByHash(ctx context.Context, hash store.KeyHash) (store.Key, error) {
	if s.cfg.KeyTTL < 0 {
		return s.Store.KeyByHash(ctx, hash)
	}
	now := s.now()
	if k, ok := s.keys.get(hash, now); ok {
		return k, nil
	}
	k, err := s.Store.KeyByHash(ctx, hash)
	if err != nil {
		return store.Key{}, err
	}
	s.keys.put(hash, k, now, now.Add(s.cfg.KeyTTL))
	return k, nil
}

// RevokeKey revokes the key in the store and forgets every cached key, so a
// key revoked through this process stops working at once.
func (s *Store) RevokeKey(ctx context.Context, id uuid.UUID) error {
	err := s.Store.RevokeKey(ctx, id)
	s.keys.clear()
	return err
}

// Job returns a terminal job from the cache, or reads the store and caches the
// job if it is terminal.
func (s *Store) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	if s.cfg.JobTTL < 0 {
		return s.Store.Job(ctx, orgID, id)
	}
	k := jobKey{orgID, id}
	now := s.now()
	if j, ok := s.jobs.get(k, now); ok {
		return j, nil
	}
	j, err := s.Store.Job(ctx, orgID, id)
	if err == nil && j.Terminal() && len(j.Result) <= s.cfg.MaxResultBytes {
		s.jobs.put(k, j, now, now.Add(s.cfg.JobTTL))
	}
	return j, err
}

// PurgeJobs purges the store and forgets every cached job.
func (s *Store) PurgeJobs(ctx context.Context, finishedBefore time.Time) (int64, error) {
	n, err := s.Store.PurgeJobs(ctx, finishedBefore)
	s.jobs.clear()
	return n, err
}
