//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// readyTimeout bounds how long a server may take to become ready.
const readyTimeout = 30 * time.Second

// polyjobsEnv configures `polyjobs serve` beyond its flags. One key sends
// thousands of requests per second, which the default per-key rate limit
// (50/s) would answer with 429s; a limit no load here reaches keeps the
// limiter in the request path while it admits every request.
var polyjobsEnv = []string{"POLYJOBS_RATE=1000000"}

// server is a running `polyjobs serve`.
type server struct {
	*harness.Process
	out   *logTail // its output
	api   string   // host:port of the API listener
	admin string   // host:port of the admin listener
}

// baseURL is the API's URL.
func (s *server) baseURL() string { return "http://" + s.api }

// startServer starts `polyjobs serve` on db with the access log on (JSON, to
// a bounded tail), waits until it is ready and checks that every job of p
// answers exactly.
func startServer(ctx context.Context, name, polyjobs, db, key string, p *pool) (*server, error) {
	ports, err := harness.FreePorts(2)
	if err != nil {
		return nil, err
	}
	s := &server{out: &logTail{}, api: fmt.Sprintf("127.0.0.1:%d", ports[0]), admin: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	argv := []string{polyjobs, "serve", "--addr", s.api, "--admin-addr", s.admin, "--db", db,
		"--log-format", "json", "--log-level", "info"}
	if s.Process, err = startProcess(name, argv, append(harness.ServerEnv(), polyjobsEnv...), s.out); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, key, p.all()[0]); err != nil {
		_ = s.Stop()
		return nil, err
	}
	if _, err := verifyAll(ctx, s.baseURL(), key, p.all()); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%s answers wrongly before any load: %w", name, err)
	}
	return s, nil
}

// waitReady waits until /readyz answers 200 and the API serves j, failing
// early when the process exits (a busy port, a bad flag, a database it cannot
// open).
func (s *server) waitReady(ctx context.Context, key string, j *job) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		if !s.Running() {
			return s.ExitedError()
		}
		err := s.probe(ctx, key, j)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v: %w; the end of its output:\n%s", s.Name, readyTimeout, err, s.out.tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// probe asks /readyz, then for job j.
func (s *server) probe(ctx context.Context, key string, j *job) error {
	for _, url := range []string{"http://" + s.admin + "/readyz", s.baseURL() + j.path} {
		resp, body, err := get(ctx, url, key)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s %s", url, resp.Status, excerpt(body))
		}
	}
	return nil
}

// goRuntime is what the server's Go runtime reports on /metrics.
type goRuntime struct {
	goroutines int64
	heapInuse  int64 // bytes in in-use heap spans
	// held is the memory the runtime holds from the OS (heap, stacks, its
	// own structures), less what it has released: an upper bound of Go's
	// share of the RSS. Memory allocated outside Go (SQLite's page cache in
	// modernc.org/sqlite) is not in it.
	held int64
}

// runtimeMetrics reads the server's Go runtime figures from its /metrics.
func (s *server) runtimeMetrics(ctx context.Context) (goRuntime, error) {
	resp, body, err := get(ctx, "http://"+s.admin+"/metrics", "")
	if err != nil {
		return goRuntime{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return goRuntime{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var g goRuntime
	var sys, released int64
	for _, m := range []struct {
		name string
		v    *int64
	}{{"go_goroutines", &g.goroutines}, {"go_memstats_heap_inuse_bytes", &g.heapInuse},
		{"go_memstats_sys_bytes", &sys}, {"go_memstats_heap_released_bytes", &released}} {
		if *m.v, err = metricValue(body, m.name); err != nil {
			return goRuntime{}, err
		}
	}
	g.held = sys - released
	return g, nil
}

// metricValue returns the value of an unlabelled metric in a Prometheus text
// exposition.
func metricValue(exposition []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %w", name, err)
		}
		return int64(v), nil
	}
	return 0, fmt.Errorf("no metric %s in /metrics", name)
}

// startProcess starts argv with env, its output going to out; SIGTERM stops
// it, and the kernel sends it too should the soak die first.
func startProcess(name string, argv, env []string, out *logTail) (*harness.Process, error) {
	// A process group of its own: a Ctrl-C at the terminal reaches the soak
	// alone, which then stops its children in order (the server before the
	// database).
	return harness.Start(harness.Spec{Name: name, Argv: argv, Env: env, Output: out, Tail: out.tail,
		StopSignal: syscall.SIGTERM, Setpgid: true})
}
