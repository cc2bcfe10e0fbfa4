package server_test

// Fuzz targets over the request surface of GET /api/jobs/{type}/{id}.
//
// Every target builds one reference server on a SQLite store with two
// organizations and jobs of every type in every status, then drives it with
// requests parsed by net/http's own request reader, as a real listener would
// deliver them (inputs the server's HTTP layer would refuse before any handler
// runs are skipped). For every input:
//
//   - the handler does not panic (the recover middleware would hide a panic,
//     so the log is searched for the panic line too) and no key reaches the log;
//   - the status is one of 200, 400, 401, 404, 405, 413, 429 (the store is
//     healthy, so a 500 is a bug);
//   - the response matches openapi.yaml (documented statuses with
//     ValidateResponse, the others against the ApiError schema);
//   - a 200 only ever shows a job of the organization whose credentials the
//     request carried, and each target checks the exact status it expects.
//
// Run one with: go test -run '^$' -fuzz '^FuzzPath$' -fuzztime 60s ./server/

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"golang.org/x/net/http/httpguts"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// fuzzStatuses are the statuses any fuzzed request may get. 431 is answered by
// net/http before the handler, and 500 is a bug: the store is healthy.
var fuzzStatuses = map[int]bool{200: true, 400: true, 401: true, 404: true, 405: true, 413: true, 429: true}

// knownVersions are the API versions of the contract, as openapi.yaml lists
// them.
var knownVersions = func() map[string]bool {
	m := make(map[string]bool)
	for _, v := range api.APIVersionValues() {
		m[string(v)] = true
	}
	return m
}()

// specChecker validates a recorded response against openapi.yaml like
// env.validate does, but returns an error instead of failing a test, so that
// fuzz functions and subtests report through their own *testing.T. The
// ApiError schema is loaded once: apispec.Validator.ValidateSchema reloads the
// whole spec on every call, too slow for fuzzing.
type specChecker struct {
	v        *apispec.Validator
	apiError *openapi3.Schema
}

func newSpecChecker(tb testing.TB) *specChecker {
	tb.Helper()
	v, err := apispec.NewValidator()
	if err != nil {
		tb.Fatal(err)
	}
	spec, err := apispec.Load()
	if err != nil {
		tb.Fatal(err)
	}
	ref, ok := spec.Components.Schemas["ApiError"]
	if !ok || ref.Value == nil {
		tb.Fatal("openapi.yaml has no ApiError schema")
	}
	return &specChecker{v: v, apiError: ref.Value}
}

// check reports whether r, the response to req, is one openapi.yaml allows.
func (sc *specChecker) check(req *http.Request, r response) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the response validator panicked: %v", p)
		}
	}()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("Content-Type = %q; want application/json", ct)
	}
	if r.header.Get("X-Request-Id") == "" {
		return errors.New("no X-Request-Id header")
	}
	if v := r.header.Get("X-Polytomic-Version"); !knownVersions[v] {
		return fmt.Errorf("X-Polytomic-Version = %q; want a known version", v)
	}
	err = sc.v.ValidateResponse(req, r.status, r.header, r.body)
	if errors.Is(err, apispec.ErrNoRoute) || !documented[r.status] {
		err = sc.validateAPIError(r.body)
	}
	if err != nil {
		return fmt.Errorf("response %d %s does not match openapi.yaml: %v", r.status, r.body, err)
	}
	return nil
}

func (sc *specChecker) validateAPIError(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var value any
	if err := dec.Decode(&value); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if dec.More() {
		return errors.New("body has trailing data after the JSON value")
	}
	return sc.apiError.VisitJSON(value, apispec.SchemaOptions()...)
}

// fuzzEnv is the server and fixtures one fuzz target shares between inputs.
// It is built with the target's *testing.F; nothing in it calls Fatal once
// fuzzing runs.
type fuzzEnv struct {
	e *server.Handler
	// plain is a server on the same store without the fast paths
	// (Config.Plain): the reference e's answers must match.
	plain *server.Handler
	spec  *specChecker
	logs  *syncbuf.Buffer
	// a is the organization whose credentials FuzzPath and FuzzHeaders send;
	// b is another organization.
	a, b tenant
	// jobsA and jobsB hold one job of every type in every status.
	jobsA, jobsB []store.Job
	// revokedUser and revokedOrg are revoked keys of a.
	revokedUser, revokedOrg string
	// secrets are every key in the store: none may appear in a log.
	secrets []string
}

// fuzzLifecycles are the transitions giving a job of typ each status.
func fuzzLifecycles(typ store.JobType) [][]store.Transition {
	return [][]store.Transition{
		nil,
		{store.Start()},
		{store.Start(), store.Finish(json.RawMessage(resultOf(typ)))},
		{store.Finish(nil)},
		{store.Start(), store.Fail("warehouse unreachable: \"users\" ☃")},
	}
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "polyjobs.db"))
	if err != nil {
		f.Fatalf("open sqlite: %v", err)
	}
	f.Cleanup(func() { s.Close() })
	logs := &syncbuf.Buffer{}
	logger, err := server.NewLogger(logs, "json", slog.LevelInfo)
	if err != nil {
		f.Fatal(err)
	}
	// Rate limits are off: every input reuses the same few keys from the same
	// address, and a 429 would say nothing about the input.
	e, err := server.New(server.Config{Store: s, Logger: logger, Rate: -1, AuthFailureRate: -1})
	if err != nil {
		f.Fatalf("server.New: %v", err)
	}
	plain, err := server.New(server.Config{Store: s, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Rate: -1, AuthFailureRate: -1, Plain: true})
	if err != nil {
		f.Fatalf("server.New: %v", err)
	}
	fe := &fuzzEnv{e: e, plain: plain, spec: newSpecChecker(f), logs: logs}
	fe.a = seedTenant(f, s, "acme")
	fe.b = seedTenant(f, s, "globex")
	var revoked store.Key
	fe.revokedUser, revoked = seedKey(f, s, fe.a.org.ID, store.KeyKindUser)
	if err := s.RevokeKey(ctx, revoked.ID); err != nil {
		f.Fatal(err)
	}
	fe.revokedOrg, revoked = seedKey(f, s, fe.a.org.ID, store.KeyKindOrg)
	if err := s.RevokeKey(ctx, revoked.ID); err != nil {
		f.Fatal(err)
	}
	fe.secrets = []string{fe.a.userKey, fe.a.orgKey, fe.b.userKey, fe.b.orgKey, fe.revokedUser, fe.revokedOrg}
	for _, typ := range store.JobTypes() {
		for _, steps := range fuzzLifecycles(typ) {
			fe.jobsA = append(fe.jobsA, seedJob(f, s, fe.a.org.ID, typ, steps...))
			fe.jobsB = append(fe.jobsB, seedJob(f, s, fe.b.org.ID, typ, steps...))
		}
	}
	return fe
}

// seedTenant is env.tenant for any testing.TB.
func seedTenant(tb testing.TB, s store.Store, name string) tenant {
	tb.Helper()
	org, err := s.CreateOrganization(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	tn := tenant{org: org}
	var k store.Key
	tn.userKey, k = seedKey(tb, s, org.ID, store.KeyKindUser)
	tn.userID = k.ID
	tn.orgKey, _ = seedKey(tb, s, org.ID, store.KeyKindOrg)
	return tn
}

// seedKey stores a new key of the given kind and returns its secret.
func seedKey(tb testing.TB, s store.Store, orgID uuid.UUID, kind store.KeyKind) (string, store.Key) {
	tb.Helper()
	secret, hash, err := apikey.New(kind)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := s.CreateKey(context.Background(), orgID, kind, hash)
	if err != nil {
		tb.Fatal(err)
	}
	return secret, k
}

// seedJob is env.job for any testing.TB.
func seedJob(tb testing.TB, s store.Store, orgID uuid.UUID, typ store.JobType, steps ...store.Transition) store.Job {
	tb.Helper()
	job, err := s.CreateJob(context.Background(), orgID, typ)
	if err != nil {
		tb.Fatal(err)
	}
	for _, st := range steps {
		if job, err = s.Transition(context.Background(), job.ID, st); err != nil {
			tb.Fatal(err)
		}
	}
	return job
}

// jobOf picks a job of org a (b when other is set) from a fuzzed byte.
func (fe *fuzzEnv) jobOf(other bool, pick uint8) store.Job {
	jobs := fe.jobsA
	if other {
		jobs = fe.jobsB
	}
	return jobs[int(pick)%len(jobs)]
}

// serve hands req to the server and checks the invariants every input must
// keep; target-specific expectations are the caller's.
//
// A request without a body is served twice: the first answer primes the
// fast paths (server/internal/fastpath), which may answer the second; and
// once by the plain server. The three answers must not differ.
func (fe *fuzzEnv) serve(t *testing.T, req *http.Request) response {
	t.Helper()
	replay := req.Body == nil || req.Body == http.NoBody
	var again, plain *http.Request
	if replay {
		again, plain = req.Clone(req.Context()), req.Clone(req.Context())
	}
	r := fe.serveOnce(t, req)
	if replay {
		r2 := fe.serveOnce(t, again)
		if r2.status != r.status || (r.status < 500 && !bytes.Equal(r2.body, r.body)) {
			t.Fatalf("%s %q: served again: %d %s; first: %d %s", req.Method, req.RequestURI, r2.status, r2.body, r.status, r.body)
		}
		rec := httptest.NewRecorder()
		fe.plain.ServeHTTP(rec, plain)
		if rec.Code != r.status || (r.status < 500 && !bytes.Equal(rec.Body.Bytes(), r.body)) {
			t.Fatalf("%s %q: plain server: %d %s; fast: %d %s", req.Method, req.RequestURI, rec.Code, rec.Body, r.status, r.body)
		}
	}
	return r
}

// serveOnce serves req once and checks the invariants.
func (fe *fuzzEnv) serveOnce(t *testing.T, req *http.Request) response {
	t.Helper()
	fe.logs.Reset()
	rec := httptest.NewRecorder()
	fe.e.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	logs := fe.logs.String()
	if strings.Contains(logs, `"msg":"panic"`) {
		t.Fatalf("%s %q: the handler panicked (status %d):\n%s", req.Method, req.RequestURI, r.status, logs)
	}
	if !fuzzStatuses[r.status] {
		t.Fatalf("%s %q: status %d %s is not allowed here\nlog: %s", req.Method, req.RequestURI, r.status, r.body, logs)
	}
	if err := fe.spec.check(req, r); err != nil {
		t.Fatalf("%s %q: %v", req.Method, req.RequestURI, err)
	}
	if !strings.Contains(logs, fmt.Sprintf(`"status":%d`, r.status)) ||
		!strings.Contains(logs, `"request_id":"`+r.header.Get("X-Request-Id")+`"`) {
		t.Fatalf("%s %q: no access log line for status %d:\n%s", req.Method, req.RequestURI, r.status, logs)
	}
	for _, s := range fe.secrets {
		if strings.Contains(logs, s) {
			t.Fatalf("%s %q: an API key appears in the log:\n%s", req.Method, req.RequestURI, logs)
		}
	}
	if r.status == http.StatusUnauthorized {
		if wa := r.header.Get("WWW-Authenticate"); !strings.Contains(wa, "Bearer") || !strings.Contains(wa, "Basic") {
			t.Fatalf("%s %q: 401 with WWW-Authenticate %q; want both schemes", req.Method, req.RequestURI, wa)
		}
	}
	return r
}

// servedJob decodes a 200 body and returns the job it shows.
func servedJob(t *testing.T, r response) api.JobResponse {
	t.Helper()
	var envl api.JobResponseEnvelope
	if err := json.Unmarshal(r.body, &envl); err != nil {
		t.Fatalf("200 body %s: %v", r.body, err)
	}
	return envl.Data
}

// sameJob fails unless got is the API view of want.
func sameJob(t *testing.T, got api.JobResponse, want store.Job) {
	t.Helper()
	if got.JobID != want.ID || got.Type != want.Type || got.Status != want.Status {
		t.Fatalf("served job %s %s %s; want job %s %s %s", got.JobID, got.Type, got.Status, want.ID, want.Type, want.Status)
	}
	if (got.Error != nil) != (want.Error != "") || got.Error != nil && *got.Error != want.Error {
		t.Fatalf("served error %v; want %q", got.Error, want.Error)
	}
}

// wireHeader is one request header line.
type wireHeader struct{ name, value string }

// wireRequest writes a GET request for target with the given headers and
// body in HTTP/1.1 wire format and reads it back with net/http's request
// reader, so the handler gets exactly what a real listener would deliver:
// header values trimmed, the URL parsed, the body framed. ok is false when
// net/http would refuse the request itself (it would answer 400 or 431
// before any handler runs), or when it could not be put on the wire at all.
func wireRequest(target string, headers []wireHeader, body []byte, chunked bool) (*http.Request, bool) {
	if target == "" || target[0] != '/' {
		return nil, false
	}
	for i := 0; i < len(target); i++ {
		if target[i] <= ' ' || target[i] == 0x7f {
			return nil, false
		}
	}
	var b bytes.Buffer
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: polyjobs.test\r\n")
	for _, h := range headers {
		if !httpguts.ValidHeaderFieldName(h.name) || !httpguts.ValidHeaderFieldValue(h.value) {
			return nil, false
		}
		b.WriteString(h.name + ": " + h.value + "\r\n")
	}
	if b.Len() > server.MaxHeaderBytes {
		return nil, false
	}
	switch {
	case chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(&b)
		if len(body) > 0 {
			cw.Write(body)
		}
		cw.Close()
		b.WriteString("\r\n")
	case len(body) > 0:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
		b.Write(body)
	default:
		b.WriteString("\r\n")
	}
	req, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return nil, false
	}
	// The checks net/http's server makes after reading a request.
	for name, values := range req.Header {
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, false
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, false
			}
		}
	}
	if !httpguts.ValidHostHeader(req.Host) {
		return nil, false
	}
	req.RemoteAddr = "192.0.2.1:43210"
	return req, true
}

// expandRefs replaces placeholders in a fuzzed string, so that corpus files
// can name the jobs created at run time: {A} is the id of a job of the
// caller's organization, {AU} the same id in upper case, {AE} the same id
// with its hyphens percent-encoded, {B} the id of a job
// of another organization, {T} the type of the {A} job.
func (fe *fuzzEnv) expandRefs(s string, pick uint8) string {
	if !strings.Contains(s, "{") {
		return s
	}
	a, b := fe.jobOf(false, pick), fe.jobOf(true, pick)
	return strings.NewReplacer(
		"{AU}", strings.ToUpper(a.ID.String()),
		"{AE}", strings.ReplaceAll(a.ID.String(), "-", "%2D"),
		"{A}", a.ID.String(),
		"{B}", b.ID.String(),
		"{T}", string(a.Type),
	).Replace(s)
}

// canonicalJob returns the job whose canonical path the decoded request path
// is: "/api/jobs/" + its type + "/" + its id (in any letter case).
func (fe *fuzzEnv) canonicalJob(path string) (store.Job, bool) {
	rest, ok := strings.CutPrefix(path, "/api/jobs/")
	if !ok {
		return store.Job{}, false
	}
	typ, id, ok := strings.Cut(rest, "/")
	if !ok || len(id) != 36 {
		return store.Job{}, false
	}
	for _, jobs := range [][]store.Job{fe.jobsA, fe.jobsB} {
		for _, j := range jobs {
			if string(j.Type) == typ && strings.EqualFold(j.ID.String(), id) {
				return j, true
			}
		}
	}
	return store.Job{}, false
}

// FuzzPath fuzzes the request target: the type and id segments, anything after
// them, percent-encoding and the query string, with valid credentials of
// organization A (bearer or basic, by the low bit of pick; the other bits pick
// the job the placeholders of expandRefs name).
func FuzzPath(f *testing.F) {
	fe := newFuzzEnv(f)
	f.Add("{T}", "{A}", "", "", uint8(0))
	f.Add("{T}", "{A}", "", "", uint8(1))
	f.Add("{T}", "{B}", "", "", uint8(0))
	f.Fuzz(func(t *testing.T, typ, id, extra, query string, pick uint8) {
		target := "/api/jobs/" + fe.expandRefs(typ, pick>>1) + "/" + fe.expandRefs(id, pick>>1) + fe.expandRefs(extra, pick>>1)
		if query != "" {
			target += "?" + fe.expandRefs(query, pick>>1)
		}
		auth := fe.a.bearer()
		if pick&1 == 1 {
			auth = fe.a.basic()
		}
		req, ok := wireRequest(escapeUnsendable(target), []wireHeader{{"Authorization", auth}}, nil, false)
		if !ok {
			t.Skip("net/http would refuse this request target")
		}
		r := fe.serve(t, req)

		if r.status == http.StatusOK {
			got := servedJob(t, r)
			want, ok := fe.canonicalJob(req.URL.Path)
			if !ok || want.OrgID != fe.a.org.ID || got.JobID != want.ID {
				t.Fatalf("GET %q: 200 with job %s, which is not the caller's job at that path", req.RequestURI, got.JobID)
			}
			sameJob(t, got, want)
		}
		// A path that decodes to the canonical path of a job is that job
		// (percent-encoding an unreserved character changes nothing), unless
		// an encoded slash changed the segments.
		if job, ok := fe.canonicalJob(req.URL.Path); ok && !strings.Contains(strings.ToLower(req.URL.EscapedPath()), "%2f") {
			want := http.StatusOK
			if job.OrgID != fe.a.org.ID {
				want = http.StatusNotFound
			}
			if r.status != want {
				t.Fatalf("GET %q (path %q): status %d %s; want %d", req.RequestURI, req.URL.Path, r.status, r.body, want)
			}
		}
	})
}

// escapeUnsendable percent-encodes the bytes a request target cannot carry
// on the wire (controls, space, DEL), as an HTTP client would, so that fuzzed
// targets containing them still reach the server.
func escapeUnsendable(target string) string {
	var b strings.Builder
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// credentialOwner returns the organization whose valid, unrevoked credentials
// the Authorization header value carries, by the contract's rules: the scheme
// (any letter case), one space, the credentials with surrounding white space
// ignored; a bearer token is a user key, basic credentials are the base64 of
// an organization id, a colon and an organization key of that organization.
// It returns uuid.Nil when the value carries no valid credentials.
func (fe *fuzzEnv) credentialOwner(value string) uuid.UUID {
	scheme, creds, ok := strings.Cut(value, " ")
	if !ok {
		return uuid.Nil
	}
	creds = strings.TrimSpace(creds)
	tenants := []tenant{fe.a, fe.b}
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		for _, tn := range tenants {
			if creds == tn.userKey {
				return tn.org.ID
			}
		}
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(creds)
		if err != nil {
			return uuid.Nil
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok || len(user) != 36 {
			return uuid.Nil
		}
		orgID, err := uuid.Parse(user)
		if err != nil {
			return uuid.Nil
		}
		for _, tn := range tenants {
			if orgID == tn.org.ID && pass == tn.orgKey {
				return tn.org.ID
			}
		}
	}
	return uuid.Nil
}

// carriesKeyOf reports whether the Authorization value contains a key of tn,
// in clear or inside base64 basic credentials: the weakest condition under
// which a 200 for one of tn's jobs can be right.
func carriesKeyOf(value string, tn tenant) bool {
	if strings.Contains(value, tn.userKey) || strings.Contains(value, tn.orgKey) {
		return true
	}
	_, creds, _ := strings.Cut(value, " ")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(creds))
	return err == nil && strings.Contains(string(raw), tn.orgKey)
}

// FuzzAuthorization fuzzes the Authorization header of a well-formed request
// for a job of organization A (low bit of pick clear) or B (set); the other
// bits of pick choose the job. Valid credentials cannot be stored in corpus
// files (keys are random per run), so they are seeded here with f.Add.
func FuzzAuthorization(f *testing.F) {
	fe := newFuzzEnv(f)
	a, b := fe.a, fe.b
	unknownUser, _, _ := apikey.New(store.KeyKindUser)
	unknownOrg, _, _ := apikey.New(store.KeyKindOrg)
	// A key of the right shape with one character of its random part
	// changed: its checksum no longer matches.
	flip := byte('a')
	if a.userKey[10] == 'a' {
		flip = 'c'
	}
	badChecksum := a.userKey[:10] + string(flip) + a.userKey[11:]
	for _, v := range []string{
		a.bearer(),
		a.basic(),
		"bearer " + a.userKey,
		"BEARER " + a.userKey,
		"Bearer   " + a.userKey + "  ",
		"Bearer\t" + a.userKey,
		"Bearer " + a.userKey + " " + a.userKey,
		"Basic " + base64.StdEncoding.EncodeToString([]byte(strings.ToUpper(a.org.ID.String())+":"+a.orgKey)),
		"Basic " + base64.RawStdEncoding.EncodeToString([]byte(a.org.ID.String()+":"+a.orgKey)),
		"Basic " + base64.URLEncoding.EncodeToString([]byte(a.org.ID.String()+":"+a.orgKey)),
		basicAuth(a.org.ID.String(), a.orgKey+":"),
		basicAuth(strings.ReplaceAll(a.org.ID.String(), "-", ""), a.orgKey),
		basicAuth("{"+a.org.ID.String()+"}", a.orgKey),
		basicAuth("urn:uuid:"+a.org.ID.String(), a.orgKey),
		b.bearer(),
		b.basic(),
		"Bearer " + a.orgKey,
		basicAuth(a.org.ID.String(), a.userKey),
		basicAuth(b.org.ID.String(), a.orgKey),
		basicAuth(a.org.ID.String(), b.orgKey),
		"Bearer " + fe.revokedUser,
		basicAuth(a.org.ID.String(), fe.revokedOrg),
		"Bearer " + unknownUser,
		basicAuth(a.org.ID.String(), unknownOrg),
		"Bearer " + badChecksum,
		"Bearer " + strings.ToUpper(a.userKey),
		"Token " + a.userKey,
		a.userKey,
	} {
		f.Add(v, uint8(0))
		f.Add(v, uint8(7))
	}
	f.Fuzz(func(t *testing.T, auth string, pick uint8) {
		job := fe.jobOf(pick&1 == 1, pick>>1)
		req, ok := wireRequest(jobPath(job.Type, job.ID), []wireHeader{{"Authorization", auth}}, nil, false)
		if !ok {
			t.Skip("net/http would refuse this header")
		}
		delivered := req.Header.Get("Authorization")
		r := fe.serve(t, req)

		owner := fe.credentialOwner(delivered)
		if r.status == http.StatusOK {
			got := servedJob(t, r)
			tn := a
			if job.OrgID == b.org.ID {
				tn = b
			}
			if owner != job.OrgID || !carriesKeyOf(delivered, tn) {
				t.Fatalf("Authorization %q: 200 with job %s of organization %s, without valid credentials of that organization", delivered, got.JobID, job.OrgID)
			}
			sameJob(t, got, job)
		}
		want := http.StatusUnauthorized
		switch owner {
		case uuid.Nil:
		case job.OrgID:
			want = http.StatusOK
		default:
			want = http.StatusNotFound
		}
		if r.status != want {
			t.Fatalf("Authorization %q: status %d %s; want %d", delivered, r.status, r.body, want)
		}
	})
}

// reservedFuzzHeaders are the headers FuzzHeaders sets itself or that frame
// the request; its free-form extra header is never one of them.
var reservedFuzzHeaders = map[string]bool{
	"Authorization": true, "X-Polytomic-Version": true, "X-Request-Id": true,
	"Content-Type": true, "Accept": true, "Host": true, "Content-Length": true,
	"Transfer-Encoding": true,
}

// validFuzzRequestID is the server's rule for keeping a client's request id:
// 1 to 64 characters of [A-Za-z0-9._-].
func validFuzzRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// probeBodyLimit finds the largest request body, sent with a Content-Length,
// that the server accepts: FuzzHeaders checks that the limit holds whatever
// the headers and however the body is framed, not what it is (the default
// has been both 16,000 bytes, echo's reading of "16K", and 16 KiB).
func (fe *fuzzEnv) probeBodyLimit(f *testing.F) int {
	f.Helper()
	job := fe.jobOf(false, 0)
	tooLarge := func(n int) bool {
		req, ok := wireRequest(jobPath(job.Type, job.ID), []wireHeader{{"Authorization", fe.a.bearer()}}, make([]byte, n), false)
		if !ok {
			f.Fatalf("cannot build a request with a %d-byte body", n)
		}
		rec := httptest.NewRecorder()
		fe.e.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			return false
		case http.StatusRequestEntityTooLarge:
			return true
		}
		f.Fatalf("%d-byte body: status %d %s", n, rec.Code, rec.Body)
		return false
	}
	lo, hi := 0, 1<<20 // lo is accepted; hi is refused
	if tooLarge(lo) {
		f.Fatal("an empty body is refused")
	}
	if !tooLarge(hi) {
		f.Fatalf("a %d-byte body is accepted: no body limit", hi)
	}
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; tooLarge(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return lo
}

// FuzzHeaders fuzzes the headers around a valid request: X-Polytomic-Version,
// X-Request-Id, Content-Type, Accept, one free-form header, and a body: the
// fuzzed bytes followed by pad bytes of filler (so that inputs stay small, and
// quick to minimize, while bodies reach past the limit).
// flags: bit 0 sends X-Polytomic-Version, bit 1 sends the body chunked
// (else with a Content-Length), bit 2 authenticates with basic credentials
// (else bearer), bit 3 asks for a job of organization B (else A); the high
// nibble picks the job.
func FuzzHeaders(f *testing.F) {
	fe := newFuzzEnv(f)
	bodyLimit := fe.probeBodyLimit(f)
	if bodyLimit >= 1<<16 {
		f.Fatalf("body limit %d: pad cannot reach past it", bodyLimit)
	}
	over, at := uint16(bodyLimit+1), uint16(bodyLimit)
	f.Add("2024-02-08", "", "", "", "", "", []byte(nil), over, uint8(1))     // 413 before the version is looked at
	f.Add("1999-01-01", "", "", "", "", "", []byte(nil), over, uint8(1))     // 413 wins over 400
	f.Add("", "", "application/json", "", "", "", []byte(nil), at, uint8(0)) // exactly the limit
	f.Add("", "", "", "", "", "", []byte(nil), at, uint8(2))                 // exactly the limit, chunked
	f.Add("", "", "", "", "", "", []byte(nil), over, uint8(2))               // over the limit, chunked
	f.Add("", "bad id", "", "", "", "", []byte("{}"), over-2, uint8(0xfe))   // over the limit by one, with an invalid request id
	f.Fuzz(func(t *testing.T, version, requestID, contentType, accept, extraName, extraValue string, body []byte, pad uint16, flags uint8) {
		if pad > 0 {
			body = append(body[:len(body):len(body)], bytes.Repeat([]byte("x"), int(pad))...)
		}
		job := fe.jobOf(flags&8 != 0, flags>>4)
		auth := fe.a.bearer()
		if flags&4 != 0 {
			auth = fe.a.basic()
		}
		headers := []wireHeader{{"Authorization", auth}}
		if flags&1 != 0 {
			headers = append(headers, wireHeader{"X-Polytomic-Version", version})
		}
		for _, h := range []wireHeader{{"X-Request-Id", requestID}, {"Content-Type", contentType}, {"Accept", accept}} {
			if h.value != "" {
				headers = append(headers, h)
			}
		}
		if extraName != "" && !reservedFuzzHeaders[http.CanonicalHeaderKey(extraName)] {
			headers = append(headers, wireHeader{extraName, extraValue})
		}
		chunked := flags&2 != 0
		req, ok := wireRequest(jobPath(job.Type, job.ID), headers, body, chunked)
		if !ok {
			t.Skip("net/http would refuse these headers")
		}
		r := fe.serve(t, req)

		versions, versioned := req.Header["X-Polytomic-Version"]
		want := http.StatusOK
		switch {
		case versioned && (len(versions) != 1 || !knownVersions[versions[0]]):
			want = http.StatusBadRequest
		case job.OrgID != fe.a.org.ID:
			want = http.StatusNotFound
		}
		// A body over the limit is refused with 413: up front when its
		// Content-Length gives it away; when it comes chunked, as soon as
		// something reads it (a server that never reads it may answer as if
		// there were none, but nothing else).
		switch {
		case !chunked && len(body) > bodyLimit:
			want = http.StatusRequestEntityTooLarge
		case chunked && len(body) > bodyLimit && r.status == http.StatusRequestEntityTooLarge:
			want = http.StatusRequestEntityTooLarge
		}
		if r.status != want {
			t.Fatalf("headers %q, %d-byte body (chunked %v): status %d %s; want %d", req.Header, len(body), chunked, r.status, r.body, want)
		}
		if r.status == http.StatusOK {
			sameJob(t, servedJob(t, r), job)
		}

		served := string(server.NewestVersion)
		if versioned && knownVersions[versions[0]] {
			served = versions[0]
		}
		if got := r.header.Get("X-Polytomic-Version"); got != served {
			t.Fatalf("headers %q: X-Polytomic-Version = %q; want %q", req.Header, got, served)
		}
		sent, got := req.Header.Get("X-Request-Id"), r.header.Get("X-Request-Id")
		if validFuzzRequestID(sent) && got != sent || !validFuzzRequestID(sent) && (got == sent || len(got) != 32 || !isLowerHex(got)) {
			t.Fatalf("X-Request-Id %q sent: got %q", sent, got)
		}
	})
}
