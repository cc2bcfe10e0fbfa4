package fastpath

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
)

// Validator validates requests against the spec exactly as echo-middleware's
// ValidateRequestFromContext does with kin-openapi's gorillamux router (the
// server's plain path), and answers with the same errors, but faster:
//
//   - routes are found by a segment router instead of regular expressions
//     (router.go), once per request;
//   - a request whose route and parameters an identical earlier request had
//     already validated is only authenticated (memo.go);
//   - each operation's security requirements are resolved once
//     (security.go).
//
// Security is never remembered: every request is authenticated.
type Validator struct {
	router   *specRouter
	memo     *paramMemo // nil when the spec's parameters cannot be memoized
	security map[*openapi3.Operation]*routeSecurity
	options  *openapi3filter.Options
	onHit    func()
}

// NewValidator returns a validator of requests against spec with options
// (the authentication function among them). onHit, if not nil, is called
// for every request the memo answers.
func NewValidator(spec *openapi3.T, options *openapi3filter.Options, onHit func()) *Validator {
	if onHit == nil {
		onHit = func() {}
	}
	return &Validator{router: newSpecRouter(spec), memo: newParamMemo(spec, defaultMemoEntries, defaultMemoBytes),
		security: resolveSecurity(spec), options: options, onHit: onHit}
}

// Validate validates the request of c: its route, its security (which
// authenticates it) and its parameters. The error is an *echo.HTTPError, as
// echo-middleware returns.
func (v *Validator) Validate(c echo.Context) error {
	req := c.Request()
	var (
		key      memoKey
		memoable bool
	)
	if v.memo != nil {
		if key, memoable = v.memo.key(req); memoable {
			if route := v.memo.route(key); route != nil {
				v.onHit()
				return v.authenticate(req, route)
			}
		}
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return routeError(err)
	}
	// Path parameters come percent-encoded; kin-openapi expects them decoded.
	for k, p := range params {
		if unescaped, err := url.PathUnescape(p); err == nil {
			params[k] = unescaped
		}
	}
	input := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: v.options}
	if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil {
		return validationError(err)
	}
	// Remembered only now: the request authenticated, within its rate, and
	// its parameters passed.
	if memoable {
		v.memo.remember(key, route)
	}
	return nil
}

// routeError maps a routing failure to echo-middleware's answer.
func routeError(err error) error {
	if errors.Is(err, routers.ErrMethodNotAllowed) {
		return echo.NewHTTPError(http.StatusMethodNotAllowed)
	}
	var re *routers.RouteError
	if errors.As(err, &re) {
		return echo.NewHTTPError(http.StatusNotFound, re.Reason)
	}
	return echo.NewHTTPError(http.StatusInternalServerError, fmt.Sprintf("error validating route: %s", err))
}

// validationError maps a kin-openapi validation failure to echo-middleware's
// answer: a bad request with the first line of the error, the
// authentication function's own *echo.HTTPError, or a 403 when no scheme
// accepted the credentials.
func validationError(err error) error {
	switch e := err.(type) {
	case *openapi3filter.RequestError:
		first, _, _ := strings.Cut(e.Error(), "\n")
		return &echo.HTTPError{Code: http.StatusBadRequest, Message: first, Internal: err}
	case *openapi3filter.SecurityRequirementsError:
		for _, inner := range e.Errors {
			if httpErr, ok := inner.(*echo.HTTPError); ok {
				return httpErr
			}
		}
		return &echo.HTTPError{Code: http.StatusForbidden, Message: e.Error(), Internal: err}
	}
	return &echo.HTTPError{Code: http.StatusInternalServerError, Message: fmt.Sprintf("error validating request: %s", err), Internal: err}
}
