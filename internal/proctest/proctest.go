// Package proctest runs the programs of this repository as real processes,
// for the end-to-end tests (e2e/) and the benchmarks (bench/): it builds
// them, gives them an environment free of the caller's POLYJOBS_* variables,
// starts `polyjobs serve` on free loopback ports and waits until it is ready,
// keeps the end of every process's output for error messages, reads a
// process's memory, and runs `polyjobs admin` commands.
//
// A process started here dies with its parent on Linux (the kernel sends it
// SIGKILL), even when the parent crashes.
package proctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// module is the import path of the repository.
const module = "github.com/polyjobs/polyjobs"

// ModuleRoot walks up from the working directory to the repository's go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		first, _, _ := strings.Cut(string(b), "\n")
		if err == nil && strings.TrimSpace(first) == "module "+module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from within the polyjobs repository (no go.mod of " + module + " above the working directory)")
		}
		dir = parent
	}
}

// Build runs `go build [-race] -o out pkg` in the repository's root; pkg is
// relative to it, such as "./cmd/polyjobs".
func Build(ctx context.Context, pkg, out string, race bool) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	// go test puts the go command that runs the tests first on the PATH.
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s %s: %w\n%s", strings.Join(args, " "), pkg, err, msg)
	}
	return nil
}

// builds are the polyjobs binaries built by Polyjobs, by race setting.
var builds [2]struct {
	once sync.Once
	path string
	err  error
}

// Polyjobs returns the path of the polyjobs binary, with the race detector or
// not, building it on first use: once per process and setting. It goes beside
// the test binary when go test built that in its work directory, which go
// test removes afterwards; otherwise into a temporary directory that is left
// behind, which is said on stderr.
func Polyjobs(race bool) (string, error) {
	b := &builds[0]
	name := "polyjobs"
	if race {
		b, name = &builds[1], "polyjobs-race"
	}
	b.once.Do(func() {
		dir, err := binaryDir()
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		b.err = Build(context.Background(), "./cmd/polyjobs", b.path, race)
	})
	return b.path, b.err
}

// binDir is where Polyjobs builds.
var binDir struct {
	once sync.Once
	path string
	err  error
}

func binaryDir() (string, error) {
	binDir.once.Do(func() {
		if exe, err := os.Executable(); err == nil {
			if dir := filepath.Dir(exe); strings.Contains(dir, "go-build") && strings.HasPrefix(dir, os.TempDir()) {
				binDir.path = dir
				return
			}
		}
		binDir.path, binDir.err = os.MkdirTemp("", "polyjobs-bin-")
		if binDir.err == nil {
			fmt.Fprintf(os.Stderr, "proctest: the polyjobs binaries are built in %s, which is left behind\n", binDir.path)
		}
	})
	return binDir.path, binDir.err
}

// Env is our environment without POLYJOBS_* variables, so that the processes
// see only the flags and variables they are given.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POLYJOBS_") {
			env = append(env, kv)
		}
	}
	return env
}
