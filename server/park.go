package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/polyjobs/polyjobs/server/store"
)

// Parking: a held request without a goroutine of net/http's.
//
// A request held until its job changes (wait.go) would otherwise keep what
// net/http gives every request in flight: a goroutine with its stack, a
// read and a write buffer, and the request's own state: about 32 KiB, most
// of the server's memory with 10,000 requests held. Parked, it keeps only a
// small goroutine blocked in a read on its connection, and what its answer
// needs.
//
// The connection is taken from net/http (hijacked) and handed, with the
// waiter, to that goroutine. Its read ends when the client goes (the wait
// ends), when the client sends more (pipelined requests, kept for later),
// at the wait's deadline, or when the hub interrupts it: a poke or
// shutdown sets the read deadline in the past, and the goroutine then looks
// at the waiter's wake channel and the hub's closing to see why. Once
// answered, the connection waits, still parked, for the client's next
// request, and goes back to net/http through the Listener's Accept with
// what was read of it; net/http serves it as a new connection.
//
// Only HTTP/1.1 keep-alive requests on a connection of a Listener are
// parked (the Listener takes them back); any other held request waits on
// its goroutine. Config.Plain turns parking off.

// connKey is the context key under which HTTPServer's ConnContext keeps a
// connection of a Listener.
type connKey struct{}

// withConn is the http.Server's ConnContext: it remembers, for parking, a
// connection accepted by a Listener.
func withConn(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*limitedConn); ok {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

// maxParkedPending bounds what a parked request keeps of what its client
// sends while it waits: beyond it, the request is answered at once.
const maxParkedPending = 2 * MaxHeaderBytes

// parked is a held request whose connection left net/http.
type parked struct {
	a    *heldAnswer
	st   *requestState
	conn *limitedConn
	// header is the response's header as the pipeline set it.
	header http.Header
	// pending is what the client sent after the held request.
	pending []byte
	// gone is set when the client closed its side.
	gone bool
	buf  [128]byte
}

// park takes the held request's connection from net/http and waits for its
// job on a goroutine of its own; it says false, having done nothing, when
// the request cannot be parked.
func (a *heldAnswer) park(rw http.ResponseWriter) bool {
	st := stateFrom(a.ctx)
	req := st.req
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.Close {
		return false
	}
	lc, _ := req.Context().Value(connKey{}).(*limitedConn)
	if lc == nil {
		return false
	}
	header := rw.Header()
	// Recorded as away before net/http lets go of it, so that a shutdown
	// in between (http.Server.Shutdown, then Listener.Drain) sees it on one
	// side or the other.
	lc.takeOver()
	// net/http hands over the connection it was given: lc.
	_, brw, err := http.NewResponseController(rw).Hijack()
	if errors.Is(err, http.ErrNotSupported) {
		lc.stayed()
		return false
	}
	st.parked = true
	if err != nil {
		// Hijacked but unusable (net/http could not hand over what it had
		// read): nothing can be answered on it.
		a.h.waits.leave(a.w, "error")
		lc.Close()
		return true
	}
	p := &parked{a: a, st: st, conn: lc, header: header}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		p.pending = append(p.pending, b...)
	}
	p.pending, lc.pending = append(p.pending, lc.pending...), nil
	// The answer and its log line need only the state: the request itself,
	// its header and URL (about a kilobyte, with thousands held) go.
	st.req = nil
	a.h.waits.park(a.w, lc.Conn)
	go p.run()
	return true
}

// run waits, answers, then waits for the client's next request and hands
// the connection back to net/http.
func (p *parked) run() {
	deadline := time.Now().Add(p.a.d)
	job, err := p.a.wait(func() waitEnd { return p.block(deadline) })
	keep := !p.gone && p.conn.l.keepAlive()
	if !p.answer(job, err, keep) || !keep {
		p.conn.Close()
		return
	}
	p.next()
}

// block waits in a read on the connection until the waiter is woken, the
// server shuts down, the deadline passes or the client goes.
func (p *parked) block(deadline time.Time) waitEnd {
	for {
		_ = p.conn.Conn.SetReadDeadline(deadline)
		// After the deadline is set: a poke or shutdown from now on
		// interrupts the read below, and one before is seen here.
		select {
		case <-p.a.w.wake:
			return woken
		case <-p.a.h.waits.closing:
			return shuttingDown
		default:
		}
		n, err := p.conn.Conn.Read(p.buf[:])
		switch {
		case n > 0:
			p.pending = append(p.pending, p.buf[:n]...)
			if len(p.pending) > maxParkedPending {
				return timedOut // answered at once; the rest is net/http's to judge
			}
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			if !time.Now().Before(deadline) {
				return timedOut
			}
			// Interrupted: the select above says why.
		case errors.Is(err, io.EOF) && len(p.pending) > 0:
			// The client sent its next requests, then closed its side: it
			// still reads the answers, as net/http assumes of it then. Wait
			// on without reading; the answer serves the requests pending.
			return p.blockUnread(deadline)
		default:
			p.gone = true
			return clientGone
		}
	}
}

// blockUnread waits, as block does, for a client that can send nothing
// more.
func (p *parked) blockUnread(deadline time.Time) waitEnd {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	return p.a.w.wait(timer.C, p.a.h.waits.closing, nil)
}

// answer writes the answer (the changed job, a 304 for none, or the error)
// and accounts for the request; it says whether the write succeeded.
func (p *parked) answer(job *store.Job, err error, keep bool) bool {
	rec := &recordedResponse{header: p.header}
	if err == nil {
		err = p.a.write(rec, job)
	}
	if err != nil {
		rec = &recordedResponse{header: p.header}
		p.a.h.errors.respond(rec, p.st, p.st.id, err)
	}
	head := p.st.method == http.MethodHead
	_ = p.conn.SetWriteDeadline(time.Now().Add(holdWriteMargin))
	_, werr := p.conn.Conn.Write(rec.wire(head, keep))
	_ = p.conn.SetDeadline(time.Time{})
	p.a.h.pipeline.account(p.st, true, rec.status, int64(len(rec.body)))
	return werr == nil
}

// next waits, for as long as the server keeps an idle connection, for the
// client's next request, then hands the connection back to net/http with
// what was read of it.
func (p *parked) next() {
	if len(p.pending) == 0 {
		if !p.conn.idle() {
			p.conn.Close()
			return
		}
		_ = p.conn.Conn.SetReadDeadline(time.Now().Add(p.idleTimeout()))
		n, _ := p.conn.Conn.Read(p.buf[:])
		if n == 0 {
			p.conn.Close()
			return
		}
		_ = p.conn.Conn.SetReadDeadline(time.Time{})
		p.pending = append(p.pending, p.buf[:n]...)
	}
	p.conn.handBack(p.pending)
}

// idleTimeout is how long the http.Server keeps an idle connection.
func (p *parked) idleTimeout() time.Duration {
	srv := p.conn.l.srv
	if srv.IdleTimeout > 0 {
		return srv.IdleTimeout
	}
	if srv.ReadTimeout > 0 {
		return srv.ReadTimeout
	}
	return DefaultIdleTimeout
}

// recordedResponse records a response written outside net/http, to send it
// on the wire as HTTP/1.1.
type recordedResponse struct {
	header http.Header
	status int
	body   []byte
}

// Header returns the response's header.
func (r *recordedResponse) Header() http.Header { return r.header }

// WriteHeader records the status, once.
func (r *recordedResponse) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

// Write records body bytes.
func (r *recordedResponse) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	r.body = append(r.body, b...)
	return len(b), nil
}

// wire returns the response as net/http would send it: without a body for
// a HEAD or a 304, and saying Connection: close unless keep.
func (r *recordedResponse) wire(head, keep bool) []byte {
	r.WriteHeader(http.StatusOK)
	h := r.header
	h["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
	// Framed as net/http frames the same answer on its goroutine: a body
	// that fits its buffer with Content-Length, a longer one chunked (a
	// HEAD's with neither).
	chunked := false
	switch {
	case r.status == http.StatusNotModified:
	case len(r.body) <= netHTTPBuffer:
		h["Content-Length"] = []string{strconv.Itoa(len(r.body))}
	case !head:
		h["Transfer-Encoding"] = []string{"chunked"}
		chunked = true
	}
	if !keep {
		h["Connection"] = []string{"close"}
	}
	var b bytes.Buffer
	b.Grow(256 + len(r.body))
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(r.status))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(r.status))
	b.WriteString("\r\n")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	switch {
	case head || r.status == http.StatusNotModified:
	case chunked:
		b.WriteString(strconv.FormatInt(int64(len(r.body)), 16))
		b.WriteString("\r\n")
		b.Write(r.body)
		b.WriteString("\r\n0\r\n\r\n")
	default:
		b.Write(r.body)
	}
	return b.Bytes()
}

// netHTTPBuffer is the size of net/http's response buffer: a handler's
// body that fits it is sent with Content-Length, a longer one chunked.
const netHTTPBuffer = 2048
