package fastpath

import (
	"cmp"
	"context"
	"net/http"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// routeSecurity is an operation's security requirements resolved once, so
// that authenticating a request calls the authentication function straight
// away. kin-openapi's ValidateSecurityRequirements, which it stands for,
// sorts each requirement's scheme names and looks every scheme up for each
// request; the calls, their order and the error returned are the same.
type routeSecurity struct {
	// requirements are the operation's (or the spec's) requirements, as
	// the error of a request that meets none names them.
	requirements openapi3.SecurityRequirements
	// alternatives holds, for each requirement in order, its schemes in
	// name order: a request must pass every scheme of one of them.
	alternatives [][]requiredScheme
}

// requiredScheme is one scheme of a requirement.
type requiredScheme struct {
	name   string
	scheme *openapi3.SecurityScheme
	scopes []string
}

// resolveSecurity resolves the security of every operation of spec. An
// operation naming a scheme the spec does not declare is left out:
// kin-openapi then answers with its own error.
func resolveSecurity(spec *openapi3.T) map[*openapi3.Operation]*routeSecurity {
	var schemes openapi3.SecuritySchemes
	if spec.Components != nil {
		schemes = spec.Components.SecuritySchemes
	}
	out := map[*openapi3.Operation]*routeSecurity{}
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			requirements := spec.Security
			if op.Security != nil {
				requirements = *op.Security
			}
			if sec, ok := resolveRequirements(requirements, schemes); ok {
				out[op] = sec
			}
		}
	}
	return out
}

func resolveRequirements(requirements openapi3.SecurityRequirements, schemes openapi3.SecuritySchemes) (*routeSecurity, bool) {
	sec := &routeSecurity{requirements: requirements}
	for _, requirement := range requirements {
		var alternative []requiredScheme
		for name, scopes := range requirement {
			ref := schemes[name]
			if ref == nil || ref.Value == nil {
				return nil, false
			}
			alternative = append(alternative, requiredScheme{name: name, scheme: ref.Value, scopes: scopes})
		}
		slices.SortFunc(alternative, func(a, b requiredScheme) int { return cmp.Compare(a.name, b.name) })
		sec.alternatives = append(sec.alternatives, alternative)
	}
	return sec, true
}

// authenticate checks the security requirements of route alone, exactly as
// the whole validation does before the parameters.
func (v *Validator) authenticate(req *http.Request, route *routers.Route) error {
	input := &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: v.options}
	sec := v.security[route.Operation]
	// kin-openapi hands every scheme a fresh copy of a request body; the
	// API takes none (the pipeline drains it), so a body goes that way.
	if sec == nil || v.options.AuthenticationFunc == nil || req.Body != nil && req.Body != http.NoBody {
		security := route.Operation.Security
		if security == nil {
			security = &route.Spec.Security
		}
		if err := openapi3filter.ValidateSecurityRequirements(req.Context(), input, *security); err != nil {
			return validationError(err)
		}
		return nil
	}
	if len(sec.alternatives) == 0 {
		return nil
	}
	ctx := req.Context()
	var errs []error
	for _, alternative := range sec.alternatives {
		err := v.satisfy(ctx, input, alternative)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return validationError(&openapi3filter.SecurityRequirementsError{SecurityRequirements: sec.requirements, Errors: errs})
}

// satisfy checks one requirement: every one of its schemes must accept the
// request.
func (v *Validator) satisfy(ctx context.Context, input *openapi3filter.RequestValidationInput, alternative []requiredScheme) error {
	for _, s := range alternative {
		err := v.options.AuthenticationFunc(ctx, &openapi3filter.AuthenticationInput{
			RequestValidationInput: input, SecuritySchemeName: s.name, SecurityScheme: s.scheme, Scopes: s.scopes})
		if err != nil {
			return err
		}
	}
	return nil
}
