package server

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
)

// logRequest writes the access log line of a request that started at start
// and ended at end: request id, method, path, status, latency, size, and the
// organization and key id of an authenticated request. It never logs headers,
// so no key material reaches the log.
//
// It hands the record straight to the logger's handler: this runs once per
// request, and slog.Logger's methods would also read the clock again and
// capture the caller's program counter, which no handler here uses.
func logRequest(logger *slog.Logger, c echo.Context, start, end time.Time) {
	req, resp := c.Request(), c.Response()
	level := slog.LevelInfo
	if resp.Status >= 500 {
		level = slog.LevelError
	}
	ctx := req.Context()
	h := logger.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	attrs := [8]slog.Attr{
		slog.String("request_id", requestID(c)),
		slog.String("method", req.Method),
		slog.String("path", req.URL.EscapedPath()),
		slog.Int("status", resp.Status),
		slog.Duration("latency", end.Sub(start)),
		slog.Int64("bytes", resp.Size),
	}
	n := 6
	if p, ok := PrincipalFrom(ctx); ok {
		attrs[6], attrs[7] = slog.String("org_id", p.OrgID.String()), slog.String("key_id", p.KeyID.String())
		n = 8
	}
	r := slog.NewRecord(end, level, "request", 0)
	r.AddAttrs(attrs[:n]...)
	_ = h.Handle(ctx, r) // a failed log write has nowhere better to go
}
