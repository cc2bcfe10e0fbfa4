package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/servertest"
)

// jobJSON renders a 200 body for a job.
func jobJSON(id uuid.UUID, typ JobType, status JobStatus, result, errMsg string) string {
	if result == "" {
		result = "null"
	}
	e := "null"
	if errMsg != "" {
		b, _ := json.Marshal(errMsg)
		e = string(b)
	}
	return fmt.Sprintf(`{"data":{"job_id":%q,"type":%q,"status":%q,"result":%s,"error":%s}}`, id, typ, status, result, e)
}

func TestGetJobLifecycle(t *testing.T) {
	srv := servertest.New(t, servertest.WithPollHint(3*time.Second))
	c := newClient(t, srv.URL, WithAPIKey(srv.UserKey))
	ctx := t.Context()
	id := srv.CreateJob(JobTypeExportLogs)

	steps := []struct {
		name     string
		advance  func()
		status   JobStatus
		terminal bool
		result   string
	}{
		{"created", func() {}, JobStatusCreated, false, ""},
		{"running", func() { srv.Start(id) }, JobStatusRunning, false, ""},
		{"done", func() { srv.Finish(id, map[string]string{"url": "https://example.com/logs.gz"}) }, JobStatusDone, true, `{"url":"https://example.com/logs.gz"}`},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.advance()
			job, err := c.GetJob(ctx, JobTypeExportLogs, id)
			if err != nil {
				t.Fatal(err)
			}
			if job.ID != id || job.Type != JobTypeExportLogs || job.Status != step.status || job.Terminal() != step.terminal || job.Error != "" {
				t.Fatalf("job %+v", job)
			}
			if string(job.Result) != step.result {
				t.Errorf("result %s; want %s", job.Result, step.result)
			}
			if !step.terminal && job.RetryAfter != 3*time.Second {
				t.Errorf("RetryAfter %v; want the server's hint 3s", job.RetryAfter)
			}
			if step.terminal && job.RetryAfter != 0 {
				t.Errorf("RetryAfter %v on a terminal job", job.RetryAfter)
			}
			var res struct{ URL string }
			err = job.DecodeResult(&res)
			if step.terminal && (err != nil || res.URL != "https://example.com/logs.gz") {
				t.Errorf("DecodeResult: %v, %+v", err, res)
			}
			if !step.terminal && !errors.Is(err, ErrNoResult) {
				t.Errorf("DecodeResult of a %s job: %v; want ErrNoResult", job.Status, err)
			}
		})
	}

	t.Run("failed", func(t *testing.T) {
		id := srv.CreateJob(JobTypePreviewModel)
		srv.Fail(id, `relation "users" does not exist`)
		job, err := c.GetJob(ctx, JobTypePreviewModel, id)
		if err != nil {
			t.Fatal(err)
		}
		if job.Status != JobStatusFailed || !job.Terminal() || job.Error != `relation "users" does not exist` || job.Result != nil {
			t.Errorf("job %+v", job)
		}
	})
}

func TestGetJobAuthentication(t *testing.T) {
	srv := servertest.New(t)
	id := srv.CreateJob(JobTypeSampleModel)
	srv.Finish(id, map[string]any{"records": []any{}, "warnings": []any{}})
	tests := []struct {
		name    string
		opt     Option
		wantErr error
	}{
		{"user key", WithAPIKey(srv.UserKey), nil},
		{"organization key", WithOrgKey(srv.OrgID, srv.OrgKey), nil},
		{"unknown user key", WithAPIKey("pk_nonexistent"), ErrUnauthorized},
		{"organization key of another organization", WithOrgKey(uuid.New(), srv.OrgKey), ErrUnauthorized},
		{"user key as organization key", WithOrgKey(srv.OrgID, srv.UserKey), ErrUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Requests()
			c, err := New(WithBaseURL(srv.URL), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			job, err := c.GetJob(t.Context(), JobTypeSampleModel, id)
			if got := srv.Requests() - before; got != 1 {
				t.Errorf("%d requests; want 1", got)
			}
			if tc.wantErr == nil {
				if err != nil || job.Status != JobStatusDone {
					t.Fatalf("GetJob: %+v, %v", job, err)
				}
				return
			}
			var apiErr *APIError
			if !errors.Is(err, tc.wantErr) || !errors.As(err, &apiErr) {
				t.Fatalf("error %v; want %v", err, tc.wantErr)
			}
			if apiErr.StatusCode != 401 || apiErr.Status != "Unauthorized" || apiErr.Message == "" || apiErr.RequestID == "" {
				t.Errorf("APIError %+v", apiErr)
			}
		})
	}
}

func TestGetJobNotFound(t *testing.T) {
	srv := servertest.New(t)
	c := newClient(t, srv.URL, WithAPIKey(srv.UserKey))
	id := srv.CreateJob(JobTypeCreateModel)
	tests := []struct {
		name string
		typ  JobType
		id   uuid.UUID
	}{
		{"unknown id", JobTypeCreateModel, uuid.New()},
		{"unknown v7 id", JobTypeCreateModel, uuid.Must(uuid.NewV7())},
		{"another type", JobTypeUpdateModel, id},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Requests()
			_, err := c.GetJob(t.Context(), tc.typ, tc.id)
			var apiErr *APIError
			if !errors.Is(err, ErrNotFound) || !errors.As(err, &apiErr) {
				t.Fatalf("error %v; want ErrNotFound", err)
			}
			if apiErr.Key != "not_found" || apiErr.Message != "job not found" || apiErr.RequestID == "" || len(apiErr.Body) == 0 {
				t.Errorf("APIError %+v", apiErr)
			}
			if errors.Is(err, ErrServer) || errors.Is(err, ErrBadRequest) {
				t.Errorf("%v matches other sentinels", err)
			}
			if !strings.Contains(err.Error(), tc.id.String()) {
				t.Errorf("error %q does not name the job", err)
			}
			if got := srv.Requests() - before; got != 1 {
				t.Errorf("%d requests; want 1", got)
			}
		})
	}
}

// TestGetJobConcurrent shares one Client between goroutines (run with -race).
func TestGetJobConcurrent(t *testing.T) {
	srv := servertest.New(t)
	c := newClient(t, srv.URL, WithAPIKey(srv.UserKey))
	ids := []uuid.UUID{srv.CreateJob(JobTypeExportLogs), srv.CreateJob(JobTypeExportLogs)}
	srv.Finish(ids[1], map[string]int{"n": 1})
	errs := make(chan error, 16)
	for i := range cap(errs) {
		go func() {
			id := ids[i%2]
			job, err := c.GetJob(t.Context(), JobTypeExportLogs, id)
			if err == nil && (job.ID != id || job.Terminal() != (i%2 == 1)) {
				err = fmt.Errorf("goroutine %d got %+v", i, job)
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestGetJobUnknownTypeSendsNothing(t *testing.T) {
	srv := servertest.New(t)
	c := newClient(t, srv.URL, WithAPIKey(srv.UserKey))
	for _, typ := range []JobType{"", "exportLogs", "sync", "../admin"} {
		job, err := c.GetJob(t.Context(), typ, uuid.New())
		if job != nil || !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "unknown job type") {
			t.Errorf("GetJob(%q): %v, %v; want an ErrBadRequest", typ, job, err)
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			t.Errorf("GetJob(%q) returned an APIError without a response", typ)
		}
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("%d requests sent; want none", n)
	}
}

func TestGetJobLargeResult(t *testing.T) {
	srv := servertest.New(t)
	c := newClient(t, srv.URL, WithAPIKey(srv.UserKey))
	id := srv.CreateJob(JobTypeSampleModel)
	type record struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	var records []record
	for i := 0; len(records)*1024 < 2<<20; i++ {
		records = append(records, record{ID: i, Name: strings.Repeat("é", 500) + fmt.Sprint(i)})
	}
	result, err := json.Marshal(map[string]any{"records": records, "warnings": []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(result) < 2<<20 {
		t.Fatalf("result is %d bytes; want at least 2 MiB", len(result))
	}
	srv.Finish(id, json.RawMessage(result))
	job, err := c.GetJob(t.Context(), JobTypeSampleModel, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(job.Result, result) {
		t.Fatalf("result of %d bytes differs from the %d bytes stored", len(job.Result), len(result))
	}
	var got struct{ Records []record }
	if err := job.DecodeResult(&got); err != nil || len(got.Records) != len(records) {
		t.Fatalf("DecodeResult: %v, %d records", err, len(got.Records))
	}
}

func TestGetJobTolerantDecoding(t *testing.T) {
	id := uuid.New()
	tests := []struct {
		name string
		rep  reply
		want Job
	}{
		{"no job_id nor type", reply{status: 200, body: `{"data":{"status":"running","result":null,"error":null}}`},
			Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusRunning}},
		{"no Content-Type", reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusDone, `[1,2]`, ""), headers: map[string]string{"Content-Type": ""}},
			Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusDone, Result: json.RawMessage(`[1,2]`)}},
		{"unknown fields", reply{status: 200, body: `{"data":{"job_id":"` + id.String() + `","status":"created","progress":0.5,"result":null},"meta":{}}`},
			Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusCreated}},
		{"scalar result", reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusDone, `"ok"`, "")},
			Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusDone, Result: json.RawMessage(`"ok"`)}},
		{"Retry-After hint", reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", ""), headers: map[string]string{"Retry-After": "7"}},
			Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusRunning, RetryAfter: 7 * time.Second}},
		{"malformed Retry-After hint", reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", ""), headers: map[string]string{"Retry-After": "soon"}},
			Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusRunning}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.rep)
			job, err := newClient(t, srv.URL).GetJob(t.Context(), JobTypeExportLogs, id)
			if err != nil {
				t.Fatal(err)
			}
			if job.ID != tc.want.ID || job.Type != tc.want.Type || job.Status != tc.want.Status ||
				!bytes.Equal(job.Result, tc.want.Result) || job.RetryAfter != tc.want.RetryAfter || job.Error != "" {
				t.Errorf("job %+v; want %+v", job, tc.want)
			}
		})
	}
}

func TestGetJobMalformed200(t *testing.T) {
	id := uuid.New()
	tests := []struct {
		name, body, want string
	}{
		{"empty body", "", "not a JSON job"},
		{"truncated JSON", `{"data":{"job_id":`, "not a JSON job"},
		{"HTML", "<html><body>Welcome to the hotel wifi</body></html>", "not a JSON job"},
		{"array", `[]`, "not a JSON job"},
		{"null", `null`, "no data.status"},
		{"no data", `{}`, "no data.status"},
		{"data is null", `{"data":null}`, "no data.status"},
		{"status of the wrong type", `{"data":{"status":3}}`, "not a JSON job"},
		{"unknown status", `{"data":{"status":"paused"}}`, `unknown job status "paused"`},
		{"malformed job_id", `{"data":{"job_id":"nope","status":"done"}}`, "not a JSON job"},
		{"another job", jobJSON(uuid.New(), JobTypeExportLogs, JobStatusDone, "", ""), "is not the requested"},
		{"another type", jobJSON(id, JobTypeSampleModel, JobStatusDone, "", ""), `type "samplemodel" is not the requested "exportlogs"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, reply{status: 200, body: tc.body})
			job, err := newClient(t, srv.URL).GetJob(t.Context(), JobTypeExportLogs, id)
			if job != nil || !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("GetJob: %+v, %v; want ErrMalformedResponse", job, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "HTTP 200") {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if srv.count() != 1 {
				t.Errorf("%d requests; a malformed 200 is not retried", srv.count())
			}
		})
	}
}

func TestAPIErrorDecoding(t *testing.T) {
	id := uuid.New()
	html := "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>\r\n</html>\r\n"
	tests := []struct {
		name     string
		rep      reply
		sentinel error
		want     APIError // Body is not compared
	}{
		{"ApiError 404", reply{status: 404, body: `{"status":404,"message":"job not found","key":"not_found"}`, headers: map[string]string{"X-Request-Id": "rid-1"}},
			ErrNotFound, APIError{StatusCode: 404, Status: "Not Found", Message: "job not found", Key: "not_found", RequestID: "rid-1"}},
		{"ApiError 500 with request id in metadata", reply{status: 500, body: `{"status":500,"message":"internal server error","key":"internal_error","metadata":{"request_id":"rid-2"}}`},
			ErrServer, APIError{StatusCode: 500, Status: "Internal Server Error", Message: "internal server error", Key: "internal_error", RequestID: "rid-2", Metadata: map[string]any{"request_id": "rid-2"}}},
		{"header request id wins", reply{status: 400, body: `{"status":400,"message":"bad id","metadata":{"request_id":"body"}}`, headers: map[string]string{"X-Request-Id": "header"}},
			ErrBadRequest, APIError{StatusCode: 400, Status: "Bad Request", Message: "bad id", RequestID: "header", Metadata: map[string]any{"request_id": "body"}}},
		{"RestErrResponse 401", reply{status: 401, body: `{"code":401,"error":"invalid API key","status":"Unauthorized","context":{"scheme":"bearer"}}`},
			ErrUnauthorized, APIError{StatusCode: 401, Status: "Unauthorized", Message: "invalid API key", Metadata: map[string]any{"scheme": "bearer"}}},
		{"ApiError-shaped 401", reply{status: 401, body: `{"status":401,"message":"token expired"}`},
			ErrUnauthorized, APIError{StatusCode: 401, Status: "Unauthorized", Message: "token expired"}},
		{"RestErrResponse-shaped 403", reply{status: 403, body: `{"code":403,"error":"forbidden","status":"Forbidden"}`},
			nil, APIError{StatusCode: 403, Status: "Forbidden", Message: "forbidden"}},
		{"429 with Retry-After", reply{status: 429, body: `{"status":429,"message":"slow down","key":"rate_limited"}`, headers: map[string]string{"Retry-After": "120"}},
			ErrRateLimited, APIError{StatusCode: 429, Status: "Too Many Requests", Message: "slow down", Key: "rate_limited", RetryAfter: 2 * time.Minute}},
		{"HTML 502 from a proxy", reply{status: 502, body: html, headers: map[string]string{"Content-Type": "text/html"}},
			ErrServer, APIError{StatusCode: 502, Status: "Bad Gateway", Message: quote([]byte(html))}},
		{"plain text 503", reply{status: 503, body: "upstream connect error\n", headers: map[string]string{"Content-Type": "text/plain"}},
			ErrServer, APIError{StatusCode: 503, Status: "Service Unavailable", Message: "upstream connect error"}},
		{"JSON of another shape", reply{status: 500, body: `{"errors":[{"detail":"boom"}]}`},
			ErrServer, APIError{StatusCode: 500, Status: "Internal Server Error", Message: `{"errors":[{"detail":"boom"}]}`}},
		{"ApiError with fields of the wrong type", reply{status: 404, body: `{"status":"404","message":"gone","key":7,"metadata":"x"}`},
			ErrNotFound, APIError{StatusCode: 404, Status: "Not Found", Message: "gone"}},
		{"empty body", reply{status: 500, body: ""},
			ErrServer, APIError{StatusCode: 500, Status: "Internal Server Error"}},
		{"JSON null", reply{status: 400, body: "null"},
			ErrBadRequest, APIError{StatusCode: 400, Status: "Bad Request", Message: "null"}},
		{"nonstandard status", reply{status: 599, body: `{"status":599,"message":"network timeout"}`},
			ErrServer, APIError{StatusCode: 599, Status: "status code 599", Message: "network timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.rep)
			c := newClient(t, srv.URL, WithRetry(RetryPolicy{MaxAttempts: 1}))
			_, err := c.GetJob(t.Context(), JobTypeExportLogs, id)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v does not match %v", err, tc.sentinel)
			}
			for _, other := range []error{ErrBadRequest, ErrUnauthorized, ErrNotFound, ErrRateLimited, ErrServer} {
				if other != tc.sentinel && errors.Is(err, other) {
					t.Errorf("error %v matches %v too", err, other)
				}
			}
			got := *apiErr
			if got.Body == nil && tc.rep.body != "" || string(got.Body) != tc.rep.body {
				t.Errorf("Body %q; want %q", got.Body, tc.rep.body)
			}
			got.Body = nil
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("APIError\n got %+v\nwant %+v", got, tc.want)
			}
			if tc.want.Message != "" && !strings.Contains(err.Error(), tc.want.Message) {
				t.Errorf("error %q lacks the message", err)
			}
			if strings.ContainsAny(apiErr.Message, "\r\n") {
				t.Errorf("message %q has line breaks", apiErr.Message)
			}
		})
	}
}

func TestAPIErrorBodyIsBounded(t *testing.T) {
	big := strings.Repeat("é", maxErrorBody) // 2 MiB of text
	srv := newScriptServer(t, reply{status: 500, body: big, headers: map[string]string{"Content-Type": "text/plain"}})
	_, err := newClient(t, srv.URL, WithRetry(RetryPolicy{MaxAttempts: 1})).GetJob(t.Context(), JobTypeExportLogs, uuid.New())
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatal(err)
	}
	if len(apiErr.Body) != maxErrorBody || len(apiErr.Message) > maxMessageLen+len("…") {
		t.Errorf("Body %d bytes, Message %d bytes", len(apiErr.Body), len(apiErr.Message))
	}
	if !strings.HasSuffix(apiErr.Message, "é…") {
		t.Errorf("message cut inside a character: %q", apiErr.Message[len(apiErr.Message)-8:])
	}
}

func TestJobFailedErrorMessage(t *testing.T) {
	job := &Job{ID: uuid.New(), Type: JobTypePreviewModel, Status: JobStatusFailed, Error: "query failed"}
	err := error(&JobFailedError{Job: job})
	if !strings.Contains(err.Error(), "query failed") || !strings.Contains(err.Error(), job.ID.String()) {
		t.Errorf("Error() = %q", err)
	}
	if (&JobFailedError{}).Error() == "" || (&JobFailedError{Job: &Job{}}).Error() == "" {
		t.Error("empty message")
	}
	job.Error = "\x1b]0;pwned\x07\x1b[2Jgone"
	if got := err.Error(); strings.ContainsAny(got, "\x1b\x07") || !strings.Contains(got, `\x1b]0;pwned\x07\x1b[2Jgone`) {
		t.Errorf("Error() = %q; want the control characters escaped", got)
	}
}

// TestAPIErrorEscapesServerText: the server's message reaches Error escaped,
// so that printing the error cannot drive a terminal; the field keeps it raw.
func TestAPIErrorEscapesServerText(t *testing.T) {
	hostile := `\u001b]0;pwned\u0007\u001b[2J\u009b31mjob not found` // JSON escapes
	srv := newScriptServer(t, reply{status: 404, body: `{"status":404,"message":"` + hostile + `"}`,
		headers: map[string]string{"X-Request-Id": "rid\u009b"}})
	_, err := newClient(t, srv.URL, WithRetry(RetryPolicy{MaxAttempts: 1})).GetJob(t.Context(), JobTypeExportLogs, uuid.New())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Message != "\x1b]0;pwned\x07\x1b[2J\u009b31mjob not found" {
		t.Fatalf("error %#v; want an *APIError with the raw message", err)
	}
	if strings.ContainsAny(err.Error(), "\x1b\x07\u009b") || !strings.Contains(err.Error(), `\x1b]0;pwned\x07\x1b[2J\u009b31mjob not found`) {
		t.Fatalf("Error() = %q; want the control characters escaped", err)
	}
}

// TestAPIErrorEscapesStatusLine: the reason phrase of a status net/http
// does not know comes from the server too, and is escaped as well.
func TestAPIErrorEscapesStatusLine(t *testing.T) {
	url := rawServer(t, "HTTP/1.1 599 \x1b]0;pwned\x07\x1b[2Jgotcha\r\nContent-Length: 0\r\n\r\n", false)
	_, err := newClient(t, url, WithRetry(RetryPolicy{MaxAttempts: 1})).GetJob(t.Context(), JobTypeExportLogs, uuid.New())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 599 {
		t.Fatalf("error %#v; want an *APIError for 599", err)
	}
	if strings.ContainsAny(err.Error(), "\x1b\x07") || !strings.Contains(err.Error(), `HTTP 599 \x1b]0;pwned\x07\x1b[2Jgotcha`) {
		t.Fatalf("Error() = %q; want the status line's control characters escaped", err)
	}
}

// TestGetJobSwitchingProtocols: net/http hands a 101's connection over as
// its body, which the context does not end. GetJob must not read it: it
// would wait for the server to hang up.
func TestGetJobSwitchingProtocols(t *testing.T) {
	url := rawServer(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true)
	done := make(chan error, 1)
	go func() {
		_, err := newClient(t, url).GetJob(t.Context(), JobTypeExportLogs, uuid.New())
		done <- err
	}()
	select {
	case err := <-done:
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("error %#v; want an *APIError for 101", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("GetJob is still reading the connection of a 101")
	}
}

// TestGetJobDoesNotTrustContentLength: a few bytes announced as 128 MiB
// allocate no such buffer.
func TestGetJobDoesNotTrustContentLength(t *testing.T) {
	url := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 134217728\r\nConnection: close\r\n\r\n{\"data\":", false)
	c := newClient(t, url, WithRetry(RetryPolicy{MaxAttempts: 1}))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := c.GetJob(t.Context(), JobTypeExportLogs, uuid.New())
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a truncated body was accepted")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("reading a 8-byte body allocated %d MiB", grew>>20)
	}
}

// rawServer answers every connection with response, byte for byte, once
// its request's header has arrived, then closes it, or with hold keeps it
// open until the test ends. It returns its base URL.
func rawServer(t *testing.T, response string, hold bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		conns.Wait()
	})
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				if _, err := io.WriteString(conn, response); err == nil && hold {
					<-t.Context().Done()
				}
			}()
		}
	}()
	return "http://" + l.Addr().String()
}

// FuzzResponse feeds arbitrary responses to the decoding paths: whatever the
// server sends, the client returns a job or an error and never panics.
func FuzzResponse(f *testing.F) {
	id := uuid.MustParse("248df4b7-aa70-47b8-a036-33ac447e668d")
	f.Add(200, jobJSON(id, JobTypeExportLogs, JobStatusDone, `{"url":"x"}`, ""), "3")
	f.Add(200, `{"data":{"status":"failed","error":7}}`, "")
	f.Add(401, `{"code":401,"error":"no","status":"Unauthorized","context":[]}`, "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(404, `{"status":404,"message":"job not found","metadata":{"request_id":5}}`, "-1")
	f.Add(502, "<html>\xff\xfe</html>", "99999999999999999999999")
	f.Fuzz(func(t *testing.T, status int, body, retryAfter string) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Status: fmt.Sprint(status), Header: http.Header{}}
		resp.Header.Set("Retry-After", retryAfter)
		c := &Client{now: time.Now}
		if status == 200 {
			job, err := c.decodeJob(resp, []byte(body), JobTypeExportLogs, id)
			if (job == nil) == (err == nil) {
				t.Fatalf("decodeJob: %v, %v", job, err)
			}
			return
		}
		if e := newAPIError(resp, []byte(body), time.Now()); e.Error() == "" || e.RetryAfter < 0 {
			t.Fatalf("APIError %+v", e)
		}
	})
}

// TestGetJobIfChanged walks a job through its lifecycle with conditional
// requests to the reference server: 304s that keep the last job, waits that
// run out, changes seen at once by a held request.
func TestGetJobIfChanged(t *testing.T) {
	srv := servertest.New(t, servertest.WithPollHint(3*time.Second))
	c := newServerClient(t, srv)
	ctx := t.Context()
	id := srv.CreateJob(JobTypeExportLogs)
	last, err := c.GetJob(ctx, JobTypeExportLogs, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(last.ETag, `"`) || !strings.HasSuffix(last.ETag, `"`) || last.WaitApplied != 0 {
		t.Fatalf("GetJob: ETag %q, WaitApplied %v; want a quoted ETag and no wait", last.ETag, last.WaitApplied)
	}
	steps := []struct {
		name string
		// change changes the job; with held, while the request is held.
		change      func()
		held        bool
		wait        time.Duration
		changed     bool
		status      JobStatus
		waitApplied time.Duration
		retryAfter  time.Duration
	}{
		{"unchanged", nil, false, 0, false, JobStatusCreated, 0, 3 * time.Second},
		{"unchanged after the wait ran out", nil, false, time.Second, false, JobStatusCreated, time.Second, 3 * time.Second},
		{"changed before the request", func() { srv.Start(id) }, false, 0, true, JobStatusRunning, 0, 3 * time.Second},
		{"changed while held", func() { srv.Finish(id, map[string]string{"url": "https://example.com/x"}) }, true, 20 * time.Second, true, JobStatusDone, 20 * time.Second, 0},
		{"terminal: never held", nil, false, 20 * time.Second, false, JobStatusDone, 0, 0},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.change != nil && !step.held {
				step.change()
			}
			before := srv.Requests()
			if step.held {
				go func() {
					if waitHeld(t, srv, 1, before+1) {
						step.change()
					}
				}()
			}
			job, changed, err := c.GetJobIfChanged(ctx, last, step.wait)
			if err != nil {
				t.Fatal(err)
			}
			if changed != step.changed || job.Status != step.status || job.ID != id || job.Type != JobTypeExportLogs {
				t.Fatalf("changed %v, job %+v; want %v, %s", changed, job, step.changed, step.status)
			}
			if job.WaitApplied != step.waitApplied || job.RetryAfter != step.retryAfter {
				t.Errorf("WaitApplied %v, RetryAfter %v; want %v, %v", job.WaitApplied, job.RetryAfter, step.waitApplied, step.retryAfter)
			}
			if (job.ETag != last.ETag) != changed || job.ETag == "" {
				t.Errorf("ETag %q after %q; changed %v", job.ETag, last.ETag, changed)
			}
			if !changed && job == last {
				t.Error("unchanged: got last itself, not a copy")
			}
			if n := srv.Requests() - before; n != 1 {
				t.Errorf("%d requests; want 1", n)
			}
			last = job
		})
	}
	if string(last.Result) != `{"url":"https://example.com/x"}` {
		t.Errorf("result %s", last.Result)
	}
}

// TestGetJobIfChangedHeaders: the entity tag a server sends comes back in
// If-None-Match byte for byte, whatever it holds, and the wait asked for is
// whole seconds within the context's deadline and the HTTP client's timeout.
func TestGetJobIfChangedHeaders(t *testing.T) {
	id := uuid.New()
	running := jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", "")
	t.Run("ETag", func(t *testing.T) {
		for _, etag := range []string{`"abc"`, `W/"abc"`, `W/"abc", "def"`, `"a,b;c=d"`, `""`, "\"caf\xc3\xa9\"", `"tab	inside"`} {
			t.Run(etag, func(t *testing.T) {
				srv := newScriptServer(t, reply{status: 200, body: running, headers: map[string]string{"ETag": etag}},
					reply{status: 304, headers: map[string]string{"ETag": etag}})
				c := newClient(t, srv.URL)
				last, err := c.GetJob(t.Context(), JobTypeExportLogs, id)
				if err != nil || last.ETag != etag {
					t.Fatalf("GetJob: ETag %q, %v; want %q", last.ETag, err, etag)
				}
				job, changed, err := c.GetJobIfChanged(t.Context(), last, 5*time.Second)
				if err != nil || changed || job.ETag != etag {
					t.Fatalf("GetJobIfChanged: %+v, %v, %v", job, changed, err)
				}
				if got := srv.lastRequest().Header.Values("If-None-Match"); len(got) != 1 || got[0] != etag {
					t.Fatalf("If-None-Match %q; want %q", got, etag)
				}
			})
		}
	})
	t.Run("Prefer", func(t *testing.T) {
		noTimeout := WithHTTPClient(&http.Client{})
		tests := []struct {
			name     string
			wait     time.Duration
			deadline time.Duration // zero: none
			opts     []Option
			want     string // empty: no Prefer
		}{
			{"thirty seconds", 30 * time.Second, 0, nil, "wait=30"},
			{"capped by half DefaultHTTPTimeout", time.Hour, 0, nil, "wait=30"},
			{"client without timeout", 90 * time.Second, 0, []Option{noTimeout}, "wait=90"},
			{"client with a short timeout", 30 * time.Second, 0, []Option{WithHTTPClient(&http.Client{Timeout: 9 * time.Second})}, "wait=4"},
			{"rounded down", 2500 * time.Millisecond, 0, nil, "wait=2"},
			{"under a second", 999 * time.Millisecond, 0, nil, ""},
			{"none", 0, 0, nil, ""},
			{"negative", -time.Second, 0, nil, ""},
			// Leave 1/17 for the server's random extra.
			{"within the deadline", 30 * time.Second, 10 * time.Second, nil, "wait=9"},
			{"deadline too close", 30 * time.Second, time.Second, nil, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				srv := newScriptServer(t, reply{status: 304, headers: map[string]string{"ETag": `"x"`}})
				c := newClient(t, srv.URL, tc.opts...)
				ctx := t.Context()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				last := &Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusRunning, ETag: `"x"`}
				if _, _, err := c.GetJobIfChanged(ctx, last, tc.wait); err != nil {
					t.Fatal(err)
				}
				if got := srv.lastRequest().Header.Values("Prefer"); tc.want == "" && len(got) != 0 || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
					t.Fatalf("Prefer %q; want %q", got, tc.want)
				}
			})
		}
	})
	t.Run("no ETag", func(t *testing.T) {
		// Polytomic sends no ETag: the request is GetJob's, and changed
		// compares the states.
		srv := newScriptServer(t, reply{status: 200, body: running}, reply{status: 200, body: running},
			reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusDone, `{"url":"x"}`, "")})
		c := newClient(t, srv.URL)
		last, err := c.GetJob(t.Context(), JobTypeExportLogs, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []struct {
			changed bool
			status  JobStatus
		}{{false, JobStatusRunning}, {true, JobStatusDone}} {
			job, changed, err := c.GetJobIfChanged(t.Context(), last, 30*time.Second)
			if err != nil || changed != want.changed || job.Status != want.status || job.WaitApplied != 0 {
				t.Fatalf("GetJobIfChanged: %+v, %v, %v; want %v %s", job, changed, err, want.changed, want.status)
			}
			r := srv.lastRequest()
			if r.Header.Get("If-None-Match") != "" || r.Header.Get("Prefer") != "" {
				t.Fatalf("sent If-None-Match %q, Prefer %q without an ETag", r.Header.Get("If-None-Match"), r.Header.Get("Prefer"))
			}
			last = job
		}
	})
	t.Run("unusable", func(t *testing.T) {
		srv := newScriptServer(t, reply{status: 304})
		c := newClient(t, srv.URL)
		if _, _, err := c.GetJobIfChanged(t.Context(), nil, 0); err == nil {
			t.Error("no error for a nil job")
		}
		forged := &Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusRunning, ETag: "\"a\r\nX-Injected: 1\""}
		if _, _, err := c.GetJobIfChanged(t.Context(), forged, 0); err == nil || !strings.Contains(err.Error(), "no request sent") {
			t.Errorf("ETag with a line break: %v", err)
		}
		if srv.count() != 0 {
			t.Errorf("%d requests; want none", srv.count())
		}
	})
}

// bodiedNotModified answers every request with a 304 that carries a job
// body, which net/http's server would never send: the client must ignore it.
type bodiedNotModified struct{ body string }

func (t bodiedNotModified) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    http.StatusNotModified,
		Status:        "304 Not Modified",
		Header:        http.Header{"Etag": {`"fresh"`}, "Retry-After": {"4"}, "Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(t.body)),
		ContentLength: int64(len(t.body)),
		Request:       r,
	}, nil
}

// TestNotModifiedIsNeverAJob: a 304 answers a conditional request with the
// last job, whatever body it carries; to an unconditional request it is an
// *APIError, never a job.
func TestNotModifiedIsNeverAJob(t *testing.T) {
	id := uuid.New()
	body := jobJSON(id, JobTypeExportLogs, JobStatusDone, `{"url":"https://evil.example.com"}`, "")
	c := newClient(t, "https://app.polytomic.com", WithHTTPClient(&http.Client{Transport: bodiedNotModified{body}}))
	last := &Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusRunning, ETag: `"stale"`, RetryAfter: time.Second}
	job, changed, err := c.GetJobIfChanged(t.Context(), last, 0)
	if err != nil || changed || job.Status != JobStatusRunning || job.Result != nil || job.ETag != `"fresh"` || job.RetryAfter != 4*time.Second {
		t.Fatalf("conditional: %+v, %v, %v; want the running job with the 304's ETag and Retry-After", job, changed, err)
	}
	job, err = c.GetJob(t.Context(), JobTypeExportLogs, id)
	var apiErr *APIError
	if job != nil || !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotModified {
		t.Fatalf("unconditional: %+v, %v; want an *APIError for the 304", job, err)
	}
}

// TestConditionalRetries: a conditional request is retried like any other;
// when one that asked to be held is cut on the way, the retries ask for no
// wait.
func TestConditionalRetries(t *testing.T) {
	id := uuid.New()
	notModified := reply{status: 304, headers: map[string]string{"ETag": `"x"`}}
	apiErr := func(status int) reply {
		return reply{status: status, body: fmt.Sprintf(`{"status":%d,"message":"x"}`, status)}
	}
	tests := []struct {
		name    string
		replies []reply
		want    error
		prefer  []string // the Prefer header of each request
	}{
		{"503 then 304", []reply{apiErr(503), notModified}, nil, []string{"wait=20", "wait=20"}},
		{"429 then 304", []reply{{status: 429, body: `{"status":429,"message":"slow down"}`, headers: map[string]string{"Retry-After": "1"}}, notModified}, nil, []string{"wait=20", "wait=20"}},
		{"502 then 304", []reply{apiErr(502), notModified}, nil, []string{"wait=20", ""}},
		{"504 then 304", []reply{apiErr(504), notModified}, nil, []string{"wait=20", ""}},
		{"connection cut then 304", []reply{{abort: true}, notModified}, nil, []string{"wait=20", ""}},
		{"404", []reply{apiErr(404)}, ErrNotFound, []string{"wait=20"}},
		{"persistent 503", []reply{apiErr(503)}, ErrServer, []string{"wait=20", "wait=20", "wait=20"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.replies...)
			c := newClient(t, srv.URL)
			newFakeClock(time.Now()).install(c, 0)
			last := &Job{ID: id, Type: JobTypeExportLogs, Status: JobStatusRunning, ETag: `"x"`}
			job, changed, err := c.GetJobIfChanged(t.Context(), last, 20*time.Second)
			if !errors.Is(err, tc.want) || tc.want == nil && (changed || job.Status != JobStatusRunning) {
				t.Fatalf("%+v, %v, %v; want error %v", job, changed, err, tc.want)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			var prefer []string
			for _, r := range srv.requests {
				if r.Header.Get("If-None-Match") != `"x"` {
					t.Errorf("a request without the If-None-Match: %q", r.Header.Get("If-None-Match"))
				}
				prefer = append(prefer, r.Header.Get("Prefer"))
			}
			if !slices.Equal(prefer, tc.prefer) {
				t.Errorf("Prefer %q; want %q", prefer, tc.prefer)
			}
		})
	}
}

func TestParsePreferenceApplied(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   time.Duration
	}{
		{nil, 0},
		{[]string{"wait=20"}, 20 * time.Second},
		{[]string{"WAIT = 7"}, 7 * time.Second},
		{[]string{`wait="3"`}, 3 * time.Second},
		{[]string{"return=minimal, wait=5"}, 5 * time.Second},
		{[]string{"return=minimal", "wait=5;x=y"}, 5 * time.Second},
		{[]string{"wait=0"}, 0},
		{[]string{"wait=-1"}, 0},
		{[]string{"wait=soon"}, 0},
		{[]string{"wait=99999999"}, 0},
		{[]string{"wait"}, 0},
		{[]string{"respond-async"}, 0},
	} {
		if got := parsePreferenceApplied(tc.values); got != tc.want {
			t.Errorf("parsePreferenceApplied(%q) = %v; want %v", tc.values, got, tc.want)
		}
	}
}

// TestNilJob: Wait returns a nil job when it ends before any answer; the
// methods a caller may then call on it do not panic.
func TestNilJob(t *testing.T) {
	var job *Job
	if job.Terminal() {
		t.Error("a nil job is terminal")
	}
	var v any
	if err := job.DecodeResult(&v); !errors.Is(err, ErrNoResult) {
		t.Errorf("DecodeResult of a nil job: %v; want ErrNoResult", err)
	}
}
