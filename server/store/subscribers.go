package store

import (
	"sync"

	"github.com/google/uuid"
)

// Subscribers are the subscriptions of a ChangeNotifier: the stores embed
// one and call Notify after each committed change. The zero value is ready.
type Subscribers struct {
	mu   sync.RWMutex
	next int
	fns  map[int]func(uuid.UUID)
}

// Subscribe adds fn; stop removes it.
func (s *Subscribers) Subscribe(fn func(id uuid.UUID)) (stop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fns == nil {
		s.fns = map[int]func(uuid.UUID){}
	}
	n := s.next
	s.next++
	s.fns[n] = fn
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.fns, n)
			s.mu.Unlock()
		})
	}
}

// Notify calls every subscription with id.
func (s *Subscribers) Notify(id uuid.UUID) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, fn := range s.fns {
		fn(id)
	}
}
