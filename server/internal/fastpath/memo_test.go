package fastpath

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"

	"github.com/polyjobs/polyjobs/internal/apispec"
)

const memoPath = "/api/jobs/exportlogs/0190a8f2-7c3e-7d4b-9f10-abcdef012345"

func TestParamMemoKey(t *testing.T) {
	spec, err := apispec.Load()
	if err != nil {
		t.Fatal(err)
	}
	m := newParamMemo(spec, defaultMemoEntries, defaultMemoBytes)
	if m == nil {
		t.Fatal("no memo for openapi.yaml")
	}
	if want := []string{"X-Polytomic-Version", "If-None-Match", "Prefer"}; !slices.Equal(m.headers, want) {
		t.Fatalf("header parameters %v, want %v", m.headers, want)
	}
	newReq := func(target string, headers ...string) *http.Request {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Add(headers[i], headers[i+1])
		}
		return req
	}
	base, ok := m.key(newReq(memoPath, "X-Polytomic-Version", "2025-09-18"))
	if !ok {
		t.Fatal("a plain GET is not memoable")
	}
	same := []struct {
		name string
		req  *http.Request
	}{
		{"other credentials", newReq(memoPath, "X-Polytomic-Version", "2025-09-18", "Authorization", "Bearer x")},
		{"other request id", newReq(memoPath, "X-Polytomic-Version", "2025-09-18", "X-Request-Id", "abc")},
		// The spec declares no query parameter: validation never reads the
		// query string, so it must not make the memo grow.
		{"query", newReq(memoPath+"?a=b", "X-Polytomic-Version", "2025-09-18")},
		{"long query", newReq(memoPath+"?p="+strings.Repeat("x", 16000), "X-Polytomic-Version", "2025-09-18")},
	}
	// If-None-Match and Prefer accept any string: only their presence counts.
	conditional, _ := m.key(newReq(memoPath, "X-Polytomic-Version", "2025-09-18", "If-None-Match", `"a"`, "Prefer", "wait=20"))
	for _, other := range [][]string{{`"b"`, "wait=5"}, {`W/"c", "d"`, "respond-async"}, {"", ""}} {
		k, ok := m.key(newReq(memoPath, "X-Polytomic-Version", "2025-09-18", "If-None-Match", other[0], "Prefer", other[1]))
		if !ok || k != conditional {
			t.Errorf("If-None-Match %q, Prefer %q: key %+v; want the same as any other values", other[0], other[1], k)
		}
	}
	if conditional == base {
		t.Error("a conditional request has the key of a plain one: presence must count")
	}
	for _, tc := range same {
		if k, ok := m.key(tc.req); !ok || k != base {
			t.Errorf("%s: key %+v (%v), want the same as without", tc.name, k, ok)
		}
	}
	differ := []struct {
		name string
		req  *http.Request
	}{
		{"no version", newReq(memoPath)},
		{"empty version", newReq(memoPath, "X-Polytomic-Version", "")},
		{"other version", newReq(memoPath, "X-Polytomic-Version", "2024-02-08")},
		{"escaped path", newReq("/api/jobs/export%6cogs/0190a8f2-7c3e-7d4b-9f10-abcdef012345", "X-Polytomic-Version", "2025-09-18")},
		{"uppercase id", newReq(strings.ToUpper(memoPath), "X-Polytomic-Version", "2025-09-18")},
	}
	seen := map[memoKey]string{base: "base"}
	for _, tc := range differ {
		k, ok := m.key(tc.req)
		if !ok {
			t.Errorf("%s: not memoable", tc.name)
			continue
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("%s: same key as %s", tc.name, prev)
		}
		seen[k] = tc.name
	}
	post := httptest.NewRequest(http.MethodPost, memoPath, strings.NewReader("{}"))
	twice := newReq(memoPath, "X-Polytomic-Version", "2025-09-18", "X-Polytomic-Version", "2025-09-18")
	long := newReq(memoPath + strings.Repeat("/x", maxMemoKeyBytes))
	longVersion := newReq(memoPath, "X-Polytomic-Version", strings.Repeat("9", maxMemoKeyBytes))
	for name, req := range map[string]*http.Request{"body": post, "repeated header": twice, "long path": long, "long version": longVersion} {
		if _, ok := m.key(req); ok {
			t.Errorf("%s: memoable, want full validation every time", name)
		}
	}
}

func TestParamMemoIsBounded(t *testing.T) {
	spec, err := apispec.Load()
	if err != nil {
		t.Fatal(err)
	}
	route := &routers.Route{}
	for _, bound := range []struct {
		name             string
		entries, size    int
		maxEntries, maxB int
	}{
		{"by entries", 10, 1 << 20, 10, 1 << 20},
		{"by bytes", 1 << 20, 1000, 1 << 20, 1000},
	} {
		t.Run(bound.name, func(t *testing.T) {
			m := newParamMemo(spec, bound.entries, bound.size)
			for i := range 200 {
				req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/jobs/exportlogs/%08d-7c3e-7d4b-9f10-abcdef012345", i), nil)
				k, _ := m.key(req)
				m.remember(k, route)
				if n, size := m.len(); n > bound.maxEntries || size > bound.maxB {
					t.Fatalf("after %d requests the memo holds %d entries of %d bytes, beyond its bounds", i+1, n, size)
				}
				if m.route(k) != route {
					t.Fatalf("request %d was not remembered", i)
				}
			}
		})
	}
}

// TestParamMemoNeedsASimpleSpec: parameters the key does not capture turn
// the memo off.
func TestParamMemoNeedsASimpleSpec(t *testing.T) {
	tests := []struct {
		name, spec string
		memo       bool
	}{
		{"path and header parameters", `
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: X-A, in: header, schema: {type: string}}`, true},
		{"query parameter", `
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: q, in: query, schema: {type: string}}`, true},
		{"cookie parameter", `
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: c, in: cookie, schema: {type: string}}`, false},
		{"request body", `
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      requestBody:
        content: {application/json: {schema: {type: object}}}`, false},
		{"five header parameters", `
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: X-A, in: header, schema: {type: string}}
        - {name: X-B, in: header, schema: {type: string}}
        - {name: X-C, in: header, schema: {type: string}}
        - {name: X-D, in: header, schema: {type: string}}
        - {name: X-E, in: header, schema: {type: string}}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /things/{id}:
    post:` + tc.spec + `
      responses:
        "200": {description: ok}
`
			spec, err := openapi3.NewLoader().LoadFromData([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := spec.Validate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := newParamMemo(spec, 10, 1<<20) != nil; got != tc.memo {
				t.Fatalf("memo built: %v, want %v", got, tc.memo)
			}
		})
	}
}
