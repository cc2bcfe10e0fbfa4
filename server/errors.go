package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/polyjobs/polyjobs/generated/api"
)

// wwwAuthenticate names both accepted schemes on every 401.
const wwwAuthenticate = `Bearer realm="polytomic", Basic realm="polytomic", charset="UTF-8"`

// maxMessageLen bounds an error message echoed to the client.
const maxMessageLen = 300

// errorKeys are the machine-readable keys of ApiError bodies, by status.
var errorKeys = map[int]string{
	http.StatusBadRequest:                  "bad_request",
	http.StatusNotFound:                    "not_found",
	http.StatusMethodNotAllowed:            "method_not_allowed",
	http.StatusRequestEntityTooLarge:       "payload_too_large",
	http.StatusRequestHeaderFieldsTooLarge: "headers_too_large",
	http.StatusTooManyRequests:             "rate_limited",
	http.StatusInternalServerError:         "internal_error",
	http.StatusServiceUnavailable:          "unavailable",
}

// errorHandler is the echo.HTTPErrorHandler: every error, wherever it arises
// (validator, binder, handler, panic, unknown route, wrong method), leaves
// through it as the spec's JSON error shape. 401s are a RestErrResponse with a
// WWW-Authenticate header; everything else is an ApiError. Server errors are
// logged with their cause and answered without it.
type errorHandler struct {
	logger *slog.Logger
}

func (h *errorHandler) handle(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, message := classify(err)
	resp := c.Response()
	if status == http.StatusUnauthorized {
		resp.Header().Set(echo.HeaderWWWAuthenticate, wwwAuthenticate)
		h.write(c, status, api.RestErrResponse{
			Code:   status,
			Error:  message,
			Status: http.StatusText(status),
		})
		return
	}
	body := api.APIError{Status: status, Message: message}
	if key, ok := errorKeys[status]; ok {
		body.Key = &key
	}
	if status == http.StatusMethodNotAllowed {
		resp.Header().Set(echo.HeaderAllow, http.MethodGet)
	}
	if status >= http.StatusInternalServerError {
		rid := requestID(c)
		h.logger.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
			slog.String("request_id", rid), slog.Int("status", status), slog.String("error", err.Error()))
		body.Message = fmt.Sprintf("internal server error; quote request id %s when reporting it", rid)
		if status == http.StatusServiceUnavailable {
			body.Message = fmt.Sprintf("service unavailable; retry later (request id %s)", rid)
		}
		body.Metadata = &map[string]any{"request_id": rid}
	}
	h.write(c, status, body)
}

func (h *errorHandler) write(c echo.Context, status int, body any) {
	if err := c.JSON(status, body); err != nil {
		h.logger.LogAttrs(c.Request().Context(), slog.LevelWarn, "writing error response failed",
			slog.String("request_id", requestID(c)), slog.String("error", err.Error()))
	}
}

// classify turns any error into a status and a message safe to show.
func classify(err error) (int, string) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, "request body too large"
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return http.StatusInternalServerError, ""
	}
	status := he.Code
	var secErr *openapi3filter.SecurityRequirementsError
	if status == http.StatusForbidden && errors.As(he.Internal, &secErr) {
		// The validator reads the body before authenticating; a failed read
		// (such as a body over the limit) is that failure, not an auth one.
		for _, e := range secErr.Errors {
			if inner := (*echo.HTTPError)(nil); errors.As(e, &inner) {
				return classify(inner)
			}
		}
		// Otherwise the validator answers 403 because no scheme recognized
		// the request's credentials; the contract says that is a 401.
		return http.StatusUnauthorized, "missing credentials: send Authorization: Bearer <user API key>, or Basic credentials with an organization id and an organization API key"
	}
	if status < 400 || status > 599 {
		return http.StatusInternalServerError, ""
	}
	message, _ := he.Message.(string)
	if message == "" || status >= 500 {
		message = http.StatusText(status)
	}
	switch status {
	case http.StatusNotFound:
		// Job lookups answer 404 through the strict handler's typed
		// response; an error with 404 is always an unknown route.
		message = "no such endpoint; the API serves GET /api/jobs/{type}/{id}"
	case http.StatusMethodNotAllowed:
		message = "method not allowed; the endpoint accepts GET"
	case http.StatusRequestEntityTooLarge:
		message = "request body too large"
	}
	return status, truncate(message, maxMessageLen)
}

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence,
// and replaces invalid UTF-8, so a message is always valid JSON text.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
