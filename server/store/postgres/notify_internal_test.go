package postgres

import (
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestListenerRunsWhileSubscribed: the listener runs exactly while someone
// subscribes, even when a subscription comes as the last one ends. (The
// listener connects nowhere here: only its bookkeeping is checked.)
func TestListenerRunsWhileSubscribed(t *testing.T) {
	cfg, err := pgx.ParseConfig("postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{notify: notifier{connConfig: cfg}}
	running := func() bool {
		s.notify.mu.Lock()
		defer s.notify.mu.Unlock()
		return s.notify.stop != nil
	}
	for range 200 {
		first := s.Subscribe(func(uuid.UUID) {})
		var second func()
		var wg sync.WaitGroup
		wg.Go(func() { second = s.Subscribe(func(uuid.UUID) {}) })
		first()
		wg.Wait()
		if !running() {
			t.Fatal("a subscriber is left without a listener")
		}
		second()
		second() // stopping twice is harmless
		if running() {
			t.Fatal("the listener runs with no subscriber")
		}
	}
}
