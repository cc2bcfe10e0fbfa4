package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/polyjobs/polyjobs/generated/api"
)

// errorKinds are the error statuses the server answers, each with the key
// and the message of its ApiError body. A message here is the default; an
// apiError may carry a more precise one. 5xx messages are replaced by one
// naming the request id, so that internals never reach the client.
var errorKinds = map[int]struct{ key, message string }{
	http.StatusBadRequest:                  {"bad_request", "bad request"},
	http.StatusUnauthorized:                {"unauthorized", "invalid credentials"},
	http.StatusNotFound:                    {"not_found", "no such endpoint; the API serves GET /api/jobs/{type}/{id}"},
	http.StatusMethodNotAllowed:            {"method_not_allowed", "method not allowed; the endpoint accepts GET"},
	http.StatusRequestEntityTooLarge:       {"payload_too_large", "request body too large"},
	http.StatusRequestHeaderFieldsTooLarge: {"headers_too_large", "request headers too large"},
	http.StatusTooManyRequests:             {"rate_limited", "too many requests"},
	http.StatusInternalServerError:         {"internal_error", "internal server error"},
	http.StatusServiceUnavailable:          {"unavailable", "service unavailable"},
}

// kindOf returns the key and message of status: errorKinds', or for another
// status (a fault injected through the control API) its status text, or
// "status 599" for a status without one.
func kindOf(status int) struct{ key, message string } {
	if kind, ok := errorKinds[status]; ok {
		return kind
	}
	text := statusPhrase(status)
	return struct{ key, message string }{strings.ReplaceAll(text, " ", "_"), text}
}

// statusPhrase is status's reason phrase in lower case, or "status 599" for
// a status without one.
func statusPhrase(status int) string {
	if text := http.StatusText(status); text != "" {
		return strings.ToLower(text)
	}
	return "status " + strconv.Itoa(status)
}

// apiError is an error the server answers with its status and a message
// that is safe to show, and with Retry-After when retryAfter is set.
type apiError struct {
	status     int
	message    string // empty: errorKinds' message
	retryAfter string // the Retry-After header: seconds, or an HTTP date
}

func (e *apiError) Error() string {
	if e.message != "" {
		return e.message
	}
	return kindOf(e.status).message
}

// Errors the handler returns.
var (
	errJobNotFound = &apiError{status: http.StatusNotFound, message: "job not found"}
	// errNoPrincipal means a request reached the handler unauthenticated: a
	// pipeline bug, answered with a 500.
	errNoPrincipal = errors.New("handler reached without an authenticated principal")
)

// missingCredentials is the 401 message when no scheme recognized the
// request's Authorization header: there was none, or it was of another
// scheme, or empty.
const missingCredentials = "missing or unsupported credentials: send Authorization: Bearer <user API key>, or Basic credentials with an organization id and an organization API key"

// wwwAuthenticate names both accepted schemes on every 401.
const wwwAuthenticate = `Bearer realm="polytomic", Basic realm="polytomic", charset="UTF-8"`

// maxMessageLen bounds an error message echoed to the client.
const maxMessageLen = 300

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
	h.respond(c.Response(), c.Request().Context(), requestID(c), err)
}

// respond writes err to w as the spec's JSON error; rid is the request's id.
// It is handle for any http.ResponseWriter: a parked request (park.go) is
// answered outside echo.
func (h *errorHandler) respond(w http.ResponseWriter, ctx context.Context, rid string, err error) {
	status, message, retryAfter := classify(err)
	header := w.Header()
	if retryAfter != "" {
		header.Set("Retry-After", retryAfter)
	}
	var body any
	switch status {
	case http.StatusUnauthorized:
		header.Set(echo.HeaderWWWAuthenticate, wwwAuthenticate)
		body = api.RestErrResponse{Code: status, Error: message, Status: http.StatusText(status)}
	default:
		if status == http.StatusMethodNotAllowed {
			header.Set(echo.HeaderAllow, allowedMethods)
		}
		kind := kindOf(status)
		e := api.APIError{Status: status, Message: message, Key: &kind.key}
		if status >= http.StatusInternalServerError {
			h.logger.LogAttrs(ctx, slog.LevelError, "request failed",
				slog.String("request_id", rid), slog.Int("status", status), slog.String("error", err.Error()))
			e.Message = fmt.Sprintf("%s; quote request id %s when reporting it", kind.message, rid)
			e.Metadata = &map[string]any{"request_id": rid}
		}
		body = e
	}
	header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	w.WriteHeader(status)
	// Not HTML-escaped: "<user API key>" reads as such in a terminal, and
	// the body is JSON that no browser may sniff (nosniff).
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		h.logger.LogAttrs(ctx, slog.LevelWarn, "writing error response failed",
			slog.String("request_id", rid), slog.String("error", err.Error()))
	}
}

// classify turns any error into a status, a message safe to show and a
// Retry-After header value ("" for none).
func classify(err error) (status int, message string, retryAfter string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, truncate(ae.Error(), maxMessageLen), ae.retryAfter
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return http.StatusInternalServerError, "", ""
	}
	status = he.Code
	var secErr *openapi3filter.SecurityRequirementsError
	if status == http.StatusForbidden && errors.As(he.Internal, &secErr) {
		// The validator answers 403 when no scheme recognized the request's
		// credentials; the contract says that is a 401.
		return http.StatusUnauthorized, missingCredentials, ""
	}
	kind, known := errorKinds[status]
	if !known {
		return http.StatusInternalServerError, "", ""
	}
	message, _ = he.Message.(string)
	switch {
	case message == "" || status >= 500:
		message = kind.message
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		// Job lookups answer 404 with errJobNotFound; an HTTPError with
		// 404 or 405 is always about the route.
		message = kind.message
	}
	return status, truncate(message, maxMessageLen), ""
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
