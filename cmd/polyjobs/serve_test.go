package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
)

// startDev runs `serve --dev` on a free port until the test ends and returns
// its banner.
func startDev(t *testing.T, dir string) string {
	t.Helper()
	o := &serveOptions{
		addr: "127.0.0.1:0", adminAddr: "127.0.0.1:0", db: filepath.Join(dir, "polyjobs.db"), dev: true,
		devKeys: filepath.Join(dir, "devkeys.json"), devInterval: 20 * time.Millisecond,
		pollHint: time.Second, retention: time.Hour, purgeInterval: time.Hour,
		shutdownGrace: 5 * time.Second, logFormat: "json", logLevel: "info",
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, out, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after cancellation; want nil", err)
		}
	})
	for i := 0; i < 500 && !strings.Contains(out.String(), "polyjobs job wait"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "polyjobs job wait") {
		t.Fatalf("no banner after 5s: %q", out.String())
	}
	return out.String()
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

func TestServeRejectsBadFlags(t *testing.T) {
	c := newCLI(t)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad log format", []string{"serve", "--db", c.db, "--log-format", "xml"}, nil, "--log-format"},
		{"bad env duration", []string{"serve", "--db", c.db}, map[string]string{"POLYJOBS_POLL_HINT": "soon"}, "POLYJOBS_POLL_HINT"},
		{"bad address", []string{"serve", "--db", c.db, "--addr", "127.0.0.1:99999"}, nil, "invalid port"},
		{"zero retention", []string{"serve", "--db", c.db, "--retention", "0s"}, nil, "must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, errOut := c.run(tc.args...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 mentioning %q", code, errOut, tc.want)
			}
		})
	}
}
