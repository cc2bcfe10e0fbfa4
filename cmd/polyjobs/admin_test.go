package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestAdminHappyPath(t *testing.T) {
	c := newCLI(t)
	orgID := c.admin("org", "create", "acme")
	if _, err := uuid.Parse(orgID); err != nil {
		t.Fatalf("org create printed %q, not an id", orgID)
	}
	for _, ref := range []string{orgID, "acme"} {
		for _, kind := range []string{"user", "org"} {
			key := c.admin("key", "create", "--org", ref, "--kind", kind)
			if !regexp.MustCompile(`^pj[uo]_[a-z2-7]{58}$`).MatchString(key) {
				t.Fatalf("key create printed %q", key)
			}
			keyID := c.admin("key", "id", key)
			c.admin("key", "revoke", keyID)
			c.admin("key", "revoke", keyID) // idempotent
		}
	}
	job := c.admin("job", "create", "--org", "acme", "--type", "exportlogs")
	c.admin("job", "start", job)
	c.admin("job", "finish", job, "--result", `{"url":"https://example.com/x"}`)
	var shown map[string]any
	if err := json.Unmarshal([]byte(c.admin("job", "show", job)), &shown); err != nil {
		t.Fatal(err)
	}
	if shown["status"] != "done" || shown["result"].(map[string]any)["url"] != "https://example.com/x" {
		t.Fatalf("job show = %v", shown)
	}
	failed := c.admin("job", "create", "--org", orgID, "--type", "previewmodel")
	c.admin("job", "fail", failed, "--error", "no such table")
}

func TestAdminBadInput(t *testing.T) {
	c := newCLI(t)
	c.admin("org", "create", "acme")
	job := c.admin("job", "create", "--org", "acme", "--type", "samplemodel")
	c.admin("job", "finish", job)
	cases := []struct {
		name    string
		args    []string
		message string
	}{
		{"duplicate org", []string{"org", "create", "acme"}, "conflict"},
		{"unknown type", []string{"job", "create", "--org", "acme", "--type", "deletemodel"}, "unknown job type"},
		{"missing type", []string{"job", "create", "--org", "acme"}, "required flag"},
		{"unknown org", []string{"job", "create", "--org", "nope", "--type", "exportlogs"}, "not found"},
		{"invalid result", []string{"job", "finish", uuid.NewString(), "--result", "{nope"}, "not valid JSON"},
		{"illegal transition", []string{"job", "start", job}, "cannot move from done to running"},
		{"fail without message", []string{"job", "fail", job}, "--error is required"},
		{"unknown job", []string{"job", "start", uuid.NewString()}, "not found"},
		{"malformed job id", []string{"job", "start", "42"}, "not a UUID"},
		{"unknown key kind", []string{"key", "create", "--org", "acme", "--kind", "admin"}, "unknown key kind"},
		{"revoke unknown key", []string{"key", "revoke", uuid.NewString()}, "not found"},
		{"malformed key", []string{"key", "id", "pju_nope"}, "malformed"},
		{"unknown command", []string{"job", "explode"}, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := c.run(append([]string{"admin", "--db", c.db}, tc.args...)...)
			if code != 1 {
				t.Fatalf("exit %d; want 1 (stderr %q)", code, errOut)
			}
			if out != "" {
				t.Fatalf("stdout %q; want nothing", out)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, tc.message) {
				t.Fatalf("stderr %q; want one line mentioning %q", errOut, tc.message)
			}
		})
	}
}

func TestAdminDBFromEnvironment(t *testing.T) {
	c := newCLI(t)
	t.Setenv("POLYJOBS_DB", c.db)
	code, out, errOut := c.run("admin", "org", "create", "from-env")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := c.admin("key", "create", "--org", "from-env"); got == "" || out == "" {
		t.Fatal("the organization created through POLYJOBS_DB is not in that database")
	}
}
