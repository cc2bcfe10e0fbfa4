//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/internal/proctest"
	"golang.org/x/sys/unix"
)

// kit is what the scenarios share: the repository, a temporary directory
// for binaries and databases, and what to clean up at the end.
type kit struct {
	log, out io.Writer // progress; the summary
	command  string    // the command line, for the reports
	keep     bool      // -keep: leave the temporary directory
	tmp      string
	cleanups []func()
}

// dir returns the temporary directory, creating it on first use.
func (k *kit) dir() (string, error) {
	if k.tmp != "" {
		return k.tmp, nil
	}
	var err error
	k.tmp, err = os.MkdirTemp("", "polybench-")
	return k.tmp, err
}

// close runs the cleanups, newest first, and removes the temporary directory.
func (k *kit) close() {
	for i := len(k.cleanups) - 1; i >= 0; i-- {
		k.cleanups[i]()
	}
	switch {
	case k.tmp == "":
	case k.keep:
		fmt.Fprintf(k.log, "kept %s\n", k.tmp)
	default:
		os.RemoveAll(k.tmp)
	}
}

// build builds the package pkg of the repository ("./cmd/polyjobs") into the
// temporary directory and returns the binary's path.
func (k *kit) build(ctx context.Context, pkg string) (string, error) {
	dir, err := k.dir()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(k.log, "building %s\n", pkg)
	out := filepath.Join(dir, filepath.Base(pkg))
	return out, proctest.Build(ctx, pkg, out, false)
}

// envPostgres names a postgres:// URL of a server on which a scenario may
// create (and then drop) its database, instead of starting a server.
const envPostgres = "POLYJOBS_BENCH_POSTGRES"

// errNoPostgres means PostgreSQL cannot be had: neither envPostgres nor the
// binaries (or, as root, the postgres user) to start a server.
var errNoPostgres = errors.New("no PostgreSQL")

// benchDB is a fresh database of a scenario.
type benchDB struct {
	kind    string // sqlite or postgres
	dsn     string // the servers' --db
	version string // PostgreSQL's version, "" for SQLite
}

// openDatabase returns a fresh database of kind sqlite (a file in the
// temporary directory) or postgres: on the server of envPostgres, else on a
// throwaway server (internal/pgserver) whose command line wrap rewrites. It
// is dropped, and the server stopped, when the kit closes.
func (k *kit) openDatabase(ctx context.Context, kind, name string, wrap func([]string) []string) (*benchDB, error) {
	dir, err := k.dir()
	if err != nil {
		return nil, err
	}
	if kind == "sqlite" {
		return &benchDB{kind: kind, dsn: filepath.Join(dir, name+".db")}, nil
	}
	admin := os.Getenv(envPostgres)
	db := &benchDB{kind: kind}
	if admin == "" {
		fmt.Fprintln(k.log, "starting PostgreSQL")
		srv, err := pgserver.New(ctx, pgserver.Options{TempPrefix: "polybench-postgres-", LogTag: "polybench", Wrap: wrap})
		if errors.Is(err, pgserver.ErrUnavailable) {
			return nil, fmt.Errorf("%w: %v, and %s is not set", errNoPostgres, err, envPostgres)
		}
		if err != nil {
			return nil, err
		}
		k.cleanups = append(k.cleanups, func() { k.warn(srv.Remove(), "stop PostgreSQL") })
		admin, db.version = srv.AdminDSN(), srv.Version()
	}
	name = pgserver.UniqueName(name + "_")
	if db.dsn, err = pgserver.CreateDatabase(ctx, admin, name); err != nil {
		return nil, err
	}
	k.cleanups = append(k.cleanups, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		k.warn(pgserver.DropDatabase(ctx, admin, name), "drop the database")
	})
	if db.version == "" {
		db.version = pgserver.ServerVersion(ctx, admin)
	}
	return db, nil
}

// warn reports a failed cleanup.
func (k *kit) warn(err error, what string) {
	if err != nil {
		fmt.Fprintf(k.log, "polybench: %s: %v\n", what, err)
	}
}

// polyjobsEnv configures every `polyjobs serve` beyond its flags. The load
// sends thousands of requests per second with one key, which the default
// per-key rate limit (50/s) would answer with 429s; a limit no load here
// reaches keeps the limiter in the request path (its cost is measured) while
// it admits every request.
var polyjobsEnv = []string{"POLYJOBS_RATE=1000000"}

// serve starts `polyjobs serve` on db, with the access log on (JSON) and
// extra flags, placed as place says, its output going to out (and its end
// kept for messages), and waits until it is ready.
func serve(ctx context.Context, name, bin string, db *benchDB, place placement, out io.Writer, extra ...string) (*proctest.Server, error) {
	flags := append([]string{"--log-format", "json", "--log-level", "info"}, extra...)
	return proctest.Serve(ctx, proctest.ServeSpec{Name: name, Binary: bin, DB: db.dsn, Flags: flags,
		Env: polyjobsEnv, Wrap: place.wrap, Output: out})
}

// stopGrace is how long a server may take to stop after SIGTERM.
const stopGrace = 15 * time.Second

// placement is where and how eagerly a process runs.
type placement struct {
	cpus string // taskset CPU list, empty for any CPU
	nice int    // niceness, 0 for the default
}

// wrap prefixes argv with nice and taskset as p says. Both exec the command,
// so the process id is the command's own.
func (p placement) wrap(argv []string) []string {
	if p.cpus != "" {
		argv = append([]string{"taskset", "-c", p.cpus}, argv...)
	}
	if p.nice != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(p.nice)}, argv...)
	}
	return argv
}

// pinProcess moves every thread of this process to the CPUs of list, in
// taskset's syntax ("1", "0,2", "2-3"). A thread that exits meanwhile is
// skipped, where `taskset -a -p` fails the whole call; the threads are listed
// again until a pass finds no new one, since a thread not yet moved may have
// started another.
func pinProcess(list string) error {
	var set unix.CPUSet
	if err := parseCPUList(list, &set); err != nil {
		return err
	}
	moved := map[int]bool{}
	for {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		found := false
		for _, task := range tasks {
			tid, err := strconv.Atoi(task.Name())
			if err != nil || moved[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
			moved[tid], found = true, true
		}
		if !found {
			return nil
		}
	}
}

// parseCPUList sets in set the CPUs of list, in taskset's syntax.
func parseCPUList(list string, set *unix.CPUSet) error {
	set.Zero()
	for part := range strings.SplitSeq(list, ",") {
		first, last, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(first)
		hi := lo
		if err == nil && isRange {
			hi, err = strconv.Atoi(last)
		}
		if err != nil || lo < 0 || hi < lo || hi >= len(set)*64 {
			return fmt.Errorf("%q is not a CPU list (like 1, 0,2 or 2-3)", list)
		}
		for cpu := lo; cpu <= hi; cpu++ {
			set.Set(cpu)
		}
	}
	return nil
}

// writeFiles writes files, by path relative to the repository's root.
func writeFiles(files map[string][]byte) error {
	root, err := proctest.ModuleRoot()
	if err != nil {
		return err
	}
	for rel, b := range files {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// machine describes where a scenario ran.
type machine struct {
	NProc     int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	MemoryMiB int64  `json:"memory_mib"`
	OS        string `json:"os"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Postgres  string `json:"postgres,omitempty"`
	// LoadAvgStart and LoadAvgEnd are /proc/loadavg's 1, 5 and 15 minute
	// load averages when the run started and ended: other work on the
	// machine makes the numbers noisy.
	LoadAvgStart string `json:"load_average_start"`
	LoadAvgEnd   string `json:"load_average_end,omitempty"`
}

// describeMachine reads the machine's description from /proc and /etc/os-release.
func describeMachine() machine {
	mem, _ := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64)
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	m := machine{NProc: runtime.NumCPU(), CPUModel: procField("/proc/cpuinfo", "model name"), MemoryMiB: mem >> 10,
		OS: strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`), Kernel: strings.TrimSpace(string(kernel)), Go: runtime.Version()}
	m.LoadAvgStart, _ = loadAverage()
	return m
}

// procField returns the value of the first "key: value" (or key=value) line
// of path, or "unknown".
func procField(path, key string) string {
	b, _ := os.ReadFile(path)
	if m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s*[:=]\s*(.*)$`).FindSubmatch(b); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return "unknown"
}

// loadAverage returns /proc/loadavg's three load averages as text ("unknown"
// if unreadable) and the 1-minute one.
func loadAverage() (string, float64) {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown", 0
	}
	one, _ := strconv.ParseFloat(f[0], 64)
	return strings.Join(f[:3], " "), one
}

// busyWarning says loudly, on log, when other work keeps the CPUs busy (a
// 1-minute load average above half the CPUs), and returns the warning ("" if
// the machine is not busy).
func busyWarning(log io.Writer) string {
	text, one := loadAverage()
	if one <= 0.5*float64(runtime.NumCPU()) {
		return ""
	}
	msg := fmt.Sprintf("the machine is busy (load average %s on %d CPUs): other work competes with the benchmark, expect noisy numbers",
		text, runtime.NumCPU())
	fmt.Fprintf(log, "*** %s ***\n", msg)
	return msg
}
