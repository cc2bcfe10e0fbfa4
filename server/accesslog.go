package server

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
)

// accessLog writes one line per request: request id, method, path, status,
// latency, and the organization and key id of an authenticated request. It
// never logs headers, so no key material reaches the log. It hands errors to
// the error handler itself so that the status it logs is the one sent.
func accessLog(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			req, resp := c.Request(), c.Response()
			level := slog.LevelInfo
			if resp.Status >= 500 {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("request_id", requestID(c)),
				slog.String("method", req.Method),
				slog.String("path", req.URL.EscapedPath()),
				slog.Int("status", resp.Status),
				slog.Duration("latency", time.Since(start)),
				slog.Int64("bytes", resp.Size),
			}
			if p, ok := PrincipalFrom(req.Context()); ok {
				attrs = append(attrs, slog.String("org_id", p.OrgID.String()), slog.String("key_id", p.KeyID.String()))
			}
			logger.LogAttrs(req.Context(), level, "request", attrs...)
			return nil
		}
	}
}
