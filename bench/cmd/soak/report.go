//go:build linux

package main

import (
	"fmt"
	"math"
	"time"
)

// Verdicts of a soak.
const (
	verdictPass = "PASS"
	verdictFail = "FAIL"
)

// Pass criteria and sampling.
const (
	// rssTolerance is how far the end RSS may be from the start RSS, as a
	// fraction of the start RSS, for memory to count as flat.
	rssTolerance = 0.10
	// rssEvery is how often the server's RSS is sampled during the soak.
	rssEvery = 30 * time.Second
	// rateShortfall: an achieved rate below this fraction of the target is
	// reported as a warning (the server, or the machine, fell behind).
	rateShortfall = 0.95
	// rampFraction is the share of the warm-up during which the rate ramps
	// up linearly from zero to the target; the rest holds the target.
	rampFraction = 0.5
	// maxLag: the load keeps up with its schedule when 90 % of the requests
	// are sent no later than this after they are due.
	maxLag = 20 * time.Millisecond
	// lowerBy is the factor applied to a rate the load could not keep up
	// with in the warm-up, before trying again; maxWarmups bounds the tries.
	lowerBy    = 0.9
	maxWarmups = 4
	// startDelay and endLead: the start sample is taken this long after the
	// soak's load starts (the connections are new), the end sample this long
	// before it stops, so that all are taken under load (shorter for a soak
	// of less than a few seconds).
	startDelay = time.Second
	endLead    = time.Second
	// capacityLead is the unmeasured start of the capacity run.
	capacityLead = 2 * time.Second
)

// report is the result of a soak: what soak.json holds, and what the summary
// and soak.md show.
type report struct {
	GeneratedAt time.Time   `json:"generated_at"`
	Command     string      `json:"command"`
	Verdict     string      `json:"verdict"`
	Reasons     []string    `json:"reasons,omitempty"`  // why it failed
	Warnings    []string    `json:"warnings,omitempty"` // worth a look, not failures
	DB          string      `json:"db"`
	Machine     machineInfo `json:"machine"`
	Settings    settings    `json:"settings"`
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
	// Errors counts the failed requests of the warm-up and the soak.
	Errors          int64            `json:"errors"`
	ErrorKinds      map[string]int64 `json:"error_kinds,omitempty"`
	ErrorSamples    []string         `json:"error_samples,omitempty"`
	BodiesValidated int64            `json:"bodies_validated"`
	// FinalCheckJobs is the number of jobs that answered exactly once the load
	// and the writer had stopped.
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

// settings are how the soak ran.
type settings struct {
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

// latency summarizes a histogram, in milliseconds.
type latency struct {
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
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
	// SQLite's page cache) apart from file pages (the binary, mmap'd files).
	AnonBytes int64 `json:"rss_anon_bytes"`
	FileBytes int64 `json:"rss_file_bytes"`
	// Goroutines, HeapInuseBytes and GoHeldBytes come from /metrics (0 when
	// unreadable). GoHeldBytes is what the Go runtime holds from the OS less
	// what it released: RssAnon beyond it is memory allocated outside Go,
	// such as SQLite's page cache.
	Goroutines     int64 `json:"goroutines,omitempty"`
	HeapInuseBytes int64 `json:"heap_inuse_bytes,omitempty"`
	GoHeldBytes    int64 `json:"go_held_bytes,omitempty"`
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
	Retired      int64            `json:"retired"`
	Errors       int64            `json:"errors"`
	ErrorKinds   map[string]int64 `json:"error_kinds,omitempty"`
	ErrorSamples []string         `json:"error_samples,omitempty"`
	Jobs         int              `json:"jobs"` // seeded and created
	PoolAtEnd    int              `json:"pool_at_end"`
	MixAtEnd     map[string]int   `json:"mix_at_end"`
}

// serverLog is what the soak server logged.
type serverLog struct {
	Lines    int64    `json:"lines"`
	Warnings int64    `json:"warnings"`
	Errors   int64    `json:"errors"`
	Notices  []string `json:"first_warnings_and_errors,omitempty"`
}

// latencyOf summarizes h.
func latencyOf(h *histogram) latency {
	return latency{P50MS: msOf(h.quantile(0.50)), P99MS: msOf(h.quantile(0.99)), MaxMS: msOf(h.max())}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// judge sets the verdict from the counts, the RSS and any reasons already given.
func (r *report) judge() {
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
		r.Warnings = append(r.Warnings, fmt.Sprintf("the load fell behind its schedule during the soak (p90 %s late): its latency counts that wait",
			ms(r.LagP90MS)))
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

// mibString formats bytes as MiB.
func mibString(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
