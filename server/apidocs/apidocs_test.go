package apidocs_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
	"golang.org/x/net/html"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/apidocs"
	"github.com/polyjobs/polyjobs/server/servertest"
)

// site is a running reference server and the asset paths its /docs page
// names.
type site struct {
	*servertest.Server
	bundle, script string
}

// newSite starts the real server (server.New through servertest) and reads
// the asset paths from its page.
func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{Server: servertest.New(t)}
	_, page := s.get(t, apidocs.DocsPath)
	for _, src := range scriptSources(t, page) {
		switch {
		case strings.Contains(src, "/scalar-"):
			s.bundle = "/" + src
		case strings.Contains(src, "/init."):
			s.script = "/" + src
		}
	}
	if s.bundle == "" || s.script == "" {
		t.Fatalf("the page names no bundle or no script:\n%s", page)
	}
	return s
}

// client neither follows redirects nor asks for or decodes gzip by itself.
var client = &http.Client{
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends a request with the given headers (name, value, ...) and returns
// the response and its body.
func (s *site) do(t *testing.T, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// get GETs path and fails unless the answer is 200.
func (s *site) get(t *testing.T, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	resp, body := s.do(t, http.MethodGet, path, header...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return resp, body
}

func TestServed(t *testing.T) {
	s := newSite(t)
	const (
		revalidate = "no-cache"
		immutable  = "public, max-age=31536000, immutable"
		js         = "text/javascript; charset=utf-8"
	)
	cases := []struct {
		name           string
		method, path   string
		acceptEncoding string
		status         int
		contentType    string
		cacheControl   string
		encoding       string // Content-Encoding
		location       string
	}{
		{name: "root redirects to the page", path: "/", status: 302, location: "docs"},
		{name: "page with a trailing slash redirects", path: "/docs/", status: 302, location: "../docs"},
		{name: "page", path: "/docs", status: 200, contentType: "text/html; charset=utf-8", cacheControl: revalidate},
		{name: "page HEAD", method: http.MethodHead, path: "/docs", status: 200, contentType: "text/html; charset=utf-8", cacheControl: revalidate},
		{name: "yaml", path: "/openapi.yaml", status: 200, contentType: "application/yaml", cacheControl: revalidate},
		{name: "json", path: "/openapi.json", status: 200, contentType: "application/json", cacheControl: revalidate},
		{name: "bundle gzipped", path: s.bundle, acceptEncoding: "gzip, deflate, br", status: 200, contentType: js, cacheControl: immutable, encoding: "gzip"},
		{name: "bundle for a client without gzip", path: s.bundle, status: 200, contentType: js, cacheControl: immutable},
		{name: "bundle for a client refusing gzip", path: s.bundle, acceptEncoding: "gzip;q=0, identity", status: 200, contentType: js, cacheControl: immutable},
		{name: "page script", path: s.script, status: 200, contentType: js, cacheControl: immutable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			var header []string
			if tc.acceptEncoding != "" {
				header = []string{"Accept-Encoding", tc.acceptEncoding}
			}
			resp, body := s.do(t, method, tc.path, header...)
			h := resp.Header
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s; want %d", resp.StatusCode, body, tc.status)
			}
			if got := h.Get("Location"); got != tc.location {
				t.Errorf("Location = %q; want %q", got, tc.location)
			}
			if tc.status != 200 {
				return
			}
			for name, want := range map[string]string{
				"Content-Type":           tc.contentType,
				"Cache-Control":          tc.cacheControl,
				"Content-Encoding":       tc.encoding,
				"X-Content-Type-Options": "nosniff",
			} {
				if got := h.Get(name); got != want {
					t.Errorf("%s = %q; want %q", name, got, want)
				}
			}
			if !strings.HasPrefix(h.Get("ETag"), `"`) {
				t.Errorf("ETag = %q; want a strong entity tag", h.Get("ETag"))
			}
			if method == http.MethodHead && len(body) != 0 {
				t.Errorf("HEAD answered a body of %d bytes", len(body))
			}
			if tc.path == s.bundle && h.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary = %q; want Accept-Encoding", h.Get("Vary"))
			}
			if tc.path == s.bundle && tc.encoding == "" && !bytes.Contains(body, []byte("@scalar/api-reference@")) {
				t.Errorf("the bundle sent without gzip is not the bundle (%d bytes)", len(body))
			}
		})
	}
}

// TestHeadersOfThePage: the page may load nothing but this server's
// resources, and the contract may be read from anywhere.
func TestHeadersOfThePage(t *testing.T) {
	s := newSite(t)
	resp, _ := s.get(t, apidocs.DocsPath)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, directive) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, directive)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "http") {
		t.Errorf("Content-Security-Policy %q allows eval or another origin", csp)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy = %q; want no-referrer", got)
	}
	for _, path := range []string{apidocs.YAMLPath, apidocs.JSONPath} {
		resp, _ := s.get(t, path)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin = %q; want *", path, got)
		}
	}
}

// TestNotOurs: paths near the reference's, and other methods, are the API's:
// a JSON ApiError, as for any unknown path.
func TestNotOurs(t *testing.T) {
	s := newSite(t)
	cases := []struct{ method, path string }{
		{http.MethodGet, "/docs/assets/nope.js"},
		{http.MethodGet, strings.Replace(s.bundle, "scalar-", "scalar-0", 1)},
		{http.MethodGet, "/docs/x"},
		{http.MethodGet, "/DOCS"},
		{http.MethodGet, "/openapi.yml"},
		{http.MethodGet, "/favicon.ico"},
		{http.MethodGet, "/index.html"},
		{http.MethodPost, "/docs"},
		{http.MethodDelete, "/openapi.yaml"},
		{http.MethodPost, "/"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := s.do(t, tc.method, tc.path)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d %s; want 404", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type = %q; want JSON", ct)
			}
			var e api.APIError
			if err := json.Unmarshal(body, &e); err != nil || e.Status != 404 || e.Key == nil || *e.Key != "not_found" {
				t.Fatalf("body %s is not a 404 ApiError (%v)", body, err)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Fatal("no X-Request-Id: the API's pipeline did not answer")
			}
		})
	}
}

// TestConditional: each resource answers 304 to its own ETag, and the
// bundle's two encodings have different ones.
func TestConditional(t *testing.T) {
	s := newSite(t)
	cases := []struct {
		path           string
		acceptEncoding string
	}{
		{apidocs.DocsPath, ""},
		{apidocs.YAMLPath, ""},
		{apidocs.JSONPath, ""},
		{s.script, ""},
		{s.bundle, "gzip"},
		{s.bundle, "identity"},
	}
	etags := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.path+" "+tc.acceptEncoding, func(t *testing.T) {
			resp, _ := s.get(t, tc.path, "Accept-Encoding", tc.acceptEncoding)
			etag := resp.Header.Get("ETag")
			if prev, dup := etags[etag]; dup {
				t.Fatalf("ETag %s also names %s", etag, prev)
			}
			etags[etag] = tc.path + " " + tc.acceptEncoding
			resp, body := s.do(t, http.MethodGet, tc.path, "Accept-Encoding", tc.acceptEncoding, "If-None-Match", etag)
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Fatalf("If-None-Match %s: %d with %d bytes; want 304 without a body", etag, resp.StatusCode, len(body))
			}
			resp, _ = s.do(t, http.MethodGet, tc.path, "Accept-Encoding", tc.acceptEncoding, "If-None-Match", `"other"`)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("If-None-Match of another ETag: %d; want 200", resp.StatusCode)
			}
			// Two lines are one list: the second names the representation.
			req, _ := http.NewRequest(http.MethodGet, s.URL+tc.path, nil)
			req.Header.Set("Accept-Encoding", tc.acceptEncoding)
			req.Header.Add("If-None-Match", `"other"`)
			req.Header.Add("If-None-Match", etag)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotModified {
				t.Fatalf("If-None-Match on two lines, the second %s: %d; want 304", etag, resp.StatusCode)
			}
		})
	}
}

// TestYAMLIsOpenAPIYAML: /openapi.yaml is the contract byte for byte.
func TestYAMLIsOpenAPIYAML(t *testing.T) {
	s := newSite(t)
	want, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	resp, got := s.get(t, apidocs.YAMLPath)
	if !bytes.Equal(got, want) {
		t.Fatalf("/openapi.yaml (%d bytes) is not openapi.yaml (%d bytes)", len(got), len(want))
	}
	if resp.ContentLength != int64(len(want)) {
		t.Fatalf("Content-Length = %d; want %d", resp.ContentLength, len(want))
	}
}

// TestJSONIsTheSameDocument: /openapi.json is openapi.yaml as JSON: not a
// document rebuilt by a library that renames or drops anything.
func TestJSONIsTheSameDocument(t *testing.T) {
	s := newSite(t)
	_, yamlBody := s.get(t, apidocs.YAMLPath)
	_, jsonBody := s.get(t, apidocs.JSONPath)
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(yamlBody, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(jsonBody, &fromJSON); err != nil {
		t.Fatalf("/openapi.json does not parse: %v", err)
	}
	// The YAML's numbers are ints, the JSON's float64s: compare both as
	// encoding/json sees them.
	roundTrip, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(roundTrip, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, want) {
		t.Fatalf("/openapi.json is not the document of /openapi.yaml:\n%s", jsonBody)
	}
	op := fromJSON.(map[string]any)["paths"].(map[string]any)["/api/jobs/{type}/{id}"].(map[string]any)["get"].(map[string]any)
	if op["operationId"] != "getJob" {
		t.Fatalf("operationId = %v; want getJob, as openapi.yaml says", op["operationId"])
	}
}

// TestPageLoadsOnlyLocalAssets: every URL the page names is a path of this
// server that answers 200, and it has no inline script (its CSP would
// refuse one).
func TestPageLoadsOnlyLocalAssets(t *testing.T) {
	s := newSite(t)
	_, page := s.get(t, apidocs.DocsPath)
	// Parsed as without scripting, so that the links of <noscript> count.
	doc, err := html.ParseWithOptions(bytes.NewReader(page), html.ParseOptionEnableScripting(false))
	if err != nil {
		t.Fatal(err)
	}
	base, err := url.Parse(s.URL + apidocs.DocsPath)
	if err != nil {
		t.Fatal(err)
	}
	var refs int
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		if n.Data == "script" && n.FirstChild != nil {
			t.Errorf("inline script: %q", n.FirstChild.Data)
		}
		for _, a := range n.Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s %s=%q>: inline style or handler", n.Data, a.Key, a.Val)
			}
			if a.Key != "src" && a.Key != "href" {
				continue
			}
			refs++
			u, err := url.Parse(a.Val)
			if err != nil {
				t.Errorf("<%s %s=%q>: %v", n.Data, a.Key, a.Val, err)
				continue
			}
			if u.Scheme == "data" {
				continue
			}
			if u.IsAbs() || u.Host != "" || strings.HasPrefix(a.Val, "/") {
				t.Errorf("<%s %s=%q>: not a path relative to the page", n.Data, a.Key, a.Val)
				continue
			}
			s.get(t, base.ResolveReference(u).Path)
		}
	}
	if refs < 5 {
		t.Fatalf("the page names %d URLs; want its two scripts, the two documents and its icon", refs)
	}
}

// TestVendoredBundle: the embedded bundle is the one SHA256SUMS names, the
// version in VERSION.
func TestVendoredBundle(t *testing.T) {
	gz, err := os.ReadFile("scalar/standalone.js.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile("scalar/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bundle)
	if want := hex.EncodeToString(sum[:]) + "  standalone.js\n"; string(sums) != want {
		t.Fatalf("scalar/standalone.js.gz holds a bundle whose SHA256SUMS line is\n%s; the file says\n%s", want, sums)
	}
	v := apidocs.ScalarVersion()
	if !bytes.Contains(bundle, []byte("@scalar/api-reference@"+v+"`")) {
		t.Fatalf("the bundle is not @scalar/api-reference %s (scalar/VERSION)", v)
	}
	if _, err := os.Stat("scalar/LICENSE"); err != nil {
		t.Fatalf("the bundle's license: %v", err)
	}
}

// TestSpecIntroducesTheAPI: the page renders openapi.yaml, whose
// introduction must name the version, both authentication schemes and both
// error shapes.
func TestSpecIntroducesTheAPI(t *testing.T) {
	var spec struct {
		Info struct {
			Version     string
			Description string
		}
		Components struct {
			SecuritySchemes map[string]any `yaml:"securitySchemes"`
			Schemas         map[string]any
		}
	}
	raw, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	want := []string{spec.Info.Version, "X-Polytomic-Version", "ApiError", "RestErrResponse", "WWW-Authenticate"}
	for name := range spec.Components.SecuritySchemes {
		want = append(want, name)
	}
	for _, w := range want {
		if !strings.Contains(spec.Info.Description, w) {
			t.Errorf("info.description does not mention %s", w)
		}
		if _, isSchema := spec.Components.Schemas[w]; strings.HasSuffix(w, "Error") || strings.HasSuffix(w, "Response") {
			if !isSchema {
				t.Errorf("info.description names %s, which is not a schema", w)
			}
		}
	}
	if len(spec.Components.SecuritySchemes) != 2 {
		t.Errorf("%d security schemes; the introduction describes two", len(spec.Components.SecuritySchemes))
	}
}

// scriptSources returns the src of every script of an HTML page.
func scriptSources(t *testing.T, page []byte) []string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "script" {
			for _, a := range n.Attr {
				if a.Key == "src" {
					srcs = append(srcs, a.Val)
				}
			}
		}
	}
	return srcs
}
