package fastpath

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/polyjobs/polyjobs/internal/apispec"
)

// TestSpecRouterMatchesGorillaMux checks that the validator's router decides
// exactly as kin-openapi's gorillamux router does.
func TestSpecRouterMatchesGorillaMux(t *testing.T) {
	spec, err := apispec.Load()
	if err != nil {
		t.Fatal(err)
	}
	gorilla, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	ours := newSpecRouter(spec)
	const id = "019ad4a2-8f3e-7c41-9a2b-3c4d5e6f7a8b"
	paths := []string{
		"/api/jobs/exportlogs/" + id, "/api/jobs/whatever/x", "/api/jobs/a/b?c=d",
		"/api/jobs/exportlogs/" + id + "/", "/api/jobs/exportlogs/" + id + "/x", "/api/jobs/exportlogs/",
		"/api/jobs/exportlogs", "/api/jobs//" + id, "/api/jobs", "/api/jobs/", "/api", "/", "",
		"//api/jobs/a/b", "/API/jobs/a/b", "/api/Jobs/a/b", "/api/jobs/a%2Fb/c", "/api/jobs/a/b%2Fc",
		"/api/jobs/%20/%20", "/api/jobs/a/b/", "/api/jobs/a//b", "/x/api/jobs/a/b", "/api/jobs/a/b#frag",
		"/api/jobs/é/ü", "/api/jobs/a%/b", "/api/./jobs/a/b", "/api/jobs/../jobs/a/b",
	}
	methods := []string{"GET", "POST", "HEAD", "DELETE", "OPTIONS", "get", "PATCH"}
	for _, p := range paths {
		for _, m := range methods {
			u, err := url.Parse("http://example.com" + p)
			if err != nil {
				continue
			}
			req := &http.Request{Method: m, URL: u, Host: "example.com", Header: http.Header{}}
			gr, gp, gerr := gorilla.FindRoute(req)
			or, op, oerr := ours.FindRoute(req)
			if !errors.Is(oerr, gerr) && (oerr == nil) != (gerr == nil) || oerr != nil && gerr != nil && oerr.Error() != gerr.Error() {
				t.Errorf("%s %s: error %v; gorillamux %v", m, p, oerr, gerr)
				continue
			}
			if gerr != nil {
				continue
			}
			if or.Path != gr.Path || or.Method != gr.Method || or.Operation != gr.Operation || !reflect.DeepEqual(op, gp) {
				t.Errorf("%s %s: route %s %s %v; gorillamux %s %s %v", m, p, or.Method, or.Path, op, gr.Method, gr.Path, gp)
			}
		}
	}
}
