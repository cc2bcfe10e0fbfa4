//go:build linux

// Command soak is `make soak`: a long, steady load on `polyjobs serve` that
// fails on any error and on memory that does not stay flat.
//
//	go run ./bench/cmd/soak -duration 5m [-db sqlite|postgres]
//
// It builds polyjobs fresh, creates a fresh database (a SQLite file, or a
// database on a throwaway PostgreSQL server as bench/cmd/loadbench starts
// one), seeds an organization and a user key with `polyjobs admin` and about
// 200 jobs in every status through the store package, then:
//
//  1. measures capacity: a short closed-loop run (64 keep-alive connections,
//     each sending its next request as soon as the last one is answered) on a
//     server instance of its own, stopped afterwards;
//  2. starts a fresh server and loads it open-loop at a constant arrival rate,
//     80 % of that capacity, rotating over every job: first a warm-up, whose
//     first half ramps the rate up from zero and whose second half checks
//     that the load keeps up with its schedule (if not, the server or the
//     machine it shares with the load cannot sustain the rate, and the
//     warm-up is tried again at 90 % of it, a few times at most); then the
//     soak itself, for -duration. Latency is measured from the time each
//     request was due, so a server falling behind shows as latency, not as a
//     slower sender;
//  3. meanwhile, every 200 ms, creates a job and moves older ones created →
//     running → done or failed, writing to the database directly as a second
//     process would; the load includes the new jobs, and stops asking for the
//     job that ended longest ago, so that its working set keeps its size;
//  4. validates every tenth body exactly (the status must be one the job may
//     be in at that moment) and every job once more at the end;
//  5. samples the server's VmRSS after the warm-up, every 30 s and at the end
//     (a second before the load stops), all under load.
//
// It prints a summary and writes bench/results/soak.json and
// bench/results/soak.md. The soak PASSes when no request failed (anything but
// a 200, socket errors, timeouts and wrong bodies all count), no transition
// failed, and the end RSS is within 10 % of the start RSS. Otherwise it
// FAILs, with exit status 1 (so does a soak that cannot run, or is
// interrupted, without writing the result files).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// options are the command-line flags.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	capacity    time.Duration
	db          string // sqlite or postgres
	connections int
	load        float64 // fraction of the measured capacity
	rate        float64 // fixed target rate; 0 measures capacity
	jobs        int
	timeout     time.Duration
	write       bool
	keep        bool
}

// errFailed reports a soak that ran to its end and failed its checks.
var errFailed = errors.New("FAIL")

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errFailed):
		os.Exit(1) // the summary says why
	case err != nil:
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// parseFlags parses args; usage errors are returned, -h exits.
func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.DurationVar(&o.duration, "duration", 5*time.Minute, "measured soak, after the warm-up")
	fs.DurationVar(&o.warmup, "warmup", 30*time.Second, "warm-up before the soak: a ramp to the target rate, then the rate held (0: none)")
	fs.DurationVar(&o.capacity, "capacity", 10*time.Second, "closed-loop capacity measurement")
	fs.StringVar(&o.db, "db", "sqlite", "database: sqlite or postgres (a throwaway server, or a database on $"+harness.EnvPostgres+")")
	fs.IntVar(&o.connections, "connections", 64, "keep-alive connections, for the capacity run and the soak")
	fs.Float64Var(&o.load, "load", 0.8, "target rate as a fraction of the measured capacity")
	fs.Float64Var(&o.rate, "rate", 0, "target rate in requests per second; skips the capacity run (0: measure)")
	fs.IntVar(&o.jobs, "jobs", 200, "jobs seeded before the soak (more are created during it)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long a response may take before it counts as a timeout error")
	fs.BoolVar(&o.write, "write", true, "write "+resultsJSON+" and "+resultsMarkdown+" after a completed soak, PASS or FAIL")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binary, database)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/cmd/soak [flags]   (from the repository root)\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, o.validate()
}

// validate reports flags that cannot work.
func (o options) validate() error {
	switch {
	case o.duration < time.Second:
		return errors.New("-duration must be at least 1s")
	case o.warmup != 0 && o.warmup < 2*time.Second:
		return errors.New("-warmup must be 0 or at least 2s")
	case o.rate == 0 && o.capacity < time.Second:
		return errors.New("-capacity must be at least 1s")
	case o.db != "sqlite" && o.db != "postgres":
		return fmt.Errorf("-db %q: use sqlite or postgres", o.db)
	case o.connections < 1:
		return errors.New("-connections must be at least 1")
	case o.load <= 0 || o.load > 1:
		return errors.New("-load must be in (0, 1]")
	case o.rate < 0:
		return errors.New("-rate must not be negative")
	case o.jobs < 1:
		return errors.New("-jobs must be at least 1")
	case o.timeout <= 0:
		return errors.New("-timeout must be positive")
	}
	return nil
}
