//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// measure runs the interleaved rounds, printing each round's table on w, and
// returns the results. It stops at the first server that cannot be started or
// answers a check wrongly; errors under load are recorded and fail the run
// once all rounds are done.
func (b *bench) measure(ctx context.Context, w io.Writer) (*results, error) {
	res := b.newResults()
	for r := 1; r <= b.o.rounds; r++ {
		rd := round{Round: r}
		for _, s := range b.servers {
			fmt.Fprintf(b.log, "round %d/%d: %s\n", r, b.o.rounds, s.name)
			m, err := b.measureOne(ctx, r, s)
			if err != nil {
				return nil, fmt.Errorf("round %d: %w", r, err)
			}
			rd.Results = append(rd.Results, m)
		}
		rd.computeRatios()
		res.Rounds = append(res.Rounds, rd)
		printRound(w, rd)
	}
	res.finish()
	return res, nil
}

// measureOne starts s, checks it, warms it up, loads it, reads its peak RSS
// and stops it.
func (b *bench) measureOne(ctx context.Context, r int, s *server) (m measurement, err error) {
	m.Server = s.name
	ports, err := harness.FreePorts(1)
	if err != nil {
		return m, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	base := "http://" + addr
	logPath := filepath.Join(b.tmp, fmt.Sprintf("%s-round%d.log", s.name, r))
	env := append(harness.ServerEnv(), s.env...)
	p, err := startProcess(s.name, s.argv(addr), env, b.serverPlace(), logPath)
	if err != nil {
		return m, err
	}
	defer func() {
		if serr := p.Stop(); serr != nil && err == nil {
			err = serr
		}
		if err == nil && !b.o.keep {
			os.Remove(logPath) // the access log of millions of requests
		}
	}()
	if err := waitReady(ctx, p, base, s.fx); err != nil {
		return m, err
	}
	if err := verify(ctx, s.name, base, s.fx); err != nil {
		return m, err
	}
	if b.o.warmup > 0 {
		wu, err := b.loader.run(ctx, s.spec, base, b.o.warmup)
		if err != nil {
			return m, fmt.Errorf("%s warm-up: %w", s.name, err)
		}
		m.WarmupNon2xx, m.WarmupSocketErrors, m.WarmupSockets = wu.Non2xx, wu.SocketErrors, wu.Sockets
	}
	if m.loadResult, err = b.loader.run(ctx, s.spec, base, b.o.duration); err != nil {
		return m, fmt.Errorf("%s: %w", s.name, err)
	}
	mem, err := p.Memory()
	if err != nil {
		return m, err
	}
	m.PeakRSSBytes = mem.HWM
	if m.failed() {
		m.ErrorSample = sample(ctx, base, s.fx)
	}
	if err := p.Stop(); err != nil {
		return m, err
	}
	fmt.Fprintf(b.log, "  %.0f req/s, p99 %.2f ms, peak RSS %.1f MiB%s\n", m.RPS, m.P99MS, mib(m.PeakRSSBytes), errorNote(m))
	if m.ErrorSample != "" {
		fmt.Fprintf(b.log, "  a request after the run: %s\n", m.ErrorSample)
	}
	return m, nil
}

// errorNote flags a measurement with errors in the progress log.
func errorNote(m measurement) string {
	if !m.failed() {
		return ""
	}
	return fmt.Sprintf("  *** %d non-2xx, %d socket errors (%v; warm-up included) ***", m.non2xx(), m.socketErrors(),
		m.Sockets.add(m.WarmupSockets))
}

// newResults starts the results with what is known before measuring.
func (b *bench) newResults() *results {
	res := &results{
		GeneratedAt: time.Now().UTC().Truncate(time.Second),
		Command:     b.command,
		Machine:     machine(b.pgVer),
		Method: method{
			Rounds: b.o.rounds, DurationS: b.o.duration.Seconds(), WarmupS: b.o.warmup.Seconds(),
			Connections: b.o.connections, Jobs: b.o.jobs, Mix: b.mix, LoadGenerator: b.loader.describe(),
			Pinned: b.pinned, ServerCPU: b.o.serverCPU, LoadCPU: b.o.loadCPU, ServeFlags: b.o.serveFlags, PolyjobsEnv: polyjobsEnv, Nice: b.o.nice,
		},
		Skipped: b.skipped,
	}
	for _, s := range b.servers {
		res.Method.Servers = append(res.Method.Servers, s.name)
	}
	return res
}
