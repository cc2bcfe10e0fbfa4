//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

// The waiters scenario (the end of make bench-load; alone: polybench waiters)
// measures the conditional long-poll (server/wait.go) on one polyjobs process
// on SQLite. It seeds -waiters running jobs besides the load's -jobs, starts
// `polyjobs serve --control` placed as the load scenario places it, with
// caps that admit every waiter, and:
//
//  1. measures ordinary requests with wrk, after a warm-up, with no waiter;
//  2. holds -waiters requests at once, each for a job of its own on a
//     keep-alive connection of its own from this process (pinned with wrk): a
//     first GET gives the job's ETag, then a GET with If-None-Match and
//     Prefer: wait is re-sent at once whenever it comes back 304. They are
//     held once the server's polyjobs_waiters gauge counts them all;
//  3. measures the ordinary requests again, with the waiters held; both runs
//     outlast one wait, so that every waiter comes back and is re-sent
//     within the second;
//  4. moves -moves awaited jobs to their end through the control API, from
//     moveConns connections, timing each from just before its transition is
//     sent to its waiter reading the 200 that shows it: the server's own
//     store commits the change and wakes the waiter directly;
//  5. moves -cross-moves more, one every crossEvery, through this process's
//     own store handle, as `polyjobs admin` would: the server learns of those
//     only from SQLite's WAL index, while anyone waits;
//  6. reads the server's peak RSS and stops it (SIGTERM answers every waiter).
//
// Every answer to a waiter is checked (checkHeld). Any wrong answer, a
// connection error, a non-2xx or socket error of wrk, and a moved job whose
// waiter did not wake within wakeTimeout count as errors.

// Settings of the waiters scenario.
const (
	moveConns   = 4                     // control API connections moving jobs at once
	crossEvery  = 20 * time.Millisecond // between two moves by this process
	wakeTimeout = 5 * time.Second       // a waiter not woken this long after its move is an error
	holdTimeout = 2 * time.Minute       // for every waiter to be held
	dialSlots   = 64                    // waiters connecting and making their first GET at once
	fdReserve   = 1024                  // open files a process needs beyond the connections
)

// waitersOptions are the flags of the waiters scenario, which both the load
// and the waiters subcommands take.
type waitersOptions struct {
	waiters, moves, crossMoves int
	wait                       time.Duration
}

// declare declares the flags; help is that of -waiters.
func (o *waitersOptions) declare(fs *flag.FlagSet, help string) {
	fs.IntVar(&o.waiters, "waiters", 10_000, help)
	fs.DurationVar(&o.wait, "wait", 20*time.Second, "the wait of every waiter (Prefer: wait, whole seconds), and the server's --max-wait")
	fs.IntVar(&o.moves, "moves", 1000, "awaited jobs moved to their end through the control API, each timed until its waiter wakes")
	fs.IntVar(&o.crossMoves, "cross-moves", 100, "awaited jobs moved to their end through the benchmark's own store handle, as by another process (0: none)")
}

// validate reports flags that cannot work.
func (o *waitersOptions) validate() error {
	switch {
	case o.waiters < 0 || o.moves < 0 || o.crossMoves < 0:
		return errors.New("-waiters, -moves and -cross-moves must not be negative")
	case o.waiters == 0:
		return nil
	case o.moves+o.crossMoves > o.waiters:
		return errors.New("-moves and -cross-moves together must not exceed -waiters")
	case o.wait < time.Second || o.wait%time.Second != 0:
		return errors.New("-wait must be a whole number of seconds, at least 1s")
	}
	return nil
}

// waiterResults are the figures of the waiters scenario, part of
// latest.json and BENCHMARKS.md.
type waiterResults struct {
	// Waiters is the number of requests held at once, each for a job and on
	// a connection of its own.
	Waiters      int      `json:"waiters"`
	OrdinaryJobs int      `json:"ordinary_jobs"`
	WaitS        float64  `json:"wait_s"`
	ServeFlags   []string `json:"serve_flags"`
	// OpenFiles is the open-file limit of the benchmark and its children.
	OpenFiles uint64 `json:"open_files"`
	// ClientCPU is where the benchmark, and so the waiters, ran.
	ClientCPU    string  `json:"client_cpu,omitempty"`
	MoveConns    int     `json:"move_connections"`
	CrossEveryMS float64 `json:"cross_every_ms"`
	WakeTimeoutS float64 `json:"wake_timeout_s"`
	// HoldS is the time from the first connection to every request held.
	HoldS float64 `json:"hold_s"`
	// Requests counts the answers to the waiters, the first GETs included;
	// NotModified the 304s among them.
	Requests    int64 `json:"requests"`
	NotModified int64 `json:"not_modified"`
	// failures are the waiters' failed requests and wrong answers.
	failures
	// RSSHeldBytes is the server's RSS once every request was held, of
	// which its Go stacks and heap (in use) are StackHeldBytes and
	// HeapHeldBytes; PeakRSSBytes is its VmHWM at the end.
	RSSHeldBytes   int64 `json:"rss_held_bytes"`
	StackHeldBytes int64 `json:"go_stack_held_bytes"`
	HeapHeldBytes  int64 `json:"go_heap_held_bytes"`
	PeakRSSBytes   int64 `json:"peak_rss_bytes"`
	// Without and With are wrk's ordinary load, for OrdinaryS each, without
	// and with the waiters held; RateRatio divides their rates.
	OrdinaryS  float64       `json:"ordinary_s"`
	Without    loadResult    `json:"ordinary_without_waiters"`
	With       loadResult    `json:"ordinary_with_waiters"`
	RateRatio  float64       `json:"rate_ratio"`
	Moves      wakeStats     `json:"moves"`
	CrossMoves *wakeStats    `json:"cross_process_moves,omitempty"`
	Targets    []targetCheck `json:"targets"`
}

// wakeStats are the wake-ups of jobs moved one way: each from just before
// the job's transition is sent (or committed) to its waiter reading the 200
// that shows it. A waiter not woken within wakeTimeout counts as wakeTimeout.
type wakeStats struct {
	Jobs  int     `json:"jobs"`
	Woken int64   `json:"woken"`
	SendS float64 `json:"send_s"` // from the first transition sent to the last committed
	P50MS float64 `json:"p50_ms"`
	P95MS float64 `json:"p95_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

// waiterTargets are the figures of issue 11, checked like targets.
var waiterTargets = []target{
	{nameSQLite, "peak RSS ≤ 300 MiB with the waiters held", 300, true, "MiB", waited(func(w *waiterResults) float64 { return mib(w.PeakRSSBytes) })},
	{nameSQLite, "0 errors, waiters and ordinary requests", 0, true, "errors", waited(func(w *waiterResults) float64 { return float64(w.Errors) })},
	{nameSQLite, "ordinary req/s with the waiters held ≥ 0.80 × without", 0.8, false, "×", waited(func(w *waiterResults) float64 { return w.RateRatio })},
	{nameSQLite, "wake-up p99 ≤ 250 ms, jobs moved through the control API", 250, true, "ms", waited(func(w *waiterResults) float64 { return w.Moves.P99MS })},
	{nameSQLite, "wake-up ≤ 300 ms (max), jobs moved by another process", 300, true, "ms", func(res *loadResults) (float64, bool) {
		if res.Waiters == nil || res.Waiters.CrossMoves == nil {
			return 0, false
		}
		return res.Waiters.CrossMoves.MaxMS, true
	}},
}

// waited returns a target's value from the waiters' results.
func waited(f func(*waiterResults) float64) func(*loadResults) (float64, bool) {
	return func(res *loadResults) (float64, bool) {
		if res.Waiters == nil {
			return 0, false
		}
		return f(res.Waiters), true
	}
}

// raiseOpenFiles raises this process's open-file limit to its hard limit,
// which the servers and wrk it starts inherit, and returns it. It fails when
// the hard limit leaves too little room for the connections of waiters and
// wrk: each process holds one end of every connection.
func raiseOpenFiles(waiters, connections int) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	if need := uint64(waiters + connections + fdReserve); lim.Max < need {
		return lim.Max, fmt.Errorf("the open-file hard limit is %d, but %d waiters need at least %d open files per process: "+
			"raise it (as root: ulimit -Hn %d; LimitNOFILE= for a systemd service; nofile in /etc/security/limits.conf) or give fewer -waiters",
			lim.Max, waiters, need, need)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise the open-file limit to %d: %w", lim.Max, err)
	}
	return lim.Max, nil
}

// runWaiters is the waiters scenario, on the load's wrk, placement and binary.
func (l *load) runWaiters(ctx context.Context) (*waiterResults, error) {
	o := l.o.waiters
	r := &waiterResults{Waiters: o.waiters, OrdinaryJobs: l.o.jobs, WaitS: o.wait.Seconds(), OpenFiles: l.openFiles,
		MoveConns: moveConns, CrossEveryMS: msOf(crossEvery), WakeTimeoutS: wakeTimeout.Seconds()}
	if err := l.pinSelf(); err != nil {
		return nil, err
	}
	if l.res.Method.Pinned {
		r.ClientCPU = l.res.Method.LoadCPU
	}
	db, err := l.openDatabase(ctx, "sqlite", "polybench_waiters", nil)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(l.log, "waiters: seeding %d jobs, and %d running jobs to wait on\n", l.o.jobs, o.waiters)
	t, err := seed(ctx, db.dsn, l.o.jobs, loadMix)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer t.st.Close()
	awaited, err := t.addJobs(ctx, o.waiters, []string{"running"})
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	ordinary := newPool(t.jobs)
	script, err := l.wrk.prepare(l.tmp, "waiters", ordinary.fixture(t.key))
	if err != nil {
		return nil, err
	}
	itoa := strconv.Itoa
	r.ServeFlags = []string{"--control", "--max-wait", o.wait.String(), "--max-waiters", itoa(o.waiters),
		"--max-waiters-per-key", itoa(o.waiters), "--max-conns", itoa(o.waiters + l.o.connections + moveConns + 64)}
	srv, err := serve(ctx, nameSQLite+" (waiters)", l.polyjobs, db, l.server, nil, append(slices.Clone(r.ServeFlags), strings.Fields(l.o.serveFlags)...)...)
	if err != nil {
		return nil, err
	}
	defer srv.Kill()
	if _, err := verifyAll(ctx, srv.URL(), t.key, ordinary.all()); err != nil {
		return nil, fmt.Errorf("the server answers wrongly: %w", err)
	}

	errs := &tally{}
	ordinaryRun := func(label string, d time.Duration) (loadResult, error) {
		res, err := l.wrk.run(ctx, script, srv.URL(), d)
		errs.addN("wrk non-2xx", res.Non2xx, "%s: %d non-2xx answers", label, res.Non2xx)
		errs.addN("wrk socket errors", res.SocketErrors, "%s: %d socket errors", label, res.SocketErrors)
		return res, err
	}
	if l.o.warmup > 0 {
		if _, err := ordinaryRun("warm-up", l.o.warmup); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	d := ordinaryFor(l.o.duration, o.wait)
	r.OrdinaryS = d.Seconds()
	fmt.Fprintf(l.log, "  ordinary requests, no waiter, for %v\n", d)
	if r.Without, err = ordinaryRun("without waiters", d); err != nil {
		return nil, err
	}
	fmt.Fprintf(l.log, "  %.0f req/s, p99 %s\n", r.Without.RPS, ms(r.Without.P99MS))

	fmt.Fprintf(l.log, "  holding %d requests (Prefer: wait=%d)\n", o.waiters, int(o.wait.Seconds()))
	wp := &waiterPool{addr: srv.API, timeout: o.wait + o.wait/8 + 10*time.Second, slots: make(chan struct{}, dialSlots), errs: errs,
		base:    authHeaders(t.key),
		applied: fmt.Sprintf("wait=%d", int(o.wait.Seconds()))}
	holdCtx, stopHolding := context.WithCancel(ctx)
	defer stopHolding()
	var wg sync.WaitGroup
	ws := make([]*heldWaiter, len(awaited))
	start := time.Now()
	for i, j := range awaited {
		ws[i] = &heldWaiter{j: j, c: conn{addr: srv.API, timeout: wp.timeout}}
		wg.Go(func() { wp.hold(holdCtx, ws[i]) })
	}
	if err := waitHeld(ctx, srv.AdminURL(), o.waiters, errs); err != nil {
		return nil, err
	}
	r.HoldS = time.Since(start).Seconds()
	mem, err := srv.Memory()
	if err != nil {
		return nil, err
	}
	r.RSSHeldBytes = mem.RSS
	stack, _ := gauge(ctx, srv.AdminURL(), "go_memstats_stack_inuse_bytes")
	heap, _ := gauge(ctx, srv.AdminURL(), "go_memstats_heap_inuse_bytes")
	r.StackHeldBytes, r.HeapHeldBytes = int64(stack), int64(heap)
	fmt.Fprintf(l.log, "  all held after %.1f s, RSS %s (Go stacks %s, heap %s); ordinary requests for %v\n",
		r.HoldS, mibString(mem.RSS), mibString(r.StackHeldBytes), mibString(r.HeapHeldBytes), d)
	if r.With, err = ordinaryRun("with waiters", d); err != nil {
		return nil, err
	}
	r.RateRatio = ratio(r.With.RPS, r.Without.RPS)
	fmt.Fprintf(l.log, "  %.0f req/s (%.2f× without), p99 %s\n", r.With.RPS, r.RateRatio, ms(r.With.P99MS))

	fmt.Fprintf(l.log, "  moving %d jobs through the control API\n", o.moves)
	r.Moves = moveByControl(ctx, srv.URL(), ws[:o.moves], errs)
	fmt.Fprintf(l.log, "  %d woken: p50 %s, p99 %s, max %s\n", r.Moves.Woken, ms(r.Moves.P50MS), ms(r.Moves.P99MS), ms(r.Moves.MaxMS))
	if o.crossMoves > 0 {
		fmt.Fprintf(l.log, "  moving %d jobs through this process's store handle\n", o.crossMoves)
		cm := moveByStore(ctx, t, ws[o.moves:o.moves+o.crossMoves], errs)
		r.CrossMoves = &cm
		fmt.Fprintf(l.log, "  %d woken: p50 %s, p99 %s, max %s\n", cm.Woken, ms(cm.P50MS), ms(cm.P99MS), ms(cm.MaxMS))
	}
	if mem, err = srv.Memory(); err != nil {
		return nil, err
	}
	r.PeakRSSBytes = mem.HWM
	stopHolding() // from now on, the waiters' answers no longer count
	if err := srv.Stop(stopGrace); err != nil {
		return nil, err
	}
	wg.Wait()
	r.Requests, r.NotModified = wp.requests.Load(), wp.notModified.Load()
	r.failures = errs.snapshot()
	fmt.Fprintf(l.log, "  peak RSS %s, %d answers to the waiters, %d errors\n", mibString(r.PeakRSSBytes), r.Requests, r.Errors)
	return r, nil
}

// ordinaryFor returns how long each ordinary run lasts: d, or more, so that
// it outlasts a wait with its jitter (up to 1/16) and the re-send.
func ordinaryFor(d, wait time.Duration) time.Duration {
	cycle := wait + wait/16 + 2*time.Second
	return max(d, (cycle + time.Second - 1).Truncate(time.Second))
}

// waitHeld waits until the server holds n requests, by its polyjobs_waiters
// gauge, and fails after holdTimeout with the waiters' errors.
func waitHeld(ctx context.Context, adminURL string, n int, errs *tally) error {
	deadline := time.Now().Add(holdTimeout)
	for {
		v, err := gauge(ctx, adminURL, "polyjobs_waiters")
		if err == nil && v >= float64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			f := errs.snapshot()
			return fmt.Errorf("%.0f of %d requests held after %v (metrics: %v); the waiters' errors: %s\n  %s",
				v, n, holdTimeout, err, kindsString(f.ErrorKinds), strings.Join(f.ErrorSamples, "\n  "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// gauge reads the value of an unlabelled metric from the admin listener.
func gauge(ctx context.Context, adminURL, name string) (float64, error) {
	resp, body, err := get(ctx, adminURL+"/metrics", "")
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	v, ok := metricValue(body, name)
	if !ok {
		return 0, fmt.Errorf("no %s in /metrics", name)
	}
	return v, nil
}

// metricValue finds the sample of an unlabelled metric in Prometheus's text
// format.
func metricValue(text []byte, name string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// waiterPool is what the waiters share: where they send, what they expect of
// a 304, and what they count.
type waiterPool struct {
	addr    string
	base    []byte // the Authorization and X-Polytomic-Version header lines
	applied string // the Preference-Applied of a held request
	timeout time.Duration
	slots   chan struct{} // bounds the waiters connecting at once
	errs    *tally

	requests, notModified atomic.Int64
}

// heldWaiter is one waiter: a job, awaited on a connection of its own.
type heldWaiter struct {
	j    *job
	c    conn
	etag string // the job's ETag, from the first GET
	cond []byte // the header lines of the conditional request
	// moved is set just before the job's transition.
	moved atomic.Pointer[move]
	woken atomic.Bool
}

// move is the transition of a job: when it was sent, and its group.
type move struct {
	at time.Time
	g  *wakeGroup
}

// hold runs a waiter until ctx is done or its job changes: the first GET,
// then the conditional GET, again after every 304.
func (p *waiterPool) hold(ctx context.Context, w *heldWaiter) {
	defer w.c.close()
	p.slots <- struct{}{}
	err := p.first(w)
	<-p.slots
	if err != nil {
		p.errs.add("first GET", "GET %s: %v", w.j.path, err)
		return
	}
	for ctx.Err() == nil {
		minRank := w.j.committed.Load()
		resp, body, f := w.c.roundTrip(w.j.path, w.cond)
		at := time.Now()
		switch {
		case ctx.Err() != nil:
			return
		case f != nil:
			p.errs.add(f.kind, "GET %s (held): %v", w.j.path, f.err)
			time.Sleep(connectBackoff)
			continue
		}
		p.requests.Add(1)
		err := checkHeld(w.j, resp.StatusCode, resp.Header, body, w.etag, p.applied, minRank, w.j.begun.Load())
		switch {
		case err != nil:
			p.errs.add("held answer", "GET %s (held): %v", w.j.path, err)
		case resp.StatusCode == http.StatusNotModified:
			p.notModified.Add(1)
			continue
		}
		if resp.StatusCode == http.StatusOK { // the job ended, or the answer was wrong: stop waiting
			if m := w.moved.Load(); err == nil && m != nil {
				m.g.woke(w, at.Sub(m.at))
			}
			return
		}
		time.Sleep(connectBackoff)
	}
}

// first makes the waiter's unconditional GET, which must show the job
// exactly, and prepares its conditional request from the ETag.
func (p *waiterPool) first(w *heldWaiter) error {
	resp, body, f := w.c.roundTrip(w.j.path, p.base)
	if f != nil {
		return f.err
	}
	p.requests.Add(1)
	rank := w.j.committed.Load()
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s: %s", resp.Status, excerpt(body))
	case resp.Header.Get("ETag") == "":
		return errors.New("no ETag")
	}
	if err := checkResponse(w.j, resp.Header, body, rank, rank); err != nil {
		return err
	}
	w.etag = resp.Header.Get("ETag")
	w.cond = fmt.Appendf(slices.Clone(p.base), "If-None-Match: %s\r\nPrefer: %s\r\n", w.etag, p.applied)
	return nil
}

// checkHeld checks the answer to a conditional GET of j sent with
// If-None-Match: etag and Prefer: wait: either a 304 that keeps etag, says
// applied in Preference-Applied (else the request was not held) and carries
// Retry-After, or a 200 that shows the job changed, under another ETag,
// exactly as checkResponse checks it between minRank and maxRank.
func checkHeld(j *job, status int, h http.Header, body []byte, etag, applied string, minRank, maxRank int32) error {
	if h.Get("X-Request-Id") == "" {
		return fmt.Errorf("%d without X-Request-Id", status)
	}
	switch status {
	case http.StatusNotModified:
		switch {
		case h.Get("ETag") != etag:
			return fmt.Errorf("304 with ETag %q, sent %q", h.Get("ETag"), etag)
		case h.Get("Preference-Applied") != applied:
			return fmt.Errorf("304 with Preference-Applied %q, want %q: the request was not held", h.Get("Preference-Applied"), applied)
		case h.Get("Retry-After") == "":
			return errors.New("304 without Retry-After, for a job that is not terminal")
		case h.Get("X-Polytomic-Version") != fixture.Version:
			return fmt.Errorf("304 with X-Polytomic-Version %q, want %s", h.Get("X-Polytomic-Version"), fixture.Version)
		case len(body) > 0:
			return fmt.Errorf("304 with a body: %s", excerpt(body))
		}
		return nil
	case http.StatusOK:
		if tag := h.Get("ETag"); tag == "" || tag == etag {
			return fmt.Errorf("200 with ETag %q, sent %q: If-None-Match was not honoured", tag, etag)
		}
		return checkResponse(j, h, body, minRank, maxRank)
	}
	return fmt.Errorf("%d: %s", status, excerpt(body))
}

// wakeGroup collects the wake-ups of jobs moved one way. Once closed, late
// wake-ups are not recorded: they count as missed.
type wakeGroup struct {
	mu     sync.Mutex
	hist   histogram
	closed bool
}

// woke records that w woke d after its job's transition.
func (g *wakeGroup) woke(w *heldWaiter, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.hist.record(d)
		w.woken.Store(true)
	}
}

// moveByControl moves the jobs of ws to their end through the control API,
// from moveConns connections, and times their waiters' wake-ups.
func moveByControl(ctx context.Context, baseURL string, ws []*heldWaiter, errs *tally) wakeStats {
	g := &wakeGroup{}
	client := &http.Client{Timeout: storeTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: moveConns}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range moveConns {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ws) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				j := ws[i].j
				j.begun.Store(rankTerminal)
				ws[i].moved.Store(&move{at: time.Now(), g: g})
				if err := postTransition(ctx, client, baseURL, j); err != nil {
					errs.add("move", "%v", err)
					continue
				}
				j.committed.Store(rankTerminal)
			}
		})
	}
	wg.Wait()
	return awaitWakes(g, ws, time.Since(start), wakeTimeout, errs)
}

// postTransition moves j to its end through the control API.
func postTransition(ctx context.Context, client *http.Client, baseURL string, j *job) error {
	tr := struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result,omitempty"`
		Error  string          `json:"error,omitempty"`
	}{Status: j.status(rankTerminal)}
	if j.fails {
		tr.Error = failMessage
	} else {
		tr.Result = json.RawMessage(doneResult)
	}
	body, err := json.Marshal(tr)
	if err != nil {
		return err
	}
	url := baseURL + "/__polyjobs/jobs/" + j.id.String() + "/transitions"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, excerpt(b))
	}
	return nil
}

// moveByStore moves the jobs of ws to their end through this process's
// store handle, one every crossEvery, and times their waiters' wake-ups.
func moveByStore(ctx context.Context, t *tenant, ws []*heldWaiter, errs *tally) wakeStats {
	g := &wakeGroup{}
	tick := time.NewTicker(crossEvery)
	defer tick.Stop()
	start := time.Now()
	for _, w := range ws {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		w.moved.Store(&move{at: time.Now(), g: g})
		if err := t.advance(ctx, w.j, rankTerminal); err != nil {
			errs.add("move", "%v", err)
		}
	}
	return awaitWakes(g, ws, time.Since(start), wakeTimeout, errs)
}

// awaitWakes waits until every waiter of ws woke or timeout passed, counts
// those that did not as errors and as timeout, and summarizes.
func awaitWakes(g *wakeGroup, ws []*heldWaiter, send, timeout time.Duration, errs *tally) wakeStats {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && slices.ContainsFunc(ws, func(w *heldWaiter) bool { return !w.woken.Load() }) {
		time.Sleep(10 * time.Millisecond)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	s := wakeStats{Jobs: len(ws), SendS: send.Seconds()}
	for _, w := range ws {
		if w.woken.Load() {
			s.Woken++
		} else {
			g.hist.record(timeout)
			errs.add("not woken", "job %s: its waiter did not wake within %v of its transition", w.j.id, timeout)
		}
	}
	s.P50MS, s.P95MS, s.P99MS, s.MaxMS = msOf(g.hist.quantile(0.50)), msOf(g.hist.quantile(0.95)), msOf(g.hist.quantile(0.99)), msOf(g.hist.max())
	return s
}
