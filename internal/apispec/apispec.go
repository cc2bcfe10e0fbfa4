// Package apispec loads the embedded openapi.yaml for validation and checks
// requests and responses against it. The server validates requests with it;
// every test validates the responses it sees with it.
package apispec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/apiserver"
	"github.com/polyjobs/polyjobs/generated/controlserver"
)

// Load returns a fresh copy of the embedded spec with its servers cleared, so
// that routing matches requests on any host.
func Load() (*openapi3.T, error) {
	spec, err := apiserver.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded openapi spec: %w", err)
	}
	spec.Servers = nil
	return spec, nil
}

// SchemaOptions are the schema validation options every validation uses:
// "format: uuid" accepts any canonical RFC 9562 UUID, v7 included (kin-openapi's
// built-in pattern knows only versions 1 to 5).
func SchemaOptions() []openapi3.SchemaValidationOption {
	return schemaOptions
}

// schemaOptions share one format map (kin-openapi only reads it), so that a
// validation allocates no map of its own.
var schemaOptions = []openapi3.SchemaValidationOption{
	openapi3.WithStringFormatValidators(map[string]openapi3.StringFormatValidator{
		"uuid": openapi3.NewCallbackValidator(ValidateUUID),
	}),
}

// ValidateUUID accepts a UUID in its canonical 36-character form, any version.
func ValidateUUID(s string) error {
	if len(s) != 36 {
		return fmt.Errorf("not a UUID in canonical form")
	}
	if _, err := uuid.Parse(s); err != nil {
		return fmt.Errorf("not a UUID: %w", err)
	}
	return nil
}

// Validator checks HTTP responses against the spec.
type Validator struct {
	router routers.Router
}

// NewValidator returns a validator over the embedded spec.
func NewValidator() (*Validator, error) {
	spec, err := Load()
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &Validator{router: router}, nil
}

// ErrNoRoute means the request matches no operation of the spec, so its
// response can only be checked against a schema directly.
var ErrNoRoute = fmt.Errorf("request matches no operation")

// ValidateResponse checks that a response to req, with the given status,
// headers and body, is one the spec documents for req's operation: a declared
// status, the declared headers and a body valid for its schema. Requests that
// match no operation give ErrNoRoute.
func (v *Validator) ValidateResponse(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return ErrNoRoute
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
			Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus:   true,
			SchemaValidationOptions: SchemaOptions(),
		},
	}
	input.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), input)
}

// ValidateSchema checks that body is valid JSON for the named component schema
// (for example "ApiError"), for responses that match no operation.
func (v *Validator) ValidateSchema(name string, body []byte) error {
	spec, err := Load()
	if err != nil {
		return err
	}
	ref, ok := spec.Components.Schemas[name]
	if !ok {
		return fmt.Errorf("no schema %q in the spec", name)
	}
	var value any
	if err := decodeJSON(body, &value); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return ref.Value.VisitJSON(value, SchemaOptions()...)
}

// Properties returns the names of the properties of the named component
// schema (for example "JobResponse"), sorted.
func Properties(schema string) ([]string, error) {
	spec, err := Load()
	if err != nil {
		return nil, err
	}
	ref, ok := spec.Components.Schemas[schema]
	if !ok {
		return nil, fmt.Errorf("no schema %q in the spec", schema)
	}
	names := make([]string, 0, len(ref.Value.Properties))
	for name := range ref.Value.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// ReadBody reads and restores a response body so it can be validated and then
// read again.
func ReadBody(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return body, err
}

// NewControlValidator returns a validator over the embedded
// control.openapi.yaml, whose paths are served under control.Prefix.
func NewControlValidator(prefix string) (*Validator, error) {
	spec, err := controlserver.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded control spec: %w", err)
	}
	spec.Servers = openapi3.Servers{{URL: prefix}}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &Validator{router: router}, nil
}
