// Package apidocs serves the API reference of the reference server: the
// contract at /openapi.yaml (openapi.yaml byte for byte) and /openapi.json,
// and at /docs an interactive page that renders it with the Scalar API
// Reference bundle vendored in scalar/, so that nothing loads from elsewhere.
// / redirects to /docs.
//
// These paths are not part of the Get Job API, so they do not go through its
// pipeline (request validation, authentication, rate limits): Mount answers
// them in front of the API's handler and passes every other request on, so
// that unknown paths keep the API's JSON 404. The page is public; its "try
// it" sends requests to the same server, with the key the reader types in.
//
// Caching: the bundle and the page's script live at content-hashed paths
// under /docs/assets/ and are immutable; the page and the two documents are
// revalidated with their ETag (304 when unchanged). The bundle is embedded
// gzipped and sent as is to clients that accept gzip (all browsers).
package apidocs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/polyjobs/polyjobs"
)

// The paths Mount answers, besides the assets under /docs/assets/.
const (
	// DocsPath is the interactive API reference.
	DocsPath = "/docs"
	// YAMLPath serves openapi.yaml byte for byte.
	YAMLPath = "/openapi.yaml"
	// JSONPath serves the same document as JSON.
	JSONPath = "/openapi.json"
)

// assetsPath is where the page's scripts are served, each under a name that
// changes with its content.
const assetsPath = DocsPath + "/assets/"

//go:embed scalar/VERSION page.html init.js
var files embed.FS

// The bundle, gzipped, and its checksum (of the bundle itself, which
// TestVendoredBundle checks). It is a string so that it stays in the
// binary's read-only data, paged in only when served: the process never
// copies or even reads its 1.4 MB until a browser asks for it.
var (
	//go:embed scalar/standalone.js.gz
	bundleGz string
	//go:embed scalar/SHA256SUMS
	bundleSums string
)

// Mount returns a handler that answers GET and HEAD requests for the API
// reference's paths itself and passes every other request to next. What it
// serves is built once per process, at the first call.
func Mount(next http.Handler) (http.Handler, error) {
	s, err := loadSite()
	if err != nil {
		return nil, err
	}
	return &mounted{site: s, next: next}, nil
}

type mounted struct {
	site *site
	next http.Handler
}

// ServeHTTP serves r from the site when it is one of its paths, from next
// otherwise.
func (m *mounted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if res, ok := m.site.routes[r.URL.Path]; ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		res.serve(w, r)
		return
	}
	m.next.ServeHTTP(w, r)
}

// ScalarVersion returns the version of the vendored @scalar/api-reference
// bundle.
func ScalarVersion() string {
	v, _ := files.ReadFile("scalar/VERSION")
	return strings.TrimSpace(string(v))
}

// site is every path Mount answers, built once per process.
type site struct {
	routes map[string]resource
}

var loadSite = sync.OnceValues(buildSite)

func buildSite() (*site, error) {
	bundleSum, _, _ := strings.Cut(bundleSums, " ")
	if len(bundleSum) != sha256.Size*2 {
		return nil, fmt.Errorf("apidocs: scalar/SHA256SUMS does not start with a SHA-256: %q", bundleSums)
	}
	initJS, err := files.ReadFile("init.js")
	if err != nil {
		return nil, err
	}
	specJSON, err := yamlToJSON(polyjobs.OpenAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("apidocs: openapi.yaml as JSON: %w", err)
	}
	bundle := &document{
		contentType:  "text/javascript; charset=utf-8",
		cacheControl: immutable,
		body:         bundleGz,
		tag:          bundleSum[:hashLen],
		inflated:     gunzip(bundleGz),
	}
	script := &document{contentType: "text/javascript; charset=utf-8", cacheControl: immutable, body: string(initJS)}
	bundlePath := assetsPath + "scalar-" + ScalarVersion() + "." + bundle.hash() + ".js"
	scriptPath := assetsPath + "init." + script.hash() + ".js"

	var page bytes.Buffer
	tmpl, err := template.ParseFS(files, "page.html")
	if err != nil {
		return nil, err
	}
	// Relative to /docs, so that the page also works behind a proxy that
	// serves the server under a path prefix.
	if err := tmpl.Execute(&page, map[string]string{
		"Bundle": strings.TrimPrefix(bundlePath, "/"),
		"Script": strings.TrimPrefix(scriptPath, "/"),
		"YAML":   strings.TrimPrefix(YAMLPath, "/"),
		"JSON":   strings.TrimPrefix(JSONPath, "/"),
	}); err != nil {
		return nil, err
	}

	routes := map[string]resource{
		"/": redirect("docs"),
		DocsPath: &document{
			contentType:  "text/html; charset=utf-8",
			cacheControl: revalidate,
			body:         page.String(),
			header: http.Header{
				"Content-Security-Policy": {contentSecurityPolicy},
				"Referrer-Policy":         {"no-referrer"},
			},
		},
		DocsPath + "/": redirect("../docs"),
		YAMLPath: &document{
			contentType:  "application/yaml",
			cacheControl: revalidate,
			body:         polyjobs.OpenAPIYAML,
			header:       http.Header{"Access-Control-Allow-Origin": {"*"}},
		},
		JSONPath: &document{
			contentType:  "application/json",
			cacheControl: revalidate,
			body:         string(specJSON),
			header:       http.Header{"Access-Control-Allow-Origin": {"*"}},
		},
		bundlePath: bundle,
		scriptPath: script,
	}
	for _, res := range routes {
		if d, ok := res.(*document); ok {
			d.etag = `"` + d.hash() + `"`
		}
	}
	return &site{routes: routes}, nil
}

// yamlToJSON returns the YAML document doc as indented JSON: the same
// document, with each object's keys in sorted order. (The JSON that
// oapi-codegen embeds in generated/apiserver is not quite the same
// document: it renames operation ids and drops "required: false".)
func yamlToJSON(doc string) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<key>" readable in descriptions
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Cache-Control values: assets at content-hashed paths never change; the
// page and the documents are revalidated with their ETag on every use.
const (
	immutable  = "public, max-age=31536000, immutable"
	revalidate = "no-cache"
)

// contentSecurityPolicy allows the page nothing but this server: its scripts,
// its styles (and the inline styles the bundle injects), images and fonts
// from it or inlined as data: and blob: URLs, and requests to it, which is
// where "try it" sends them.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// resource is what one path serves.
type resource interface {
	serve(w http.ResponseWriter, r *http.Request)
}

// redirect answers 302 Found to its location, relative to the request's.
type redirect string

func (to redirect) serve(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Location", string(to))
	w.WriteHeader(http.StatusFound)
}

// document is a fixed body with its headers.
type document struct {
	contentType  string
	cacheControl string
	body         string
	// tag names the body's content (see hash); "" to compute it.
	tag string
	// inflated, when set, means body is gzip-compressed: body is sent as
	// is, with Content-Encoding: gzip, to clients that accept it, and what
	// inflated returns to the others.
	inflated func() (string, error)
	header   http.Header
	etag     string
}

// hashLen is the length of a content name: 16 hex digits.
const hashLen = 16

// hash names the body's content: the first 16 hex digits of its SHA-256,
// or of the content it stands for, as tag says.
func (d *document) hash() string {
	if d.tag == "" {
		sum := sha256.Sum256([]byte(d.body))
		d.tag = hex.EncodeToString(sum[:])[:hashLen]
	}
	return d.tag
}

func (d *document) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range d.header {
		h[k] = v
	}
	h.Set("Content-Type", d.contentType)
	h.Set("Cache-Control", d.cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	body, etag := d.body, d.etag
	if d.inflated != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
		} else {
			var err error
			if body, err = d.inflated(); err != nil {
				http.Error(w, "apidocs: "+err.Error(), http.StatusInternalServerError)
				return
			}
			// Another representation, so another entity tag.
			etag = strings.TrimSuffix(etag, `"`) + `-identity"`
		}
	}
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304, Range with 206, and HEAD
	// without a body. It reads only the first If-None-Match line; several
	// lines are one list (RFC 9110, 5.3), so it gets them as one.
	if tags := r.Header.Values("If-None-Match"); len(tags) > 1 {
		r.Header["If-None-Match"] = []string{strings.Join(tags, ", ")}
	}
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
}

// acceptsGzip reports whether the Accept-Encoding header values accept gzip
// (RFC 9110 §12.5.3): named (or as x-gzip) with a weight above zero, or
// not named and accepted through *.
func acceptsGzip(values []string) bool {
	named, accepted, wildcard := false, false, false
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(item, ";")
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip", "x-gzip":
				named = true
				accepted = accepted || !zeroWeight(params)
			case "*":
				wildcard = !zeroWeight(params)
			}
		}
	}
	if named {
		return accepted
	}
	return wildcard
}

// zeroWeight reports whether an Accept-Encoding item's parameters give it
// q=0, which means "not acceptable".
func zeroWeight(params string) bool {
	for _, p := range strings.Split(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(name), "q") {
			value = strings.TrimSpace(value)
			return strings.Trim(value, "0.") == "" && value != ""
		}
	}
	return false
}

// gunzip returns a function that inflates gz once, when first called.
func gunzip(gz string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		zr, err := gzip.NewReader(strings.NewReader(gz))
		if err != nil {
			return "", err
		}
		var b strings.Builder
		_, err = io.Copy(&b, zr)
		return b.String(), err
	})
}
