//go:build linux

package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"
)

// templates are the reports: BENCHMARKS.md and its "summary" (load), and
// soak.md and its "soak-summary" (soak). The summaries are what a run prints.
//
//go:embed *.tmpl
var templateFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"f0":      func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"f1":      func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f2":      func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"pct":     func(v float64) string { return fmt.Sprintf("%.0f %%", 100*v) },
	"ms":      ms,
	"mib":     mibString,
	"seconds": seconds,
	"date":    func(t time.Time) string { return t.Format("2006-01-02 15:04 UTC") },
	"keys":    func(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) },
	"kinds":   kindsString,
	"ratio":   func(a, b float64) string { return fmt.Sprintf("%.1f %%", 100*ratio(a, b)) },
	"join":    strings.Join,
	"add":     func(a, b int) int { return a + b },
	"mul100":  func(v float64) float64 { return 100 * v },
	"millis":  func(v int64) time.Duration { return time.Duration(v) * time.Millisecond },
}).ParseFS(templateFiles, "*.tmpl"))

// render executes the template name with data on w.
func render(w io.Writer, name string, data any) error {
	return templates.ExecuteTemplate(w, name, data)
}

// ms formats milliseconds.
func ms(v float64) string { return fmt.Sprintf("%.2f ms", v) }

// mibString formats bytes as MiB.
func mibString(b int64) string { return fmt.Sprintf("%.1f MiB", mib(b)) }

// seconds formats a number of seconds as a duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// indentJSON encodes v as indented JSON, without HTML escapes.
func indentJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return b.Bytes(), err
}

// Verdicts of a soak.
const (
	verdictPass = "PASS"
	verdictFail = "FAIL"
)

// soakReport is the result of a soak: what soak.json holds, and what the
// summary and soak.md show.
type soakReport struct {
	GeneratedAt time.Time    `json:"generated_at"`
	Command     string       `json:"command"`
	Verdict     string       `json:"verdict"`
	Reasons     []string     `json:"reasons,omitempty"`  // why it failed
	Warnings    []string     `json:"warnings,omitempty"` // worth a look, not failures
	DB          string       `json:"db"`
	Machine     machine      `json:"machine"`
	Settings    soakSettings `json:"settings"`
	// Capacity is the closed-loop measurement, nil when -rate was given.
	Capacity *capacity `json:"capacity,omitempty"`
	// Warmups are the warm-up attempts, the last at TargetRPS.
	Warmups     []warmup `json:"warmups,omitempty"`
	TargetRPS   float64  `json:"target_rps"`
	AchievedRPS float64  `json:"achieved_rps"`
	// LagP90MS is how late the load sent its requests, at p90: near zero
	// while it keeps up with its schedule.
	LagP90MS float64 `json:"lag_p90_ms"`
	// Requests were sent during the measured soak, answered or not;
	// WarmupRequests before it.
	Requests       int64 `json:"requests"`
	WarmupRequests int64 `json:"warmup_requests"`
	// failures are the failed requests of the warm-up and the soak.
	failures
	BodiesValidated int64 `json:"bodies_validated"`
	// FinalCheckJobs is the number of jobs that answered exactly once the
	// load and the writer had stopped.
	FinalCheckJobs int           `json:"final_check_jobs"`
	Latency        latency       `json:"latency"`
	Minutes        []minuteRow   `json:"minutes"`
	RSS            []memSample   `json:"rss"`
	RSSStartBytes  int64         `json:"rss_start_bytes"`
	RSSEndBytes    int64         `json:"rss_end_bytes"`
	RSSChange      float64       `json:"rss_change"` // (end − start) / start
	PeakRSSBytes   int64         `json:"peak_rss_bytes"`
	Writer         writerSummary `json:"writer"`
	ServerLog      serverLog     `json:"server_log"`
}

// soakSettings are how the soak ran.
type soakSettings struct {
	DurationS     float64  `json:"duration_s"`
	WarmupS       float64  `json:"warmup_s"`
	CapacityS     float64  `json:"capacity_s,omitempty"`
	Connections   int      `json:"connections"`
	LoadFraction  float64  `json:"load_fraction,omitempty"`
	FixedRate     float64  `json:"fixed_rate,omitempty"`
	SeededJobs    int      `json:"seeded_jobs"`
	WriterTickMS  int64    `json:"writer_tick_ms"`
	TimeoutS      float64  `json:"request_timeout_s"`
	ValidateEvery int      `json:"validate_every"`
	RSSEveryS     float64  `json:"rss_every_s"`
	RSSTolerance  float64  `json:"rss_tolerance"`
	MaxLagMS      float64  `json:"max_lag_ms"`
	MaxWarmups    int      `json:"max_warmups"`
	ServerEnv     []string `json:"server_env"`
}

// capacity is the closed-loop measurement.
type capacity struct {
	DurationS   float64 `json:"duration_s"`
	Connections int     `json:"connections"`
	Requests    int64   `json:"requests"`
	RPS         float64 `json:"rps"`
	Latency     latency `json:"latency"`
}

// warmup is one warm-up attempt; its figures are those of the part that
// holds the rate, after the ramp.
type warmup struct {
	TargetRPS   float64 `json:"target_rps"`
	AchievedRPS float64 `json:"achieved_rps"`
	Requests    int64   `json:"requests"` // the ramp's included
	Errors      int64   `json:"errors"`
	LagP90MS    float64 `json:"lag_p90_ms"`
	Latency     latency `json:"latency"`
	KeptUp      bool    `json:"kept_up"`
}

// minuteRow is one measured window (a minute; the last may be shorter).
type minuteRow struct {
	Minute   int     `json:"minute"`
	Seconds  float64 `json:"seconds"`
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	Errors   int64   `json:"errors"`
	latency
	LagP90MS float64 `json:"lag_p90_ms"`
}

// memSample is the server's memory at one moment of the soak.
type memSample struct {
	Label    string  `json:"label"` // start, 30s, 1m0s, ..., end
	AtS      float64 `json:"at_s"`  // from the start of the measured soak
	RSSBytes int64   `json:"rss_bytes"`
	// AnonBytes and FileBytes split RSSBytes: heaps and stacks (Go's, and
	// SQLite's page cache) apart from file pages (the binary, mapped files).
	AnonBytes int64 `json:"rss_anon_bytes"`
	FileBytes int64 `json:"rss_file_bytes"`
}

// writerSummary is what the writer did.
type writerSummary struct {
	Ticks   int64 `json:"ticks"`
	Created int64 `json:"created"`
	Started int64 `json:"started"`
	Done    int64 `json:"done"`
	Failed  int64 `json:"failed"`
	// Retired jobs left the pool the load rotates over (they stay in the
	// database); PoolAtEnd and MixAtEnd describe that pool at the end.
	Retired int64 `json:"retired"`
	// failures are the job changes that failed.
	failures
	Jobs      int            `json:"jobs"` // seeded and created
	PoolAtEnd int            `json:"pool_at_end"`
	MixAtEnd  map[string]int `json:"mix_at_end"`
}

// serverLog is what the soak server logged.
type serverLog struct {
	Lines    int64    `json:"lines"`
	Warnings int64    `json:"warnings"`
	Errors   int64    `json:"errors"`
	Notices  []string `json:"first_warnings_and_errors,omitempty"`
}

// newSoakReport starts the report with what is known before measuring.
func newSoakReport(k *kit, o *soakOptions) *soakReport {
	r := &soakReport{GeneratedAt: time.Now().UTC().Truncate(time.Second), Command: k.command, DB: o.db, Machine: describeMachine(),
		Settings: soakSettings{DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(), Connections: o.connections,
			SeededJobs: o.jobs, WriterTickMS: writerTick.Milliseconds(), TimeoutS: o.timeout.Seconds(), ValidateEvery: validateEvery,
			RSSEveryS: rssEvery.Seconds(), RSSTolerance: rssTolerance, MaxLagMS: msOf(maxLag), MaxWarmups: maxWarmups, ServerEnv: polyjobsEnv}}
	if o.rate > 0 {
		r.Settings.FixedRate = o.rate
	} else {
		r.Settings.LoadFraction, r.Settings.CapacityS = o.load, o.capacity.Seconds()
	}
	return r
}

// fill puts the soak's figures into r.
func (r *soakReport) fill(tl *timeline, errs *tally, g *generator, wr *writer, p *pool, log *logStats) {
	total := tl.total()
	r.Requests = total.attempts()
	r.AchievedRPS = float64(r.Requests) / tl.measured().Seconds()
	r.Latency, r.LagP90MS = total.hist.summary(), msOf(total.lag.quantile(0.9))
	for _, w := range r.Warmups {
		r.WarmupRequests += w.Requests
	}
	r.failures = errs.snapshot()
	r.BodiesValidated = g.validated.Load()
	for i, w := range tl.windows {
		r.Minutes = append(r.Minutes, minuteRow{Minute: i + 1, Seconds: w.length.Seconds(), Requests: w.attempts(),
			RPS: float64(w.attempts()) / w.length.Seconds(), Errors: w.errs.Load(), latency: w.hist.summary(), LagP90MS: msOf(w.lag.quantile(0.9))})
	}
	if len(r.RSS) > 0 {
		r.RSSStartBytes, r.RSSEndBytes = r.RSS[0].RSSBytes, r.RSS[len(r.RSS)-1].RSSBytes
	}
	r.Writer = writerSummary{Ticks: wr.ticks, Created: wr.creates, Started: wr.starts, Done: wr.finishes, Failed: wr.fails,
		Retired: wr.retired, failures: wr.errs.snapshot(), Jobs: len(wr.every), PoolAtEnd: len(p.all()), MixAtEnd: p.mix()}
	log.mu.Lock()
	r.ServerLog = serverLog{Lines: log.lines, Warnings: log.warns, Errors: log.errors, Notices: slices.Clone(log.notices)}
	log.mu.Unlock()
}

// judge sets the verdict from the counts, the RSS and any reasons already given.
func (r *soakReport) judge() {
	if r.Errors > 0 {
		r.Reasons = append(r.Reasons, fmt.Sprintf("%d requests failed (%s)", r.Errors, kindsString(r.ErrorKinds)))
	}
	if r.Writer.Errors > 0 {
		r.Reasons = append(r.Reasons, fmt.Sprintf("%d job changes failed (%s)", r.Writer.Errors, kindsString(r.Writer.ErrorKinds)))
	}
	if r.RSSStartBytes > 0 {
		r.RSSChange = float64(r.RSSEndBytes-r.RSSStartBytes) / float64(r.RSSStartBytes)
		if math.Abs(r.RSSChange) > rssTolerance {
			r.Reasons = append(r.Reasons, fmt.Sprintf("RSS not flat: %s at the end, %+.1f %% from %s at the start (allowed ±%.0f %%)",
				mibString(r.RSSEndBytes), 100*r.RSSChange, mibString(r.RSSStartBytes), 100*rssTolerance))
		}
	}
	if r.LagP90MS > msOf(maxLag) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the load fell behind its schedule during the soak (p90 %s late): its latency counts that wait", ms(r.LagP90MS)))
	}
	if r.TargetRPS > 0 && r.AchievedRPS < rateShortfall*r.TargetRPS {
		r.Warnings = append(r.Warnings, fmt.Sprintf("achieved %.0f req/s, %.0f %% of the target %.0f: the server or the machine fell behind",
			r.AchievedRPS, 100*r.AchievedRPS/r.TargetRPS, r.TargetRPS))
	}
	if r.ServerLog.Errors > 0 || r.ServerLog.Warnings > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the server logged %d errors and %d warnings", r.ServerLog.Errors, r.ServerLog.Warnings))
	}
	r.Verdict = verdictPass
	if len(r.Reasons) > 0 {
		r.Verdict = verdictFail
	}
}

// DBName names the database for people.
func (r *soakReport) DBName() string {
	return map[string]string{"sqlite": "SQLite", "postgres": "PostgreSQL"}[r.DB]
}

// write writes soak.json and soak.md.
func (r *soakReport) write() error {
	js, err := indentJSON(r)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	if err := render(&md, "soak.md", r); err != nil {
		return err
	}
	return writeFiles(map[string][]byte{soakJSON: js, soakMarkdown: md.Bytes()})
}

// logStats receives a server's output, which may be a line per request for
// minutes, in bounded memory: it counts the lines and those logged at level
// WARN or ERROR, and keeps the first few of those. It is safe for concurrent
// use.
type logStats struct {
	mu                   sync.Mutex
	partial              []byte // an unfinished line, cut at 4 KiB
	lines, warns, errors int64
	notices              []string // the first WARN and ERROR lines
}

func (l *logStats) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			i = len(p)
		}
		l.partial = append(l.partial, p[:min(i, max(0, 4<<10-len(l.partial)))]...)
		if i == len(p) {
			break
		}
		l.lines++
		level := ""
		if bytes.Contains(l.partial, []byte(`"level":"ERROR"`)) {
			l.errors++
			level = "ERROR"
		} else if bytes.Contains(l.partial, []byte(`"level":"WARN"`)) {
			l.warns++
			level = "WARN"
		}
		if level != "" && len(l.notices) < 5 {
			l.notices = append(l.notices, string(l.partial))
		}
		l.partial, p = l.partial[:0], p[i+1:]
	}
	return n, nil
}
