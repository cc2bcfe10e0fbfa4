package server

import (
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// accessLog writes one line per request: request id, method, path, status,
// latency, size, and the organization and key id of an authenticated
// request. It never logs headers, so no key material reaches the log.
//
// It runs once per request, so it avoids the work it can: records go straight
// to the handler (slog.Logger's methods would read the clock again and
// capture a program counter no handler uses), and for each API key it keeps a
// handler with the key's org_id and key_id already formatted (WithAttrs), so
// that a request formats only what is its own.
type accessLog struct {
	handler slog.Handler

	mu    sync.RWMutex
	byKey map[uuid.UUID]slog.Handler
}

// maxAccessLogKeys bounds the per-key handlers kept; when full, they are
// dropped and made again as keys are used.
const maxAccessLogKeys = 1024

func newAccessLog(logger *slog.Logger) *accessLog {
	return &accessLog{handler: logger.Handler(), byKey: map[uuid.UUID]slog.Handler{}}
}

// log writes the line of a request that started at start and ended at end.
func (l *accessLog) log(c echo.Context, start, end time.Time) {
	req, resp := c.Request(), c.Response()
	level := slog.LevelInfo
	if resp.Status >= 500 {
		level = slog.LevelError
	}
	ctx := req.Context()
	if !l.handler.Enabled(ctx, level) {
		return
	}
	h := l.handler
	if p, ok := PrincipalFrom(ctx); ok {
		h = l.keyHandler(p)
	}
	r := slog.NewRecord(end, level, "request", 0)
	r.AddAttrs(
		slog.String("request_id", requestID(c)),
		slog.String("method", req.Method),
		slog.String("path", req.URL.EscapedPath()),
		slog.Int("status", resp.Status),
		slog.Duration("latency", end.Sub(start)),
		slog.Int64("bytes", resp.Size),
	)
	_ = h.Handle(ctx, r) // a failed log write has nowhere better to go
}

// keyHandler returns the handler that adds p's org_id and key_id.
func (l *accessLog) keyHandler(p Principal) slog.Handler {
	l.mu.RLock()
	h, ok := l.byKey[p.KeyID]
	l.mu.RUnlock()
	if ok {
		return h
	}
	// A key belongs to one organization for good, so the pair never changes.
	h = l.handler.WithAttrs([]slog.Attr{slog.String("org_id", p.OrgID.String()), slog.String("key_id", p.KeyID.String())})
	l.mu.Lock()
	if len(l.byKey) >= maxAccessLogKeys {
		clear(l.byKey)
	}
	l.byKey[p.KeyID] = h
	l.mu.Unlock()
	return h
}
