package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store"
)

// slowStore makes every job lookup take a while, so requests are in flight
// when the server shuts down.
type slowStore struct {
	store.Store
	delay time.Duration
}

func (s slowStore) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	time.Sleep(s.delay)
	return s.Store.Job(ctx, orgID, id)
}

// serveOn starts srv on a loopback listener and returns its base URL.
func serveOn(t *testing.T, srv *http.Server) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), done
}

// TestUnreadableBodies: a body shorter than its Content-Length, or
// malformed chunks, get a 400 that says which, and nothing of the
// connection (net/http's errors name its addresses).
func TestUnreadableBodies(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t))
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	base, _ := serveOn(t, server.HTTPServer("", en.e, nil))
	for _, tc := range []struct{ name, framing, body, message string }{
		{"short", "Content-Length: 10", "abc", "the request body ended before its Content-Length"},
		{"malformed chunks", "Transfer-Encoding: chunked", "zz\r\nabc\r\n", "its chunked encoding is malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n%s\r\n\r\n%s", jobPath(job.Type, job.ID), acme.bearer(), tc.framing, tc.body)
			conn.(*net.TCPConn).CloseWrite()
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.message) || strings.Contains(string(body), "127.0.0.1") {
				t.Fatalf("%d %s; want a 400 saying %q, without addresses", resp.StatusCode, body, tc.message)
			}
		})
	}
}

// TestShutdownCutsInjectedLatency: a request waiting out a latency fault
// answers as soon as the server shuts down, rather than holding the
// shutdown for the fault's whole latency.
func TestShutdownCutsInjectedLatency(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t), func(c *server.Config) { c.Control = &control.Options{} })
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
	req := httptest.NewRequest(http.MethodPost, control.Prefix+"/faults", strings.NewReader(`{"latency_ms":60000}`))
	req.Host, req.RemoteAddr = "127.0.0.1", "127.0.0.1:1234"
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("inject latency: %d %s", rec.Code, rec.Body)
	}
	srv := server.HTTPServer("", en.e, nil)
	base, _ := serveOn(t, srv)
	answer := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, base+jobPath(job.Type, job.ID), nil)
		req.Header.Set("Authorization", acme.bearer())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answer <- 0
			return
		}
		resp.Body.Close()
		answer <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // the request waits out its latency
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v; the injected latency held it", err)
	}
	if status := <-answer; status != http.StatusOK {
		t.Fatalf("the delayed request: %d; want its 200", status)
	}
}

// TestGracefulShutdownFinishesInFlightRequests shuts the server down while 20
// requests are being served: all of them complete with 200, and afterwards
// new connections are refused.
func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	raw := storeFactories["sqlite"](t)
	en := newEnv(t, slowStore{Store: raw, delay: 300 * time.Millisecond})
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
	srv := server.HTTPServer("", en.e, nil)
	base, served := serveOn(t, srv)

	const inFlight = 20
	var wg sync.WaitGroup
	started := make(chan struct{}, inFlight)
	results := make(chan error, inFlight)
	for i := 0; i < inFlight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, base+jobPath(job.Type, job.ID), nil)
			req.Header.Set("Authorization", acme.bearer())
			started <- struct{}{}
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				results <- err
				return
			}
			defer resp.Body.Close()
			if _, err := io.ReadAll(resp.Body); err != nil {
				results <- err
				return
			}
			if resp.StatusCode != http.StatusOK {
				results <- errors.New(resp.Status)
				return
			}
			results <- nil
		}()
	}
	for i := 0; i < inFlight; i++ {
		<-started
	}
	time.Sleep(100 * time.Millisecond) // let the requests reach the slow lookup
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("an in-flight request failed: %v", err)
		}
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Fatal("a new connection was accepted after shutdown")
	}
}

func TestHTTPServerLimits(t *testing.T) {
	srv := server.HTTPServer(":0", http.NotFoundHandler(), nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("HTTPServer leaves a limit unset: %+v", srv)
	}
	if srv.ReadHeaderTimeout > 10*time.Second || srv.IdleTimeout > 5*time.Minute {
		t.Fatalf("HTTPServer limits are too lax: header %v, idle %v", srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
}

// TestSlowClientsCannotHoldConnections runs the server's limits, shortened so
// the test is quick, against a client that trickles its headers and one that
// idles on a keep-alive connection: the server closes both.
func TestSlowClientsCannotHoldConnections(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t))
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	srv := server.HTTPServer("", en.e, nil)
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	srv.IdleTimeout = 200 * time.Millisecond
	base, _ := serveOn(t, srv)
	t.Cleanup(func() { srv.Close() })
	addr := base[len("http://"):]

	t.Run("trickled headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closed := make(chan struct{})
		go func() {
			io.Copy(io.Discard, conn) // returns when the server closes the connection
			close(closed)
		}()
		for i := 0; i < 50; i++ {
			if _, err := conn.Write([]byte("X")); err != nil {
				break
			}
			select {
			case <-closed:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		t.Fatal("the server kept a connection whose headers never ended for 2.5 s")
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "GET " + jobPath(job.Type, job.ID) + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + acme.bearer() + "\r\n\r\n"
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("first request: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("idle connection: read returned %v; want EOF once the server closes it", err)
		}
	})
}

// TestConnectionCap fills a server capped at a few connections with idle
// keep-alive clients: a new client is still served at once, because idle
// connections are shed first; with every slot busy in a request, a new
// client waits for one, and is served once it is free.
func TestConnectionCap(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t))
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	gate := make(chan struct{})
	var blocked sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("block") {
			blocked.Done()
			<-gate
		}
		en.e.ServeHTTP(w, r)
	})
	const max = 4
	limited, url := capped(t, h, max, jobPath(job.Type, job.ID))
	get := func(c *http.Client, query string) error {
		req, _ := http.NewRequest(http.MethodGet, url+query, nil)
		req.Header.Set("Authorization", acme.bearer())
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
	newClient := func() *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	}

	// max idle keep-alive connections, then one more client.
	for range max {
		if err := get(newClient(), ""); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every slot to be taken", func() bool { return limited.Open() == max })
	start := time.Now()
	if err := get(newClient(), ""); err != nil {
		t.Fatalf("a client beyond the idle ones: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a client beyond the idle ones waited %v; idle connections should have been shed", d)
	}

	// Every slot busy in a request: the next client waits, then is served.
	blocked.Add(max)
	for range max {
		go get(newClient(), "?block")
	}
	blocked.Wait()
	served := make(chan error, 1)
	go func() { served <- get(newClient(), "") }()
	select {
	case err := <-served:
		t.Fatalf("served (%v) while every connection was busy", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(gate)
	if err := <-served; err != nil {
		t.Fatalf("once a slot was free: %v", err)
	}
	if limited.Open() > max {
		t.Fatalf("%d connections open; the cap is %d", limited.Open(), max)
	}
}

// TestKeepAlivesComeBack: a server at its connection cap sheds idle
// connections and answers with Connection: close; once under half its cap
// it keeps connections alive again, whatever the cap, 1 included.
func TestKeepAlivesComeBack(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t))
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	for _, max := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			limited, url := capped(t, en.e, max, jobPath(job.Type, job.ID))
			// get makes a request on a connection of its own, and says
			// whether the server would keep it.
			get := func() (keep bool, tr *http.Transport) {
				tr = &http.Transport{MaxConnsPerHost: 1}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", acme.bearer())
				resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: tr}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return !resp.Close, tr
			}
			var idle []*http.Transport
			for range max + 1 { // the last one sheds an idle connection
				_, tr := get()
				idle = append(idle, tr)
			}
			for _, tr := range idle {
				tr.CloseIdleConnections()
			}
			waitFor(t, "every connection to close", func() bool { return limited.Open() == 0 })
			if keep, tr := get(); !keep {
				t.Fatal("the server no longer keeps connections alive, though none is open")
			} else {
				tr.CloseIdleConnections()
			}
		})
	}
}

// capped serves h on a Listener of max connections, until the test ends,
// and returns it with the URL of path on it.
func capped(t *testing.T, h http.Handler, max int, path string) (*server.Listener, string) {
	t.Helper()
	srv := server.HTTPServer("", h, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := server.NewListener(ln, srv, max)
	go srv.Serve(limited)
	t.Cleanup(func() { srv.Close() })
	return limited, "http://" + ln.Addr().String() + path
}

func TestDefaultMaxConns(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{256, 64}, {1024, 768}, {16384, 14336}, {1 << 20, 32768},
	} {
		if got := server.DefaultMaxConns(tc.nofile); got != tc.want {
			t.Errorf("DefaultMaxConns(%d) = %d; want %d", tc.nofile, got, tc.want)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWriteTimeoutCutsClientsThatDoNotRead: a client that asks for a large
// answer and does not read it is cut off after the write timeout, on plain
// connections and on a Listener's (whose write deadline is armed lazily),
// also after a run of quick requests on the same keep-alive connection.
func TestWriteTimeoutCutsClientsThatDoNotRead(t *testing.T) {
	const large = 256 << 20
	const writeTimeout = 300 * time.Millisecond
	chunk := make([]byte, 64<<10)
	for _, listener := range []bool{false, true} {
		t.Run(fmt.Sprintf("listener=%v", listener), func(t *testing.T) {
			cut := make(chan time.Duration, 1)
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/large" {
					return
				}
				start := time.Now()
				for n := 0; n < large; n += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						cut <- time.Since(start)
						return
					}
				}
				close(cut)
			})
			srv := server.HTTPServer("", handler, nil)
			srv.WriteTimeout = writeTimeout
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if listener {
				ln = server.NewListener(ln, srv, 16)
			}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
			br := bufio.NewReader(conn)
			for range 20 {
				if _, err := conn.Write([]byte("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
			}
			if _, err := conn.Write([]byte("GET /large HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			// The client reads nothing more.
			select {
			case after, ok := <-cut:
				if !ok {
					t.Fatal("the server wrote the whole answer to a client that did not read it")
				}
				if after < writeTimeout/2 {
					t.Fatalf("the write failed after %v, before the write timeout (%v) could have run out", after, writeTimeout)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("after 10 s the server was still writing to a client that did not read (write timeout %v)", writeTimeout)
			}
		})
	}
}
