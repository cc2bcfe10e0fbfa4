package server

import (
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/oapi-codegen/echo-middleware"
)

// requestValidator checks a request against openapi.yaml: its route, its
// security (the authentication function, auth.go) and its parameters. The
// error, an *echo.HTTPError, goes to the error handler.
//
// There are two, answering alike: plainValidator, echo-middleware with
// kin-openapi's own router, and fastpath.Validator, the same checks with a
// faster router and a memo of validated parameters. Config.Plain chooses.
type requestValidator interface {
	Validate(c echo.Context) error
}

// plainValidator is echo-middleware's request validation, unchanged.
type plainValidator struct {
	router  routers.Router
	options *echomiddleware.Options
}

func newPlainValidator(spec *openapi3.T, options *openapi3filter.Options) (*plainValidator, error) {
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &plainValidator{router: router, options: &echomiddleware.Options{Options: *options}}, nil
}

// Validate implements requestValidator.
func (v *plainValidator) Validate(c echo.Context) error {
	if err := echomiddleware.ValidateRequestFromContext(c, v.router, v.options); err != nil {
		return err
	}
	return nil
}
