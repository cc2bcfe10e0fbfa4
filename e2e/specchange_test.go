package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/internal/proctest"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
)

// The change a user makes to openapi.yaml in TestSpecChangeIsServedEndToEnd.
const (
	newJobType = "runsync"
	newVersion = "2026-06-01"
)

// sdkProgram uses the SDK, built from the changed copy, on the new job type.
const sdkProgram = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/client"
)

func main() {
	c, err := client.New(client.WithBaseURL(os.Args[1]), client.WithAPIKey(os.Args[2]))
	if err != nil {
		panic(err)
	}
	job, err := c.Wait(context.Background(), client.JobType(os.Args[3]), uuid.MustParse(os.Args[4]))
	if err != nil {
		panic(err)
	}
	fmt.Println(client.DefaultVersion, job.Type, job.Status, string(job.Result))
}
`

// TestSpecChangeIsServedEndToEnd does what the README promises a user who
// adds a job type and an API version: edit openapi.yaml, run make generate
// (go generate ./...), and nothing else. In a copy of the repository, with
// the new value at the end of each enum, it builds the binary and checks the
// whole path: admin create and transitions on the new type, GET 200 served
// with the new version by default, polyjobs job get and job wait, and the
// SDK; then the copy's own test suite.
func TestSpecChangeIsServedEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerates and builds a copy of the repository")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := proctest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	repo := copyRepository(t, root)
	editSpec(t, filepath.Join(repo, "openapi.yaml"))
	run := func(dir, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, proctest.Env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(repo, "go", "generate", "./...")
	bin := filepath.Join(t.TempDir(), "polyjobs")
	run(repo, "go", "build", "-o", bin, "./cmd/polyjobs")

	db := filepath.Join(t.TempDir(), "polyjobs.db")
	run(repo, bin, "admin", "--db", db, "init")
	run(repo, bin, "admin", "--db", db, "org", "create", "acme")
	key := run(repo, bin, "admin", "--db", db, "key", "create", "--org", "acme")
	id := run(repo, bin, "admin", "--db", db, "job", "create", "--org", "acme", "--type", newJobType)
	run(repo, bin, "admin", "--db", db, "job", "start", id)

	logs := &syncbuf.Buffer{}
	srv, err := proctest.Serve(ctx, proctest.ServeSpec{Name: "changed", Binary: bin, DB: db, Output: logs})
	if err != nil {
		t.Fatalf("serve: %v\n%s", err, logs)
	}
	defer srv.Kill()

	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/api/jobs/"+newJobType+"/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Polytomic-Version") != newVersion {
		t.Fatalf("GET of a %s job: %d, version %q; want 200 served with %s", newJobType, resp.StatusCode, resp.Header.Get("X-Polytomic-Version"), newVersion)
	}
	var got struct{ Status, Type string }
	out := run(repo, bin, "job", "get", newJobType, id, "--base-url", srv.URL(), "--api-key", key)
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Status != "running" || got.Type != newJobType {
		t.Fatalf("polyjobs job get: %s (%v)", out, err)
	}
	run(repo, bin, "admin", "--db", db, "job", "finish", id, "--result", `{"rows":42}`)
	out = run(repo, bin, "job", "wait", newJobType, id, "--base-url", srv.URL(), "--api-key", key, "--timeout", "30s")
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Status != "done" {
		t.Fatalf("polyjobs job wait: %s (%v)", out, err)
	}

	prog := filepath.Join(repo, "cmd", "sdkcheck")
	if err := os.MkdirAll(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prog, "main.go"), []byte(sdkProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run(repo, "go", "run", "./cmd/sdkcheck", srv.URL(), key, newJobType, id)
	if want := newVersion + " " + newJobType + ` done {"rows":42}`; out != want {
		t.Fatalf("the SDK says %q; want %q", out, want)
	}

	// Nothing else to change means no test to change either: the copy's
	// own suite passes as it is (-short, which skips this test). PostgreSQL's
	// settings pass through, so that CI's rule that its tests never skip
	// holds in the copy too.
	env := proctest.Env()
	for _, name := range []string{pgserver.EnvRequire, pgserver.EnvDSN} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	test := exec.CommandContext(ctx, "go", "test", "-short", "-count=1", "./...")
	test.Dir, test.Env = repo, env
	if out, err := test.CombinedOutput(); err != nil {
		t.Fatalf("go test -short ./... in the changed copy: %v\n%s", err, failures(out))
	}
}

// failures keeps the lines of go test's output that say what failed, and
// the whole output when none does.
func failures(out []byte) string {
	var keep []string
	for line := range strings.Lines(string(out)) {
		if trimmed := strings.TrimSpace(line); !strings.HasPrefix(trimmed, "ok ") && !strings.HasPrefix(trimmed, "? ") &&
			!strings.HasPrefix(trimmed, "=== ") && !strings.HasPrefix(trimmed, "--- PASS") {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		return string(out)
	}
	return strings.Join(keep, "")
}

// copyRepository copies the repository's tracked files (with the working
// tree's content) into a temporary directory.
func copyRepository(t *testing.T, root string) string {
	t.Helper()
	list, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("listing the repository's files needs git: %v", err)
	}
	dst := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// editSpec adds newJobType and newVersion at the end of their enums, with
// their x-enum-varnames, and names newVersion as the spec's own, as a user
// would.
func editSpec(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	spec := string(data)
	for _, edit := range []struct{ old, new string }{
		{"        - connectionproxy\n      x-enum-varnames:", "        - connectionproxy\n        - " + newJobType + "\n      x-enum-varnames:"},
		{"        - JobTypeConnectionProxy\n", "        - JobTypeConnectionProxy\n        - JobTypeRunSync\n"},
		{`        - "2025-09-18"` + "\n", `        - "2025-09-18"` + "\n" + `        - "` + newVersion + `"` + "\n"},
		{"        - APIVersion20250918\n", "        - APIVersion20250918\n        - APIVersion20260601\n"},
		// The spec's own version, and its description, name the newest.
		{`  version: "2025-09-18"` + "\n", `  version: "` + newVersion + `"` + "\n"},
		{"describes version `2025-09-18`, the newest", "describes version `" + newVersion + "`, the newest"},
	} {
		if strings.Count(spec, edit.old) != 1 {
			t.Fatalf("openapi.yaml no longer holds %q once: update this test's edit", edit.old)
		}
		spec = strings.Replace(spec, edit.old, edit.new, 1)
	}
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
}
