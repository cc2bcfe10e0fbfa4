package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Listener caps the connections an http.Server holds at once, so that a
// crowd of clients cannot exhaust the process's file descriptors (which the
// database, the logs and the admin listener need too). At the cap it first
// sheds idle keep-alive connections, turning keep-alives off until the
// server is back under half the cap; new connections then wait in the
// kernel's accept queue until a connection closes.
//
// It also takes back the connections of held requests: a request held
// until its job changes leaves net/http (park.go), and its connection, once
// answered and sent its next request, returns through Accept, keeping its
// slot all along.
type Listener struct {
	net.Listener
	srv   *http.Server
	max   int
	slots chan struct{}
	done  chan struct{}
	// accepted carries the accept loop's connections and errors;
	// returned the connections handed back by held requests.
	accepted  chan accepted
	returned  chan *limitedConn
	startLoop sync.Once

	closeOnce sync.Once
	shedding  atomic.Bool

	mu sync.Mutex
	// away are the connections taken over from net/http; true for the
	// idle ones, answered and waiting for their next request.
	away map[*limitedConn]bool
}

// accepted is one result of the underlying listener's Accept.
type accepted struct {
	conn net.Conn
	err  error
}

// NewListener caps the connections srv accepts on ln at max.
func NewListener(ln net.Listener, srv *http.Server, max int) *Listener {
	return &Listener{Listener: ln, srv: srv, max: max, slots: make(chan struct{}, max), done: make(chan struct{}),
		accepted: make(chan accepted), returned: make(chan *limitedConn), away: map[*limitedConn]bool{}}
}

// Accept returns the next connection: a new one once it has a free slot, or
// one handed back by a held request.
func (l *Listener) Accept() (net.Conn, error) {
	l.startLoop.Do(func() { go l.acceptLoop() })
	select {
	case a := <-l.accepted:
		return a.conn, a.err
	case c := <-l.returned:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// acceptLoop accepts connections on the underlying listener and waits for a
// free slot for each: at the cap, idle keep-alive connections are shed
// first. (So one connection beyond the cap may wait here, accepted but not
// yet served.) It is paced by Accept: nothing is accepted until the server
// asks for a connection.
func (l *Listener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		var a accepted
		if err != nil {
			a.err = err
		} else if a.conn = l.slotFor(c); a.conn == nil {
			return // closed while waiting for a slot
		}
		select {
		case l.accepted <- a:
		case <-l.done:
			if a.conn != nil {
				a.conn.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// slotFor waits for a free slot for c, shedding idle connections at the cap,
// and returns c holding it; or nil, c closed, when the listener closes.
func (l *Listener) slotFor(c net.Conn) net.Conn {
	select {
	case l.slots <- struct{}{}:
	default:
		if l.shedding.CompareAndSwap(false, true) {
			l.srv.SetKeepAlivesEnabled(false)
			l.closeIdle()
		}
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			c.Close()
			return nil
		}
	}
	return &limitedConn{Conn: c, l: l}
}

// Close closes the listener, ends any Accept waiting for a slot, and closes
// the idle connections taken over from net/http.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	l.closeIdle()
	return l.Listener.Close()
}

// Drain waits until every connection taken over from net/http (held
// requests, see park.go) is answered and closed, or until ctx is done, then
// closes what remains and returns how many it closed. Call it after
// http.Server.Shutdown, which knows nothing of them.
func (l *Listener) Drain(ctx context.Context) (cut int) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		l.mu.Lock()
		n := len(l.away)
		l.mu.Unlock()
		if n == 0 {
			return 0
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return l.closeAway(false)
		}
	}
}

// Open returns how many connections are open.
func (l *Listener) Open() int { return len(l.slots) }

// release frees a slot, and turns keep-alives back on once the server is
// under half its cap.
func (l *Listener) release() {
	<-l.slots
	if l.shedding.Load() && 2*len(l.slots) < l.max && l.shedding.CompareAndSwap(true, false) {
		l.srv.SetKeepAlivesEnabled(true)
	}
}

// closeIdle closes the idle connections taken over from net/http.
func (l *Listener) closeIdle() { l.closeAway(true) }

// closeAway closes the connections taken over from net/http, only the idle
// ones or all, and returns how many. Each leaves away under the lock, so
// that handBack, which hands back only what is still away, cannot hand one
// to net/http meanwhile.
func (l *Listener) closeAway(onlyIdle bool) int {
	l.mu.Lock()
	var closing []*limitedConn
	for c, idle := range l.away {
		if idle || !onlyIdle {
			closing = append(closing, c)
			delete(l.away, c)
		}
	}
	l.mu.Unlock()
	for _, c := range closing {
		c.Close() // takes l.mu
	}
	return len(closing)
}

// keepAlive reports whether a connection answered outside net/http may be
// kept for another request: not while connections are shed, nor once the
// listener is closed.
func (l *Listener) keepAlive() bool {
	select {
	case <-l.done:
		return false
	default:
		return !l.shedding.Load()
	}
}

// limitedConn gives its slot back when closed, and arms its write deadline
// lazily (SetWriteDeadline).
type limitedConn struct {
	net.Conn
	l    *Listener
	once sync.Once
	// pending is what was read from the connection while it was away from
	// net/http: the start of its next request, returned by Read first.
	pending []byte
	// writeDeadline is the write deadline armed. Only the goroutine that
	// has the connection (net/http's, or a held request's while away)
	// sets deadlines.
	writeDeadline time.Time
}

// maxWriteSlack bounds how much earlier than asked a write may time out
// (see limitedConn.SetWriteDeadline).
const maxWriteSlack = time.Second

// writeSlack is how much earlier than asked a write on srv's connections
// may time out: an eighth of its WriteTimeout, at most maxWriteSlack; none
// without a WriteTimeout.
func writeSlack(srv *http.Server) time.Duration { return min(srv.WriteTimeout/8, maxWriteSlack) }

// SetWriteDeadline arms the write deadline t lazily. net/http sets it to
// WriteTimeout from now after reading each request and clears it after each
// response; re-arming the runtime's timer twice costs more than a request's
// own work on its headers. So here:
//
//   - t later than the armed deadline by less than writeSlack of the
//     server is not armed: a write may time out that much earlier than
//     asked. (Every deadline set here is at least the slack ahead:
//     net/http's WriteTimeout, or a held request's, which is longer.)
//   - A clear (zero t) keeps the armed deadline; net/http writes nothing
//     before setting the next one. SetDeadline, which park.go uses, clears
//     for real.
//
// A busy keep-alive connection then re-arms its timer about once a second.
func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	slack := writeSlack(c.l.srv)
	switch {
	case t.IsZero() && slack > 0:
		return nil
	case !c.writeDeadline.IsZero() && !t.Before(c.writeDeadline) && t.Sub(c.writeDeadline) < slack:
		return nil
	}
	c.writeDeadline = t
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets both deadlines, keeping track of the write one.
func (c *limitedConn) SetDeadline(t time.Time) error {
	c.writeDeadline = t
	return c.Conn.SetDeadline(t)
}

// Read returns the bytes read while the connection was away first.
func (c *limitedConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.away, c)
		c.l.mu.Unlock()
		c.l.release()
	})
	return err
}

// takeOver records that c is leaving net/http.
func (c *limitedConn) takeOver() {
	c.l.mu.Lock()
	c.l.away[c] = false
	c.l.mu.Unlock()
}

// stayed undoes takeOver: net/http kept c.
func (c *limitedConn) stayed() {
	c.l.mu.Lock()
	delete(c.l.away, c)
	c.l.mu.Unlock()
}

// idle marks c, taken over, as waiting for its next request: shedding and
// Close close it.
func (c *limitedConn) idle() bool {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if _, away := c.l.away[c]; !away || !c.l.keepAlive() {
		return false
	}
	c.l.away[c] = true
	return true
}

// handBack returns c, taken over and sent its next request (pending), to
// net/http through Accept; or closes it when the listener is closed.
func (c *limitedConn) handBack(pending []byte) {
	c.l.mu.Lock()
	_, away := c.l.away[c]
	delete(c.l.away, c)
	c.l.mu.Unlock()
	if !away { // closed meanwhile
		return
	}
	c.pending = pending
	select {
	case c.l.returned <- c:
	case <-c.l.done:
		c.Close()
	}
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
