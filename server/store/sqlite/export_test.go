package sqlite

// Reads returns how many job lookups reached the database.
func (s *Store) Reads() int64 { return s.reads.Load() }

// Watched reports whether the store watches the WAL-index header.
func (s *Store) Watched() bool { return s.wal != nil }

// Remembered returns how many jobs the store remembers.
func (s *Store) Remembered() int { return s.recent.len() }
