//go:build linux

// Command loadbench is `make bench-load`: a side-by-side HTTP load benchmark
// of GET /api/jobs/{type}/{id} on three servers,
//
//   - baseline: bare echo v4 serving the same jobs from a map (bench/baseline),
//     the practical limit of the stack and the denominator of every ratio;
//   - polyjobs-sqlite: `polyjobs serve` on a fresh SQLite database;
//   - polyjobs-postgres: `polyjobs serve` on PostgreSQL (a throwaway server
//     started from the system binaries, or a database created on the server
//     named by POLYJOBS_BENCH_POSTGRES; skipped loudly when there is neither).
//
// It builds the binaries fresh, seeds the jobs with `polyjobs admin`, then runs
// interleaved rounds (baseline, sqlite, postgres, baseline, ...). In each round
// every server is started anew, pinned to one core, checked (every job must
// come back 200 with the expected body), warmed up, and loaded by wrk pinned
// to the other core with a fixed number of keep-alive connections for a fixed
// time. It prints a table per round and a summary with each server's ratio to
// the baseline of the same round, marks the targets PASS or FAIL, and writes
// bench/results/latest.json and BENCHMARKS.md.
//
// Any non-2xx response or socket error fails the run (exit status 1) and
// leaves the result files untouched. Targets are reported, not enforced,
// unless -strict is given.
//
//	go run ./bench/cmd/loadbench -rounds 5 -duration 10s
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
)

// options are the command-line flags.
type options struct {
	rounds      int
	duration    time.Duration
	warmup      time.Duration
	connections int
	jobs        int
	loadgen     string // auto, wrk or go
	serverCPU   string
	loadCPU     string
	nice        int
	postgres    bool
	serveFlags  string
	jsonOut     bool
	write       bool
	strict      bool
	keep        bool
}

// errFailed reports a run whose results are not valid (errors under load).
var errFailed = errors.New("the run failed: see the tables above")

// errTargets reports a valid run that missed a target under -strict.
var errTargets = errors.New("a target was missed (-strict)")

func main() {
	o := parseFlags(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// parseFlags parses args, exiting with status 2 on bad usage.
func parseFlags(args []string) options {
	var o options
	fs := flag.NewFlagSet("loadbench", flag.ExitOnError)
	fs.IntVar(&o.rounds, "rounds", 3, "number of interleaved rounds (at least 1; 3 or more for a meaningful median)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured load per server and round (whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each measured run (whole seconds, 0 for none)")
	fs.IntVar(&o.connections, "connections", 64, "keep-alive connections held by the load generator")
	fs.IntVar(&o.jobs, "jobs", 100, "jobs seeded per database and rotated by the load")
	fs.StringVar(&o.loadgen, "loadgen", "auto", "load generator: wrk, go (bench/cmd/loadgen) or auto (wrk, installed with apt-get if missing, else go)")
	fs.StringVar(&o.serverCPU, "server-cpu", "0", "taskset CPU list of the server under test (and its PostgreSQL); empty: no pinning")
	fs.StringVar(&o.loadCPU, "load-cpu", "1", "taskset CPU list of the load generator; empty: no pinning")
	fs.IntVar(&o.nice, "nice", 0, "niceness of the servers, PostgreSQL and the load generator (negative, as root, to stand out on a shared machine)")
	fs.BoolVar(&o.postgres, "postgres", true, "measure polyjobs on PostgreSQL too")
	fs.StringVar(&o.serveFlags, "serve-flags", "", "extra flags for `polyjobs serve`, space-separated (e.g. to lift a rate limit)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the results as JSON on stdout (the tables go to stderr)")
	fs.BoolVar(&o.write, "write", true, "write bench/results/latest.json and BENCHMARKS.md after a valid run")
	fs.BoolVar(&o.strict, "strict", false, "exit with status 1 when a target is missed")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, databases, server logs)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/cmd/loadbench [flags]   (from the repository root)\n\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(args) // ExitOnError
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(2)
	}
	return o
}

// validate reports flags that cannot work.
func (o options) validate() error {
	switch {
	case o.rounds < 1:
		return errors.New("-rounds must be at least 1")
	case o.duration < time.Second || o.duration%time.Second != 0:
		return errors.New("-duration must be a whole number of seconds, at least 1s")
	case o.warmup < 0 || o.warmup%time.Second != 0:
		return errors.New("-warmup must be a whole number of seconds")
	case o.connections < 1:
		return errors.New("-connections must be at least 1")
	case o.jobs < 1:
		return errors.New("-jobs must be at least 1")
	case o.loadgen != "auto" && o.loadgen != "wrk" && o.loadgen != "go":
		return fmt.Errorf("-loadgen %q: use wrk, go or auto", o.loadgen)
	}
	return nil
}

// run is the whole benchmark. Tables go to stdout, progress to stderr; with
// -json the JSON goes to stdout and the tables to stderr.
func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	tables := stdout
	if o.jsonOut {
		tables = stderr
	}
	b, err := newBench(ctx, o, stderr)
	if b != nil {
		defer b.close()
	}
	if err != nil {
		return err
	}
	res, err := b.measure(ctx, tables)
	if err != nil {
		return err
	}
	printSummary(tables, res)
	if o.jsonOut {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	}
	if !res.OK {
		return errFailed
	}
	if o.write {
		if err := writeResults(b.root, res); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s and %s\n", resultsFile, markdownFile)
	}
	if o.strict && !res.TargetsMet {
		return errTargets
	}
	return nil
}
