package sqlite

// Watched reports whether the store watches the WAL-index header.
func (s *Store) Watched() bool { return s.wal != nil && s.wal.mem != nil }
