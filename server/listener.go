package server

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// Listener caps the connections an http.Server holds at once, so that a
// crowd of clients cannot exhaust the process's file descriptors (which the
// database, the logs and the admin listener need too). At the cap it first
// sheds idle keep-alive connections, turning keep-alives off until the
// server is back under half the cap; new connections then wait in the
// kernel's accept queue until a connection closes.
type Listener struct {
	net.Listener
	srv   *http.Server
	max   int
	slots chan struct{}
	done  chan struct{}

	closeOnce sync.Once
	shedding  atomic.Bool
}

// NewListener caps the connections srv accepts on ln at max.
func NewListener(ln net.Listener, srv *http.Server, max int) *Listener {
	return &Listener{Listener: ln, srv: srv, max: max, slots: make(chan struct{}, max), done: make(chan struct{})}
}

// Accept waits for a connection, then for a free slot for it: at the cap,
// idle keep-alive connections are shed first. (So one connection beyond the
// cap may wait here, accepted but not yet served.)
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		if l.shedding.CompareAndSwap(false, true) {
			l.srv.SetKeepAlivesEnabled(false)
		}
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
	return &limitedConn{Conn: c, l: l}, nil
}

// Close closes the listener and ends any Accept waiting for a slot.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Open returns how many connections are open.
func (l *Listener) Open() int { return len(l.slots) }

// release frees a slot, and turns keep-alives back on once the server is
// under half its cap.
func (l *Listener) release() {
	<-l.slots
	if l.shedding.Load() && len(l.slots) < l.max/2 && l.shedding.CompareAndSwap(true, false) {
		l.srv.SetKeepAlivesEnabled(true)
	}
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.release)
	return err
}

// DefaultMaxConns is the connection cap for a process allowed nofile open
// files: all but a reserve (for the database, the logs, the admin listener),
// and no more than 32768, beyond which memory, not descriptors, runs out.
func DefaultMaxConns(nofile uint64) int {
	reserve := max(256, nofile/8)
	if nofile <= reserve+64 {
		return 64
	}
	return int(min(nofile-reserve, 32768))
}
