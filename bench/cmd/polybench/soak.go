//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/proctest"
)

// The soak scenario (make soak) holds a steady load on `polyjobs serve` and
// fails on any error and on memory that does not stay flat. It builds
// polyjobs fresh, seeds a fresh database (SQLite, or PostgreSQL as the load
// scenario starts it) with an organization, a user key and jobs in every
// status, then:
//
//  1. measures capacity: a short closed-loop run on a server instance of its
//     own, stopped afterwards;
//  2. starts a fresh server and loads it open-loop at a constant arrival rate,
//     a fraction (-load) of that capacity, rotating over every job: first a
//     warm-up, whose first half ramps the rate up from zero and whose second
//     half checks that the load keeps up with its schedule (if not, it is
//     tried again at 90 % of the rate, a few times at most); then the soak
//     itself, for -duration. Latency counts from when each request was due,
//     so a server falling behind shows as latency;
//  3. meanwhile, every writerTick, creates a job and moves older ones along
//     their lifecycle through the store, as a second process would; the load
//     picks up new jobs and drops the one that ended longest ago;
//  4. checks one answer in validateEvery exactly (the status must be one the
//     job may be in at that moment) and every job once more at the end;
//  5. samples the server's memory after the warm-up, every rssEvery and at
//     the end (a second before the load stops), all under load.
//
// It PASSes when no request failed (anything but a 200, socket errors,
// timeouts and wrong bodies all count), no job change failed, and the end RSS
// is within rssTolerance of the start's; it writes bench/results/soak.json
// and soak.md either way, once it ran to its end.

// Files the soak scenario (re)writes, relative to the repository root.
const (
	soakJSON     = "bench/results/soak.json"
	soakMarkdown = "bench/results/soak.md"
)

// Settings of the soak.
const (
	rssTolerance  = 0.10                   // how far the end RSS may be from the start RSS, as a fraction
	rssEvery      = 30 * time.Second       // how often the RSS is sampled
	startDelay    = time.Second            // the start sample waits this long into the soak (new connections)
	endLead       = time.Second            // the end sample is taken this long before the load stops
	rateShortfall = 0.95                   // an achieved rate below this fraction of the target is a warning
	rampFraction  = 0.5                    // the share of a warm-up that ramps the rate up
	maxLag        = 20 * time.Millisecond  // the load keeps up when 90 % of requests are sent this soon after due
	lowerBy       = 0.9                    // the factor applied to a rate the load could not keep up with
	maxWarmups    = 4                      // warm-up attempts at most
	capacityLead  = 2 * time.Second        // the unmeasured start of the capacity run
	validateEvery = 10                     // one response in this many is checked exactly
	writerTick    = 200 * time.Millisecond // how often the writer creates a job and moves older ones on
	// lifecycleDepth is how many younger jobs must share a job's status
	// before the writer moves it on.
	lifecycleDepth = 10
)

// soakMix is the statuses of the seeded jobs, in turn.
var soakMix = []string{"created", "running", "done", "failed"}

// soakOptions are the flags of the soak scenario.
type soakOptions struct {
	duration, warmup, capacity, timeout time.Duration
	db                                  string // sqlite or postgres
	connections, jobs                   int
	load, rate                          float64 // fraction of the capacity; fixed rate (0: measure)
	write                               bool
}

func setupSoak(fs *flag.FlagSet) func(context.Context, *kit) error {
	o := &soakOptions{}
	fs.DurationVar(&o.duration, "duration", 5*time.Minute, "measured soak, after the warm-up")
	fs.DurationVar(&o.warmup, "warmup", 30*time.Second, "warm-up before the soak: a ramp to the target rate, then the rate held (0: none)")
	fs.DurationVar(&o.capacity, "capacity", 10*time.Second, "closed-loop capacity measurement")
	fs.StringVar(&o.db, "db", "sqlite", "database: sqlite or postgres (a throwaway server, or a database on $"+envPostgres+")")
	fs.IntVar(&o.connections, "connections", 64, "keep-alive connections, for the capacity run and the soak")
	fs.Float64Var(&o.load, "load", 0.8, "target rate as a fraction of the measured capacity")
	fs.Float64Var(&o.rate, "rate", 0, "target rate in requests per second; skips the capacity run (0: measure)")
	fs.IntVar(&o.jobs, "jobs", 200, "jobs seeded before the soak (more are created during it)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long a response may take before it counts as a timeout error")
	fs.BoolVar(&o.write, "write", true, "write "+soakJSON+" and "+soakMarkdown+" after a completed soak, PASS or FAIL")
	return func(ctx context.Context, k *kit) error {
		if err := o.validate(); err != nil {
			return err
		}
		return runSoak(ctx, k, o)
	}
}

// validate reports flags that cannot work.
func (o *soakOptions) validate() error {
	switch {
	case o.duration < time.Second:
		return errors.New("-duration must be at least 1s")
	case o.warmup != 0 && o.warmup < 2*time.Second:
		return errors.New("-warmup must be 0 or at least 2s")
	case o.rate == 0 && o.capacity < time.Second:
		return errors.New("-capacity must be at least 1s")
	case o.db != "sqlite" && o.db != "postgres":
		return fmt.Errorf("-db %q: use sqlite or postgres", o.db)
	case o.connections < 1 || o.jobs < 1:
		return errors.New("-connections and -jobs must be at least 1")
	case o.load <= 0 || o.load > 1 || o.rate < 0:
		return errors.New("-load must be in (0, 1] and -rate not negative")
	case o.timeout <= 0:
		return errors.New("-timeout must be positive")
	}
	return nil
}

// soak is the state of a soak run.
type soak struct {
	*kit
	o        *soakOptions
	polyjobs string
	db       *benchDB
	t        *tenant
	pool     *pool
	r        *soakReport
}

// runSoak is the whole soak scenario.
func runSoak(ctx context.Context, k *kit, o *soakOptions) (err error) {
	s := &soak{kit: k, o: o, r: newSoakReport(k, o)}
	if w := busyWarning(k.log); w != "" {
		s.r.Warnings = append(s.r.Warnings, w)
	}
	if s.polyjobs, err = k.build(ctx, "./cmd/polyjobs"); err != nil {
		return err
	}
	if s.db, err = k.openDatabase(ctx, o.db, "polybench_soak", nil); err != nil {
		return fmt.Errorf("-db %s: %w", o.db, err)
	}
	s.r.Machine.Postgres = s.db.version
	fmt.Fprintf(k.log, "seeding %d jobs\n", o.jobs)
	if s.t, err = seed(ctx, s.db.dsn, o.jobs, soakMix); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	defer s.t.st.Close()
	s.pool = newPool(s.t.jobs)
	s.r.TargetRPS = o.rate
	if o.rate == 0 {
		if err := s.measureCapacity(ctx); err != nil {
			return err
		}
	}
	if err := s.soakAt(ctx); err != nil {
		return err
	}
	s.r.Machine.LoadAvgEnd, _ = loadAverage()
	s.r.judge()
	if err := render(k.out, "soak-summary", s.r); err != nil {
		return err
	}
	if o.write {
		if err := s.r.write(); err != nil {
			return err
		}
		fmt.Fprintf(k.log, "wrote %s and %s\n", soakJSON, soakMarkdown)
	}
	if s.r.Verdict != verdictPass {
		return errFailed
	}
	return nil
}

// start starts a fresh server and checks every job exactly.
func (s *soak) start(ctx context.Context, name string, log *logStats) (*proctest.Server, error) {
	srv, err := serve(ctx, name, s.polyjobs, s.db, placement{}, log)
	if err != nil {
		return nil, err
	}
	if _, err := verifyAll(ctx, srv.URL(), s.t.key, s.pool.all()); err != nil {
		srv.Kill()
		return nil, fmt.Errorf("%s answers wrongly before any load: %w", name, err)
	}
	return srv, nil
}

// measureCapacity runs the closed loop on a server of its own and sets the
// target rate from its throughput. Any failed request stops the soak.
func (s *soak) measureCapacity(ctx context.Context) error {
	fmt.Fprintf(s.log, "capacity: closed loop, %d connections, %v (after %v unmeasured)\n", s.o.connections, s.o.capacity, capacityLead)
	srv, err := s.start(ctx, "polyjobs (capacity run)", &logStats{})
	if err != nil {
		return err
	}
	defer srv.Kill()
	tl := newTimeline(capacityLead, s.o.capacity, s.o.capacity)
	g := newGenerator(srv.API, s.t.key, s.pool, tl, &tally{}, s.o.timeout, validateEvery)
	g.run(ctx, s.o.connections, schedule{})
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := srv.Stop(stopGrace); err != nil {
		return err
	}
	if f := g.errs.snapshot(); f.Errors > 0 {
		return fmt.Errorf("capacity run: %d requests failed (%s):\n  %s", f.Errors, kindsString(f.ErrorKinds), strings.Join(f.ErrorSamples, "\n  "))
	}
	w := tl.total()
	c := &capacity{DurationS: s.o.capacity.Seconds(), Connections: s.o.connections, Requests: w.ok.Load(),
		RPS: float64(w.ok.Load()) / s.o.capacity.Seconds(), Latency: w.hist.summary()}
	fmt.Fprintf(s.log, "  %.0f req/s, p50 %s, p99 %s\n", c.RPS, ms(c.Latency.P50MS), ms(c.Latency.P99MS))
	s.r.Capacity, s.r.TargetRPS = c, c.RPS*s.o.load
	if s.r.TargetRPS < 1 {
		return fmt.Errorf("capacity measured at %.1f req/s: too little to soak", c.RPS)
	}
	return nil
}

// soakAt starts a fresh server and, with the writer running throughout,
// warms it up, soaks it while sampling its memory, then checks every job and
// stops the server, filling the report.
func (s *soak) soakAt(ctx context.Context) error {
	log := &logStats{}
	srv, err := s.start(ctx, "polyjobs", log)
	if err != nil {
		return err
	}
	defer srv.Kill()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-srv.Exited():
			cancel(fmt.Errorf("the server exited during the soak (%v); the end of its output:\n%s", srv.Err(), srv.Tail()))
		case <-runCtx.Done():
		}
	}()
	wr := newWriter(s.t, s.pool)
	writerCtx, stopWriter := context.WithCancel(runCtx)
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); wr.run(writerCtx) }()

	errs := &tally{}
	s.warmUp(runCtx, srv, errs)
	fmt.Fprintf(s.log, "soak: open loop at %.0f req/s, %d connections, for %v; job changes every %v\n",
		s.r.TargetRPS, s.o.connections, s.o.duration, writerTick)
	tl := newTimeline(0, s.o.duration, time.Minute)
	g := newGenerator(srv.API, s.t.key, s.pool, tl, errs, s.o.timeout, validateEvery)
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		if runCtx.Err() == nil {
			g.run(runCtx, s.o.connections, schedule{origin: tl.origin, rate: s.r.TargetRPS})
		}
	}()
	sampleErr := s.sampleMemory(runCtx, srv, tl, errs, loadDone)
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
	n, err := verifyAll(ctx, srv.URL(), s.t.key, wr.every)
	if err != nil {
		s.r.Reasons = append(s.r.Reasons, "final check: "+err.Error())
	}
	s.r.FinalCheckJobs = n
	if err := srv.Stop(stopGrace); err != nil {
		s.r.Reasons = append(s.r.Reasons, "the server did not stop cleanly: "+err.Error())
	}
	s.r.fill(tl, errs, g, wr, s.pool, log)
	return nil
}

// warmUp runs the warm-up at the target rate and sets the rate to soak at.
// Each attempt ramps the rate up from zero over its first half and holds it
// over its second half. When the load fell behind its schedule there (the
// server, or the machine it shares with the load, cannot sustain the rate)
// and the rate came from the capacity run, the next attempt runs at lowerBy
// times the rate, up to maxWarmups attempts. -warmup 0 skips it all.
func (s *soak) warmUp(ctx context.Context, srv *proctest.Server, errs *tally) {
	ramp := time.Duration(float64(s.o.warmup) * rampFraction)
	hold := s.o.warmup - ramp
	for attempt := 1; s.o.warmup > 0 && ctx.Err() == nil; attempt++ {
		rate := s.r.TargetRPS
		fmt.Fprintf(s.log, "warm-up %d: open loop, ramping up to %.0f req/s over %v, then holding it for %v\n", attempt, rate, ramp, hold)
		tl := newTimeline(ramp, hold, hold)
		g := newGenerator(srv.API, s.t.key, s.pool, tl, errs, s.o.timeout, validateEvery)
		g.run(ctx, s.o.connections, schedule{origin: tl.origin, rate: rate, ramp: ramp})
		held := tl.total()
		lag := held.lag.quantile(0.9)
		w := warmup{TargetRPS: rate, Requests: tl.attempts(), Errors: held.errs.Load() + tl.warm.errs.Load(),
			AchievedRPS: float64(held.attempts()) / hold.Seconds(), LagP90MS: msOf(lag), Latency: held.hist.summary(), KeptUp: lag <= maxLag}
		s.r.Warmups = append(s.r.Warmups, w)
		fmt.Fprintf(s.log, "  held %.0f req/s: %s behind schedule at p90, latency p50 %s, p99 %s\n",
			w.AchievedRPS, ms(w.LagP90MS), ms(w.Latency.P50MS), ms(w.Latency.P99MS))
		switch {
		case w.KeptUp || ctx.Err() != nil:
			return
		case s.r.Capacity == nil || attempt == maxWarmups:
			s.r.Warnings = append(s.r.Warnings, fmt.Sprintf("the load could not keep up with %.0f req/s in the warm-up "+
				"(p90 %s behind schedule): the soak's latency counts that wait", rate, ms(w.LagP90MS)))
			return
		}
		s.r.TargetRPS *= lowerBy
		fmt.Fprintf(s.log, "  *** the load fell behind: lowering the rate to %.0f req/s (%.0f %% of capacity) ***\n",
			s.r.TargetRPS, 100*s.r.TargetRPS/s.r.Capacity.RPS)
	}
}

// sampleMemory samples the server's memory under load: startDelay into the
// measured time, every rssEvery, and endLead before the load stops (closer
// for a soak of a few seconds). It returns an error only when the server's
// memory cannot be read.
func (s *soak) sampleMemory(ctx context.Context, srv *proctest.Server, tl *timeline, errs *tally, loadDone <-chan struct{}) error {
	start := tl.measuredStart()
	endAt := tl.end.Add(-min(endLead, tl.measured()/2))
	at, label := start.Add(min(startDelay, tl.measured()/4)), "start"
	for {
		timer := time.NewTimer(time.Until(at))
		select {
		case <-timer.C:
		case <-loadDone:
			timer.Stop()
			return nil // stopped early: the caller knows why
		case <-ctx.Done():
			timer.Stop()
			return nil
		}
		mem, err := srv.Memory()
		if err != nil {
			return err
		}
		m := memSample{Label: label, AtS: time.Since(start).Round(time.Millisecond).Seconds(), RSSBytes: mem.RSS, AnonBytes: mem.Anon, FileBytes: mem.File}
		s.r.RSS, s.r.PeakRSSBytes = append(s.r.RSS, m), mem.HWM
		fmt.Fprintf(s.log, "  [%s] VmRSS %s (anon %s, file %s); %d requests, %d errors\n",
			label, mibString(m.RSSBytes), mibString(m.AnonBytes), mibString(m.FileBytes), tl.attempts(), errs.snapshot().Errors)
		if label == "end" {
			return nil
		}
		at = start.Add(time.Duration(len(s.r.RSS)) * rssEvery)
		if label = at.Sub(start).String(); !at.Before(endAt) {
			at, label = endAt, "end"
		}
	}
}

// writer keeps jobs moving during the soak, through the store, in this
// process: every tick it creates a job (published to the load once
// committed), starts the oldest created job and ends the oldest running one,
// as done or failed, once lifecycleDepth younger jobs share their status. It
// keeps the pool at its size by withdrawing the job that ended longest ago,
// so that the load's working set stays the same (and memory that grows with
// it is not mistaken for a leak); withdrawn jobs stay in the database.
type writer struct {
	t    *tenant
	pool *pool
	size int // the pool's size to keep
	seq  int // sequence number of the next job: its type and outcome in turn

	queues [3][]*job // created, running and ended jobs, oldest first
	every  []*job    // every job, withdrawn or not, for the final check
	errs   tally
	// counts of committed changes and withdrawn jobs; read once run has returned
	ticks, creates, starts, finishes, fails, retired int64
}

// newWriter returns a writer that moves the jobs of p, oldest first.
func newWriter(t *tenant, p *pool) *writer {
	w := &writer{t: t, pool: p, size: len(p.all()), seq: len(p.all()), every: slices.Clone(p.all())}
	for _, j := range p.all() {
		r := j.committed.Load()
		w.queues[r] = append(w.queues[r], j)
	}
	return w
}

// run steps every writerTick until ctx is done. A step under way when ctx is
// done is finished: its store calls have their own timeouts.
func (w *writer) run(ctx context.Context) {
	t := time.NewTicker(writerTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.step(ctx)
		}
	}
}

// step creates one job, moves the oldest created and running jobs on once
// their queues are deep enough, and keeps the pool at its size.
func (w *writer) step(ctx context.Context) {
	w.ticks++
	types := api.JobTypeValues()
	if j, err := w.t.create(ctx, string(types[w.seq%len(types)]), plannedFailure(w.seq)); err != nil {
		w.errs.add("create", "%v", err)
	} else {
		w.pool.add(j)
		w.queues[rankCreated] = append(w.queues[rankCreated], j)
		w.every = append(w.every, j)
		w.creates++
	}
	w.seq++
	for _, from := range []int32{rankCreated, rankRunning} {
		if len(w.queues[from]) <= lifecycleDepth {
			continue
		}
		j := w.queues[from][0]
		w.queues[from] = w.queues[from][1:]
		if err := w.t.advance(ctx, j, from+1); err != nil {
			w.errs.add([]string{"start", "end"}[from], "%v", err)
			continue
		}
		w.queues[from+1] = append(w.queues[from+1], j)
		switch {
		case from == rankCreated:
			w.starts++
		case j.fails:
			w.fails++
		default:
			w.finishes++
		}
	}
	for len(w.pool.all()) > w.size && len(w.queues[rankTerminal]) > 0 {
		if w.pool.retire(w.queues[rankTerminal][0]) {
			w.retired++
		}
		w.queues[rankTerminal] = w.queues[rankTerminal][1:]
	}
}
