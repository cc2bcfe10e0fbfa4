//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// Names of the servers under test, in the order of each round.
const (
	nameBaseline = "baseline"
	nameSQLite   = "polyjobs-sqlite"
	namePostgres = "polyjobs-postgres"
)

// server is one server under test.
type server struct {
	name string
	argv func(addr string) []string
	env  []string // added to harness.ServerEnv()
	fx   *fixture.Fixture
	spec string // the load generator's prepared file for fx
}

// bench is what the rounds share: binaries, seeded databases, the load
// generator and the servers to measure.
type bench struct {
	o       options
	log     io.Writer
	root    string // the repository
	tmp     string // binaries, databases, logs; removed by close unless -keep
	loader  loader
	servers []*server
	skipped map[string]string
	pg      *harness.Postgres
	mix     string
	pinned  bool
	pgVer   string // PostgreSQL's version, when measured
	command string // the command line, for the report
}

// newBench builds the binaries and seeds the databases. The returned bench,
// even with an error, must be closed.
func newBench(ctx context.Context, o options, log io.Writer) (*bench, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, log: log, root: root, skipped: map[string]string{},
		command: strings.TrimSpace("go run ./bench/cmd/loadbench " + strings.Join(os.Args[1:], " "))}
	if b.tmp, err = os.MkdirTemp("", "loadbench-"); err != nil {
		return nil, err
	}
	b.checkPinning()
	b.setAutogroupNice()
	warnIfBusy(log)
	if err := b.chooseLoader(ctx); err != nil {
		return b, err
	}
	bins, err := b.build(ctx)
	if err != nil {
		return b, err
	}
	if err := b.setUpServers(ctx, bins); err != nil {
		return b, err
	}
	return b, nil
}

// close stops PostgreSQL and removes the temporary directory.
func (b *bench) close() {
	if b.pg != nil {
		if err := b.pg.Close(); err != nil {
			fmt.Fprintf(b.log, "loadbench: PostgreSQL cleanup: %v\n", err)
		}
	}
	if b.o.keep {
		fmt.Fprintf(b.log, "kept %s\n", b.tmp)
		return
	}
	os.RemoveAll(b.tmp)
}

// checkPinning turns pinning off, loudly, when taskset or a second CPU is missing.
func (b *bench) checkPinning() {
	if b.o.serverCPU == "" && b.o.loadCPU == "" {
		fmt.Fprintln(b.log, "*** pinning disabled (-server-cpu and -load-cpu are empty): server and load share the CPUs ***")
		return
	}
	_, err := exec.LookPath("taskset")
	switch {
	case err != nil:
		fmt.Fprintln(b.log, "*** taskset not found (Debian package util-linux): server and load are NOT pinned ***")
	case runtime.NumCPU() < 2:
		fmt.Fprintln(b.log, "*** a single CPU: server and load are NOT pinned ***")
	default:
		b.pinned = true
		return
	}
	b.o.serverCPU, b.o.loadCPU = "", ""
}

// setAutogroupNice gives the harness's autogroup the niceness of -nice. With
// autogroup scheduling (sched_autogroup_enabled), the kernel first shares the
// CPUs between sessions, and a process's own niceness only counts within its
// session: without this, -nice would not put the benchmark ahead of other
// sessions' work. The servers and the load generator are in our session.
func (b *bench) setAutogroupNice() {
	if b.o.nice == 0 {
		return
	}
	if err := os.WriteFile("/proc/self/autogroup", []byte(strconv.Itoa(b.o.nice)), 0); err != nil &&
		!errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(b.log, "*** -nice: cannot set the niceness of our autogroup: %v ***\n", err)
	}
}

// serverPlace is where the servers under test and PostgreSQL run.
func (b *bench) serverPlace() placement { return placement{cpus: b.o.serverCPU, nice: b.o.nice} }

// loadPlace is where the load generator runs.
func (b *bench) loadPlace() placement { return placement{cpus: b.o.loadCPU, nice: b.o.nice} }

// setUpServers seeds SQLite and PostgreSQL and lists the servers to measure.
func (b *bench) setUpServers(ctx context.Context, bins binaries) error {
	sqlite := filepath.Join(b.tmp, "polyjobs.db")
	fx, err := b.seed(ctx, bins.polyjobs, "SQLite", sqlite)
	if err != nil {
		return err
	}
	b.mix = describeMix(fx)
	fxPath := filepath.Join(b.tmp, "baseline-fixture.json")
	if err := fx.Save(fxPath); err != nil {
		return err
	}
	polyjobs := func(db string) func(string) []string {
		return func(addr string) []string {
			argv := []string{bins.polyjobs, "serve", "--addr", addr, "--db", db, "--log-format", "json", "--log-level", "info"}
			return append(argv, strings.Fields(b.o.serveFlags)...)
		}
	}
	b.servers = []*server{
		{name: nameBaseline, fx: fx, argv: func(addr string) []string {
			return []string{bins.baseline, "--addr", addr, "--fixture", fxPath}
		}},
		{name: nameSQLite, fx: fx, argv: polyjobs(sqlite), env: polyjobsEnv},
	}
	if pgServer, err := b.setUpPostgres(ctx, bins.polyjobs, polyjobs); err != nil {
		return err
	} else if pgServer != nil {
		b.servers = append(b.servers, pgServer)
	}
	for _, s := range b.servers {
		if s.spec, err = b.loader.prepare(b.tmp, s.name, s.fx); err != nil {
			return err
		}
	}
	return nil
}

// setUpPostgres opens and seeds a PostgreSQL database; it returns nil, and
// says so loudly, when PostgreSQL cannot be had or -postgres=false.
func (b *bench) setUpPostgres(ctx context.Context, polyjobs string, argv func(string) func(string) []string) (*server, error) {
	if !b.o.postgres {
		b.skipped[namePostgres] = "-postgres=false"
		return nil, nil
	}
	fmt.Fprintln(b.log, "starting PostgreSQL")
	db, err := harness.OpenPostgres(ctx, "loadbench", b.serverPlace().wrap)
	if errors.Is(err, harness.ErrNoPostgres) {
		b.skipped[namePostgres] = err.Error()
		fmt.Fprintf(b.log, "\n*** SKIPPING %s: %v ***\n\n", namePostgres, err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b.pg, b.pgVer = db, db.Version
	fx, err := b.seed(ctx, polyjobs, "PostgreSQL", db.DSN)
	if err != nil {
		return nil, err
	}
	return &server{name: namePostgres, fx: fx, argv: argv(db.DSN), env: polyjobsEnv}, nil
}

// seed creates the jobs of one database, saying how long it took.
func (b *bench) seed(ctx context.Context, polyjobs, what, db string) (*fixture.Fixture, error) {
	fmt.Fprintf(b.log, "seeding %s with %d jobs (polyjobs admin)\n", what, b.o.jobs)
	start := time.Now()
	fx, err := seed(ctx, polyjobs, db, b.o.jobs)
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", what, err)
	}
	fmt.Fprintf(b.log, "  seeded in %v\n", time.Since(start).Round(100*time.Millisecond))
	return fx, nil
}

// polyjobsEnv configures every `polyjobs serve` beyond its flags. The load
// sends thousands of requests per second with one key, which the default
// per-key rate limit (50/s) would answer with 429s; a limit no load here
// reaches keeps the limiter in the request path (its cost is measured) while
// it admits every request. An environment variable rather than --rate: a
// polyjobs without the flag ignores it. -serve-flags overrides it.
var polyjobsEnv = []string{"POLYJOBS_RATE=1000000"}
