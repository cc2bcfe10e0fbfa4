//go:build linux

// Command polybench measures polyjobs under load. Each measurement is a
// scenario, run as a subcommand from the repository root:
//
//	go run ./bench/cmd/polybench load [flags]   make bench-load: baseline vs polyjobs on SQLite and
//	                                            PostgreSQL under wrk; rewrites BENCHMARKS.md
//	go run ./bench/cmd/polybench soak [flags]   make soak: open-loop load at 80 % of capacity while
//	                                            jobs change; writes bench/results/soak.{json,md}
//	go run ./bench/cmd/polybench waiters [...]  10,000 held long-polls on one process, the end of
//	                                            make bench-load, alone; writes nothing
//	go run ./bench/cmd/polybench SCENARIO -h    its flags
//
// The scenarios share a kit (kit.go): building the programs, a fresh SQLite
// or PostgreSQL database seeded through server/store/database, the server
// processes (internal/proctest), placing them on CPUs, and the machine's
// description. They share the load generator (generator.go), its histograms,
// the exact check of every answer (check.go) and the reports (report.go). A
// new scenario is one more entry in scenarios.
//
// A scenario that runs but fails its checks exits with status 1 after its
// summary; one that cannot run says why and exits with status 1 too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// scenario is one measurement: a subcommand with flags of its own.
type scenario struct {
	name, summary string
	// setup declares the scenario's flags on fs and returns what runs the
	// scenario once they are parsed.
	setup func(fs *flag.FlagSet) func(ctx context.Context, k *kit) error
}

// scenarios are the subcommands, in the order of the usage message.
var scenarios = []scenario{
	{"load", "baseline vs polyjobs on SQLite and PostgreSQL under wrk; rewrites BENCHMARKS.md", setupLoad},
	{"soak", "open-loop load at a fraction of capacity while jobs change; writes bench/results/soak.*", setupSoak},
	{"waiters", "held long-polls on SQLite (load runs it after its rounds); prints its figures, writes nothing", setupWaiters},
}

// errFailed reports a scenario that ran and failed its checks; its summary
// says why.
var errFailed = errors.New("FAIL")

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var sc *scenario
	for i := range scenarios {
		if scenarios[i].name == os.Args[1] {
			sc = &scenarios[i]
		}
	}
	if sc == nil {
		usage()
	}
	fs := flag.NewFlagSet("polybench "+sc.name, flag.ExitOnError)
	k := &kit{log: os.Stderr, out: os.Stdout, command: strings.Join(append([]string{"go run ./bench/cmd/polybench"}, os.Args[1:]...), " ")}
	fs.BoolVar(&k.keep, "keep", false, "keep the temporary directory (binaries, databases)")
	run := sc.setup(fs)
	_ = fs.Parse(os.Args[2:]) // ExitOnError
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "polybench %s: unexpected arguments %q\n", sc.name, fs.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, k)
	stop()
	k.close()
	switch {
	case errors.Is(err, errFailed):
		os.Exit(1)
	case err != nil:
		fmt.Fprintf(os.Stderr, "polybench %s: %v\n", sc.name, err)
		os.Exit(1)
	}
}

// usage lists the scenarios and exits with status 2.
func usage() {
	fmt.Fprintln(os.Stderr, "usage: go run ./bench/cmd/polybench SCENARIO [flags]   (from the repository root)\n\nscenarios:")
	for _, sc := range scenarios {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", sc.name, sc.summary)
	}
	os.Exit(2)
}
