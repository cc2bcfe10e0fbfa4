package interop_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeMarker precedes, in ../README.md, the shell script that
// TestREADMEScript runs.
const readmeMarker = "<!-- tested: go test ./interop -run TestREADMEScript -->"

// readmeScript returns the fenced sh block that follows readmeMarker in the
// README text.
func readmeScript(readme string) (string, error) {
	_, after, ok := strings.Cut(readme, readmeMarker+"\n")
	if !ok {
		return "", fmt.Errorf("no line %q", readmeMarker)
	}
	body, ok := strings.CutPrefix(after, "```sh\n")
	if !ok {
		return "", fmt.Errorf("the line after %q does not open a ```sh block", readmeMarker)
	}
	script, _, ok := strings.Cut(body, "\n```\n")
	if !ok {
		return "", errors.New("the ```sh block after the marker is not closed")
	}
	return script + "\n", nil
}

// TestREADMEScript runs the control API script of the README's "Testing
// against polyjobs from any language" with sh, as printed, against the real
// reference server, on loopback without a control token and with one (which
// the script sends from POLYJOBS_CONTROL_TOKEN), and checks what it prints: the planned job's
// statuses, the injected 503 with its Retry-After, the job again once curl
// has retried after that second, and the 401 of the key the reset deleted.
func TestREADMEScript(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script, err := readmeScript(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, tool := range []string{"sh", "curl", "sed", "seq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if ok, why := required(); ok {
				t.Fatalf("the README's script cannot run (%s requires it): %s not found", why, tool)
			}
			t.Skipf("SKIPPED: the README's script needs %s: %v", tool, err)
		}
	}
	for _, tc := range []struct {
		name, token string
	}{
		{"without a control token", ""},
		{"with a control token", rand.Text()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runREADMEScript(t, script, tc.token)
		})
	}
}

// runREADMEScript runs script against a new server with the control token.
func runREADMEScript(t *testing.T, script, token string) {
	t.Helper()
	url := startServer(t, token)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(environWithout("POLYJOBS_"), "POLYJOBS_BASE_URL="+url)
	if token != "" {
		cmd.Env = append(cmd.Env, "POLYJOBS_CONTROL_TOKEN="+token)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("sh -c <the README's script>: %v\n--- stdout:\n%s--- stderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := strings.ReplaceAll(stdout.String(), "\r\n", "\n")
	t.Logf("the README's script ran in %v:\n%s--- stderr:\n%s", time.Since(start).Round(time.Millisecond), out, stderr.String())
	want := regexp.MustCompile(`(?s)^created\nrunning\ndone\n` +
		`HTTP/1\.1 503 Service Unavailable\n.*(?i:retry-after): 1\n.*\n\{[^\n]*"status":503[^\n]*\}\n+` +
		`done\n` +
		`401\n$`)
	if !want.MatchString(out) {
		t.Errorf("the README's script printed\n%s\nwhich does not match %s", out, want)
	}
	// curl says on stderr that it retries, after the Retry-After's second.
	if !strings.Contains(stderr.String(), "Will retry in 1 second") {
		t.Errorf("curl --retry did not say it would retry after Retry-After's 1 s; stderr:\n%s", stderr.String())
	}
}

func TestREADMEScriptExtraction(t *testing.T) {
	for _, tc := range []struct {
		name, readme, want, err string
	}{
		{"found", "text\n" + readmeMarker + "\n```sh\necho hi\n```\nmore\n", "echo hi\n", ""},
		{"no marker", "```sh\necho hi\n```\n", "", "no line"},
		{"no block after the marker", readmeMarker + "\ntext\n```sh\necho hi\n```\n", "", "does not open"},
		{"unclosed block", readmeMarker + "\n```sh\necho hi\n", "", "not closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readmeScript(tc.readme)
			if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("readmeScript: %q, %v; want %q, an error containing %q", got, err, tc.want, tc.err)
			}
		})
	}
}
