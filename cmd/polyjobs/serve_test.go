package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/buildinfo"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
	"github.com/polyjobs/polyjobs/server"
)

// testServeOptions are serve's options for a test: free ports, a database
// in dir, JSON logs.
func testServeOptions(dir string) *serveOptions {
	return &serveOptions{
		addr: "127.0.0.1:0", adminAddr: "127.0.0.1:0", db: filepath.Join(dir, "polyjobs.db"),
		devKeys: filepath.Join(dir, "devkeys.json"), devInterval: 20 * time.Millisecond,
		pollHint: time.Second, retention: time.Hour, purgeInterval: time.Hour,
		shutdownGrace: 5 * time.Second, logFormat: "json", logLevel: "info",
		rate: server.DefaultRate, burst: server.DefaultBurst,
		keyCacheTTL: server.DefaultKeyCacheTTL, jobCacheTTL: server.DefaultJobCacheTTL,
	}
}

// running is a server started by startServe.
type running struct {
	stdout, logs     *syncbuf.Buffer
	apiURL, adminURL string
}

// startServe runs serve with o until the test ends, and returns once it
// listens.
func startServe(t *testing.T, o *serveOptions) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &syncbuf.Buffer{}, logs: &syncbuf.Buffer{}}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, r.stdout, r.logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after cancellation; want nil", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		// Logs are flushed every 100 ms: read them once the banner, if
		// any, is out and both listeners are announced.
		r.apiURL, r.adminURL = logURL(r.logs.String(), "listening"), logURL(r.logs.String(), "admin listening")
		if r.apiURL != "" && (r.adminURL != "" || o.adminAddr == "") && (!o.dev || strings.Contains(r.stdout.String(), "--status created,running")) {
			return r
		}
	}
	t.Fatalf("serve did not start within 10s; stdout %q, logs %q", r.stdout, r.logs)
	return nil
}

// logURL returns the url attribute of the JSON log line with message msg.
func logURL(logs, msg string) string {
	for _, line := range strings.Split(logs, "\n") {
		var v struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal([]byte(line), &v) == nil && v.Msg == msg {
			return v.URL
		}
	}
	return ""
}

// startDev runs `serve --dev` on a free port until the test ends and returns
// its banner.
func startDev(t *testing.T, dir string) string {
	t.Helper()
	o := testServeOptions(dir)
	o.dev = true
	return startServe(t, o).stdout.String()
}

var curlLine = regexp.MustCompile(`curl -s (-H 'Authorization: Bearer (\S+)'|-u '([^:]+):(\S+)') \\\n\s+(\S+)`)

// TestServeDevCurlLines runs the dev server and checks that the curl lines it
// prints get correct answers, and that the demo jobs they name progress.
func TestServeDevCurlLines(t *testing.T) {
	dir := t.TempDir()
	banner := startDev(t, dir)
	matches := curlLine.FindAllStringSubmatch(banner, -1)
	if len(matches) != 2 {
		t.Fatalf("banner has %d curl lines; want 2:\n%s", len(matches), banner)
	}
	v, err := apispec.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		req, _ := http.NewRequest(http.MethodGet, m[5], nil)
		if m[2] != "" {
			req.Header.Set("Authorization", "Bearer "+m[2])
		} else {
			req.SetBasicAuth(m[3], m[4])
		}
		var last string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", m[5], resp.StatusCode, body)
			}
			if err := v.ValidateResponse(req, resp.StatusCode, resp.Header, body); err != nil {
				t.Fatalf("%s: response does not match openapi.yaml: %v", m[5], err)
			}
			var env struct {
				Data struct {
					Status string          `json:"status"`
					Result json.RawMessage `json:"result"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			last = env.Data.Status
			if last == "done" || last == "failed" {
				break
			}
		}
		if last != "done" && last != "failed" {
			t.Fatalf("%s: demo job still %q after 20s", m[5], last)
		}
	}
}

// TestServeDevKeepsKeys restarts the dev server on the same database: the
// demo keys are the same, so pasted commands keep working.
func TestServeDevKeepsKeys(t *testing.T) {
	dir := t.TempDir()
	keyOf := func(banner string) string {
		m := regexp.MustCompile(`User key\s+(\S+)`).FindStringSubmatch(banner)
		if m == nil {
			t.Fatalf("no user key in banner:\n%s", banner)
		}
		return m[1]
	}
	var k1, k2 string
	t.Run("first start", func(t *testing.T) { k1 = keyOf(startDev(t, dir)) })
	t.Run("second start", func(t *testing.T) { k2 = keyOf(startDev(t, dir)) })
	if k1 == "" || k1 != k2 {
		t.Fatalf("demo key changed across restarts: %q then %q", k1, k2)
	}
}

// TestServeCannotListen: a failure to start is exit 1 (usage errors, exit
// 2, are in TestUsageErrors).
func TestServeCannotListen(t *testing.T) {
	c := newCLI(t)
	code, _, errOut := c.run("serve", "--db", c.db, "--addr", "127.0.0.1:99999", "--admin-addr", "")
	if code != exitFailed || !strings.Contains(errOut, "invalid port") {
		t.Fatalf("exit %d, stderr %q; want %d mentioning the port", code, errOut, exitFailed)
	}
}

// TestServeVersionAndBuildInfo: serve logs its version when it starts (in
// its first line, "listening") and exposes it as polyjobs_build_info on
// /metrics.
func TestServeVersionAndBuildInfo(t *testing.T) {
	r := startServe(t, testServeOptions(t.TempDir()))
	info := buildinfo.Read()
	var started struct {
		Msg, Version, Go string
	}
	for _, line := range strings.Split(r.logs.String(), "\n") {
		if json.Unmarshal([]byte(line), &started) == nil && started.Msg == "listening" {
			break
		}
	}
	if started.Msg != "listening" || started.Version != info.Version || started.Go != info.GoVersion {
		t.Fatalf("no listening line with the version in the logs:\n%s", r.logs)
	}
	resp, err := http.Get(r.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf(`polyjobs_build_info{commit=%q,goversion=%q,version=%q} 1`, info.Commit, info.GoVersion, info.Version)
	if !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks %s:\n%s", want, body)
	}
}

// TestServePlain: --plain reaches the server: with it, a key revoked in the
// database stops working at once; without it, the key cache keeps it
// working for up to --key-cache-ttl.
func TestServePlain(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprint("plain=", plain), func(t *testing.T) {
			dir := t.TempDir()
			c := &cli{t: t, db: filepath.Join(dir, "polyjobs.db")}
			c.admin("init")
			c.admin("org", "create", "acme")
			key := c.admin("key", "create", "--org", "acme")
			job := c.admin("job", "create", "--org", "acme", "--type", "exportlogs")
			o := testServeOptions(dir)
			o.plain, o.adminAddr = plain, ""
			r := startServe(t, o)
			v, err := apispec.NewValidator()
			if err != nil {
				t.Fatal(err)
			}
			get := func() int {
				req, _ := http.NewRequest(http.MethodGet, r.apiURL+"/api/jobs/exportlogs/"+job, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err := v.ValidateResponse(req, resp.StatusCode, resp.Header, body); err != nil {
					t.Fatalf("response does not match openapi.yaml: %v", err)
				}
				return resp.StatusCode
			}
			if status := get(); status != http.StatusOK {
				t.Fatalf("GET: %d", status)
			}
			c.admin("key", "revoke", c.admin("key", "id", key))
			want := http.StatusOK // cached
			if plain {
				want = http.StatusUnauthorized
			}
			if status := get(); status != want {
				t.Fatalf("GET after revocation: %d; want %d", status, want)
			}
			if !strings.Contains(r.logs.String(), fmt.Sprintf(`"plain":%v`, plain)) {
				t.Fatalf("the listening line does not say plain=%v:\n%s", plain, r.logs)
			}
		})
	}
}
