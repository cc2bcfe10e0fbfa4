package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/oapi-codegen/echo-middleware"
)

// validate runs the spec's request validation. A request whose method,
// path, query and parameter headers already passed it once (see paramMemo)
// is only authenticated; any other goes through echo-middleware's whole
// validation, and is remembered if it passes.
func (p *pipeline) validate(c echo.Context) error {
	req := c.Request()
	var (
		key      memoKey
		memoable bool
	)
	if p.memo != nil {
		if key, memoable = p.memo.key(req); memoable {
			if route := p.memo.route(key); route != nil {
				p.metrics.memoHits.Inc()
				return p.authenticate(c, route)
			}
		}
	}
	if err := echomiddleware.ValidateRequestFromContext(c, p.router, p.validation); err != nil {
		return err
	}
	if memoable {
		if route := p.router.route(req); route != nil {
			p.memo.remember(key, route)
		}
	}
	return nil
}

// authenticate checks the security requirements of route alone, exactly as
// echo-middleware's validation does before the parameters, and maps a
// failure to the same error it would return.
func (p *pipeline) authenticate(c echo.Context, route *routers.Route) error {
	security := route.Operation.Security
	if security == nil {
		security = &route.Spec.Security
	}
	input := &openapi3filter.RequestValidationInput{Request: c.Request(), Route: route, Options: &p.validation.Options}
	//lint:ignore SA1029 echo-middleware's own key, which the authentication function reads
	ctx := context.WithValue(context.Background(), echomiddleware.EchoContextKey, c)
	err := openapi3filter.ValidateSecurityRequirements(ctx, input, *security)
	if err == nil {
		return nil
	}
	var secErr *openapi3filter.SecurityRequirementsError
	if !errors.As(err, &secErr) {
		return &echo.HTTPError{Code: http.StatusInternalServerError, Message: "error validating request", Internal: err}
	}
	for _, e := range secErr.Errors {
		if httpErr, ok := e.(*echo.HTTPError); ok {
			return httpErr
		}
	}
	return &echo.HTTPError{Code: http.StatusForbidden, Message: err.Error(), Internal: err}
}
