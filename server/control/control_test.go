package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// harness is a reference server with its control API on, and clients of
// both APIs that validate every answer against their spec.
type harness struct {
	t        *testing.T
	url      string
	token    string
	api, ctl *apispec.Validator
}

func start(t *testing.T, token string) *harness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "polyjobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := server.New(server.Config{Store: st, Logger: slog.New(slog.DiscardHandler), Control: &control.Options{Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go h.Control().Run(ctx)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); cancel() })
	api, err := apispec.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := apispec.NewControlValidator(control.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, url: srv.URL, token: token, api: api, ctl: ctl}
}

// answer is an HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("body %s: %v", a.body, err)
	}
}

// control calls the control API with a JSON body (nil for none).
func (h *harness) control(method, path string, body any) answer {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, ok := body.([]byte) // sent as it is
		if !ok {
			b, _ = json.Marshal(body)
		}
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.url+control.Prefix+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	return h.do(h.ctl, req)
}

// getJob calls the Get Job API.
func (h *harness) getJob(typ, id, key string) answer {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+"/api/jobs/"+typ+"/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	return h.do(h.api, req)
}

func (h *harness) do(v *apispec.Validator, req *http.Request) answer {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	err = v.ValidateResponse(req, resp.StatusCode, resp.Header, body)
	if err != nil && v == h.api && (err == apispec.ErrNoRoute || !listedStatus(h.t, resp.StatusCode)) {
		// An unknown route, or an injected status the spec does not list:
		// still an ApiError.
		err = v.ValidateSchema("ApiError", body)
	}
	if err == apispec.ErrNoRoute && resp.StatusCode == http.StatusMethodNotAllowed {
		err = v.ValidateSchema("ApiError", body) // a method the path does not have
	}
	if err != nil && !(err == apispec.ErrNoRoute && resp.StatusCode == http.StatusNotFound) {
		h.t.Fatalf("%s %s: %d %s does not match its spec: %v", req.Method, req.URL.Path, resp.StatusCode, body, err)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

// listedStatus reports whether openapi.yaml lists status for GET
// /api/jobs/{type}/{id}; a fault may inject any other.
func listedStatus(t *testing.T, status int) bool {
	spec, err := apispec.Load()
	if err != nil {
		t.Fatal(err)
	}
	return spec.Paths.Find("/api/jobs/{type}/{id}").Get.Responses.Status(status) != nil
}

type jobView struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
	Plan   []struct {
		Status string `json:"status"`
	} `json:"plan"`
}

// TestJobFaultStaysWithItsOrganization: a fault for a job applies only to
// requests that find it. Another organization's request for the job is
// answered as one for an unknown id (the faults that name no job apply,
// then the 404), and leaves the fault for the job's own requests.
func TestJobFaultStaysWithItsOrganization(t *testing.T) {
	h := start(t, "")
	type key struct{ ID, Secret string }
	keys := map[string]key{}
	for _, name := range []string{"acme", "globex"} {
		h.control(http.MethodPost, "/organizations", map[string]any{"name": name})
		var k key
		h.control(http.MethodPost, "/organizations/"+name+"/keys", map[string]any{}).decode(t, &k)
		keys[name] = k
	}
	var job jobView
	h.control(http.MethodPost, "/jobs", map[string]any{"org": "acme", "type": "exportlogs"}).decode(t, &job)
	for _, fault := range []map[string]any{
		{"job_id": job.ID, "status": 503},
		{"key_id": keys["globex"].ID, "status": 500, "count": 2},
	} {
		if a := h.control(http.MethodPost, "/faults", fault); a.status != http.StatusCreated {
			t.Fatalf("inject fault %v: %d %s", fault, a.status, a.body)
		}
	}
	for _, step := range []struct {
		name, typ, id, org string
		status             int
	}{
		{"another organization, an unknown id", "exportlogs", "0b8e7a3c-4f0e-4c47-9d55-1f2a3b4c5d6e", "globex", 500},
		{"another organization, the job's id: as an unknown id", "exportlogs", job.ID, "globex", 500},
		{"another organization once its fault is used", "exportlogs", job.ID, "globex", 404},
		{"another type", "samplemodel", job.ID, "acme", 404},
		{"the job's own organization", "exportlogs", job.ID, "acme", 503},
		{"after the fault", "exportlogs", job.ID, "acme", 200},
	} {
		if a := h.getJob(step.typ, step.id, keys[step.org].Secret); a.status != step.status {
			t.Fatalf("%s: %d %s; want %d", step.name, a.status, a.body, step.status)
		}
	}
}

// TestFaultBodies: an injected status answers with an ApiError that names
// it, also for a status without a reason phrase, and never with the
// message of a real error of that status.
func TestFaultBodies(t *testing.T) {
	h := start(t, "")
	h.control(http.MethodPost, "/organizations", map[string]any{"name": "acme"})
	var key struct{ Secret string }
	h.control(http.MethodPost, "/organizations/acme/keys", map[string]any{}).decode(t, &key)
	var job jobView
	h.control(http.MethodPost, "/jobs", map[string]any{"org": "acme", "type": "exportlogs"}).decode(t, &job)
	for _, tc := range []struct {
		status      int
		key, prefix string
	}{
		{404, "not_found", "injected fault: 404 not found"},
		{418, "i'm_a_teapot", "injected fault: 418 i'm a teapot"},
		{599, "status_599", "status 599; quote request id"},
	} {
		h.control(http.MethodPost, "/faults", map[string]any{"status": tc.status})
		a := h.getJob("exportlogs", job.ID, key.Secret)
		var body struct{ Key, Message string }
		a.decode(t, &body)
		if a.status != tc.status || body.Key != tc.key || !strings.HasPrefix(body.Message, tc.prefix) {
			t.Errorf("fault %d: %d %s; want key %q and a message starting %q", tc.status, a.status, a.body, tc.key, tc.prefix)
		}
	}
}

// TestScenario walks what a test suite in another language does: an
// organization, a key, a planned job watched through the API until done, a
// job moved by hand, faults, a reset.
func TestScenario(t *testing.T) {
	h := start(t, "")
	a := h.control(http.MethodPost, "/organizations", map[string]any{"name": "acme"})
	var org struct{ ID, Name string }
	if a.status != http.StatusCreated {
		t.Fatalf("create organization: %d %s", a.status, a.body)
	}
	a.decode(t, &org)
	if a := h.control(http.MethodPost, "/organizations", map[string]any{"name": "acme"}); a.status != http.StatusConflict {
		t.Fatalf("a taken name: %d %s", a.status, a.body)
	}
	var key struct{ ID, Secret, Kind string }
	a = h.control(http.MethodPost, "/organizations/acme/keys", map[string]any{})
	a.decode(t, &key)
	if a.status != http.StatusCreated || key.Kind != "user" || !strings.HasPrefix(key.Secret, "pju_") {
		t.Fatalf("create key: %d %s", a.status, a.body)
	}

	// A planned job unfolds by itself.
	a = h.control(http.MethodPost, "/jobs", map[string]any{"org": org.ID, "type": "exportlogs", "plan": []map[string]any{
		{"after": "100ms", "status": "running"},
		{"after": "200ms", "status": "done", "result": map[string]string{"url": "https://x.example/e?a=1&b=2"}},
	}})
	var job jobView
	a.decode(t, &job)
	if a.status != http.StatusCreated || job.Status != "created" || len(job.Plan) != 2 {
		t.Fatalf("create planned job: %d %s", a.status, a.body)
	}
	seen := []string{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) == 0 || seen[len(seen)-1] != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("the planned job went %v in 10 s", seen)
		}
		var env struct{ Data jobView }
		h.getJob("exportlogs", job.ID, key.Secret).decode(t, &env)
		if len(seen) == 0 || seen[len(seen)-1] != env.Data.Status {
			seen = append(seen, env.Data.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if seen[0] != "created" {
		t.Fatalf("the planned job went %v", seen)
	}
	var shown jobView
	h.control(http.MethodGet, "/jobs/"+job.ID, nil).decode(t, &shown)
	var result struct{ URL string }
	json.Unmarshal(shown.Result, &result)
	if shown.Status != "done" || len(shown.Plan) != 0 || result.URL != "https://x.example/e?a=1&b=2" {
		t.Fatalf("the job once done: %+v", shown)
	}

	// A job moved by hand, within the lifecycle only.
	var other jobView
	h.control(http.MethodPost, "/jobs", map[string]any{"org": "acme", "type": "samplemodel",
		"plan": []map[string]any{{"after": "1h", "status": "running"}}}).decode(t, &other)
	if a := h.control(http.MethodPost, "/jobs/"+other.ID+"/transitions", map[string]any{"status": "failed", "error": "boom"}); a.status != http.StatusOK {
		t.Fatalf("move by hand: %d %s", a.status, a.body)
	}
	h.control(http.MethodGet, "/jobs/"+other.ID, nil).decode(t, &shown)
	if shown.Status != "failed" || len(shown.Plan) != 0 {
		t.Fatalf("after moving by hand: %+v; want failed with its plan dropped", shown)
	}
	if a := h.control(http.MethodPost, "/jobs/"+other.ID+"/transitions", map[string]any{"status": "running"}); a.status != http.StatusConflict {
		t.Fatalf("an illegal move: %d %s", a.status, a.body)
	}
	// A refused move leaves the job what remains of its plan.
	var third jobView
	h.control(http.MethodPost, "/jobs", map[string]any{"org": "acme", "type": "exportlogs",
		"plan": []map[string]any{{"after": "0s", "status": "running"}, {"after": "1h", "status": "failed", "error": "late"}}}).decode(t, &third)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h.control(http.MethodGet, "/jobs/"+third.ID, nil).decode(t, &shown)
		if shown.Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first step was not taken: %+v", shown)
		}
	}
	if a := h.control(http.MethodPost, "/jobs/"+third.ID+"/transitions", map[string]any{"status": "running"}); a.status != http.StatusConflict {
		t.Fatalf("an illegal move: %d %s", a.status, a.body)
	}
	var after jobView
	h.control(http.MethodGet, "/jobs/"+third.ID, nil).decode(t, &after)
	if after.Status != "running" || len(after.Plan) != 1 || after.Plan[0].Status != "failed" {
		t.Fatalf("after a refused move: %+v; want running, with its last step still planned", after)
	}

	// Lists and filters.
	var list struct{ Jobs []jobView }
	h.control(http.MethodGet, "/jobs?org=acme&status=done,failed&type=exportlogs", nil).decode(t, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != job.ID {
		t.Fatalf("filtered list: %+v", list)
	}

	// Faults: the next answer for the key is a 503 with Retry-After.
	if a := h.control(http.MethodPost, "/faults", map[string]any{"key_id": key.ID, "status": 503, "retry_after": 2}); a.status != http.StatusCreated {
		t.Fatalf("inject fault: %d %s", a.status, a.body)
	}
	a = h.getJob("exportlogs", job.ID, key.Secret)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "2" || !strings.Contains(string(a.body), `"status":503`) {
		t.Fatalf("with a fault: %d %v %s", a.status, a.header, a.body)
	}
	if a := h.getJob("exportlogs", job.ID, key.Secret); a.status != http.StatusOK {
		t.Fatalf("after the fault: %d", a.status)
	}
	h.control(http.MethodPost, "/faults", map[string]any{"latency_ms": 300, "count": 2})
	var faults struct{ Faults []struct{ Remaining int } }
	h.control(http.MethodGet, "/faults", nil).decode(t, &faults)
	if len(faults.Faults) != 1 || faults.Faults[0].Remaining != 2 {
		t.Fatalf("faults: %+v", faults)
	}
	startAt := time.Now()
	if a := h.getJob("exportlogs", job.ID, key.Secret); a.status != http.StatusOK || time.Since(startAt) < 300*time.Millisecond {
		t.Fatalf("with added latency: %d after %v", a.status, time.Since(startAt))
	}
	if a := h.control(http.MethodDelete, "/faults", nil); a.status != http.StatusNoContent {
		t.Fatalf("clear faults: %d", a.status)
	}

	// Revoking the key stops it at once.
	if a := h.control(http.MethodDelete, "/keys/"+key.ID, nil); a.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	if a := h.getJob("exportlogs", job.ID, key.Secret); a.status != http.StatusUnauthorized {
		t.Fatalf("a revoked key: %d", a.status)
	}

	// Reset empties everything.
	if a := h.control(http.MethodPost, "/reset", nil); a.status != http.StatusNoContent {
		t.Fatalf("reset: %d", a.status)
	}
	if a := h.control(http.MethodGet, "/jobs/"+job.ID, nil); a.status != http.StatusNotFound {
		t.Fatalf("a job after reset: %d", a.status)
	}
}

// TestBodyEdges: what a client in another language may send that is fine
// (a surrogate pair, a media type in capitals, a lower-case auth scheme),
// and a body over the limit.
func TestBodyEdges(t *testing.T) {
	h := start(t, "s3cret")
	send := func(body io.Reader, header ...string) answer {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.url+control.Prefix+"/organizations", body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer s3cret")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return h.do(h.ctl, req)
	}
	if a := send(strings.NewReader(`{"name":"a\ud83d\ude00"}`)); a.status != http.StatusCreated || !strings.Contains(string(a.body), "a\U0001F600") && !strings.Contains(string(a.body), "a😀") {
		t.Fatalf("a surrogate pair: %d %s", a.status, a.body)
	}
	if a := send(strings.NewReader(`{"name":"caps"}`), "Content-Type", "Application/JSON; Charset=UTF-8"); a.status != http.StatusCreated {
		t.Fatalf("a media type in capitals: %d %s", a.status, a.body)
	}
	if a := send(strings.NewReader(`{"name":"lower"}`), "Authorization", "bearer s3cret"); a.status != http.StatusCreated {
		t.Fatalf("a lower-case scheme: %d %s", a.status, a.body)
	}
	if a := send(strings.NewReader(`{"name":"wrong"}`), "Authorization", "bearer S3CRET"); a.status != http.StatusUnauthorized {
		t.Fatalf("a token in another case: %d %s", a.status, a.body)
	}
	// Without the token, nothing of the body is looked at.
	if a := send(strings.NewReader(`{"name":"x"} trailing`), "Authorization", ""); a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("a bad body without the token: %d %s; want 401", a.status, a.body)
	}
	// Streamed, so that the limit, not a Content-Length, stops it.
	huge := io.MultiReader(strings.NewReader(`{"name":"`), io.LimitReader(neverEnding('x'), 20<<20), strings.NewReader(`"}`))
	if a := send(io.NopCloser(huge)); a.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(a.body), "larger than") {
		t.Fatalf("a body over the limit: %d %.200s", a.status, a.body)
	}
}

// TestMethodNotAllowed: a 405 names, in Allow, the methods the path has.
func TestMethodNotAllowed(t *testing.T) {
	h := start(t, "")
	for path, want := range map[string]string{"/reset": "POST", "/faults": "GET, POST, DELETE", "/organizations": "POST"} {
		req, _ := http.NewRequest(http.MethodPut, h.url+control.Prefix+path, nil)
		a := h.do(h.ctl, req)
		if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != want || !strings.Contains(string(a.body), "this path accepts "+want) {
			t.Errorf("PUT %s: %d, Allow %q; want 405 with Allow %q", path, a.status, a.header.Get("Allow"), want)
		}
	}
}

// neverEnding reads as the same byte for ever.
type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestBadInput: malformed requests get the ApiError shape and the right
// status, and change nothing.
func TestBadInput(t *testing.T) {
	h := start(t, "")
	h.control(http.MethodPost, "/organizations", map[string]any{"name": "acme"})
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		message            string // what the message says, when it matters
	}{
		{"no name", http.MethodPost, "/organizations", map[string]any{}, 400, `request body: /name: property "name" is missing`},
		{"unknown field", http.MethodPost, "/organizations", map[string]any{"name": "x", "admin": true}, 400, "admin"},
		{"malformed JSON", http.MethodPost, "/organizations", []byte("{bad"), 400, "request body is not valid JSON: invalid character 'b'"},
		{"control characters", http.MethodPost, "/organizations", map[string]any{"name": "a\nb"}, 400, ""},
		{"unknown organization", http.MethodPost, "/organizations/nope/keys", map[string]any{}, 404, ""},
		{"unknown key kind", http.MethodPost, "/organizations/acme/keys", map[string]any{"kind": "root"}, 400, `request body: /kind: value is not one of the allowed values ["user","org"]`},
		{"unknown job type", http.MethodPost, "/jobs", map[string]any{"org": "acme", "type": "deletemodel"}, 400, `unknown job type "deletemodel"`},
		{"bad duration", http.MethodPost, "/jobs", map[string]any{"org": "acme", "type": "exportlogs", "plan": []map[string]any{{"after": "soon", "status": "running"}}}, 400, ""},
		{"plan out of order", http.MethodPost, "/jobs", map[string]any{"org": "acme", "type": "exportlogs", "plan": []map[string]any{{"after": "1s", "status": "done"}, {"after": "1s", "status": "running"}}}, 400, ""},
		{"failed without error", http.MethodPost, "/jobs", map[string]any{"org": "acme", "type": "exportlogs", "plan": []map[string]any{{"after": "1s", "status": "failed"}}}, 400, ""},
		{"plan too far", http.MethodPost, "/jobs", map[string]any{"org": "acme", "type": "exportlogs", "plan": []map[string]any{{"after": "48h", "status": "running"}}}, 400, ""},
		{"unknown job", http.MethodGet, "/jobs/0190a8f2-7c3e-7d4b-9f10-abcdef012345", nil, 404, ""},
		{"malformed job id", http.MethodGet, "/jobs/nope", nil, 400, `path parameter "id": string doesn't match the format "uuid"`},
		{"empty fault", http.MethodPost, "/faults", map[string]any{}, 400, ""},
		{"fault status out of range", http.MethodPost, "/faults", map[string]any{"status": 200}, 400, "request body: /status: number must be at least"},
		{"unknown path", http.MethodGet, "/nope", nil, 404, "no such control endpoint: control.openapi.yaml lists them"},
		{"limit out of range", http.MethodGet, "/jobs?limit=0", nil, 400, `query parameter "limit": number must be at least 1`},
		{"unknown status", http.MethodGet, "/jobs?status=running,stuck", nil, 400, `query parameter "status": value is not one of the allowed values`},
		// What Go's JSON decoders would let pass, or change, behind the validator.
		{"text after the JSON", http.MethodPost, "/organizations", []byte(`{"name":"after"} xyz`), 400, "request body is not valid JSON: text after the JSON value"},
		{"two JSON values", http.MethodPost, "/organizations", []byte(`{"name":"one"}{"name":"two"}`), 400, "text after the JSON value"},
		{"not UTF-8", http.MethodPost, "/organizations", []byte("{\"name\":\"a\xff\xfeb\"}"), 400, "request body is not UTF-8 text"},
		{"a lone high surrogate", http.MethodPost, "/organizations", []byte(`{"name":"a\ud800b"}`), 400, "lone surrogate"},
		{"a lone low surrogate", http.MethodPost, "/organizations", []byte(`{"name":"a\udc00"}`), 400, "lone surrogate"},
		{"a fractional integer", http.MethodPost, "/faults", []byte(`{"status":500.0}`), 400, "request body: /status: write the integer 500.0 without a fraction or exponent"},
		{"an integer with an exponent", http.MethodPost, "/faults", []byte(`{"count":1e1,"status":503}`), 400, "write the integer 1e1 without"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.control(tc.method, tc.path, tc.body)
			var e struct {
				Status  int
				Message string
			}
			a.decode(t, &e)
			if a.status != tc.status || e.Status != tc.status || e.Message == "" {
				t.Fatalf("%d %s; want %d with an ApiError", a.status, a.body, tc.status)
			}
			if !strings.Contains(e.Message, tc.message) || strings.Contains(e.Message, "#/components") {
				t.Fatalf("message %q; want it to say %q, and no schema reference", e.Message, tc.message)
			}
		})
	}
	var list struct{ Jobs []jobView }
	h.control(http.MethodGet, "/jobs", nil).decode(t, &list)
	if len(list.Jobs) != 0 {
		t.Fatalf("bad requests created jobs: %+v", list.Jobs)
	}
}

// TestToken: with a token, every control request needs it.
func TestToken(t *testing.T) {
	h := start(t, "s3cret")
	for _, auth := range []string{"", "Bearer wrong", "Basic czNjcmV0"} {
		req, _ := http.NewRequest(http.MethodGet, h.url+control.Prefix+"/jobs", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if a := h.do(h.ctl, req); a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("Authorization %q: %d %s", auth, a.status, a.body)
		}
	}
	if a := h.control(http.MethodGet, "/jobs", nil); a.status != http.StatusOK {
		t.Fatalf("with the token: %d %s", a.status, a.body)
	}
	// With a token, any host name will do.
	req, _ := http.NewRequest(http.MethodGet, h.url+control.Prefix+"/jobs", nil)
	req.Host = "polyjobs.example"
	req.Header.Set("Authorization", "Bearer s3cret")
	if a := h.do(h.ctl, req); a.status != http.StatusOK {
		t.Fatalf("with the token, by name: %d %s", a.status, a.body)
	}
}

// TestWithoutTokenOnlyDirectHosts: without a token, the control API answers
// only requests addressed by IP address or as localhost. A page that rebinds
// its own name to the server's address sends that name, and must not reset
// the server or take a key; nor may a page of another site have its visitor's
// browser send the reset to 127.0.0.1.
func TestWithoutTokenOnlyDirectHosts(t *testing.T) {
	h := start(t, "")
	for _, tc := range []struct {
		host      string
		crossSite bool // sent by a browser for another site's page
		want      int
	}{
		{"rebound.example", false, http.StatusForbidden},
		{"rebound.example:8080", false, http.StatusForbidden},
		{"localhost:8080", false, http.StatusNoContent},
		{"127.0.0.1:8080", false, http.StatusNoContent},
		{"127.0.0.1:8080", true, http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodPost, h.url+control.Prefix+"/reset", nil)
		req.Host = tc.host
		if tc.crossSite {
			req.Header.Set("Origin", "https://attacker.example")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		a := h.do(h.ctl, req)
		var e struct {
			Status  int
			Message string
		}
		if tc.want == http.StatusForbidden {
			a.decode(t, &e)
		}
		if a.status != tc.want || tc.want == http.StatusForbidden && e.Status != tc.want {
			t.Errorf("reset with Host %s (cross-site %v): %d %s; want %d", tc.host, tc.crossSite, a.status, a.body, tc.want)
		}
	}
}

// TestOffByDefault: without Config.Control, the control paths are the API's
// unknown routes.
func TestOffByDefault(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "polyjobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := server.New(server.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if h.Control() != nil {
		t.Fatal("the control API is on by default")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, control.Prefix+"/reset", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("POST %s/reset without the control API: %d", control.Prefix, rec.Code)
	}
}
