//go:build linux

package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/polyjobs/polyjobs/bench/internal/harness"
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
		if err := harness.Build(ctx, b.root, pkg, out); err != nil {
			return bins, err
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
