package fastpath

import "time"

// SetClock replaces the store's clock, for tests.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Sizes returns the number of cached keys and jobs, for tests.
func (s *Store) Sizes() (keys, jobs int) { return s.keys.len(), s.jobs.len() }
