package fastpath

import (
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// paramMemo remembers requests whose route and parameters passed the spec's
// validation, so that the next request with the very same method, path and
// parameters only needs authenticating.
//
// Clients poll: the same job is asked for every few seconds until it is
// done, and each time kin-openapi would route the path and decode and check
// every parameter against its schema (under load, a tenth of the server's
// CPU). That check is a pure function of what the key holds (the spec is
// fixed for the life of the process), so its verdict can be reused exactly;
// nothing is skipped for a request that differs in any byte the validator
// reads. The key holds only what it reads: the method, the path, and the
// values of the header and query parameters the spec declares (the query
// string only when it declares a query parameter). A header whose schema
// accepts any string (If-None-Match, Prefer) counts only by its presence:
// its value cannot change the verdict. Everything else a request carries,
// such as a query string the API ignores, cannot grow the memo.
//
// The memo is bounded by entries and by bytes; when either bound is reached,
// it starts over. Requests with a long path or parameter are not remembered
// at all. A memo is only built for specs where the key captures everything:
// no cookie parameters, no request bodies, and at most maxMemoHeaders header
// parameters.
type paramMemo struct {
	// headers are the canonical names of every header parameter in the spec;
	// anyValue has bit i set when header i accepts any string.
	headers  []string
	anyValue uint8
	// query says the spec declares query parameters, so the key holds the
	// query string.
	query               bool
	maxEntries, maxSize int

	mu     sync.RWMutex
	routes map[memoKey]*routers.Route
	size   int // bytes held by the keys in routes
}

// Bounds of a memo.
const (
	// maxMemoHeaders bounds the header parameters a memo key can hold.
	maxMemoHeaders = 4
	// maxMemoKeyBytes is the longest key remembered: far more than any
	// valid request of the API needs.
	maxMemoKeyBytes = 512
	// defaultMemoEntries and defaultMemoBytes bound the memo of a server:
	// about a megabyte.
	defaultMemoEntries = 8192
	defaultMemoBytes   = 1 << 20
)

// memoKey is everything the parameter validation of a request reads.
type memoKey struct {
	method, path, rawPath, rawQuery string
	// headers holds the value of each header parameter, in paramMemo.headers
	// order; present has bit i set when header i was sent.
	headers [maxMemoHeaders]string
	present uint8
}

// size is the bytes the key's strings hold.
func (k *memoKey) size() int {
	n := len(k.method) + len(k.path) + len(k.rawPath) + len(k.rawQuery)
	for _, h := range k.headers {
		n += len(h)
	}
	return n
}

// newParamMemo returns a memo for spec bounded by entries and bytes, or nil
// when spec has parameters or bodies the memo key does not capture.
func newParamMemo(spec *openapi3.T, maxEntries, maxSize int) *paramMemo {
	m := &paramMemo{maxEntries: maxEntries, maxSize: maxSize, routes: map[memoKey]*routers.Route{}}
	seen := map[string]bool{}
	for _, path := range spec.Paths.InMatchingOrder() {
		item := spec.Paths.Value(path)
		params := item.Parameters
		for _, op := range item.Operations() {
			if op.RequestBody != nil {
				return nil
			}
			params = append(params[:len(params):len(params)], op.Parameters...)
		}
		for _, ref := range params {
			switch p := ref.Value; p.In {
			case openapi3.ParameterInCookie:
				return nil
			case openapi3.ParameterInQuery:
				m.query = true
			case openapi3.ParameterInHeader:
				name := http.CanonicalHeaderKey(p.Name)
				if !seen[name] {
					seen[name] = true
					if acceptsAnyString(p) && len(m.headers) < maxMemoHeaders {
						m.anyValue |= 1 << len(m.headers)
					}
					m.headers = append(m.headers, name)
				}
			}
		}
	}
	if len(m.headers) > maxMemoHeaders {
		return nil
	}
	return m
}

// acceptsAnyString reports whether every value of a header parameter passes
// its validation: a plain string schema, without enum, format, pattern or
// length.
func acceptsAnyString(p *openapi3.Parameter) bool {
	if p.Schema == nil || p.Schema.Value == nil || p.Content != nil {
		return false
	}
	s := p.Schema.Value
	return s.Type.Is(openapi3.TypeString) && len(s.Enum) == 0 && s.Format == "" && s.Pattern == "" &&
		s.MinLength == 0 && s.MaxLength == nil && s.Not == nil && len(s.AllOf) == 0 && len(s.AnyOf) == 0 && len(s.OneOf) == 0
}

// key returns the memo key of req, or false when req cannot be remembered:
// it has a body, repeats a parameter header, or its key would be too long.
func (m *paramMemo) key(req *http.Request) (memoKey, bool) {
	if req.ContentLength != 0 || (req.Body != nil && req.Body != http.NoBody) {
		return memoKey{}, false
	}
	k := memoKey{method: req.Method, path: req.URL.Path, rawPath: req.URL.RawPath}
	if m.query {
		k.rawQuery = req.URL.RawQuery
	}
	for i, name := range m.headers {
		switch values := req.Header[name]; len(values) {
		case 0:
		case 1:
			if m.anyValue&(1<<i) == 0 {
				k.headers[i] = values[0]
			}
			k.present |= 1 << i
		default:
			return memoKey{}, false
		}
	}
	if k.size() > maxMemoKeyBytes {
		return memoKey{}, false
	}
	return k, true
}

// route returns the route of a remembered request, or nil.
func (m *paramMemo) route(k memoKey) *routers.Route {
	m.mu.RLock()
	r := m.routes[k]
	m.mu.RUnlock()
	return r
}

// remember records that the request of key k passed validation on route r.
func (m *paramMemo) remember(k memoKey, r *routers.Route) {
	// Own copies, so the memo does not keep request buffers alive.
	k.method, k.path, k.rawPath, k.rawQuery = strings.Clone(k.method), strings.Clone(k.path), strings.Clone(k.rawPath), strings.Clone(k.rawQuery)
	for i := range k.headers {
		k.headers[i] = strings.Clone(k.headers[i])
	}
	n := k.size()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.routes[k]; ok {
		return
	}
	if len(m.routes) >= m.maxEntries || m.size+n > m.maxSize {
		clear(m.routes)
		m.size = 0
	}
	m.routes[k] = r
	m.size += n
}

// len returns how many requests are remembered, and the bytes their keys hold.
func (m *paramMemo) len() (entries, size int) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.routes), m.size
}
