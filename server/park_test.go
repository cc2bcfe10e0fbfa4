package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/store"
)

// listening serves en on a Listener, as `polyjobs serve` does: held
// requests are parked off net/http (unless the setup is plain).
func listening(t *testing.T, en *env, mutate ...func(*http.Server)) (*server.Listener, *http.Server) {
	t.Helper()
	srv := server.HTTPServer("", en.e, nil)
	for _, m := range mutate {
		m(srv)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := server.NewListener(tcp, srv, 64)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		ln.Drain(ctx)
	})
	return ln, srv
}

// rawConn is one client connection, written and read by hand, so that a test
// knows which connection each answer came on.
type rawConn struct {
	t    *testing.T
	en   *env
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, en *env, ln *server.Listener) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, en: en, conn: c, r: bufio.NewReader(c)}
}

// send writes requests, all at once (pipelined when more than one).
func (c *rawConn) send(reqs ...*http.Request) {
	c.t.Helper()
	var b strings.Builder
	for _, req := range reqs {
		if err := req.Write(&b); err != nil {
			c.t.Fatal(err)
		}
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		c.t.Fatal(err)
	}
}

// receive reads the answer to req and checks it against openapi.yaml.
func (c *rawConn) receive(req *http.Request) response {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.r, req)
	if err != nil {
		c.t.Fatalf("reading the answer to %s %s: %v", req.Method, req.URL, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: body}
	if req.Method == http.MethodHead {
		// No body to validate: the spec describes the GET.
		if len(body) != 0 || !documented[r.status] || r.header.Get("X-Request-Id") == "" {
			c.t.Fatalf("HEAD: %d, body %q, X-Request-Id %q", r.status, body, r.header.Get("X-Request-Id"))
		}
		return r
	}
	if err := c.en.validate(req, r); err != nil {
		c.t.Fatal(err)
	}
	return r
}

// closed reports whether the server closed the connection (within 5 s).
func (c *rawConn) closed() bool {
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.r.ReadByte()
	return err == io.EOF
}

// TestHeldRequestsOnAListener: requests held on the connections of a
// Listener, parked off net/http, answer as requests held on their goroutine
// do (the plain setup), and their connections go on serving.
func TestHeldRequestsOnAListener(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t, func(c *server.Config) { c.MaxWait = time.Second })
		ln, _ := listening(t, en)
		acme := en.tenant("acme")
		// held waits for n requests to be held, and, unless plain, parked.
		held := func(t *testing.T, n int) {
			t.Helper()
			waitFor(t, "the requests to be held", func() bool { return waiting(t, en) == float64(n) })
			if !s.plain {
				waitFor(t, "the requests to be parked", func() bool { return ln.Away() == n })
			} else if ln.Away() != 0 {
				t.Fatalf("plain: %d connections away from net/http; want none", ln.Away())
			}
		}
		waitingOn := func(steps ...store.Transition) (store.Job, string, string) {
			job := en.job(acme.org.ID, api.JobTypeExportLogs, steps...)
			path := jobPath(job.Type, job.ID)
			return job, path, en.do(get(path, "Authorization", acme.bearer())).header.Get("ETag")
		}

		t.Run("the change answers, and the connection serves on", func(t *testing.T) {
			job, path, etag := waitingOn()
			c := dial(t, en, ln)
			req := conditional(path, acme.bearer(), etag, "15")
			c.send(req)
			held(t, 1)
			if _, err := en.store.Transition(context.Background(), job.ID, store.Start()); err != nil {
				t.Fatal(err)
			}
			r := c.receive(req)
			if r.status != http.StatusOK || r.json(t)["data"].(map[string]any)["status"] != "running" ||
				r.header.Get("Preference-Applied") != "wait=1" || r.header.Get("ETag") == etag {
				t.Fatalf("held request: %d %v %s", r.status, r.header, r.body)
			}
			next := get(path, "Authorization", acme.bearer())
			c.send(next)
			if r := c.receive(next); r.status != http.StatusOK {
				t.Fatalf("the next request on the connection: %d %s", r.status, r.body)
			}
		})

		t.Run("the wait runs out with a 304, logged", func(t *testing.T) {
			_, path, etag := waitingOn(store.Start())
			c := dial(t, en, ln)
			req := conditional(path, acme.bearer(), etag, "15")
			start := time.Now()
			c.send(req)
			r := c.receive(req)
			if r.status != http.StatusNotModified || r.header.Get("ETag") != etag || r.header.Get("Preference-Applied") != "wait=1" ||
				r.header.Get("Retry-After") == "" || len(r.body) != 0 {
				t.Fatalf("%d %v %q; want a 304 with ETag, Retry-After, Preference-Applied", r.status, r.header, r.body)
			}
			if took := time.Since(start); took < time.Second {
				t.Fatalf("answered after %v, before the applied wait", took)
			}
			line := logLine(t, en, r.header.Get("X-Request-Id"))
			if line["status"] != 304.0 || line["method"] != "GET" || line["latency"].(float64) < float64(time.Second) {
				t.Fatalf("access log line %v; want status 304 and the whole wait as latency", line)
			}
			c.send(req) // the same ETag again, on the same connection
			if r := c.receive(req); r.status != http.StatusNotModified {
				t.Fatalf("held again: %d", r.status)
			}
		})

		t.Run("HEAD", func(t *testing.T) {
			job, path, etag := waitingOn()
			c := dial(t, en, ln)
			req := conditional(path, acme.bearer(), etag, "15")
			req.Method = http.MethodHead
			c.send(req)
			held(t, 1)
			if _, err := en.store.Transition(context.Background(), job.ID, store.Fail("no")); err != nil {
				t.Fatal(err)
			}
			r := c.receive(req)
			if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Length") == "" {
				t.Fatalf("held HEAD: %d, Content-Length %q, body %q", r.status, r.header.Get("Content-Length"), r.body)
			}
		})

		t.Run("a large answer is framed as net/http frames it", func(t *testing.T) {
			big := json.RawMessage(`{"records":"` + strings.Repeat("r", 3000) + `"}`)
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				job, path, etag := waitingOn(store.Start())
				c := dial(t, en, ln)
				req := conditional(path, acme.bearer(), etag, "15")
				req.Method = method
				c.send(req)
				held(t, 1)
				if _, err := en.store.Transition(context.Background(), job.ID, store.Finish(big)); err != nil {
					t.Fatal(err)
				}
				c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(c.r, req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				chunked := len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != "" || chunked != (method == http.MethodGet) ||
					(method == http.MethodGet && len(body) < 3000) {
					t.Fatalf("%s: %d, Content-Length %q, Transfer-Encoding %v, %d bytes; want a 200 without Content-Length, chunked for GET",
						method, resp.StatusCode, resp.Header.Get("Content-Length"), resp.TransferEncoding, len(body))
				}
				c.conn.Close()
				waitFor(t, "the connection to close", func() bool { return ln.Away() == 0 })
			}
		})

		t.Run("pipelined requests wait their turn", func(t *testing.T) {
			_, path, etag := waitingOn()
			c := dial(t, en, ln)
			first, second := conditional(path, acme.bearer(), etag, "15"), get(path, "Authorization", acme.bearer())
			c.send(first, second)
			if r := c.receive(first); r.status != http.StatusNotModified {
				t.Fatalf("the held request: %d", r.status)
			}
			if r := c.receive(second); r.status != http.StatusOK {
				t.Fatalf("the request sent behind it: %d %s", r.status, r.body)
			}
		})

		t.Run("a client that half-closes after pipelining is answered", func(t *testing.T) {
			_, path, etag := waitingOn()
			c := dial(t, en, ln)
			first, second := conditional(path, acme.bearer(), etag, "15"), get(path, "Authorization", acme.bearer())
			c.send(first, second)
			if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if r := c.receive(first); r.status != http.StatusNotModified || r.header.Get("Preference-Applied") != "wait=1" {
				t.Fatalf("the held request: %d %v; want a 304 that applied the wait", r.status, r.header)
			}
			if r := c.receive(second); r.status != http.StatusOK {
				t.Fatalf("the request sent behind it: %d %s", r.status, r.body)
			}
			if !c.closed() {
				t.Fatal("the connection of a half-closed client stays open")
			}
		})

		t.Run("a client that leaves frees its slot", func(t *testing.T) {
			_, path, etag := waitingOn()
			c := dial(t, en, ln)
			c.send(conditional(path, acme.bearer(), etag, "15"))
			held(t, 1)
			c.conn.Close()
			waitFor(t, "the waiter to leave", func() bool { return waiting(t, en) == 0 })
			waitFor(t, "its connection to close", func() bool { return ln.Open() == 0 && ln.Away() == 0 })
		})
	})
}

// logLine returns the access log line of a request id, decoded, once it is
// written (a parked request logs after its answer is sent).
func logLine(t *testing.T, en *env, id string) map[string]any {
	t.Helper()
	var found string
	waitFor(t, "the access log line of "+id, func() bool {
		for _, line := range strings.Split(en.logs.String(), "\n") {
			if strings.Contains(line, `"request_id":"`+id+`"`) && strings.Contains(line, `"msg":"request"`) {
				found = line
				return true
			}
		}
		return false
	})
	return response{body: []byte(found)}.json(t)
}

// TestParkedConnectionsCloseWhenIdle: an answered connection that sends
// nothing more is closed after the server's idle timeout, as net/http
// closes its own.
func TestParkedConnectionsCloseWhenIdle(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t), func(c *server.Config) { c.MaxWait = time.Second })
	ln, _ := listening(t, en, func(s *http.Server) { s.IdleTimeout = 200 * time.Millisecond })
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	path := jobPath(job.Type, job.ID)
	c := dial(t, en, ln)
	req := conditional(path, acme.bearer(), en.do(get(path, "Authorization", acme.bearer())).header.Get("ETag"), "1")
	c.send(req)
	if r := c.receive(req); r.status != http.StatusNotModified {
		t.Fatalf("%d; want 304", r.status)
	}
	if !c.closed() {
		t.Fatal("the idle connection was not closed")
	}
	waitFor(t, "its slot to be free", func() bool { return ln.Open() == 0 })
}

// TestShutdownAnswersParkedRequests: at shutdown, parked requests are
// answered at once, their connections closed, and Drain waits for them.
func TestShutdownAnswersParkedRequests(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t))
	ln, srv := listening(t, en)
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	path := jobPath(job.Type, job.ID)
	req := conditional(path, acme.bearer(), en.do(get(path, "Authorization", acme.bearer())).header.Get("ETag"), "20")
	conns := make([]*rawConn, 3)
	for i := range conns {
		conns[i] = dial(t, en, ln)
		conns[i].send(req)
	}
	waitFor(t, "three parked requests", func() bool { return ln.Away() == 3 })
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ln.Drain(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("shutdown took %v with parked requests", took)
	}
	if ln.Away() != 0 || ln.Open() != 0 {
		t.Fatalf("after Drain: %d away, %d open", ln.Away(), ln.Open())
	}
	for _, c := range conns {
		if r := c.receive(req); r.status != http.StatusNotModified {
			t.Fatalf("at shutdown: %d; want 304", r.status)
		}
		if !c.closed() {
			t.Fatal("connection left open at shutdown")
		}
	}
}
