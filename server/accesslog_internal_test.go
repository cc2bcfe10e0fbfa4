package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
)

func BenchmarkLogRequest(b *testing.B) {
	fast, err := NewLogger(io.Discard, "json", slog.LevelInfo)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		logger *slog.Logger
	}{
		{"NewLogger", fast},
		{"slog", slog.New(slog.NewJSONHandler(io.Discard, nil))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/api/jobs/exportlogs/0190a8f2-7c3e-7d4b-9f10-abcdef012345", nil)
			st := &requestState{Context: req.Context(), parent: req.Context(), id: newRequestID(), method: http.MethodGet, path: req.URL.EscapedPath(),
				principal: Principal{OrgID: uuid.New(), KeyID: uuid.New()}, authenticated: true}
			l := newAccessLog(bc.logger)
			start := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				l.log(st, 200, 174, start, start.Add(5*time.Microsecond))
			}
		})
	}
}

// TestAccessLogKeyHandlersAreBounded: the per-key handlers never outgrow
// their bound, however many keys are used.
func TestAccessLogKeyHandlersAreBounded(t *testing.T) {
	l := newAccessLog(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	for i := range maxAccessLogKeys + 50 {
		l.keyHandler(Principal{OrgID: uuid.New(), KeyID: uuid.New()})
		if n := len(l.byKey); n > maxAccessLogKeys {
			t.Fatalf("after %d keys, %d handlers kept; the bound is %d", i+1, n, maxAccessLogKeys)
		}
	}
}

// accessLineCase is one access log line, as FuzzAccessLine takes it.
type accessLineCase struct {
	id, method, path, rawPath string
	status                    int
	latency, bytes, unixNano  int64
	authenticated, utc        bool
}

// TestAccessLineMatchesSlog: a NewLogger logger's access lines, written by
// appendAccessLine, are byte for byte what slog writes, in both formats;
// the lines it cannot write plainly go through slog.
func TestAccessLineMatchesSlog(t *testing.T) {
	for _, tc := range accessLineCases {
		t.Run(tc.id+" "+tc.method+" "+tc.path, func(t *testing.T) { checkAccessLine(t, tc) })
	}
}

// accessLineCases are the test's table and the fuzz test's seeds.
var accessLineCases = []accessLineCase{
	{id: "d21facc864fee5dd379e5c4800efc03d", method: "GET", path: "/api/jobs/createmodel/01a22ade-9c33-73ef-a2f6-b09f0827fb7a", status: 200, latency: 681056, bytes: 126, unixNano: 1796015883982307799, authenticated: true, utc: true},
	{id: "trace-1.a_b", method: "GET", path: "/api/jobs/x/y", status: 401, latency: 1, bytes: 0, unixNano: 1796015883000000000},
	{id: "abc", method: "HEAD", path: "/api/jobs/createmodel/01a22ade-9c33-73ef-a2f6-b09f0827fb7a", status: 304, latency: 20 * int64(time.Second), bytes: 0, unixNano: 1796015883999999999, authenticated: true},
	{id: "abc", method: "GET", path: "/a b/=c/\"d\"/ü/\x01", status: 404, latency: 1500, unixNano: 1},
	{id: "abc", method: "GET", path: "/a%2Fb", rawPath: "/a%2Fb", status: 404, latency: 1500, unixNano: 1},
	{id: "abc", method: "PO ST", path: "/", status: 500, latency: 12345678901, bytes: 1 << 40, unixNano: -62135596800000000},
	{id: "abc", method: "GET", path: "/!$&'()*+,;:@~", status: 503, latency: 0, bytes: 58, unixNano: 253402300799999999999 % (1 << 62)},
}

func FuzzAccessLine(f *testing.F) {
	for _, tc := range accessLineCases {
		f.Add(tc.id, tc.method, tc.path, tc.rawPath, tc.status, tc.latency, tc.bytes, tc.unixNano, tc.authenticated, tc.utc)
	}
	f.Fuzz(func(t *testing.T, id, method, path, rawPath string, status int, latency, size, unixNano int64, authenticated, utc bool) {
		checkAccessLine(t, accessLineCase{id: id, method: method, path: path, rawPath: rawPath, status: status,
			latency: latency, bytes: size, unixNano: unixNano, authenticated: authenticated, utc: utc})
	})
}

// checkAccessLine logs tc through a NewLogger logger and through slog's
// own handler, in both formats, and compares the lines.
func checkAccessLine(t *testing.T, tc accessLineCase) {
	t.Helper()
	end := time.Unix(0, tc.unixNano)
	if tc.utc {
		end = end.UTC()
	}
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: tc.path, RawPath: tc.rawPath}}
	st := &requestState{id: tc.id, method: tc.method, authenticated: tc.authenticated, path: req.URL.EscapedPath(),
		principal: Principal{OrgID: uuid.MustParse("01a22ade-8fc9-792d-af6d-9823db648f96"), KeyID: uuid.MustParse("01a22ade-8fd4-73f6-ae35-dfddeb152305")}}
	st.Context, st.parent = t.Context(), t.Context()
	for _, format := range LogFormats {
		var fast, slow bytes.Buffer
		logger, err := NewLogger(&fast, format, slog.LevelInfo)
		if err != nil {
			t.Fatal(err)
		}
		opts := &slog.HandlerOptions{Level: slog.LevelInfo}
		reference := slog.New(slog.NewJSONHandler(&slow, opts))
		if format == "text" {
			reference = slog.New(slog.NewTextHandler(&slow, opts))
		}
		start := end.Add(-time.Duration(tc.latency))
		newAccessLog(logger).log(st, tc.status, tc.bytes, start, end)
		newAccessLog(reference).log(st, tc.status, tc.bytes, start, end)
		if fast.String() != slow.String() {
			t.Fatalf("%s line:\n got %q\nwant %q", format, fast.String(), slow.String())
		}
	}
}
