package fastpath

import (
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// specRouter is a routers.Router for the request validator that matches
// paths segment by segment instead of through gorilla/mux regular
// expressions. It matches exactly what kin-openapi's gorillamux router does
// for a spec without servers (see router_test.go, which checks that): the
// escaped path split on "/", literal segments equal, each {param} one
// non-empty segment, the method exact. Routes are built once and shared; the
// validator only reads them.
type specRouter struct {
	paths []specPath
}

type specPath struct {
	segments []string // literal segments, "" where a parameter goes
	params   []string // parameter names, by segment ("" for literals)
	routes   map[string]*routers.Route
}

// newSpecRouter builds the router for every path and operation of spec.
func newSpecRouter(spec *openapi3.T) *specRouter {
	r := &specRouter{}
	for _, path := range spec.Paths.InMatchingOrder() {
		item := spec.Paths.Value(path)
		sp := specPath{routes: map[string]*routers.Route{}}
		for _, seg := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				sp.segments = append(sp.segments, "")
				sp.params = append(sp.params, seg[1:len(seg)-1])
			} else {
				sp.segments = append(sp.segments, seg)
				sp.params = append(sp.params, "")
			}
		}
		for method, op := range item.Operations() {
			sp.routes[method] = &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op}
		}
		r.paths = append(r.paths, sp)
	}
	return r
}

// FindRoute implements routers.Router: it finds the route of req and its
// path parameters.
func (r *specRouter) FindRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	path := req.URL.EscapedPath()
	if !strings.HasPrefix(path, "/") {
		return nil, nil, routers.ErrPathNotFound
	}
	for i := range r.paths {
		sp := &r.paths[i]
		params, ok := sp.match(path[1:])
		if !ok {
			continue
		}
		route, ok := sp.routes[req.Method]
		if !ok {
			return nil, nil, routers.ErrMethodNotAllowed
		}
		return route, params, nil
	}
	return nil, nil, routers.ErrPathNotFound
}

// match matches the path (without its leading slash) and returns its
// parameters.
func (sp *specPath) match(path string) (map[string]string, bool) {
	var params map[string]string
	for i, lit := range sp.segments {
		seg, rest, found := strings.Cut(path, "/")
		if found != (i < len(sp.segments)-1) {
			return nil, false
		}
		path = rest
		if sp.params[i] == "" {
			if seg != lit {
				return nil, false
			}
			continue
		}
		if seg == "" {
			return nil, false
		}
		if params == nil {
			params = make(map[string]string, len(sp.segments))
		}
		params[sp.params[i]] = seg
	}
	return params, true
}
