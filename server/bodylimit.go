package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// limitBody refuses request bodies larger than limit bytes with 413. The API
// takes no body, so the common request (net/http gives it http.NoBody) passes
// untouched; any other body is read through http.MaxBytesReader, whose error
// the error handler turns into 413.
func limitBody(c echo.Context, limit int64) error {
	req := c.Request()
	if req.ContentLength > limit {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
	}
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
	}
	return nil
}
