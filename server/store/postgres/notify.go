package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"github.com/polyjobs/polyjobs/server/store"
)

// NotifyChannel is the channel on which the database announces each job
// whose status changed (migration 0003), with the job's id as payload.
const NotifyChannel = "polyjobs_jobs"

// ReconnectDelay is how long the listener waits before connecting again
// after it lost its connection.
const ReconnectDelay = time.Second

// notifier runs, while anyone subscribes, one connection of its own that
// listens on NotifyChannel (pgxlisten), reconnecting by itself. After every
// (re)connection it tells subscribers to re-read everything (uuid.Nil):
// notifications sent while it was away are lost.
type notifier struct {
	connConfig *pgx.ConnConfig
	subs       store.Subscribers

	mu sync.Mutex
	// users counts the subscriptions: the listener runs while there are
	// any. Counted under mu with the listener's start and stop, so that a
	// subscription made while the last one ends is never left without it.
	users int
	stop  context.CancelFunc // ends the listener; nil while none runs
	done  chan struct{}
}

// Subscribe implements store.ChangeNotifier: fn hears of every status change
// committed to the database, by any process, within moments, and of the
// changes made through this store at once.
func (s *Store) Subscribe(fn func(id uuid.UUID)) (stop func()) {
	unsubscribe := s.notify.subs.Subscribe(fn)
	s.notify.mu.Lock()
	if s.notify.users++; s.notify.stop == nil {
		s.notify.startLocked()
	}
	s.notify.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			unsubscribe()
			s.notify.mu.Lock()
			end := func() {}
			if s.notify.users--; s.notify.users == 0 {
				end = s.notify.takeLocked()
			}
			s.notify.mu.Unlock()
			end()
		})
	}
}

// startLocked starts the listener; the caller holds mu.
func (n *notifier) startLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	n.stop, n.done = cancel, make(chan struct{})
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, n.connConfig.Copy())
		},
		ReconnectDelay: ReconnectDelay,
	}
	l.Handle(NotifyChannel, n)
	go func(done chan struct{}) {
		defer close(done)
		_ = l.Listen(ctx) // returns when ctx ends; errors are outages it recovers from
	}(n.done)
}

// close stops the listener, if it runs, and waits for it.
func (n *notifier) close() {
	n.mu.Lock()
	end := n.takeLocked()
	n.mu.Unlock()
	end()
}

// takeLocked forgets the running listener, if any, and returns what stops
// it and waits for it, to call once mu is released; the caller holds mu.
func (n *notifier) takeLocked() (end func()) {
	stop, done := n.stop, n.done
	n.stop, n.done = nil, nil
	return func() {
		if stop != nil {
			stop()
			<-done
		}
	}
}

// HandleNotification passes a job's id on to the subscribers.
func (n *notifier) HandleNotification(_ context.Context, msg *pgconn.Notification, _ *pgx.Conn) error {
	if id, err := uuid.Parse(msg.Payload); err == nil {
		n.subs.Notify(id)
	}
	return nil
}

// HandleBacklog runs after each (re)connection: whatever changed while the
// listener was away must be re-read.
func (n *notifier) HandleBacklog(context.Context, string, *pgx.Conn) error {
	n.subs.Notify(uuid.Nil)
	return nil
}
