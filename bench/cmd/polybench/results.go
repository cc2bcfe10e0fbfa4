//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/polyjobs/polyjobs/internal/proctest"
)

// Files the load scenario (re)writes, relative to the repository root.
const (
	resultsFile  = "bench/results/latest.json"
	markdownFile = "BENCHMARKS.md"
)

// loadResults is everything a load run produced; it is written as
// bench/results/latest.json and rendered into BENCHMARKS.md.
type loadResults struct {
	GeneratedAt time.Time  `json:"generated_at"`
	Command     string     `json:"command"`
	Machine     machine    `json:"machine"`
	Method      loadMethod `json:"method"`
	// Skipped names the servers not measured, with the reason.
	Skipped map[string]string `json:"skipped,omitempty"`
	Rounds  []round           `json:"rounds"`
	Summary []summaryRow      `json:"summary"`
	// Allocs is BenchmarkGetJob's figures, by case.
	Allocs  []allocs      `json:"allocs,omitempty"`
	Targets []targetCheck `json:"targets"`
	// Waiters is the waiters scenario's, nil when it did not run; its
	// targets are its own.
	Waiters *waiterResults `json:"waiters,omitempty"`
	// OK is false when any response was not 2xx or any socket error occurred.
	OK bool `json:"ok"`
	// TargetsMet is true when every target passed, the waiters' included.
	TargetsMet bool `json:"targets_met"`
}

// loadMethod is how the run measured.
type loadMethod struct {
	Rounds        int      `json:"rounds"`
	DurationS     float64  `json:"duration_s"`
	WarmupS       float64  `json:"warmup_s"`
	Connections   int      `json:"connections"`
	Jobs          int      `json:"jobs"`
	Mix           string   `json:"mix"`
	LoadGenerator string   `json:"load_generator"`
	Servers       []string `json:"servers"`
	Pinned        bool     `json:"pinned"`
	ServerCPU     string   `json:"server_cpu,omitempty"`
	LoadCPU       string   `json:"load_cpu,omitempty"`
	ServeFlags    string   `json:"serve_flags,omitempty"` // -serve-flags
	Nice          int      `json:"nice,omitempty"`        // -nice
	PolyjobsEnv   []string `json:"polyjobs_env"`          // given to `polyjobs serve`
}

// round is one pass over every server.
type round struct {
	Round   int           `json:"round"`
	Results []measurement `json:"results"`
}

// loadResult is one run of wrk against one server. Non2xx counts responses
// with an error status; SocketErrors connect, read and write errors and
// timeouts.
type loadResult struct {
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	RPS          float64 `json:"rps"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	MaxMS        float64 `json:"max_ms"`
	Non2xx       int64   `json:"non_2xx"`
	SocketErrors int64   `json:"socket_errors"`
}

// measurement is one server's measured run in one round.
type measurement struct {
	Server string `json:"server"`
	loadResult
	PeakRSSBytes       int64 `json:"peak_rss_bytes"`
	WarmupNon2xx       int64 `json:"warmup_non_2xx"`
	WarmupSocketErrors int64 `json:"warmup_socket_errors"`
	// RatioRPS and RatioP99 are relative to the baseline of the same round.
	RatioRPS float64 `json:"ratio_rps"`
	RatioP99 float64 `json:"ratio_p99"`
	// ErrorSample says what a check of every job found after a run with
	// errors (a 401, a 429, ...).
	ErrorSample string `json:"error_sample,omitempty"`
}

// non2xx and socketErrors count the warm-up's errors with the measured run's.
func (m measurement) non2xx() int64       { return m.Non2xx + m.WarmupNon2xx }
func (m measurement) socketErrors() int64 { return m.SocketErrors + m.WarmupSocketErrors }
func (m measurement) failed() bool        { return m.non2xx() > 0 || m.socketErrors() > 0 }

// computeRatios relates every result of the round to the round's baseline.
func (r *round) computeRatios() {
	i := slices.IndexFunc(r.Results, func(m measurement) bool { return m.Server == nameBaseline })
	if i < 0 {
		return
	}
	base := r.Results[i]
	for i := range r.Results {
		m := &r.Results[i]
		m.RatioRPS, m.RatioP99 = ratio(m.RPS, base.RPS), ratio(m.P99MS, base.P99MS)
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// summaryRow is one server over all rounds: medians of the rounds, the
// highest peak RSS, all errors.
type summaryRow struct {
	Server       string  `json:"server"`
	RPS          float64 `json:"median_rps"`
	P50MS        float64 `json:"median_p50_ms"`
	P99MS        float64 `json:"median_p99_ms"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// RatioRPS and RatioP99 are the medians of the per-round ratios.
	RatioRPS     float64 `json:"ratio_rps"`
	RatioP99     float64 `json:"ratio_p99"`
	Non2xx       int64   `json:"non_2xx"`
	SocketErrors int64   `json:"socket_errors"`
}

// allocs is one case of BenchmarkGetJob (server/bench_test.go): the full
// handler chain, through echo's ServeHTTP, on SQLite.
type allocs struct {
	Case        string  `json:"case"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
}

// nameHandler names the handler chain's figures in the targets.
const nameHandler = "handler chain"

// target is a goal a server should meet. Targets are reported (PASS or FAIL),
// never asserted by tests; -strict makes a miss fail the run.
type target struct {
	server, name string
	limit        float64
	atMost       bool   // the value must be <= limit; else >= limit
	unit         string // how the value prints: "×" for a ratio to the baseline, or a unit
	// value returns the figure, and false when it was not measured.
	value func(res *loadResults) (float64, bool)
}

// targets are the goals of polyjobs, relative to the baseline when in ×.
var targets = []target{
	{nameSQLite, "req/s ≥ 0.70 × baseline", 0.70, false, "×", row(nameSQLite, func(r summaryRow) float64 { return r.RatioRPS })},
	{nameSQLite, "p99 ≤ 1.5 × baseline", 1.5, true, "×", row(nameSQLite, func(r summaryRow) float64 { return r.RatioP99 })},
	{nameSQLite, "peak RSS ≤ 40 MiB", 40, true, "MiB", row(nameSQLite, func(r summaryRow) float64 { return mib(r.PeakRSSBytes) })},
	{namePostgres, "req/s ≥ 0.35 × baseline", 0.35, false, "×", row(namePostgres, func(r summaryRow) float64 { return r.RatioRPS })},
	{nameHandler, "allocs/op ≤ 45, every case of BenchmarkGetJob", 45, true, "allocs/op", func(res *loadResults) (float64, bool) {
		most := int64(-1)
		for _, a := range res.Allocs {
			most = max(most, a.AllocsPerOp)
		}
		return float64(most), most >= 0
	}},
}

// row returns a target's value from the summary row of server.
func row(server string, f func(summaryRow) float64) func(*loadResults) (float64, bool) {
	return func(res *loadResults) (float64, bool) {
		i := slices.IndexFunc(res.Summary, func(r summaryRow) bool { return r.Server == server })
		if i < 0 {
			return 0, false
		}
		return f(res.Summary[i]), true
	}
}

// targetCheck is a target's outcome.
type targetCheck struct {
	Server string  `json:"server"`
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Pass   bool    `json:"pass"`
}

// ValueString prints the value of the check, as "0.82×" or "21.4 MiB".
func (c targetCheck) ValueString() string {
	switch c.Unit {
	case "×":
		return fmt.Sprintf("%.2f×", c.Value)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", c.Value)
	case "ms":
		return ms(c.Value)
	}
	return fmt.Sprintf("%.0f %s", c.Value, c.Unit)
}

// Verdict is PASS or FAIL.
func (c targetCheck) Verdict() string {
	if c.Pass {
		return "PASS"
	}
	return "FAIL"
}

// finish computes the summary, the targets and whether the run is valid.
func (res *loadResults) finish() {
	res.OK, res.TargetsMet = true, true
	for _, name := range res.Method.Servers {
		var rps, p50, p99, rr, pr []float64
		row := summaryRow{Server: name}
		for _, rd := range res.Rounds {
			for _, m := range rd.Results {
				if m.Server == name {
					rps, p50, p99 = append(rps, m.RPS), append(p50, m.P50MS), append(p99, m.P99MS)
					rr, pr = append(rr, m.RatioRPS), append(pr, m.RatioP99)
					row.PeakRSSBytes = max(row.PeakRSSBytes, m.PeakRSSBytes)
					row.Non2xx += m.non2xx()
					row.SocketErrors += m.socketErrors()
				}
			}
		}
		row.RPS, row.P50MS, row.P99MS, row.RatioRPS, row.RatioP99 = median(rps), median(p50), median(p99), median(rr), median(pr)
		res.OK = res.OK && row.Non2xx == 0 && row.SocketErrors == 0
		res.Summary = append(res.Summary, row)
	}
	res.Targets = res.check(targets)
	if res.Waiters != nil {
		res.Waiters.Targets = res.check(waiterTargets)
	}
}

// check checks the targets that were measured, and clears TargetsMet when
// one fails.
func (res *loadResults) check(ts []target) []targetCheck {
	var checks []targetCheck
	for _, t := range ts {
		v, ok := t.value(res)
		if !ok {
			continue
		}
		pass := (t.atMost && v <= t.limit) || (!t.atMost && v >= t.limit)
		checks = append(checks, targetCheck{Server: t.server, Target: t.name, Value: v, Unit: t.unit, Pass: pass})
		res.TargetsMet = res.TargetsMet && pass
	}
	return checks
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mib converts bytes to MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }

// write writes bench/results/latest.json and BENCHMARKS.md.
func (res *loadResults) write() error {
	js, err := indentJSON(res)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	if err := render(&md, "BENCHMARKS.md", res); err != nil {
		return err
	}
	return writeFiles(map[string][]byte{resultsFile: js, markdownFile: md.Bytes()})
}

// measureAllocs runs BenchmarkGetJob (the full handler chain through echo's
// ServeHTTP) and returns its figures. Allocations do not depend on the
// machine's load, so a fixed, short run is enough.
func measureAllocs(ctx context.Context) ([]allocs, error) {
	root, err := proctest.ModuleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkGetJob$", "-benchmem", "-benchtime", "2000x", "./server")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench BenchmarkGetJob ./server: %w\n%s", err, out)
	}
	a := parseAllocs(out)
	if len(a) == 0 {
		return nil, fmt.Errorf("no BenchmarkGetJob results in:\n%s", out)
	}
	return a, nil
}

// benchLine matches a line of go test -benchmem's output.
var benchLine = regexp.MustCompile(`^BenchmarkGetJob/(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`)

// parseAllocs extracts BenchmarkGetJob's cases from go test's output.
func parseAllocs(out []byte) []allocs {
	var res []allocs
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
			ns, _ := strconv.ParseFloat(m[2], 64)
			b, _ := strconv.ParseInt(m[3], 10, 64)
			n, _ := strconv.ParseInt(m[4], 10, 64)
			res = append(res, allocs{Case: m[1], NsPerOp: ns, BytesPerOp: b, AllocsPerOp: n})
		}
	}
	return res
}
