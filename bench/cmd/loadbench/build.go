//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaries are the freshly built programs.
type binaries struct{ polyjobs, baseline, loadgen string }

// build builds the binaries into the temporary directory.
func (b *bench) build(ctx context.Context) (binaries, error) {
	bins := binaries{
		polyjobs: filepath.Join(b.tmp, "polyjobs"),
		baseline: filepath.Join(b.tmp, "baseline"),
	}
	pkgs := map[string]string{bins.polyjobs: "./cmd/polyjobs", bins.baseline: "./bench/baseline"}
	if g, ok := b.loader.(*goLoader); ok {
		bins.loadgen = filepath.Join(b.tmp, "loadgen")
		g.bin = bins.loadgen
		pkgs[bins.loadgen] = "./bench/cmd/loadgen"
	}
	for out, pkg := range pkgs {
		fmt.Fprintf(b.log, "building %s\n", pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = b.root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return bins, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
	}
	return bins, nil
}

// chooseLoader picks wrk, or the Go generator as -loadgen says.
func (b *bench) chooseLoader(ctx context.Context) error {
	if b.o.loadgen != "go" {
		bin, err := findWrk(ctx, b.log)
		if err == nil {
			b.loader = &wrk{bin: bin, version: wrkVersion(bin), connections: b.o.connections, place: b.loadPlace()}
			return nil
		}
		if b.o.loadgen == "wrk" {
			return err
		}
		fmt.Fprintf(b.log, "*** %v: falling back to the Go load generator (bench/cmd/loadgen), whose numbers are lower than wrk's ***\n", err)
	}
	b.loader = &goLoader{connections: b.o.connections, place: b.loadPlace()}
	return nil
}

// repoRoot finds the module root of github.com/polyjobs/polyjobs from the
// working directory upwards.
func repoRoot() (string, error) {
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
