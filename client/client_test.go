package client

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

const secretKey = "pk_live_SECRET_DO_NOT_LEAK"

func TestNewErrors(t *testing.T) {
	orgID := uuid.New()
	tests := []struct {
		name   string
		opts   []Option
		option string // ConfigError.Option
		want   string
	}{
		{"no credentials", nil, "", "polyjobs: no credentials: use WithAPIKey(user key) or WithOrgKey(organization id, key)"},
		{"both credentials", []Option{WithAPIKey(secretKey), WithOrgKey(orgID, secretKey)}, "", "both"},
		{"empty API key", []Option{WithAPIKey("  ")}, "WithAPIKey", "polyjobs: empty API key"},
		{"API key with a line break", []Option{WithAPIKey("pk_live_SECRET\nDO_NOT_LEAK")}, "WithAPIKey", "not printable"},
		{"empty organization key", []Option{WithOrgKey(orgID, "")}, "WithOrgKey", "polyjobs: empty organization key"},
		{"nil organization id", []Option{WithOrgKey(uuid.Nil, secretKey)}, "WithOrgKey", "organization id"},
		{"malformed URL", []Option{WithAPIKey(secretKey), WithBaseURL("http://[::1")}, "WithBaseURL", `polyjobs: malformed base URL "http://[::1": missing ']' in host`},
		{"malformed URL with a password", []Option{WithAPIKey(secretKey), WithBaseURL("http://me:" + secretKey + "@[::1:8080/api")}, "WithBaseURL", `malformed base URL "http://me:xxxxx@[::1:8080/api"`},
		{"malformed port", []Option{WithAPIKey(secretKey), WithBaseURL("http://127.0.0.1:80a")}, "WithBaseURL", `malformed base URL "http://127.0.0.1:80a": invalid port ":80a" after host`},
		{"URL with a control character", []Option{WithAPIKey(secretKey), WithBaseURL("http://example.com/\x1b[2J")}, "WithBaseURL", `malformed base URL "http://example.com/\x1b[2J": net/url: invalid control character in URL`},
		{"URL without scheme", []Option{WithAPIKey(secretKey), WithBaseURL("app.polytomic.com")}, "WithBaseURL", `base URL "app.polytomic.com" has no scheme: start it with http:// or https://`},
		{"address without scheme", []Option{WithAPIKey(secretKey), WithBaseURL("127.0.0.1:8080")}, "WithBaseURL", `base URL "127.0.0.1:8080" has no scheme`},
		{"host and port without scheme", []Option{WithAPIKey(secretKey), WithBaseURL("localhost:8080")}, "WithBaseURL", `base URL "localhost:8080" has no scheme`},
		{"password without scheme", []Option{WithAPIKey(secretKey), WithBaseURL("me:" + secretKey + "@localhost:8080")}, "WithBaseURL", `base URL "me:xxxxx@localhost:8080" has no scheme`},
		{"ftp URL", []Option{WithAPIKey(secretKey), WithBaseURL("ftp://app.polytomic.com")}, "WithBaseURL", "scheme"},
		{"URL without host", []Option{WithAPIKey(secretKey), WithBaseURL("https://")}, "WithBaseURL", "no host"},
		{"URL with credentials", []Option{WithAPIKey(secretKey), WithBaseURL("https://me:" + secretKey + "@example.com")}, "WithBaseURL", `base URL "https://me:xxxxx@example.com" must not hold credentials`},
		{"URL with query", []Option{WithAPIKey(secretKey), WithBaseURL("https://example.com/?a=b")}, "WithBaseURL", "query"},
		{"unknown version", []Option{WithAPIKey(secretKey), WithVersion("2020-01-01")}, "WithVersion", `polyjobs: unknown API version "2020-01-01"`},
		{"malformed version", []Option{WithAPIKey(secretKey), WithVersion("latest")}, "WithVersion", "unknown API version"},
		{"negative attempts", []Option{WithAPIKey(secretKey), WithRetry(RetryPolicy{MaxAttempts: -1})}, "WithRetry", "polyjobs: invalid retry policy"},
		{"max delay below min", []Option{WithAPIKey(secretKey), WithRetry(RetryPolicy{MinDelay: time.Second, MaxDelay: time.Millisecond})}, "WithRetry", "below MinDelay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts...)
			if err == nil {
				t.Fatalf("New succeeded: %v", c)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q leaks the key", err)
			}
			if strings.Count(err.Error(), "polyjobs:") != 1 || !strings.HasPrefix(err.Error(), "polyjobs: ") {
				t.Errorf("error %q does not start with exactly one \"polyjobs: \"", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Option != tc.option {
				t.Errorf("error %#v; want a *ConfigError for option %q", err, tc.option)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(WithAPIKey(secretKey))
	if err != nil {
		t.Fatal(err)
	}
	if c.baseURL != DefaultBaseURL || c.version != DefaultVersion {
		t.Errorf("base URL %q, version %q", c.baseURL, c.version)
	}
	if !strings.HasPrefix(c.userAgent, "polyjobs-go/") {
		t.Errorf("user agent %q", c.userAgent)
	}
	want := RetryPolicy{MaxAttempts: 3, MinDelay: DefaultMinRetryDelay, MaxDelay: DefaultMaxRetryDelay, MaxRetryAfter: DefaultMaxRetryAfter}
	if c.retry != want {
		t.Errorf("retry policy %+v; want %+v", c.retry, want)
	}
	// A minimum delay above the default maximum raises the maximum.
	c, err = New(WithAPIKey(secretKey), WithRetry(RetryPolicy{MinDelay: 10 * time.Second}))
	if err != nil || c.retry.MaxDelay != 10*time.Second {
		t.Errorf("MinDelay 10s: %v, %+v", err, c.retry)
	}
}

func TestClientStringHidesCredentials(t *testing.T) {
	for _, opt := range []Option{WithAPIKey(secretKey), WithOrgKey(uuid.New(), secretKey)} {
		c, err := New(opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(format, c); strings.Contains(s, "SECRET") || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(secretKey))[:8]) {
				t.Errorf("%s prints the key: %s", format, s)
			}
		}
	}
}

func TestRequestHeaders(t *testing.T) {
	orgID := uuid.New()
	id := uuid.New()
	done := fmt.Sprintf(`{"data":{"job_id":%q,"type":"exportlogs","status":"done","result":null,"error":null}}`, id)
	tests := []struct {
		name      string
		opts      []Option
		prefix    string // base URL path
		wantAuth  string
		version   string
		userAgent string // empty: the default
	}{
		{"defaults", []Option{WithAPIKey(secretKey)}, "", "Bearer " + secretKey, string(DefaultVersion), ""},
		{"key with a trailing newline", []Option{WithAPIKey(secretKey + "\n")}, "", "Bearer " + secretKey, string(DefaultVersion), ""},
		{"version as a string", []Option{WithAPIKey(secretKey), WithVersion("2024-02-08")}, "", "Bearer " + secretKey, "2024-02-08", ""},
		{"version as a constant", []Option{WithAPIKey(secretKey), WithVersion(APIVersion20210523)}, "", "Bearer " + secretKey, "2021-05-23", ""},
		{"user agent", []Option{WithAPIKey(secretKey), WithUserAgent("my-app/1.2")}, "", "Bearer " + secretKey, string(DefaultVersion), "my-app/1.2"},
		{"organization key", []Option{WithOrgKey(orgID, secretKey)}, "",
			"Basic " + base64.StdEncoding.EncodeToString([]byte(orgID.String()+":"+secretKey)), string(DefaultVersion), ""},
		{"path prefix", []Option{WithAPIKey(secretKey)}, "/proxy/polytomic/", "Bearer " + secretKey, string(DefaultVersion), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, reply{status: 200, body: done})
			c, err := New(append(tc.opts, WithBaseURL(srv.URL+tc.prefix))...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetJob(t.Context(), JobTypeExportLogs, id); err != nil {
				t.Fatal(err)
			}
			r := srv.lastRequest()
			wantPath := strings.TrimSuffix(tc.prefix, "/") + "/api/jobs/exportlogs/" + id.String()
			if r.Method != http.MethodGet || r.URL.Path != wantPath {
				t.Errorf("request %s %s; want GET %s", r.Method, r.URL.Path, wantPath)
			}
			if got := r.Header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization %q; want %q", got, tc.wantAuth)
			}
			if got := r.Header.Get("X-Polytomic-Version"); got != tc.version {
				t.Errorf("X-Polytomic-Version %q; want %q", got, tc.version)
			}
			ua := r.Header.Get("User-Agent")
			if tc.userAgent == "" && !strings.HasPrefix(ua, "polyjobs-go/") || tc.userAgent != "" && ua != tc.userAgent {
				t.Errorf("User-Agent %q; want %q", ua, tc.userAgent)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept %q", got)
			}
		})
	}
}

type countingTransport struct {
	n atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestWithHTTPClient(t *testing.T) {
	id := uuid.New()
	srv := newScriptServer(t, reply{status: 200, body: fmt.Sprintf(`{"data":{"job_id":%q,"type":"samplemodel","status":"running","result":null,"error":null}}`, id)})
	tr := &countingTransport{}
	c := newClient(t, srv.URL, WithHTTPClient(&http.Client{Transport: tr}))
	if _, err := c.GetJob(t.Context(), JobTypeSampleModel, id); err != nil {
		t.Fatal(err)
	}
	if tr.n.Load() != 1 {
		t.Errorf("custom transport used %d times; want 1", tr.n.Load())
	}
}

func TestReExports(t *testing.T) {
	for _, typ := range JobTypes() {
		if !typ.Valid() {
			t.Errorf("JobTypes() has invalid %q", typ)
		}
	}
	if len(JobTypes()) == 0 {
		t.Error("JobTypes() is empty")
	}
	vs := Versions()
	for i, v := range vs {
		if !v.Valid() || i > 0 && vs[i-1] >= v {
			t.Errorf("Versions() = %v: not valid and ascending", vs)
		}
	}
	if vs[len(vs)-1] != DefaultVersion {
		t.Errorf("DefaultVersion %q is not the newest of %v", DefaultVersion, vs)
	}
}
