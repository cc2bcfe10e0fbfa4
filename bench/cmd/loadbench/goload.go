//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

// goLoader drives the load with bench/cmd/loadgen, the fallback when wrk is
// unavailable. It competes harder for its CPU than wrk does, so its numbers
// are lower; they are comparable with each other, not with wrk's.
type goLoader struct {
	bin         string
	connections int
	place       placement
}

func (g *goLoader) describe() string {
	return fmt.Sprintf("bench/cmd/loadgen (Go), %d keep-alive connections, %v request timeout", g.connections, requestTimeout)
}

// prepare writes the fixture loadgen reads.
func (g *goLoader) prepare(dir, name string, fx *fixture.Fixture) (string, error) {
	path := filepath.Join(dir, name+".load.json")
	return path, fx.Save(path)
}

// run runs loadgen for d, pinned to the load CPUs.
func (g *goLoader) run(ctx context.Context, spec, baseURL string, d time.Duration) (loadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d+time.Minute)
	defer cancel()
	argv := g.place.wrap([]string{g.bin, "-url", baseURL, "-fixture", spec, "-c", strconv.Itoa(g.connections),
		"-d", d.String(), "-timeout", requestTimeout.String()})
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("loadgen against %s: %w; its output:\n%s", baseURL, err, lastLines(out, 15))
	}
	s, err := parseSummary(out)
	if err != nil {
		return loadResult{}, fmt.Errorf("loadgen against %s: %w", baseURL, err)
	}
	return s.result(), nil
}
