//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// measureCapacity runs the closed-loop load on a server of its own and
// returns its throughput. Any failed request stops the soak.
func (s *soak) measureCapacity(ctx context.Context) (*capacity, error) {
	fmt.Fprintf(s.log, "capacity: closed loop, %d connections, %v (after %v unmeasured)\n", s.o.connections, s.o.capacity, capacityLead)
	srv, err := startServer(ctx, "polyjobs (capacity run)", s.polyjobs, s.db, s.key, s.pool)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	tl := newTimeline(time.Now().Add(100*time.Millisecond), capacityLead, s.o.capacity, s.o.capacity)
	errs := &tally{}
	newGenerator(srv.api, s.key, s.pool, tl, errs, s.o.timeout).run(ctx, s.o.connections, schedule{})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := srv.Stop(); err != nil {
		return nil, err
	}
	if n := errs.total(); n > 0 {
		kinds, samples := errs.snapshot()
		return nil, fmt.Errorf("capacity run: %d requests failed (%s):\n  %s", n, kindsString(kinds), strings.Join(samples, "\n  "))
	}
	w := tl.total()
	c := &capacity{DurationS: s.o.capacity.Seconds(), Connections: s.o.connections, Requests: w.ok.Load(),
		RPS: float64(w.ok.Load()) / s.o.capacity.Seconds(), Latency: latencyOf(&w.hist)}
	fmt.Fprintf(s.log, "  %.0f req/s, p50 %s, p99 %s\n", c.RPS, ms(c.Latency.P50MS), ms(c.Latency.P99MS))
	return c, nil
}

// errServerExited is the cause of a soak stopped by the server's exit.
var errServerExited = errors.New("the server exited during the soak")

// soakAt starts a fresh server and, with the writer running throughout,
// warms it up (lowering the rate while the load cannot keep up with it, when
// the rate came from the capacity run), soaks it while sampling its memory,
// then checks every job and stops the server, filling r.
func (s *soak) soakAt(ctx context.Context, r *report) error {
	srv, err := startServer(ctx, "polyjobs", s.polyjobs, s.db, s.key, s.pool)
	if err != nil {
		return err
	}
	defer srv.Stop()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-srv.Exited():
			cancel(fmt.Errorf("%w: %w", errServerExited, srv.ExitedError()))
		case <-runCtx.Done():
		}
	}()
	wr := newWriter(s.st, s.org, s.pool)
	writerCtx, stopWriter := context.WithCancel(runCtx)
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); wr.run(writerCtx) }()

	errs := &tally{}
	r.TargetRPS = s.warmUp(runCtx, srv, r, errs)
	fmt.Fprintf(s.log, "soak: open loop at %.0f req/s, %d connections, for %v; job changes every %v\n",
		r.TargetRPS, s.o.connections, s.o.duration, writerTick)
	tl := newTimeline(time.Now().Add(100*time.Millisecond), 0, s.o.duration, time.Minute)
	gen := newGenerator(srv.api, s.key, s.pool, tl, errs, s.o.timeout)
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		if runCtx.Err() == nil {
			gen.run(runCtx, s.o.connections, schedule{origin: tl.origin, rate: r.TargetRPS})
		}
	}()
	sampler := &memSampler{srv: srv, tl: tl, errs: errs, log: s.log}
	sampleErr := sampler.run(runCtx, loadDone)
	<-loadDone
	stopWriter()
	<-writerDone
	cause := context.Cause(runCtx)
	cancel(nil) // the server may stop now
	switch {
	case ctx.Err() != nil:
		return errors.New("interrupted")
	case cause != nil:
		return cause
	case sampleErr != nil:
		return sampleErr
	}

	fmt.Fprintln(s.log, "checking every job once more")
	n, err := verifyAll(ctx, srv.baseURL(), s.key, wr.every)
	if err != nil {
		r.Reasons = append(r.Reasons, "final check: "+err.Error())
	}
	r.FinalCheckJobs = n
	if err := srv.Stop(); err != nil {
		r.Reasons = append(r.Reasons, "the server did not stop cleanly: "+err.Error())
	}
	fillLoad(r, tl, errs, gen)
	fillMemory(r, sampler)
	fillWriter(r, wr, s.pool)
	lines, warns, logErrs, notices := srv.out.counts()
	r.ServerLog = serverLog{Lines: lines, Warnings: warns, Errors: logErrs, Notices: notices}
	return nil
}

// warmUp runs the warm-up at r.TargetRPS and returns the rate to soak at.
// Each attempt ramps the rate up from zero over its first half and holds it
// over its second half. When the load fell behind its schedule there (the
// server, or the machine it shares with the load, cannot sustain the rate)
// and the rate came from the capacity run, the next attempt runs at
// lowerBy times the rate, up to maxWarmups attempts. -warmup 0 skips it all.
func (s *soak) warmUp(ctx context.Context, srv *server, r *report, errs *tally) float64 {
	rate := r.TargetRPS
	for attempt := 1; s.o.warmup > 0 && ctx.Err() == nil; attempt++ {
		fmt.Fprintf(s.log, "warm-up %d: open loop, ramping up to %.0f req/s over %v, then holding it for %v\n",
			attempt, rate, s.ramp(), s.o.warmup-s.ramp())
		w := s.warmUpOnce(ctx, srv, rate, errs)
		r.Warmups = append(r.Warmups, w)
		fmt.Fprintf(s.log, "  held %.0f req/s: %s behind schedule at p90, latency p50 %s, p99 %s\n",
			w.AchievedRPS, ms(w.LagP90MS), ms(w.Latency.P50MS), ms(w.Latency.P99MS))
		if w.KeptUp || ctx.Err() != nil {
			break
		}
		if r.Capacity == nil || attempt == maxWarmups {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the load could not keep up with %.0f req/s in the warm-up "+
				"(p90 %s behind schedule): the soak's latency counts that wait", rate, ms(w.LagP90MS)))
			break
		}
		rate *= lowerBy
		fmt.Fprintf(s.log, "  *** the load fell behind: lowering the rate to %.0f req/s (%.0f %% of capacity) ***\n",
			rate, 100*rate/r.Capacity.RPS)
	}
	return rate
}

// ramp is how long a warm-up takes to reach its rate.
func (s *soak) ramp() time.Duration { return time.Duration(float64(s.o.warmup) * rampFraction) }

// warmUpOnce runs one warm-up attempt at rate and reports its held part.
func (s *soak) warmUpOnce(ctx context.Context, srv *server, rate float64, errs *tally) warmup {
	ramp, hold := s.ramp(), s.o.warmup-s.ramp()
	tl := newTimeline(time.Now().Add(100*time.Millisecond), ramp, hold, hold)
	gen := newGenerator(srv.api, s.key, s.pool, tl, errs, s.o.timeout)
	gen.run(ctx, s.o.connections, schedule{origin: tl.origin, rate: rate, ramp: ramp})
	held := tl.total()
	lagP90 := held.lag.quantile(0.9)
	return warmup{TargetRPS: rate, Requests: tl.attempts(), Errors: held.errs.Load() + tl.warm.errs.Load(),
		AchievedRPS: float64(held.attempts()) / hold.Seconds(), LagP90MS: msOf(lagP90),
		Latency: latencyOf(&held.hist), KeptUp: lagP90 <= maxLag}
}

// fillLoad puts the soak's load figures into r.
func fillLoad(r *report, tl *timeline, errs *tally, gen *generator) {
	total := tl.total()
	r.Requests = total.attempts()
	r.AchievedRPS = float64(r.Requests) / tl.measured().Seconds()
	r.Latency = latencyOf(&total.hist)
	r.LagP90MS = msOf(total.lag.quantile(0.9))
	for _, w := range r.Warmups {
		r.WarmupRequests += w.Requests
	}
	r.Errors = errs.total()
	r.ErrorKinds, r.ErrorSamples = errs.snapshot()
	r.BodiesValidated = gen.validated.Load()
	for i, w := range tl.windows {
		r.Minutes = append(r.Minutes, minuteRow{Minute: i + 1, Seconds: w.length.Seconds(), Requests: w.attempts(),
			RPS: float64(w.attempts()) / w.length.Seconds(), Errors: w.errs.Load(), latency: latencyOf(&w.hist),
			LagP90MS: msOf(w.lag.quantile(0.9))})
	}
}

// fillMemory puts the memory samples into r.
func fillMemory(r *report, m *memSampler) {
	r.RSS, r.PeakRSSBytes = m.samples, m.peak
	if len(m.samples) > 0 {
		r.RSSStartBytes = m.samples[0].RSSBytes
		r.RSSEndBytes = m.samples[len(m.samples)-1].RSSBytes
	}
}

// fillWriter puts what the writer did into r.
func fillWriter(r *report, wr *writer, p *pool) {
	kinds, samples := wr.errs.snapshot()
	r.Writer = writerSummary{Ticks: wr.ticks, Created: wr.creates, Started: wr.starts, Done: wr.finishes, Failed: wr.fails,
		Retired: wr.retired, Errors: wr.errs.total(), ErrorKinds: kinds, ErrorSamples: samples, Jobs: len(wr.every),
		PoolAtEnd: len(p.all()), MixAtEnd: p.mix()}
}
