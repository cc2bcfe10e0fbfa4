package server_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/apidocs"
)

// httpLayerStatuses are the answers net/http itself gives, in text/plain
// before any handler runs, to requests it cannot parse; the README lists
// them. Everything else comes from the application, in the spec's shapes.
var httpLayerStatuses = map[int]bool{
	http.StatusBadRequest:                  true, // malformed request line, header, Host or escape
	http.StatusRequestHeaderFieldsTooLarge: true, // headers far past MaxHeaderBytes
	http.StatusNotImplemented:              true, // unsupported Transfer-Encoding
	http.StatusHTTPVersionNotSupported:     true, // an HTTP version it does not speak
	http.StatusExpectationFailed:           true, // an Expect other than 100-continue
}

// FuzzRawRequest writes raw bytes to a real listener of the server and reads
// what comes back: nothing (the request never ended), net/http's own answer
// to what it cannot parse (httpLayerStatuses, text/plain), or the
// application's, which must carry its usual headers and match openapi.yaml.
// The handler never panics, and the server keeps serving.
func FuzzRawRequest(f *testing.F) {
	fe := newFuzzEnv(f)
	job := fe.jobsA[1]
	path := jobPath(job.Type, job.ID)
	// Seeds with this run's keys; the malformed ones are in
	// testdata/fuzz/FuzzRawRequest.
	for _, seed := range []string{
		"GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + fe.a.bearer() + "\r\n\r\n",
		"HEAD " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + fe.a.bearer() + "\r\n\r\n",
		"GET " + path + " HTTP/1.0\r\nAuthorization: " + fe.a.bearer() + "\r\n\r\n",
		"GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + fe.a.bearer() + "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + fe.a.bearer() + "\r\nContent-Length: 10\r\n\r\nabc",
		"GET " + path + " HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", server.MaxHeaderBytes) + "\r\n\r\n",
		"GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + fe.a.bearer() + "\r\nAuthorization: " + fe.a.bearer() + "\r\n\r\n",
		"GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + fe.a.bearer() + "\r\nIf-None-Match: *\r\nPrefer: wait=0\r\n\r\n",
		// Held, parked off net/http, then the client half-closes; and a
		// request pipelined behind a held one.
		"GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + fe.a.bearer() + "\r\nIf-None-Match: *\r\nPrefer: wait=1\r\n\r\n",
		"GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + fe.a.bearer() + "\r\nIf-None-Match: *\r\nPrefer: wait=1\r\n\r\n" +
			"GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	srv := server.HTTPServer("", fe.e, nil)
	srv.ReadHeaderTimeout = 500 * time.Millisecond
	srv.ReadTimeout = time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	// On a Listener, as `polyjobs serve`: held requests are parked.
	go srv.Serve(server.NewListener(ln, srv, 256))
	f.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	f.Fuzz(func(t *testing.T, raw []byte) {
		fe.logs.Reset()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(raw); err != nil {
			return // the server closed the connection already: nothing to check
		}
		conn.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			// No answer: a request that never ended, or one net/http dropped.
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
				checkNoPanic(t, fe, raw)
				return
			}
			t.Fatalf("%q: reading the answer: %v", raw, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkNoPanic(t, fe, raw)
		if docsAnswer(raw) {
			// The API reference's own answer (server/apidocs, tested there).
			if resp.StatusCode >= 500 {
				t.Fatalf("%q: the API reference answered %d %q", raw, resp.StatusCode, body)
			}
			return
		}
		if resp.Header.Get("X-Request-Id") == "" {
			// net/http's own answer, before any handler.
			if ct := resp.Header.Get("Content-Type"); !httpLayerStatuses[resp.StatusCode] || ct != "" && !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("%q: %d %q from the HTTP layer; want one of the statuses the README lists", raw, resp.StatusCode, body)
			}
			return
		}
		// The application's answer: the spec's shapes. Rebuild the request
		// as the server read it, for the validator's routing.
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil || resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge || resp.StatusCode == http.StatusRequestEntityTooLarge {
			if err := fe.spec.validateAPIError(body); err != nil {
				t.Fatalf("%q: %d %s: %v", raw, resp.StatusCode, body, err)
			}
			return
		}
		if req.Method == http.MethodHead {
			if len(body) != 0 {
				t.Fatalf("%q: HEAD answered with a body", raw)
			}
			return
		}
		if err := fe.spec.check(req, response{status: resp.StatusCode, header: resp.Header, body: body}); err != nil && resp.StatusCode != http.StatusNotModified {
			t.Fatalf("%q: %d %v %s: %v", raw, resp.StatusCode, resp.Header, body, err)
		}
	})
}

// docsAnswer reports whether raw starts with a GET or HEAD request that the
// API reference answers (server/apidocs): its paths, and / which redirects to
// it.
func docsAnswer(raw []byte) bool {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil || req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	switch p := req.URL.Path; {
	case p == "/", p == apidocs.DocsPath, p == apidocs.YAMLPath, p == apidocs.JSONPath:
		return true
	default:
		return strings.HasPrefix(p, apidocs.DocsPath+"/")
	}
}

// checkNoPanic fails when the last request made the handler panic.
func checkNoPanic(t *testing.T, fe *fuzzEnv, raw []byte) {
	t.Helper()
	if logs := fe.logs.String(); strings.Contains(logs, `"msg":"panic"`) {
		t.Fatalf("%q: the handler panicked:\n%s", raw, logs)
	}
}

// isReset reports whether err is a connection reset by the server.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}
