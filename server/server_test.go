package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
)

// resultOf returns a realistic result for a job of type typ: the one
// results holds, or, for a type openapi.yaml has gained since, a small one.
func resultOf(typ store.JobType) string {
	if r, ok := results[typ]; ok {
		return r
	}
	return `{"ok":true}`
}

// results are realistic results per type, as design.md documents them.
var results = map[store.JobType]string{
	api.JobTypeExportLogs:      `{"url":"https://storage.example.com/logs/export.json.gz?X-Signature=abc"}`,
	api.JobTypeConnectionProxy: `{"status":200,"headers":{"content-type":["application/json"]},"contentType":"application/json","contentLength":42,"latencyMs":87,"bodyDownloadUrl":"https://storage.example.com/proxy/body?sig=x"}`,
	api.JobTypeSampleModel:     `{"records":[{"id":1,"email":"a@example.com"}],"warnings":["column ssn is masked"]}`,
	api.JobTypePreviewModel:    `[{"name":"id","type":"integer"},{"name":"email","type":"string"}]`,
	api.JobTypeCreateModel:     `{"id":"7f0e4c1e-1c39-4a7e-9d7c-0a1d2f3b4c5d","name":"Users","fields":[{"name":"id"}]}`,
	api.JobTypeUpdateModel:     `{"id":"7f0e4c1e-1c39-4a7e-9d7c-0a1d2f3b4c5d","name":"Users v2","fields":[]}`,
}

func TestGetJobEveryTypeAndStatus(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t)
		acme := en.tenant("acme")
		for _, typ := range store.JobTypes() {
			statuses := []struct {
				name   string
				steps  []store.Transition
				result string
				errMsg string
			}{
				{"created", nil, "null", ""},
				{"running", []store.Transition{store.Start()}, "null", ""},
				{"done", []store.Transition{store.Start(), store.Finish(json.RawMessage(resultOf(typ)))}, resultOf(typ), ""},
				{"done-without-result", []store.Transition{store.Finish(nil)}, "null", ""},
				{"failed", []store.Transition{store.Start(), store.Fail("warehouse unreachable")}, "null", "warehouse unreachable"},
			}
			for _, st := range statuses {
				job := en.job(acme.org.ID, typ, st.steps...)
				for _, auth := range []struct{ name, header string }{{"bearer", acme.bearer()}, {"basic", acme.basic()}} {
					t.Run(fmt.Sprintf("%s/%s/%s", typ, st.name, auth.name), func(t *testing.T) {
						r := en.do(get(jobPath(typ, job.ID), "Authorization", auth.header))
						if r.status != http.StatusOK {
							t.Fatalf("status %d %s", r.status, r.body)
						}
						var env api.JobResponseEnvelope
						if err := json.Unmarshal(r.body, &env); err != nil {
							t.Fatal(err)
						}
						d := env.Data
						if d.JobID != job.ID || d.Type != typ || d.Status != job.Status {
							t.Fatalf("data = %+v; want job %+v", d, job)
						}
						if !jsonSame(t, d.Result, st.result) {
							t.Fatalf("result = %s; want %s", d.Result, st.result)
						}
						if (d.Error == nil) != (st.errMsg == "") || d.Error != nil && *d.Error != st.errMsg {
							t.Fatalf("error = %v; want %q", d.Error, st.errMsg)
						}
						// Both result and error are always present, as in Polytomic's example.
						raw := r.json(t)["data"].(map[string]any)
						for _, k := range []string{"job_id", "type", "status", "result", "error"} {
							if _, ok := raw[k]; !ok {
								t.Fatalf("data has no %q: %s", k, r.body)
							}
						}
						retry := r.header.Get("Retry-After")
						if job.Terminal() && retry != "" {
							t.Fatalf("terminal job has Retry-After %q", retry)
						}
						if !job.Terminal() && retry != "2" {
							t.Fatalf("active job has Retry-After %q; want 2", retry)
						}
						if got := r.header.Get("X-Polytomic-Version"); got != string(server.NewestVersion) {
							t.Fatalf("X-Polytomic-Version = %q", got)
						}
						if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" {
							t.Fatalf("missing security headers: %v", r.header)
						}
					})
				}
			}
		}
	})
}

func TestGetJobErrors(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t)
		acme, globex := en.tenant("acme"), en.tenant("globex")
		job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
		globexJob := en.job(globex.org.ID, api.JobTypeExportLogs)
		path := jobPath(api.JobTypeExportLogs, job.ID)

		revoked := en.tenant("initech")
		revokedJob := en.job(revoked.org.ID, api.JobTypeSampleModel)
		if err := en.store.RevokeKey(context.Background(), revoked.userID); err != nil {
			t.Fatal(err)
		}
		unknownKey, _, _ := apikey.New(store.KeyKindUser)
		v7 := uuid.Must(uuid.NewV7())
		if v7.Version() != 7 || job.ID.Version() != 7 {
			t.Fatal("job ids are expected to be UUIDv7")
		}

		cases := []struct {
			name    string
			method  string
			path    string
			headers []string
			status  int
			contain string
		}{
			{"missing auth", "GET", path, nil, 401, "missing or unsupported credentials: send Authorization: Bearer <user API key>"},
			{"empty bearer", "GET", path, []string{"Authorization", "Bearer "}, 401, ""},
			{"bearer without token", "GET", path, []string{"Authorization", "Bearer"}, 401, "missing or unsupported credentials: send Authorization: Bearer <user API key>"},
			{"bearer garbage", "GET", path, []string{"Authorization", "Bearer garbage"}, 401, "invalid credentials"},
			{"bearer unknown key", "GET", path, []string{"Authorization", "Bearer " + unknownKey}, 401, "invalid credentials"},
			{"bearer revoked key", "GET", jobPath(api.JobTypeSampleModel, revokedJob.ID), []string{"Authorization", revoked.bearer()}, 401, "invalid credentials"},
			{"bearer with org key", "GET", path, []string{"Authorization", "Bearer " + acme.orgKey}, 401, "invalid credentials"},
			{"bearer lowercase scheme", "GET", path, []string{"Authorization", "bearer " + acme.userKey}, 200, ""},
			{"unknown scheme", "GET", path, []string{"Authorization", "Token " + acme.userKey}, 401, "missing or unsupported credentials: send Authorization: Bearer <user API key>"},
			{"huge bearer", "GET", path, []string{"Authorization", "Bearer " + strings.Repeat("a", 8000)}, 401, "invalid credentials"},
			{"non-utf8 bearer", "GET", path, []string{"Authorization", "Bearer \xff\xfe" + acme.userKey[2:]}, 401, "invalid credentials"},
			{"basic not base64", "GET", path, []string{"Authorization", "Basic !!!"}, 401, "invalid credentials"},
			{"basic without colon", "GET", path, []string{"Authorization", "Basic " + "YWJj"}, 401, "invalid credentials"},
			{"basic with user key", "GET", path, []string{"Authorization", basicAuth(acme.org.ID.String(), acme.userKey)}, 401, "invalid credentials"},
			{"basic with wrong org", "GET", path, []string{"Authorization", basicAuth(globex.org.ID.String(), acme.orgKey)}, 401, "invalid credentials"},
			{"basic with non-uuid org", "GET", path, []string{"Authorization", basicAuth("acme", acme.orgKey)}, 401, "invalid credentials"},
			{"basic with unknown org", "GET", path, []string{"Authorization", basicAuth(uuid.NewString(), acme.orgKey)}, 401, "invalid credentials"},
			{"basic with uppercase org", "GET", path, []string{"Authorization", basicAuth(strings.ToUpper(acme.org.ID.String()), acme.orgKey)}, 200, ""},
			{"basic with org without hyphens", "GET", path, []string{"Authorization", basicAuth(strings.ReplaceAll(acme.org.ID.String(), "-", ""), acme.orgKey)}, 401, "invalid credentials"},
			{"other organization's job", "GET", jobPath(api.JobTypeExportLogs, globexJob.ID), []string{"Authorization", acme.bearer()}, 404, "job not found"},
			{"other organization's job, basic", "GET", jobPath(api.JobTypeExportLogs, globexJob.ID), []string{"Authorization", acme.basic()}, 404, "job not found"},
			{"unknown job", "GET", jobPath(api.JobTypeExportLogs, uuid.New()), []string{"Authorization", acme.bearer()}, 404, "job not found"},
			{"uuid v7 unknown job", "GET", jobPath(api.JobTypeExportLogs, v7), []string{"Authorization", acme.bearer()}, 404, "job not found"},
			{"uppercase uuid", "GET", "/api/jobs/exportlogs/" + strings.ToUpper(job.ID.String()), []string{"Authorization", acme.bearer()}, 200, ""},
			{"type mismatch", "GET", jobPath(api.JobTypeCreateModel, job.ID), []string{"Authorization", acme.bearer()}, 404, "job not found"},
			{"unknown type", "GET", "/api/jobs/deletemodel/" + job.ID.String(), []string{"Authorization", acme.bearer()}, 400, "type"},
			{"malformed uuid", "GET", "/api/jobs/exportlogs/not-a-uuid", []string{"Authorization", acme.bearer()}, 400, "id"},
			{"uuid without hyphens", "GET", "/api/jobs/exportlogs/" + strings.ReplaceAll(job.ID.String(), "-", ""), []string{"Authorization", acme.bearer()}, 400, "id"},
			{"urn uuid", "GET", "/api/jobs/exportlogs/urn:uuid:" + job.ID.String(), []string{"Authorization", acme.bearer()}, 400, "id"},
			{"malformed uuid unauthenticated", "GET", "/api/jobs/exportlogs/not-a-uuid", nil, 401, ""},
			{"known version", "GET", path, []string{"Authorization", acme.bearer(), "X-Polytomic-Version", "2021-05-23"}, 200, ""},
			{"unknown version", "GET", path, []string{"Authorization", acme.bearer(), "X-Polytomic-Version", "2020-01-01"}, 400, "X-Polytomic-Version"},
			{"garbage version", "GET", path, []string{"Authorization", acme.bearer(), "X-Polytomic-Version", "latest"}, 400, "X-Polytomic-Version"},
			{"POST", "POST", path, []string{"Authorization", acme.bearer()}, 405, "GET"},
			{"DELETE", "DELETE", path, []string{"Authorization", acme.bearer()}, 405, "GET"},
			{"unknown path", "GET", "/api/jobs", []string{"Authorization", acme.bearer()}, 404, "no such endpoint"},
			{"unknown path at the root", "GET", "/index.html", nil, 404, "no such endpoint"},
			{"extra segment", "GET", path + "/extra", []string{"Authorization", acme.bearer()}, 404, "no such endpoint"},
			{"trailing slash", "GET", path + "/", []string{"Authorization", acme.bearer()}, 404, "no such endpoint"},
			{"encoded slash in id", "GET", "/api/jobs/exportlogs/a%2Fb", []string{"Authorization", acme.bearer()}, 400, "id"},
			{"query string ignored", "GET", path + "?x=1", []string{"Authorization", acme.bearer()}, 200, ""},
			{"HEAD", "HEAD", path, []string{"Authorization", acme.bearer()}, 200, ""},
			{"HEAD unknown job", "HEAD", jobPath(api.JobTypeExportLogs, uuid.New()), []string{"Authorization", acme.bearer()}, 404, "job not found"},
			{"HEAD unauthenticated", "HEAD", path, nil, 401, "missing or unsupported credentials: send Authorization: Bearer <user API key>"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req := get(tc.path, tc.headers...)
				req.Method = tc.method
				r := en.do(req)
				if r.status != tc.status {
					t.Fatalf("status %d %s; want %d", r.status, r.body, tc.status)
				}
				if !strings.Contains(string(r.body), tc.contain) {
					t.Fatalf("body %s does not mention %q", r.body, tc.contain)
				}
				want := string(server.NewestVersion)
				if tc.name == "known version" {
					want = "2021-05-23"
				}
				if got := r.header.Get("X-Polytomic-Version"); got != want {
					t.Fatalf("X-Polytomic-Version = %q; want %q", got, want)
				}
				body := r.json(t)
				switch r.status {
				case 401:
					if body["code"] != float64(401) || body["status"] != "Unauthorized" || body["error"] == "" {
						t.Fatalf("401 body = %s; want a RestErrResponse", r.body)
					}
					wa := r.header.Get("WWW-Authenticate")
					if !strings.Contains(wa, "Bearer") || !strings.Contains(wa, "Basic") {
						t.Fatalf("WWW-Authenticate = %q; want both schemes", wa)
					}
				case 200:
				default:
					if body["status"] != float64(r.status) || body["message"] == "" {
						t.Fatalf("body = %s; want an ApiError with status %d", r.body, r.status)
					}
				}
				if r.status == 405 && r.header.Get("Allow") != "GET, HEAD" {
					t.Fatalf("Allow = %q", r.header.Get("Allow"))
				}
			})
		}
		if strings.Contains(en.logs.String(), acme.userKey) || strings.Contains(en.logs.String(), acme.orgKey) {
			t.Fatal("a key appears in the logs")
		}
	})
}

func TestRequestIDs(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t)
		acme := en.tenant("acme")
		job := en.job(acme.org.ID, api.JobTypeExportLogs)
		cases := []struct{ name, sent, wantSame string }{
			{"generated", "", ""},
			{"kept", "trace-abc.123_X", "trace-abc.123_X"},
			{"replaced when hostile", "a\"b\nc", ""},
			{"replaced when too long", strings.Repeat("a", 65), ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer(), "X-Request-Id", tc.sent))
				got := r.header.Get("X-Request-Id")
				if tc.wantSame != "" && got != tc.wantSame || tc.wantSame == "" && (got == tc.sent || len(got) != 32) {
					t.Fatalf("X-Request-Id = %q (sent %q)", got, tc.sent)
				}
				if !strings.Contains(en.logs.String(), `"request_id":"`+got+`"`) {
					t.Fatalf("access log has no line for request id %q", got)
				}
			})
		}
	})
}

func TestBodyTooLarge(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t))
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	cases := []struct {
		name          string
		size          int
		contentLength int64
		status        int
	}{
		{"declared too large", 1 << 20, 1 << 20, http.StatusRequestEntityTooLarge},
		{"chunked too large", 1 << 20, -1, http.StatusRequestEntityTooLarge},
		{"small body is ignored", 100, 100, http.StatusOK},
		{"chunked small body is ignored", 100, -1, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := get(jobPath(job.Type, job.ID), "Authorization", acme.bearer())
			req.ContentLength = tc.contentLength
			req.Body = nopCloser{strings.NewReader(strings.Repeat("x", tc.size))}
			r := en.do(req)
			if r.status != tc.status {
				t.Fatalf("status %d %s; want %d", r.status, r.body, tc.status)
			}
		})
	}
}

// TestUnreadableBody: a body that breaks off is the client's fault, a 400,
// whatever its credentials, never an authentication failure.
func TestUnreadableBody(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t)
		acme := en.tenant("acme")
		job := en.job(acme.org.ID, api.JobTypeExportLogs)
		for _, auth := range []string{acme.bearer(), ""} {
			req := get(jobPath(job.Type, job.ID), "Authorization", auth)
			req.ContentLength = 100
			req.Body = io.NopCloser(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF)))
			if r := en.do(req); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "body") {
				t.Fatalf("auth %q: %d %s; want 400 about the body", auth, r.status, r.body)
			}
		}
	})
}

// TestSeveralAuthorizationHeaders: which of several would count is a guess;
// the server refuses them all with a 401.
func TestSeveralAuthorizationHeaders(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t)
		acme := en.tenant("acme")
		job := en.job(acme.org.ID, api.JobTypeExportLogs)
		for _, second := range []string{acme.bearer(), acme.basic(), "Bearer garbage"} {
			req := get(jobPath(job.Type, job.ID), "Authorization", acme.bearer())
			req.Header.Add("Authorization", second)
			if r := en.do(req); r.status != http.StatusUnauthorized {
				t.Fatalf("second header %q: %d %s; want 401", second, r.status, r.body)
			}
		}
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// TestHugeHeaders goes through a real listener: headers past MaxHeaderBytes
// get the application's JSON 431; far past it, net/http's own.
func TestHugeHeaders(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t))
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.HTTPServer(ln.Addr().String(), en.e, nil)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + ln.Addr().String() + jobPath(job.Type, job.ID)
	send := func(padding int) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", acme.bearer())
		if padding > 0 {
			req.Header.Set("X-Padding", strings.Repeat("p", padding))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	if resp, body := send(server.MaxHeaderBytes - 1024); resp.StatusCode != http.StatusOK {
		t.Fatalf("headers under the limit: %d %s", resp.StatusCode, body)
	}
	resp, body := send(server.MaxHeaderBytes)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("headers just over the limit: %d; want 431", resp.StatusCode)
	}
	if err := en.v.ValidateSchema("ApiError", body); err != nil || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("431 just over the limit: %s (%v); want the JSON ApiError with the usual headers", body, err)
	}
	if resp, _ := send(64 << 10); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge headers: %d; want 431 (from net/http)", resp.StatusCode)
	}
	// A normal request on the same server still works.
	if resp, body := send(0); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s; want 200", resp.StatusCode, body)
	}
}

// TestHeadIsGetWithoutBody goes through a real listener, where net/http
// drops the body of a HEAD response.
func TestHeadIsGetWithoutBody(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t)
		acme := en.tenant("acme")
		job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := server.HTTPServer(ln.Addr().String(), en.e, nil)
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		for _, path := range []string{jobPath(job.Type, job.ID), jobPath(job.Type, uuid.New())} {
			responses := map[string]*http.Response{}
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				req, _ := http.NewRequest(method, "http://"+ln.Addr().String()+path, nil)
				req.Header.Set("Authorization", acme.bearer())
				req.Header.Set("X-Polytomic-Version", "2024-02-08")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if method == http.MethodHead && len(body) != 0 {
					t.Fatalf("HEAD %s answered a body: %s", path, body)
				}
				responses[method] = resp
			}
			get, head := responses[http.MethodGet], responses[http.MethodHead]
			if head.StatusCode != get.StatusCode {
				t.Fatalf("HEAD %s: %d; GET: %d", path, head.StatusCode, get.StatusCode)
			}
			for _, h := range []string{"Content-Type", "X-Polytomic-Version", "Retry-After", "Cache-Control"} {
				if head.Header.Get(h) != get.Header.Get(h) {
					t.Errorf("HEAD %s: %s %q; GET: %q", path, h, head.Header.Get(h), get.Header.Get(h))
				}
			}
		}
	})
}

func TestPollHint(t *testing.T) {
	cases := []struct {
		hint time.Duration
		want string
	}{{0, "2"}, {1500 * time.Millisecond, "2"}, {10 * time.Second, "10"}, {-1, ""}}
	for _, tc := range cases {
		t.Run(tc.hint.String(), func(t *testing.T) {
			en := newEnv(t, storeFactories["sqlite"](t), func(c *server.Config) { c.PollHint = tc.hint })
			acme := en.tenant("acme")
			job := en.job(acme.org.ID, api.JobTypeExportLogs)
			r := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer()))
			if got := r.header.Get("Retry-After"); got != tc.want {
				t.Fatalf("Retry-After = %q; want %q", got, tc.want)
			}
		})
	}
}

func jsonSame(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	if got == nil {
		got = json.RawMessage("null")
	}
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("result %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}
