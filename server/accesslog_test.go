package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
)

// TestAccessLogLines checks the access log line of each kind of request: its
// fields, and the organization and key of the credentials used, never the key.
func TestAccessLogLines(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t))
	acme, globex := en.tenant("acme"), en.tenant("globex")
	acmeOrgKey, err := en.store.KeyByHash(context.Background(), apikey.Hash(acme.orgKey))
	if err != nil {
		t.Fatal(err)
	}
	job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
	path := jobPath(job.Type, job.ID)
	tests := []struct {
		name       string
		auth       string
		status     int
		org, keyID string // "" when the request is not authenticated
	}{
		{"bearer", acme.bearer(), 200, acme.org.ID.String(), acme.userID.String()},
		{"basic", acme.basic(), 200, acme.org.ID.String(), acmeOrgKey.ID.String()},
		{"bearer again", acme.bearer(), 200, acme.org.ID.String(), acme.userID.String()},
		{"other organization", globex.bearer(), 404, globex.org.ID.String(), globex.userID.String()},
		{"no credentials", "", 401, "", ""},
		{"bad credentials", "Bearer nope", 401, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(en.logs.String())
			req := get(path)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			r := en.do(req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			logs := en.logs.String()[before:]
			for _, secret := range []string{acme.userKey, acme.orgKey, globex.userKey} {
				if strings.Contains(logs, secret) {
					t.Fatal("an API key appears in the log")
				}
			}
			var line map[string]any
			for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("log line %q is not JSON: %v", l, err)
				}
				if m["msg"] == "request" {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no access log line in %q", logs)
			}
			want := map[string]string{
				"request_id": r.header.Get("X-Request-Id"), "method": "GET", "path": path,
				"status": fmt.Sprint(tc.status), "bytes": fmt.Sprint(len(r.body)),
			}
			for k, v := range want {
				if got := fmt.Sprint(line[k]); got != v {
					t.Errorf("%s = %s, want %s", k, got, v)
				}
			}
			if _, ok := line["latency"].(float64); !ok {
				t.Errorf("latency %v is not a number", line["latency"])
			}
			for k, v := range map[string]string{"org_id": tc.org, "key_id": tc.keyID} {
				got, present := line[k]
				if tc.org == "" && present {
					t.Errorf("%s = %v on an unauthenticated request", k, got)
				}
				if tc.org != "" && got != v {
					t.Errorf("%s = %v, want %s", k, got, v)
				}
			}
		})
	}
}
