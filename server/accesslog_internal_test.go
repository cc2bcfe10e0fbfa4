package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
)

func BenchmarkLogRequest(b *testing.B) {
	req := httptest.NewRequest(http.MethodGet, "/api/jobs/exportlogs/0190a8f2-7c3e-7d4b-9f10-abcdef012345", nil)
	st := &requestState{Context: req.Context(), id: newRequestID(), principal: Principal{OrgID: uuid.New(), KeyID: uuid.New()}, authenticated: true}
	req = req.WithContext(st)
	l := newAccessLog(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		l.log(req, st, 200, 174, start, start.Add(5*time.Microsecond))
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
