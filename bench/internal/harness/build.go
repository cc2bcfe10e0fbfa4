//go:build linux

package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RepoRoot finds the module root of github.com/polyjobs/polyjobs from the
// working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/polyjobs/polyjobs\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from within the polyjobs repository (no go.mod of github.com/polyjobs/polyjobs found upwards)")
		}
		dir = parent
	}
}

// Build builds the package pkg (such as "./cmd/polyjobs") of the repository
// at root into the binary out.
func Build(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return nil
}

// ServerEnv is the environment of the servers and admin commands: ours
// without POLYJOBS_* variables, so that only the harness configures them.
func ServerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POLYJOBS_") {
			env = append(env, kv)
		}
	}
	return env
}

// RunAdmin runs `polyjobs admin --db db args...` in ServerEnv and returns
// its stdout, trimmed.
func RunAdmin(ctx context.Context, polyjobs, db string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, polyjobs, append([]string{"admin", "--db", db}, args...)...)
	cmd.Env = ServerEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("polyjobs admin %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
