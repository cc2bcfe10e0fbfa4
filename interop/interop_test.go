// Package interop_test proves that Polytomic's official TypeScript SDK (npm
// "polytomic", pinned exactly in package.json and package-lock.json) works
// unchanged against the polyjobs reference server. The test starts the real
// server with its control API on and gives jobs.mjs only its URL and control
// token: the script makes its organization, keys and jobs through the control
// API, over HTTP, calls client.jobs.get through the SDK (watching a planned
// job go created -> running -> done, and 503s with Retry-After retried), and
// prints one JSON line per check; each check is a subtest here.
// TestREADMEScript runs the README's curl script against the same server.
//
// It needs node (>= 18) and npm. Without them, or when `npm ci` fails (it
// needs the npm registry), the test skips loudly, unless CI or
// POLYJOBS_REQUIRE_INTEROP is set, in which case it fails. The SDK is
// installed with `npm ci` into interop/node_modules (git-ignored), only when
// that folder is missing or was installed from another package.json or
// package-lock.json (a hash stamp in node_modules records which).
package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// sdkVersion is the SDK version package.json pins.
	sdkVersion = "1.18.1"
	// minNodeMajor is the oldest node the SDK supports (it needs AbortSignal
	// and a global AbortController: core/fetcher/Fetcher.js).
	minNodeMajor = 18

	npmTimeout    = 5 * time.Minute
	scriptTimeout = 2 * time.Minute

	// stampFile records the hash of the manifest npm ci last installed.
	stampFile = "node_modules/.polyjobs-interop-stamp"
)

// checks are the checks jobs.mjs must report, all passing, in its order.
var checks = []string{
	"control_setup",
	"done_job",
	"running_job",
	"failed_job",
	"version_header",
	"unknown_version_bad_request",
	"unknown_job_not_found",
	"wrong_type_not_found",
	"unknown_type_bad_request",
	"malformed_id_bad_request",
	"bad_key_unauthorized",
	"empty_key_unauthorized",
	"basic_auth_org_key",
	"basic_auth_bad_key_unauthorized",
	"planned_job_lifecycle",
	"fault_503_has_retry_after",
	"fault_503_retried_by_sdk",
	"fault_503_sdk_gives_up_after_3_attempts",
	"server_error_internal_server_error",
	"reset",
}

// checkResult is one line of jobs.mjs's output.
type checkResult struct {
	Name   string          `json:"name"`
	OK     bool            `json:"ok"`
	Detail json.RawMessage `json:"detail"`
}

// TestTypeScriptSDK runs jobs.mjs against a reference server it knows only
// by URL and control token.
func TestTypeScriptSDK(t *testing.T) {
	node, npm := findTools(t)
	installSDK(t, npm)
	token := rand.Text()
	url := startServer(t, token)
	env := append(environWithout("INTEROP_"),
		"INTEROP_BASE_URL="+url,
		"INTEROP_CONTROL_TOKEN="+token,
	)
	runChecks(t, node, env, checks)
}

// runChecks runs jobs.mjs and reports each of its checks as a subtest. The
// script's whole output is logged once when anything fails.
func runChecks(t *testing.T, node string, env []string, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "jobs.mjs")
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	defer func() {
		if t.Failed() {
			t.Logf("node jobs.mjs (exit: %v)\n--- stdout:\n%s--- stderr:\n%s---",
				runErr, stdout.String(), stderr.String())
		}
	}()
	if ctx.Err() != nil {
		t.Fatalf("node jobs.mjs did not finish within %v", scriptTimeout)
	}
	results, err := parseResults(stdout.Bytes())
	if err != nil {
		t.Fatalf("node jobs.mjs: %v", err)
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			r, ok := results[name]
			switch {
			case !ok:
				t.Errorf("jobs.mjs did not report check %q", name)
			case !r.OK:
				t.Errorf("%s", detailText(r.Detail))
			default:
				t.Logf("ok: %s", r.Detail)
			}
		})
		delete(results, name)
	}
	for name := range results {
		t.Errorf("jobs.mjs reported check %q, which this test does not expect", name)
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("node jobs.mjs failed although every check passed: %v", runErr)
	}
}

// parseResults reads jobs.mjs's JSON lines, keyed by check name.
func parseResults(out []byte) (map[string]checkResult, error) {
	results := make(map[string]checkResult)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r checkResult
		if err := json.Unmarshal(line, &r); err != nil || r.Name == "" {
			return nil, fmt.Errorf("unexpected output line %q", line)
		}
		if _, dup := results[r.Name]; dup {
			return nil, fmt.Errorf("check %q reported twice", r.Name)
		}
		results[r.Name] = r
	}
	return results, sc.Err()
}

// detailText shows a failed check's detail, a JSON string, unquoted.
func detailText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// required reports whether a missing toolchain or a failed install is a test
// failure rather than a skip.
func required() (bool, string) {
	for _, name := range []string{"CI", "POLYJOBS_REQUIRE_INTEROP"} {
		switch v := strings.TrimSpace(os.Getenv(name)); strings.ToLower(v) {
		case "", "0", "false", "no", "off":
		default:
			return true, name + "=" + v
		}
	}
	return false, ""
}

// unavailable fails the test when interop is required, and skips it loudly
// otherwise.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if ok, why := required(); ok {
		t.Fatalf("TypeScript SDK interop cannot run (%s requires it): %s", why, reason)
	}
	banner := strings.Repeat("!", 78)
	msg := fmt.Sprintf("\n%s\n!!! SKIPPED: Polytomic TypeScript SDK interop was NOT tested.\n!!! %s\n"+
		"!!! Install node >= %d and npm to run it; CI (CI=true) or POLYJOBS_REQUIRE_INTEROP=1\n"+
		"!!! turn this skip into a failure.\n%s",
		banner, reason, minNodeMajor, banner)
	fmt.Fprintln(os.Stderr, msg)
	t.Skip(msg)
}

// findTools returns the paths of node and npm, or skips/fails.
func findTools(t *testing.T) (node, npm string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node not found in PATH: %v", err)
	}
	npm, err = exec.LookPath("npm")
	if err != nil {
		unavailable(t, "npm not found in PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		unavailable(t, "node --version: %v", err)
	}
	version := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < minNodeMajor {
		unavailable(t, "node %s is too old: the SDK needs node >= %d", version, minNodeMajor)
	}
	return node, npm
}

// installSDK runs npm ci unless node_modules already holds what the manifest
// and the lock file describe.
func installSDK(t *testing.T, npm string) {
	t.Helper()
	want, err := manifestHash()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(stampFile); err == nil && string(got) == want && installedVersion() == sdkVersion {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timed out after %v)", err, npmTimeout)
		}
		unavailable(t, "npm ci --no-audit --no-fund in interop/ failed (it needs the npm registry): %v\n%s", err, out)
	}
	t.Logf("npm ci took %v", time.Since(start).Round(time.Millisecond))
	if v := installedVersion(); v != sdkVersion {
		t.Fatalf("npm ci installed polytomic %q; want %s (package.json and package-lock.json must pin it)", v, sdkVersion)
	}
	if err := os.WriteFile(stampFile, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
}

// manifestHash identifies the dependency set npm ci installs.
func manifestHash() (string, error) {
	h := sha256.New()
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// installedVersion is the version of the SDK in node_modules, or "".
func installedVersion() string {
	b, err := os.ReadFile(filepath.Join("node_modules", "polytomic", "package.json"))
	if err != nil {
		return ""
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &pkg) != nil {
		return ""
	}
	return pkg.Version
}

// environWithout is os.Environ without the variables starting with prefix, so
// that a stray INTEROP_ONLY in the caller's shell cannot narrow the run.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}
