package main

import (
	"encoding/json"
	"os"
	"path/filepath"
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

func TestAdminKeyIDFromStdin(t *testing.T) {
	c := newCLI(t)
	c.admin("org", "create", "acme")
	key := c.admin("key", "create", "--org", "acme")
	id := c.admin("key", "id", key)
	other := c.admin("key", "create", "--org", "acme")
	cases := []struct {
		name, input string
		code        int
		out         string // stdout, or a part of stderr when code is not 0
	}{
		{"one line", key + "\n", 0, id},
		{"blank lines around it", "\n  " + key + "  \r\n\n", 0, id},
		{"no newline", key, 0, id},
		{"empty", "", exitUsage, "it is empty"},
		{"blank", "\n \n", exitUsage, "it is empty"},
		{"two keys", key + "\n" + other + "\n", exitUsage, "it holds 2 lines"},
		{"too long", strings.Repeat(key+" ", 200), exitUsage, "more than 4096 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := c.runWithInput(tc.input, "admin", "--db", c.db, "key", "id", "-")
			got := strings.TrimSpace(out)
			if code != 0 {
				got = errOut
			}
			if code != tc.code || !strings.Contains(got, tc.out) {
				t.Fatalf("key id - : exit %d, %q, %q; want exit %d with %q", code, out, errOut, tc.code, tc.out)
			}
			if strings.Contains(errOut, key) || strings.Contains(errOut, other) {
				t.Fatalf("stderr shows a key: %q", errOut)
			}
		})
	}
}

// TestAdminRefusals: what the database refuses exits 1 with one line
// (usage errors, exit 2, are in TestUsageErrors).
func TestAdminRefusals(t *testing.T) {
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
		{"unknown org", []string{"job", "create", "--org", "nope", "--type", "exportlogs"}, "not found"},
		{"illegal transition", []string{"job", "start", job}, "cannot move from done to running"},
		{"unknown job", []string{"job", "start", uuid.NewString()}, "not found"},
		{"revoke unknown key", []string{"key", "revoke", uuid.NewString()}, "not found"},
		{"list of an unknown org", []string{"job", "list", "--org", "nope"}, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := c.run(append([]string{"admin", "--db", c.db}, tc.args...)...)
			if code != exitFailed {
				t.Fatalf("exit %d; want %d (stderr %q)", code, exitFailed, errOut)
			}
			if out != "" {
				t.Fatalf("stdout %q; want nothing", out)
			}
			checkErrorLine(t, errOut)
			if !strings.Contains(errOut, tc.message) {
				t.Fatalf("stderr %q; want it to mention %q", errOut, tc.message)
			}
		})
	}
}

// TestAdminRefusesMissingDatabase: a mistyped --db, or admin run from
// another directory, is one clear line naming the path, and leaves no
// database behind; admin init creates one.
func TestAdminRefusesMissingDatabase(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	c := &cli{t: t}
	for _, tc := range []struct {
		name   string
		args   []string
		env    string
		path   string
		source string
	}{
		{"flag", []string{"admin", "--db", "polyjobs.dbb", "org", "create", "acme"}, "", "polyjobs.dbb", "from --db"},
		{"environment", []string{"admin", "job", "list"}, "elsewhere.db", "elsewhere.db", "from POLYJOBS_DB"},
		{"default", []string{"admin", "key", "create", "--org", "acme"}, "", "polyjobs.db", "the default of --db (POLYJOBS_DB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("POLYJOBS_DB", tc.env)
			code, out, errOut := c.run(tc.args...)
			if code != exitFailed || out != "" {
				t.Fatalf("exit %d, stdout %q; want %d and nothing", code, out, exitFailed)
			}
			checkErrorLine(t, errOut)
			abs := filepath.Join(dir, tc.path)
			for _, want := range []string{`no database at "` + tc.path + `" (` + abs + `)`, "(" + tc.source + ")", "admin init"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q does not say %q", errOut, want)
				}
			}
			if _, err := os.Stat(abs); !os.IsNotExist(err) {
				t.Errorf("the refused command left %s behind: %v", abs, err)
			}
		})
	}
	t.Run("init creates it", func(t *testing.T) {
		t.Setenv("POLYJOBS_DB", "")
		for range 2 { // and is idempotent
			if code, out, errOut := c.run("admin", "--db", "new.db", "init"); code != 0 || out != "" || errOut != "" {
				t.Fatalf("admin init: exit %d, %q, %q", code, out, errOut)
			}
		}
		info, err := os.Stat(filepath.Join(dir, "new.db"))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("admin init: %v, %v; want a 0600 database", info, err)
		}
		if code, out, errOut := c.run("admin", "--db", "new.db", "org", "create", "acme"); code != 0 {
			t.Fatalf("org create on the new database: exit %d, %q, %q", code, out, errOut)
		}
	})
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

func TestAdminJobList(t *testing.T) {
	c := newCLI(t)
	acme := c.admin("org", "create", "acme")
	c.admin("org", "create", "globex")
	created := c.admin("job", "create", "--org", "acme", "--type", "exportlogs")
	running := c.admin("job", "create", "--org", "acme", "--type", "samplemodel")
	c.admin("job", "start", running)
	done := c.admin("job", "create", "--org", "acme", "--type", "exportlogs")
	c.admin("job", "finish", done, "--result", `{"url":"https://example.com/x"}`)
	failed := c.admin("job", "create", "--org", "acme", "--type", "createmodel")
	c.admin("job", "fail", failed, "--error", "boom")
	other := c.admin("job", "create", "--org", "globex", "--type", "exportlogs")

	ids := func(args ...string) []string {
		t.Helper()
		var jobs []struct {
			JobID  string `json:"job_id"`
			OrgID  string `json:"org_id"`
			Status string `json:"status"`
		}
		out := c.admin(append([]string{"job", "list", "-o", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &jobs); err != nil {
			t.Fatalf("job list -o json printed %q: %v", out, err)
		}
		var got []string
		for _, j := range jobs {
			got = append(got, j.JobID)
		}
		return got
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"all", nil, []string{created, running, done, failed, other}},
		{"one organization by name", []string{"--org", "acme"}, []string{created, running, done, failed}},
		{"one organization by id", []string{"--org", acme, "--type", "createmodel"}, []string{failed}},
		{"types as a list", []string{"--type", "exportlogs,samplemodel", "--org", "acme"}, []string{created, running, done}},
		{"repeated statuses", []string{"--status", "created", "--status", "running"}, []string{created, running, other}},
		{"statuses as a list", []string{"--status", "done,failed"}, []string{done, failed}},
		{"limit keeps the newest", []string{"--limit", "2"}, []string{failed, other}},
		{"nothing", []string{"--org", "globex", "--status", "done"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(tc.args...); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("got %v; want %v", got, tc.want)
			}
		})
	}
	t.Run("empty JSON is an array", func(t *testing.T) {
		if out := c.admin("job", "list", "--org", "globex", "--status", "done", "-o", "json"); out != "[]" {
			t.Fatalf("printed %q; want []", out)
		}
	})
	t.Run("text", func(t *testing.T) {
		out := c.admin("job", "list", "--org", "acme", "--status", "created,running")
		lines := strings.Split(out, "\n")
		if len(lines) != 3 || !regexp.MustCompile(`^JOB_ID\s+TYPE\s+STATUS\s+UPDATED\s+ORG_ID$`).MatchString(lines[0]) ||
			!regexp.MustCompile(`^`+created+`\s+exportlogs\s+created\s+\d{4}-\d\d-\d\dT\S+Z\s+`+acme+`$`).MatchString(lines[1]) ||
			!strings.Contains(lines[2], running) {
			t.Fatalf("job list printed\n%s", out)
		}
	})
}
