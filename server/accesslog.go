package server

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
)

// logRequest writes the access log line of a request: request id, method,
// path, status, latency, size, and the organization and key id of an
// authenticated request. It never logs headers, so no key material reaches
// the log.
func logRequest(logger *slog.Logger, c echo.Context, start time.Time) {
	req, resp := c.Request(), c.Response()
	level := slog.LevelInfo
	if resp.Status >= 500 {
		level = slog.LevelError
	}
	ctx := req.Context()
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("request_id", requestID(c)),
		slog.String("method", req.Method),
		slog.String("path", req.URL.EscapedPath()),
		slog.Int("status", resp.Status),
		slog.Duration("latency", time.Since(start)),
		slog.Int64("bytes", resp.Size),
	)
	if p, ok := PrincipalFrom(ctx); ok {
		attrs = append(attrs, slog.String("org_id", p.OrgID.String()), slog.String("key_id", p.KeyID.String()))
	}
	logger.LogAttrs(ctx, level, "request", attrs...)
}
