//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/polyjobs/polyjobs/internal/proctest"
)

// The load scenario (make bench-load) measures GET /api/jobs/{type}/{id} on
// three servers side by side: the baseline (bench/baseline: bare echo serving
// the same jobs from a map, the denominator of every ratio), polyjobs on a
// fresh SQLite database, and polyjobs on PostgreSQL (skipped loudly without
// one). It builds the binaries, seeds the jobs through the store, counts the
// allocations of the full handler chain (BenchmarkGetJob), then runs
// interleaved rounds: in each, every server is started anew pinned to one
// CPU, checked (every job must come back exactly), warmed up and loaded by
// wrk pinned to the other CPU. It prints the summary and writes BENCHMARKS.md
// and bench/results/latest.json. Any non-2xx response or socket error fails
// the run and leaves those files untouched; targets are reported, not
// enforced, unless -strict is given. After the rounds it runs the waiters
// scenario (waiters.go), whose figures the same files report.

// Names of the servers under test, in the order of each round.
const (
	nameBaseline = "baseline"
	nameSQLite   = "polyjobs-sqlite"
	namePostgres = "polyjobs-postgres"
)

// loadMix is the statuses of the seeded jobs, in turn: 100 jobs give 33
// running, 34 done and 33 created.
var loadMix = []string{"running", "done", "created"}

// loadOptions are the flags of the load scenario; the waiters scenario
// shares those that declare declares.
type loadOptions struct {
	rounds, connections, jobs, nice int
	duration, warmup                time.Duration
	serverCPU, loadCPU, serveFlags  string
	postgres, allocs, write, strict bool
	waiters                         waitersOptions
}

func setupLoad(fs *flag.FlagSet) func(context.Context, *kit) error {
	o := &loadOptions{}
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds (3 or more for a meaningful median)")
	fs.BoolVar(&o.postgres, "postgres", true, "measure polyjobs on PostgreSQL too")
	fs.BoolVar(&o.allocs, "allocs", true, "count the allocations of the handler chain (go test -bench BenchmarkGetJob ./server)")
	fs.BoolVar(&o.write, "write", true, "write "+resultsFile+" and "+markdownFile+" after a valid run")
	o.declare(fs, "after the rounds, the waiters scenario with this many held requests (0: skip it)")
	return func(ctx context.Context, k *kit) error {
		if o.rounds < 1 {
			return errors.New("-rounds must be at least 1")
		}
		if err := o.validate(); err != nil {
			return err
		}
		return runLoad(ctx, k, o)
	}
}

// setupWaiters runs the waiters scenario alone, as the load scenario runs it
// after its rounds, and only prints its summary: the reports are those of a
// whole load run.
func setupWaiters(fs *flag.FlagSet) func(context.Context, *kit) error {
	o := &loadOptions{}
	o.declare(fs, "requests held at once")
	return func(ctx context.Context, k *kit) error {
		if o.waiters.waiters < 1 {
			return errors.New("-waiters must be at least 1")
		}
		if err := o.validate(); err != nil {
			return err
		}
		return runLoad(ctx, k, o)
	}
}

// declare declares the flags the load and waiters scenarios share; waiters
// is the help of -waiters.
func (o *loadOptions) declare(fs *flag.FlagSet, waiters string) {
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured load per server and round (whole seconds); the waiters' runs outlast one -wait")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each measured run (whole seconds, 0 for none)")
	fs.IntVar(&o.connections, "connections", 64, "keep-alive connections held by wrk")
	fs.IntVar(&o.jobs, "jobs", 100, "jobs seeded per database and rotated by the load")
	fs.StringVar(&o.serverCPU, "server-cpu", "0", "taskset CPU list of the server under test (and its PostgreSQL); empty: no pinning")
	fs.StringVar(&o.loadCPU, "load-cpu", "1", "taskset CPU list of wrk (and of the waiters); empty: no pinning")
	fs.IntVar(&o.nice, "nice", 0, "niceness of the servers, PostgreSQL and wrk (negative, as root, to stand out on a shared machine)")
	fs.StringVar(&o.serveFlags, "serve-flags", "", "extra flags for `polyjobs serve`, space-separated")
	fs.BoolVar(&o.strict, "strict", false, "exit with status 1 when a target is missed")
	o.waiters.declare(fs, waiters)
}

// validate reports shared flags that cannot work.
func (o *loadOptions) validate() error {
	switch {
	case o.connections < 1 || o.jobs < 1:
		return errors.New("-connections and -jobs must be at least 1")
	case o.duration < time.Second || o.duration%time.Second != 0 || o.warmup < 0 || o.warmup%time.Second != 0:
		return errors.New("-duration and -warmup must be whole numbers of seconds, -duration at least 1s")
	}
	return o.waiters.validate()
}

// loadServer is one server under test.
type loadServer struct {
	name   string
	start  func(ctx context.Context) (*proctest.Process, string, error) // the process and its base URL
	pool   *pool
	key    string
	script string // wrk's
}

// load is the state of a load run.
type load struct {
	*kit
	o        *loadOptions
	polyjobs string // the binary
	wrk      *wrk
	servers  []*loadServer
	server   placement // of the servers under test and PostgreSQL
	res      *loadResults
	// openFiles is the open-file limit raised for the waiters scenario.
	openFiles uint64
	// selfPinned is set once pinSelf has moved this process.
	selfPinned bool
}

// runLoad is the whole load scenario.
func runLoad(ctx context.Context, k *kit, o *loadOptions) (err error) {
	l := &load{kit: k, o: o, server: placement{o.serverCPU, o.nice}}
	l.res = &loadResults{GeneratedAt: time.Now().UTC().Truncate(time.Second), Command: k.command, Machine: describeMachine(),
		Skipped: map[string]string{}, Method: loadMethod{Rounds: o.rounds, DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(),
			Connections: o.connections, Jobs: o.jobs, ServeFlags: o.serveFlags, PolyjobsEnv: polyjobsEnv, Nice: o.nice}}
	gen := l.place()
	busyWarning(k.log)
	if o.waiters.waiters > 0 { // before the rounds, to fail fast
		if l.openFiles, err = raiseOpenFiles(o.waiters.waiters, o.connections); err != nil {
			return err
		}
	}
	if l.wrk, err = newWrk(ctx, k.log, o.connections, gen); err != nil {
		return err
	}
	l.res.Method.LoadGenerator = l.wrk.describe()
	if l.polyjobs, err = l.build(ctx, "./cmd/polyjobs"); err != nil {
		return err
	}
	if o.rounds > 0 {
		if err := l.runRounds(ctx); err != nil {
			return err
		}
	}
	if o.waiters.waiters > 0 {
		if l.res.Waiters, err = l.runWaiters(ctx); err != nil {
			return fmt.Errorf("waiters: %w", err)
		}
	}
	l.res.Machine.LoadAvgEnd, _ = loadAverage()
	l.res.finish()
	if err := render(k.out, "summary", l.res); err != nil {
		return err
	}
	switch {
	case !l.res.OK:
		fmt.Fprintln(k.out, "\n*** INVALID RUN: some responses were not 2xx or had socket errors; the numbers above are not results. ***")
		return errFailed
	case o.write:
		if err := l.res.write(); err != nil {
			return err
		}
		fmt.Fprintf(k.log, "wrote %s and %s\n", resultsFile, markdownFile)
	}
	if o.strict && !l.res.TargetsMet {
		return errors.New("a target was missed (-strict)")
	}
	return nil
}

// runRounds sets the servers up, counts the allocations and runs the rounds.
func (l *load) runRounds(ctx context.Context) (err error) {
	if err := l.setUpServers(ctx); err != nil {
		return err
	}
	if l.o.allocs {
		fmt.Fprintln(l.log, "counting allocations: go test -bench BenchmarkGetJob ./server")
		if l.res.Allocs, err = measureAllocs(ctx); err != nil {
			return err
		}
	}
	if err := l.pinSelf(); err != nil {
		return err
	}
	for r := 1; r <= l.o.rounds; r++ {
		rd := round{Round: r}
		for _, s := range l.servers {
			fmt.Fprintf(l.log, "round %d/%d: %s\n", r, l.o.rounds, s.name)
			m, err := l.measure(ctx, s)
			if err != nil {
				return fmt.Errorf("round %d: %w", r, err)
			}
			rd.Results = append(rd.Results, m)
		}
		rd.computeRatios()
		l.res.Rounds = append(l.res.Rounds, rd)
	}
	return nil
}

// pinSelf moves this process, which reads the servers' output (the access
// log of every request) and holds the waiters, to the load CPU with wrk, so
// that it never takes the CPU of the server under test. It stays there, and
// the threads it starts later start there: what follows is measurement.
func (l *load) pinSelf() error {
	if !l.res.Method.Pinned || l.selfPinned {
		return nil
	}
	if err := pinProcess(l.res.Method.LoadCPU); err != nil {
		return fmt.Errorf("pin polybench to CPU %s: %w", l.res.Method.LoadCPU, err)
	}
	l.selfPinned = true
	return nil
}

// place decides where the servers and wrk run, turning pinning off, loudly,
// when taskset or a second CPU is missing, and returns wrk's placement. It
// gives our autogroup the niceness of -nice: with autogroup scheduling the
// kernel first shares the CPUs between sessions, and a process's niceness
// only counts within its session.
func (l *load) place() placement {
	m := &l.res.Method
	switch _, err := exec.LookPath("taskset"); {
	case l.o.serverCPU == "" && l.o.loadCPU == "":
		fmt.Fprintln(l.log, "*** pinning disabled (-server-cpu and -load-cpu are empty): server and load share the CPUs ***")
	case err != nil:
		fmt.Fprintln(l.log, "*** taskset not found (Debian package util-linux): server and load are NOT pinned ***")
	case runtime.NumCPU() < 2:
		fmt.Fprintln(l.log, "*** a single CPU: server and load are NOT pinned ***")
	default:
		m.Pinned, m.ServerCPU, m.LoadCPU = true, l.o.serverCPU, l.o.loadCPU
	}
	l.server.cpus = m.ServerCPU
	if l.o.nice != 0 {
		if err := os.WriteFile("/proc/self/autogroup", []byte(strconv.Itoa(l.o.nice)), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(l.log, "*** -nice: cannot set the niceness of our autogroup: %v ***\n", err)
		}
	}
	return placement{m.LoadCPU, l.o.nice}
}

// setUpServers builds the binaries, seeds SQLite and PostgreSQL and lists the
// servers to measure, each with its wrk script.
func (l *load) setUpServers(ctx context.Context) error {
	baseline, err := l.build(ctx, "./bench/baseline")
	if err != nil {
		return err
	}
	sqlite, err := l.seeded(ctx, nameSQLite, "sqlite")
	if err != nil {
		return err
	}
	m := sqlite.pool.mix()
	l.res.Method.Mix = fmt.Sprintf("%d jobs of one organization, the six types in turn: %d running, %d done (result `%s`), %d created",
		l.o.jobs, m["running"], m["done"], doneResult, m["created"])
	fxPath := filepath.Join(l.tmp, "baseline.json")
	if err := sqlite.pool.fixture(sqlite.key).Save(fxPath); err != nil {
		return err
	}
	base := &loadServer{name: nameBaseline, pool: sqlite.pool, key: sqlite.key}
	base.start = func(ctx context.Context) (*proctest.Process, string, error) {
		addr, err := proctest.FreePorts(1)
		if err != nil {
			return nil, "", err
		}
		p, err := proctest.Start(proctest.Spec{Name: nameBaseline, Argv: l.server.wrap([]string{baseline, "--addr", addr[0], "--fixture", fxPath})})
		if err != nil {
			return nil, "", err
		}
		url := "http://" + addr[0]
		return p, url, p.WaitReady(ctx, proctest.ReadyTimeout, func(ctx context.Context) error {
			return verifyJob(ctx, url, base.key, base.pool.all()[0])
		})
	}
	l.servers = []*loadServer{base, sqlite}
	if !l.o.postgres {
		l.res.Skipped[namePostgres] = "-postgres=false"
	} else if pg, err := l.seeded(ctx, namePostgres, "postgres"); errors.Is(err, errNoPostgres) {
		l.res.Skipped[namePostgres] = err.Error()
		fmt.Fprintf(l.log, "\n*** SKIPPING %s: %v ***\n\n", namePostgres, err)
	} else if err != nil {
		return err
	} else {
		l.servers = append(l.servers, pg)
	}
	for _, s := range l.servers {
		l.res.Method.Servers = append(l.res.Method.Servers, s.name)
		if s.script, err = l.wrk.prepare(l.tmp, s.name, s.pool.fixture(s.key)); err != nil {
			return err
		}
	}
	return nil
}

// seeded returns a polyjobs server on a fresh database of kind, seeded.
func (l *load) seeded(ctx context.Context, name, kind string) (*loadServer, error) {
	db, err := l.openDatabase(ctx, kind, "polybench", l.server.wrap)
	if err != nil {
		return nil, err
	}
	if db.version != "" {
		l.res.Machine.Postgres = db.version
	}
	fmt.Fprintf(l.log, "seeding %s with %d jobs\n", kind, l.o.jobs)
	t, err := seed(ctx, db.dsn, l.o.jobs, loadMix)
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", kind, err)
	}
	t.st.Close()
	s := &loadServer{name: name, pool: newPool(t.jobs), key: t.key}
	s.start = func(ctx context.Context) (*proctest.Process, string, error) {
		srv, err := serve(ctx, name, l.polyjobs, db, l.server, nil, strings.Fields(l.o.serveFlags)...)
		if srv == nil {
			return nil, "", err
		}
		return srv.Process, srv.URL(), err
	}
	return s, nil
}

// measure starts s, checks every job, warms it up, loads it, reads its peak
// RSS and stops it.
func (l *load) measure(ctx context.Context, s *loadServer) (m measurement, err error) {
	m.Server = s.name
	p, url, err := s.start(ctx)
	if p != nil {
		defer func() {
			if serr := p.Stop(stopGrace); err == nil {
				err = serr
			}
		}()
	}
	if err != nil {
		return m, err
	}
	if _, err := verifyAll(ctx, url, s.key, s.pool.all()); err != nil {
		return m, fmt.Errorf("%s answers wrongly: %w", s.name, err)
	}
	if l.o.warmup > 0 {
		wu, err := l.wrk.run(ctx, s.script, url, l.o.warmup)
		if err != nil {
			return m, fmt.Errorf("%s warm-up: %w", s.name, err)
		}
		m.WarmupNon2xx, m.WarmupSocketErrors = wu.Non2xx, wu.SocketErrors
	}
	if m.loadResult, err = l.wrk.run(ctx, s.script, url, l.o.duration); err != nil {
		return m, fmt.Errorf("%s: %w", s.name, err)
	}
	mem, err := p.Memory()
	m.PeakRSSBytes = mem.HWM
	note := ""
	if m.failed() {
		m.ErrorSample = "every job answers exactly again"
		if _, err := verifyAll(ctx, url, s.key, s.pool.all()); err != nil {
			m.ErrorSample = err.Error()
		}
		note = fmt.Sprintf("  *** %d non-2xx, %d socket errors (warm-up included); a check after the run: %s ***",
			m.non2xx(), m.socketErrors(), m.ErrorSample)
	}
	fmt.Fprintf(l.log, "  %.0f req/s, p99 %.2f ms, peak RSS %s%s\n", m.RPS, m.P99MS, mibString(m.PeakRSSBytes), note)
	return m, err
}
