package fastpath

import (
	"sync"
	"time"
)

// ttlMap is a bounded map whose entries expire. Expired entries are swept
// out at most once per sweepEvery, on a put; when still full, it drops about
// a tenth of its entries (map iteration order makes the choice arbitrary),
// which bounds memory without the bookkeeping of an LRU list.
//
// Its generation counts removals (clear, delete). A caller that misses,
// reads the store and puts what it read passes the generation its get
// returned: a value read before a removal is not put back after it, where
// it would undo a revocation or a purge until it expires.
type ttlMap[K comparable, V any] struct {
	mu         sync.RWMutex
	entries    map[K]ttlEntry[V]
	max        int
	lastSweep  time.Time
	generation uint64
}

// sweepEvery is how often a put may sweep expired entries.
const sweepEvery = 10 * time.Second

type ttlEntry[V any] struct {
	value   V
	expires time.Time
}

func newTTLMap[K comparable, V any](max int) *ttlMap[K, V] {
	return &ttlMap[K, V]{entries: make(map[K]ttlEntry[V]), max: max}
}

// get returns the value for k if present and not expired at now, and the
// map's generation, for a put of what the caller reads instead.
func (m *ttlMap[K, V]) get(k K, now time.Time) (V, uint64, bool) {
	m.mu.RLock()
	e, ok := m.entries[k]
	gen := m.generation
	m.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, gen, false
	}
	return e.value, gen, true
}

// put stores v for k until expires, unless an entry was removed since
// generation gen (see ttlMap).
func (m *ttlMap[K, V]) put(gen uint64, k K, v V, now, expires time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.generation {
		return
	}
	if now.Sub(m.lastSweep) >= sweepEvery {
		m.lastSweep = now
		for key, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, key)
			}
		}
	}
	if len(m.entries) >= m.max {
		drop := m.max/10 + 1
		for key := range m.entries {
			delete(m.entries, key)
			if drop--; drop == 0 {
				break
			}
		}
	}
	m.entries[k] = ttlEntry[V]{value: v, expires: expires}
}

// clear removes every entry.
func (m *ttlMap[K, V]) clear() {
	m.mu.Lock()
	clear(m.entries)
	m.generation++
	m.mu.Unlock()
}

// len returns the number of entries, expired ones included.
func (m *ttlMap[K, V]) len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}

// delete removes the entry for k.
func (m *ttlMap[K, V]) delete(k K) {
	m.mu.Lock()
	delete(m.entries, k)
	m.generation++
	m.mu.Unlock()
}
