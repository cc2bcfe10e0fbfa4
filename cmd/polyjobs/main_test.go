package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// cli runs the binary's command line in-process.
type cli struct {
	t  *testing.T
	db string
}

// newCLI returns a cli with a new, empty database.
func newCLI(t *testing.T) *cli {
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "polyjobs.db")}
	c.admin("init")
	return c
}

// run runs args and returns the exit code, stdout and stderr.
func (c *cli) run(args ...string) (int, string, string) {
	c.t.Helper()
	return c.runWithInput("", args...)
}

// runWithInput is run with stdin reading input.
func (c *cli) runWithInput(input string, args ...string) (int, string, string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(input), &out, &errOut)
	return code, out.String(), errOut.String()
}

// admin runs an admin command on the test database and expects success.
func (c *cli) admin(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(append([]string{"admin", "--db", c.db}, args...)...)
	if code != 0 {
		c.t.Fatalf("polyjobs admin %v: exit %d: %s", args, code, errOut)
	}
	return strings.TrimSpace(out)
}

// checkErrorLine fails unless stderr is the one line an error prints: text
// starting "polyjobs: " once, or a JSON object.
func checkErrorLine(t *testing.T, stderr string) {
	t.Helper()
	line := strings.TrimSuffix(stderr, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Fatalf("stderr %q is not one line", stderr)
	}
	if strings.HasPrefix(line, "{") {
		var v struct {
			Error    string `json:"error"`
			ExitCode int    `json:"exit_code"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Error == "" {
			t.Fatalf("stderr %q is not a JSON error: %v", stderr, err)
		}
		line = v.Error
	} else if !strings.HasPrefix(line, "polyjobs: ") {
		t.Fatalf("stderr %q does not start with \"polyjobs: \"", stderr)
	}
	if strings.Count(line, "polyjobs:") > 1 {
		t.Fatalf("stderr %q says \"polyjobs:\" more than once", stderr)
	}
}

// TestUsageErrors runs mistaken command lines at every level: each exits 2
// with one line on stderr that says what was wrong, shows the bad value and,
// for a mistyped name, suggests the right one.
func TestUsageErrors(t *testing.T) {
	c := newCLI(t)
	id := uuid.NewString()
	client := []string{"--base-url", "http://127.0.0.1:1", "--api-key", "pju_x"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // in stderr
	}{
		{"unknown command", []string{"explode"}, nil, []string{`unknown command "explode" for "polyjobs"`, "see polyjobs --help"}},
		{"mistyped command", []string{"jbo"}, nil, []string{`did you mean "job"?`}},
		{"mistyped job subcommand", []string{"job", "gt"}, nil, []string{`unknown command "gt" for "polyjobs job"; did you mean "get"?`}},
		{"mistyped admin subcommand", []string{"admin", "jbo"}, nil, []string{`did you mean "job"?`}},
		{"mistyped admin job subcommand", []string{"admin", "job", "lsit"}, nil, []string{`did you mean "list"?`}},
		{"mistyped admin key subcommand", []string{"admin", "key", "revok"}, nil, []string{`did you mean "revoke"?`}},
		{"unknown flag", []string{"job", "get", "exportlogs", id, "--api-kye", "x"}, nil, []string{`unknown flag --api-kye for "polyjobs job get"; did you mean --api-key?`}},
		{"unknown root flag", []string{"--nope"}, nil, []string{"unknown flag --nope"}},
		{"unknown serve flag", []string{"serve", "--adr", ":0"}, nil, []string{"did you mean --addr"}},
		{"job --version", []string{"job", "get", "exportlogs", id, "--version", "2024-02-08"}, nil, []string{"--api-version"}},
		{"flag without value", []string{"admin", "job", "create", "--org"}, nil, []string{"flag needs an argument: --org"}},
		{"malformed flag value", []string{"job", "wait", "exportlogs", id, "--timeout", "soon"}, nil, []string{`"soon"`, "--timeout"}},
		{"one argument missing", []string{"job", "get", "exportlogs"}, nil, []string{`polyjobs job get wants 2 arguments (TYPE ID), got 1: "exportlogs"`}},
		{"no argument", []string{"admin", "--db", c.db, "org", "create"}, nil, []string{"wants 1 argument (NAME), got 0"}},
		{"two arguments", []string{"admin", "--db", c.db, "org", "create", "a", "b"}, nil, []string{`wants 1 argument (NAME), got 2: "a" "b"`}},
		{"argument to serve", []string{"serve", "now"}, nil, []string{`polyjobs serve wants no arguments, got 1: "now"`}},
		{"argument to a group", []string{"admin", "org", "create-all"}, nil, []string{`unknown command "create-all"`}},
		{"argument to version", []string{"version", "x"}, nil, []string{"wants no arguments"}},
		{"help on an unknown command", []string{"help", "admin", "jbo"}, nil, []string{`unknown command "jbo" for "polyjobs admin"; did you mean "job"?`}},
		{"unknown shell", []string{"completion", "bassh"}, nil, []string{`unknown command "bassh" for "polyjobs completion"; did you mean "bash"?`}},
		{"bad output", []string{"version", "-o", "xml"}, nil, []string{`--output "xml": use text, json`}},
		{"malformed environment", []string{"serve", "--db", c.db}, map[string]string{"POLYJOBS_POLL_HINT": "soon"}, []string{`POLYJOBS_POLL_HINT="soon" (for --poll-hint)`}},
		{"malformed boolean environment", []string{"serve", "--db", c.db}, map[string]string{"POLYJOBS_PLAIN": "maybe"}, []string{`POLYJOBS_PLAIN="maybe"`}},
		{"bad log format", []string{"serve", "--db", c.db, "--log-format", "xml"}, nil, []string{`--log-format: "xml" is not a log format: use text or json`}},
		{"--dev on every interface", []string{"serve", "--dev", "--db", c.db, "--addr", "0.0.0.0:0"}, nil, []string{`--dev serves demo keys, so it listens on this host only: --addr "0.0.0.0:0" is not a loopback address`}},
		{"--dev on every interface with a token", []string{"serve", "--dev", "--db", c.db, "--addr", "0.0.0.0:0", "--control-token", "t"}, nil, []string{`--dev serves demo keys`}},
		{"--dev admin on a public address", []string{"serve", "--dev", "--db", c.db, "--addr", "127.0.0.1:0", "--admin-addr", ":9090"}, nil, []string{`--admin-addr ":9090" is not a loopback address`}},
		{"profiles on a public address without a token", []string{"serve", "--db", c.db, "--pprof", "--admin-addr", "0.0.0.0:0"}, nil,
			[]string{`--admin-addr "0.0.0.0:0" is not a loopback address, so give it --admin-token (POLYJOBS_ADMIN_TOKEN)`}},
		{"negative waiter cap", []string{"serve", "--db", c.db, "--max-waiters", "-1"}, nil, []string{"--max-waiters must be positive, got -1"}},
		{"zero waiter cap", []string{"serve", "--db", c.db, "--max-waiters", "0"}, nil, []string{"--max-waiters must be positive, got 0"}},
		{"negative burst", []string{"serve", "--db", c.db, "--burst", "-5"}, nil, []string{"--burst must be positive, got -5"}},
		{"zero hold", []string{"serve", "--db", c.db, "--max-wait", "0s"}, nil, []string{"--max-wait must not be 0: give a positive duration, or a negative one to never hold"}},
		{"zero cache", []string{"serve", "--db", c.db}, map[string]string{"POLYJOBS_JOB_CACHE_TTL": "0"}, []string{"POLYJOBS_JOB_CACHE_TTL must not be 0", "turn the cache off"}},
		{"rate not a number", []string{"serve", "--db", c.db, "--rate", "NaN"}, nil, []string{"--rate must be a positive number, or a negative one to disable the limit, got NaN"}},
		{"poll hint of a century", []string{"serve", "--db", c.db, "--poll-hint", "876000h"}, nil, []string{"--poll-hint must be at most 24h0m0s"}},
		{"zero retention", []string{"serve", "--db", c.db, "--retention", "0s"}, nil, []string{"--retention must be positive, got 0s"}},
		{"zero retention from the environment", []string{"serve", "--db", c.db}, map[string]string{"POLYJOBS_RETENTION": "0s"}, []string{"POLYJOBS_RETENTION must be positive"}},
		{"unknown job type", append([]string{"job", "get", "deletemodel", id}, client...), nil, []string{`unknown job type "deletemodel": use one of createmodel`}},
		{"malformed job id", append([]string{"job", "get", "exportlogs", "42"}, client...), nil, []string{`job id "42" is not a UUID`}},
		{"malformed base URL", []string{"job", "get", "exportlogs", id, "--api-key", "pju_x", "--base-url", "http://me:hunter2@127.0.0.1:80a"}, nil,
			[]string{`--base-url: malformed base URL "http://me:xxxxx@127.0.0.1:80a": invalid port`}},
		{"base URL with credentials", []string{"job", "get", "exportlogs", id, "--api-key", "pju_x", "--base-url", "http://me:hunter2@127.0.0.1:1"}, nil,
			[]string{`--base-url: base URL "http://me:xxxxx@127.0.0.1:1" must not hold credentials; use --api-key or --org-key`}},
		{"base URL from the environment", []string{"job", "get", "exportlogs", id, "--api-key", "pju_x"}, map[string]string{"POLYJOBS_BASE_URL": "ftp://example.com"},
			[]string{`POLYJOBS_BASE_URL: base URL "ftp://example.com": scheme must be http or https`}},
		{"empty organization key", []string{"job", "get", "exportlogs", id, "--org-id", id, "--org-key", " "}, nil, []string{"--org-key: empty organization key"}},
		{"organization key without id", []string{"job", "get", "exportlogs", id, "--org-key", "k"}, nil, []string{"--org-key needs the organization id: set --org-id (POLYJOBS_ORG_ID)"}},
		{"malformed organization id", []string{"job", "get", "exportlogs", id, "--org-key", "k"}, map[string]string{"POLYJOBS_ORG_ID": "acme"}, []string{`POLYJOBS_ORG_ID "acme" is not an organization id`}},
		{"unknown API version", append([]string{"job", "get", "exportlogs", id, "--api-version", "1999-01-01"}, client...), nil, []string{`--api-version: unknown API version "1999-01-01"`}},
		{"no credentials", []string{"job", "get", "exportlogs", id}, nil, []string{"no credentials: set --api-key (POLYJOBS_API_KEY)"}},
		{"both credentials", append([]string{"job", "get", "exportlogs", id, "--org-key", "x"}, client...), nil, []string{"give either --api-key or --org-id (POLYJOBS_ORG_ID) and --org-key, not both"}},
		{"zero timeout", append([]string{"job", "wait", "exportlogs", id, "--timeout", "0s"}, client...), nil, []string{"--timeout 0s: want a positive duration"}},
		{"negative timeout from the environment", append([]string{"job", "get", "exportlogs", id}, client...), map[string]string{"POLYJOBS_TIMEOUT": "-1s"},
			[]string{"POLYJOBS_TIMEOUT -1s: want a positive duration"}},
		{"min above max interval", append([]string{"job", "wait", "exportlogs", id, "--min-interval", "1m", "--max-interval", "1s"}, client...), nil, []string{"want 0 < min <= max"}},
		{"jsonl for get", append([]string{"job", "get", "exportlogs", id, "-o", "jsonl"}, client...), nil, []string{`--output "jsonl": use json, text`}},
		{"admin unknown job type", []string{"admin", "--db", c.db, "job", "create", "--org", "acme", "--type", "deletemodel"}, nil, []string{`unknown job type "deletemodel"`}},
		{"admin missing flag", []string{"admin", "--db", c.db, "job", "create", "--org", "acme"}, nil, []string{`required flag(s) "type" not set`}},
		{"admin invalid JSON", []string{"admin", "--db", c.db, "job", "finish", id, "--result", "{nope"}, nil, []string{`--result "{nope" is not valid JSON`}},
		{"admin empty failure", []string{"admin", "--db", c.db, "job", "fail", id}, nil, []string{"--error is required"}},
		{"admin malformed job id", []string{"admin", "--db", c.db, "job", "start", "42"}, nil, []string{`job id "42" is not a UUID`}},
		{"admin organization named as an id", []string{"admin", "--db", c.db, "org", "create", "00000000-0000-0000-0000-000000000000"}, nil,
			[]string{"reads as an organization id"}},
		{"admin organization with a control character", []string{"admin", "--db", c.db, "org", "create", "ev\x1bil"}, nil, []string{"control or formatting character"}},
		{"admin unknown key kind", []string{"admin", "--db", c.db, "key", "create", "--org", "acme", "--kind", "admin"}, nil, []string{`unknown key kind "admin"`}},
		{"admin malformed key", []string{"admin", "--db", c.db, "key", "id", "pju_nope"}, nil, []string{"malformed"}},
		{"admin revoke given a key", []string{"admin", "--db", c.db, "key", "revoke", "pjo_hunter2hunter2"}, nil,
			[]string{"key id: an API key was given, not a UUID", "admin key id KEY"}},
		{"job id given a key", append([]string{"job", "get", "exportlogs", "pju_hunter2hunter2"}, client...), nil, []string{"job id: an API key was given"}},
		{"admin list unknown status", []string{"admin", "--db", c.db, "job", "list", "--status", "running,stuck"}, nil, []string{`--status: unknown status "stuck"`}},
		{"admin list negative limit", []string{"admin", "--db", c.db, "job", "list", "--limit", "-1"}, nil, []string{"--limit must be 0 (all) or more, got -1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := c.run(tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d; want %d (stderr %q)", code, exitUsage, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q; want nothing", out)
			}
			checkErrorLine(t, errOut)
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) && !strings.Contains(jsonError(errOut), w) {
					t.Errorf("stderr %q does not say %q", errOut, w)
				}
			}
			if strings.Contains(errOut, "hunter2") {
				t.Errorf("stderr %q shows a password", errOut)
			}
		})
	}
}

// jsonError returns the message of a JSON error line, or "".
func jsonError(stderr string) string {
	var v struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(stderr), &v)
	return v.Error
}

func TestHelpAndBareGroupsExitZero(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{nil, {"--help"}, {"job"}, {"admin"}, {"admin", "job"}, {"job", "wait", "--help"}, {"help", "serve"}, {"help", "admin", "job", "list"}, {"completion"}} {
		code, out, errOut := c.run(args...)
		if code != 0 || !strings.Contains(out, "Usage:") || errOut != "" {
			t.Errorf("polyjobs %v: exit %d, stderr %q, stdout %.80q", args, code, errOut, out)
		}
	}
}

func TestPositional(t *testing.T) {
	tests := map[string][]string{
		"get TYPE ID":                           {"TYPE", "ID"},
		"create NAME":                           {"NAME"},
		"finish ID [--result JSON]":             {"ID"},
		"fail ID --error MSG":                   {"ID"},
		"create --org ORG [--kind user|org]":    nil,
		"create --org ORG --type TYPE":          nil,
		"list [--org ORG] [--status STATUS]":    nil,
		"serve":                                 nil,
		"revoke KEY_ID":                         {"KEY_ID"},
		"show ID [--extra [nested thing]] TAIL": {"ID", "TAIL"},
	}
	for use, want := range tests {
		if got := positional(use); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("positional(%q) = %q; want %q", use, got, want)
		}
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 arguments", 1: "1 argument", 2: "2 arguments"} {
		if got := plural(n, "argument"); got != want {
			t.Errorf("plural(%d) = %q; want %q", n, got, want)
		}
	}
}
