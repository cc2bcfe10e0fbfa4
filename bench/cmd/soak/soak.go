//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/harness"
	"github.com/polyjobs/polyjobs/server/store"
)

// soak is what the phases share: the binary, the database and its jobs.
type soak struct {
	o        options
	log      io.Writer
	command  string
	root     string // the repository
	tmp      string // the binary and the SQLite database; removed by close unless -keep
	polyjobs string // the binary
	db       string // --db of the server and the admin commands
	pg       *harness.Postgres
	st       store.Store // the database, opened in this process
	org      uuid.UUID
	key      string
	pool     *pool
	busy     string // the busy-machine warning, if any
}

// run is the whole soak: the summary goes to stdout, progress to stderr. It
// returns errFailed when the soak ran and failed its checks.
func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	s := &soak{o: o, log: stderr, command: strings.TrimSpace("go run ./bench/cmd/soak " + strings.Join(os.Args[1:], " "))}
	defer s.close()
	if err := s.setUp(ctx); err != nil {
		return err
	}
	r, err := s.measure(ctx)
	if err != nil {
		return err
	}
	printReport(stdout, r)
	if o.write {
		if err := writeResults(s.root, r); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s and %s\n", resultsJSON, resultsMarkdown)
	}
	if r.Verdict != verdictPass {
		return errFailed
	}
	return nil
}

// setUp builds polyjobs, creates the database and seeds it.
func (s *soak) setUp(ctx context.Context) error {
	var err error
	if s.root, err = harness.RepoRoot(); err != nil {
		return err
	}
	if s.tmp, err = os.MkdirTemp("", "soak-"); err != nil {
		return err
	}
	s.busy = warnIfBusy(s.log)
	s.polyjobs = filepath.Join(s.tmp, "polyjobs")
	fmt.Fprintln(s.log, "building ./cmd/polyjobs")
	if err := harness.Build(ctx, s.root, "./cmd/polyjobs", s.polyjobs); err != nil {
		return err
	}
	s.db = filepath.Join(s.tmp, "soak.db")
	if s.o.db == "postgres" {
		fmt.Fprintln(s.log, "starting PostgreSQL")
		if s.pg, err = harness.OpenPostgres(ctx, "soak", nil); err != nil {
			return fmt.Errorf("-db postgres: %w", err)
		}
		s.db = s.pg.DSN
	}
	if s.org, s.key, err = createTenant(ctx, s.polyjobs, s.db); err != nil {
		return err
	}
	if s.st, err = openStore(ctx, s.o.db, s.db); err != nil {
		return err
	}
	fmt.Fprintf(s.log, "seeding %d jobs\n", s.o.jobs)
	jobs, err := seedJobs(ctx, s.st, s.org, s.o.jobs)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	s.pool = newPool(jobs)
	return nil
}

// close releases the store, PostgreSQL and the temporary directory.
func (s *soak) close() {
	if s.st != nil {
		s.st.Close()
	}
	if s.pg != nil {
		if err := s.pg.Close(); err != nil {
			fmt.Fprintf(s.log, "soak: PostgreSQL cleanup: %v\n", err)
		}
	}
	if s.tmp == "" {
		return
	}
	if s.o.keep {
		fmt.Fprintf(s.log, "kept %s\n", s.tmp)
		return
	}
	os.RemoveAll(s.tmp)
}

// measure measures capacity (unless -rate), then soaks and reports.
func (s *soak) measure(ctx context.Context) (*report, error) {
	r := s.newReport()
	target := s.o.rate
	if target == 0 {
		c, err := s.measureCapacity(ctx)
		if err != nil {
			return nil, err
		}
		r.Capacity, target = c, c.RPS*s.o.load
		if target < 1 {
			return nil, fmt.Errorf("capacity measured at %.1f req/s: too little to soak", c.RPS)
		}
	}
	r.TargetRPS = target
	if err := s.soakAt(ctx, r); err != nil {
		return nil, err
	}
	r.Machine.LoadAvgEnd, _ = harness.LoadAverage()
	r.judge()
	return r, nil
}

// newReport starts the report with what is known before measuring.
func (s *soak) newReport() *report {
	r := &report{
		GeneratedAt: time.Now().UTC().Truncate(time.Second),
		Command:     s.command,
		DB:          s.o.db,
		Machine:     machine(),
		Settings: settings{
			DurationS: s.o.duration.Seconds(), WarmupS: s.o.warmup.Seconds(), Connections: s.o.connections,
			SeededJobs: s.o.jobs, WriterTickMS: writerTick.Milliseconds(), TimeoutS: s.o.timeout.Seconds(),
			ValidateEvery: validateEvery, RSSEveryS: rssEvery.Seconds(), RSSTolerance: rssTolerance, ServerEnv: polyjobsEnv,
		},
	}
	if s.o.rate > 0 {
		r.Settings.FixedRate = s.o.rate
	} else {
		r.Settings.LoadFraction, r.Settings.CapacityS = s.o.load, s.o.capacity.Seconds()
	}
	if s.pg != nil {
		r.Machine.Postgres = s.pg.Version
	}
	if s.busy != "" {
		r.Warnings = append(r.Warnings, s.busy)
	}
	return r
}
