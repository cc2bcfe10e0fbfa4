package fastpath

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// securitySpec declares one operation per shape of security requirements.
const securitySpec = `
openapi: 3.0.3
info: {title: t, version: "1"}
security: [{b: []}]
components:
  securitySchemes:
    a: {type: http, scheme: bearer}
    b: {type: http, scheme: basic}
    c: {type: apiKey, in: header, name: X-Key}
paths:
  /inherited: {get: {responses: {"200": {description: ok}}}}
  /none: {get: {security: [], responses: {"200": {description: ok}}}}
  /anonymous: {get: {security: [{}, {a: []}], responses: {"200": {description: ok}}}}
  /either: {get: {security: [{a: []}, {b: []}], responses: {"200": {description: ok}}}}
  /both: {get: {security: [{c: [], a: [], b: []}, {b: ["read"]}], responses: {"200": {description: ok}}}}
  /undeclared: {get: {security: [{a: []}, {zz: []}], responses: {"200": {description: ok}}}}
`

// TestAuthenticateMatchesKinOpenAPI: for every shape of requirements and
// every outcome of the authentication function, authenticate makes the
// calls kin-openapi's ValidateSecurityRequirements makes, in the same order,
// and returns the same error.
func TestAuthenticateMatchesKinOpenAPI(t *testing.T) {
	loader := openapi3.NewLoader()
	// Not validated: /undeclared names a scheme that does not exist.
	spec, err := loader.LoadFromData([]byte(securitySpec))
	if err != nil {
		t.Fatal(err)
	}
	httpErr := errors.New("refused")
	// Each outcome says which schemes accept the request; the others
	// refuse it with httpErr.
	outcomes := []string{"", "a", "b", "c", "ab", "abc", "bc"}
	for _, path := range []string{"/inherited", "/none", "/anonymous", "/either", "/both", "/undeclared"} {
		for _, accept := range outcomes {
			t.Run(path+" accepting "+accept, func(t *testing.T) {
				run := func(validate func(*Validator, *http.Request, *routers.Route) error) ([]string, error) {
					var calls []string
					opts := &openapi3filter.Options{AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
						calls = append(calls, in.SecuritySchemeName+strings.Join(in.Scopes, ","))
						if in.SecurityScheme == nil || in.RequestValidationInput.Route == nil {
							t.Errorf("scheme %s: the input lacks the scheme or the route", in.SecuritySchemeName)
						}
						if strings.Contains(accept, in.SecuritySchemeName) {
							return nil
						}
						return httpErr
					}}
					v := NewValidator(spec, opts, nil)
					req := httptest.NewRequest(http.MethodGet, path, nil)
					route, _, err := v.router.FindRoute(req)
					if err != nil {
						t.Fatal(err)
					}
					return calls, validate(v, req, route)
				}
				gotCalls, got := run((*Validator).authenticate)
				wantCalls, want := run(func(v *Validator, req *http.Request, route *routers.Route) error {
					security := route.Operation.Security
					if security == nil {
						security = &route.Spec.Security
					}
					input := &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: v.options}
					if err := openapi3filter.ValidateSecurityRequirements(req.Context(), input, *security); err != nil {
						return validationError(err)
					}
					return nil
				})
				if !reflect.DeepEqual(gotCalls, wantCalls) {
					t.Errorf("calls %q, want %q", gotCalls, wantCalls)
				}
				if !sameError(got, want) {
					t.Errorf("error %v, want %v", got, want)
				}
			})
		}
	}
}

// sameError compares two errors of the validator by what they say: their
// type and text, down their chains.
func sameError(a, b error) bool {
	for a != nil && b != nil {
		if reflect.TypeOf(a) != reflect.TypeOf(b) || a.Error() != b.Error() {
			return false
		}
		a, b = errors.Unwrap(a), errors.Unwrap(b)
	}
	return a == nil && b == nil
}
