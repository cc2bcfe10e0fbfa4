//go:build linux

package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// printReport prints the summary of a soak.
func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "\nSoak: polyjobs serve on %s, %v at a constant %.0f req/s%s, after %v of warm-up\n\n",
		dbName(r.DB), seconds(r.Settings.DurationS), r.TargetRPS, targetOrigin(r), seconds(r.Settings.WarmupS))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  requests\t%d (and %d during the warm-up)\n", r.Requests, r.WarmupRequests)
	fmt.Fprintf(tw, "  errors\t%s\n", errorsString(r))
	for i, wu := range r.Warmups {
		fmt.Fprintf(tw, "  warm-up %d\t%s\n", i+1, warmupString(wu))
	}
	fmt.Fprintf(tw, "  rate\t%.0f req/s achieved, target %.0f (%.1f %%); p90 %s behind schedule\n",
		r.AchievedRPS, r.TargetRPS, pct(r.AchievedRPS, r.TargetRPS), ms(r.LagP90MS))
	fmt.Fprintf(tw, "  latency\tp50 %s, p99 %s, max %s (from when each request was due)\n",
		ms(r.Latency.P50MS), ms(r.Latency.P99MS), ms(r.Latency.MaxMS))
	fmt.Fprintf(tw, "  bodies\t%d validated exactly under load; %d jobs checked exactly at the end\n", r.BodiesValidated, r.FinalCheckJobs)
	fmt.Fprintf(tw, "  job changes\t%s\n", writerString(r.Writer))
	fmt.Fprintf(tw, "  server log\t%d lines, %d warnings, %d errors\n", r.ServerLog.Lines, r.ServerLog.Warnings, r.ServerLog.Errors)
	tw.Flush()

	fmt.Fprintln(w, "\nPer minute (latency from when each request was due; late: how long after, at p90, it was sent)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  minute\tseconds\trequests\treq/s\terrors\tp50\tp99\tmax\tlate\t")
	for _, m := range r.Minutes {
		fmt.Fprintf(tw, "  %d\t%.0f\t%d\t%.0f\t%d\t%s\t%s\t%s\t%s\t\n", m.Minute, m.Seconds, m.Requests, m.RPS, m.Errors,
			ms(m.P50MS), ms(m.P99MS), ms(m.MaxMS), ms(m.LagP90MS))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nServer memory (VmRSS = RssAnon + RssFile of /proc/PID/status; what Go holds, its heap in use and goroutines from /metrics)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  at\tVmRSS\tanon\tfile\tGo holds\theap in use\tgoroutines\t")
	for _, s := range r.RSS {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", s.Label, mibString(s.RSSBytes), mibString(s.AnonBytes),
			mibString(s.FileBytes), mibString(s.GoHeldBytes), mibString(s.HeapInuseBytes), s.Goroutines)
	}
	tw.Flush()
	fmt.Fprintf(w, "  end vs start: %+.1f %% (allowed ±%.0f %%); peak (VmHWM) %s\n", 100*r.RSSChange, 100*rssTolerance, mibString(r.PeakRSSBytes))

	for _, s := range r.ErrorSamples {
		fmt.Fprintf(w, "  !! %s\n", s)
	}
	for _, s := range r.Writer.ErrorSamples {
		fmt.Fprintf(w, "  !! writer: %s\n", s)
	}
	for _, s := range r.ServerLog.Notices {
		fmt.Fprintf(w, "  server log: %s\n", s)
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "\nwarning: %s", s)
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n%s", r.Verdict)
	if r.Verdict == verdictPass {
		fmt.Fprintf(w, ": no errors, RSS flat (%+.1f %%)\n", 100*r.RSSChange)
		return
	}
	fmt.Fprintln(w, ":")
	for _, s := range r.Reasons {
		fmt.Fprintf(w, "  - %s\n", s)
	}
}

// targetOrigin says where the target rate came from.
func targetOrigin(r *report) string {
	if r.Capacity == nil {
		return " (-rate)"
	}
	lowered := ""
	if len(r.Warmups) > 1 {
		lowered = fmt.Sprintf(", lowered from %.0f %% in the warm-up", 100*r.Settings.LoadFraction)
	}
	return fmt.Sprintf(" (%.0f %% of %.0f req/s measured closed-loop at %d connections%s)",
		pct(r.TargetRPS, r.Capacity.RPS), r.Capacity.RPS, r.Capacity.Connections, lowered)
}

// warmupString describes a warm-up attempt.
func warmupString(w warmup) string {
	verdict := "kept up"
	if !w.KeptUp {
		verdict = "FELL BEHIND"
	}
	return fmt.Sprintf("%.0f req/s: %s (held %.0f req/s, p90 %s behind schedule, latency p50 %s, p99 %s, %d errors)",
		w.TargetRPS, verdict, w.AchievedRPS, ms(w.LagP90MS), ms(w.Latency.P50MS), ms(w.Latency.P99MS), w.Errors)
}

// errorsString is the error count with its kinds.
func errorsString(r *report) string {
	if r.Errors == 0 {
		return "0"
	}
	return fmt.Sprintf("%d !! (%s)", r.Errors, kindsString(r.ErrorKinds))
}

// writerString describes the writer's work.
func writerString(ws writerSummary) string {
	return fmt.Sprintf("%d ticks: %d jobs created, %d started, %d done, %d failed, %d withdrawn from the load's %d; %d errors",
		ws.Ticks, ws.Created, ws.Started, ws.Done, ws.Failed, ws.Retired, ws.PoolAtEnd, ws.Errors)
}

// dbName names the database for people.
func dbName(db string) string {
	if db == "postgres" {
		return "PostgreSQL"
	}
	return "SQLite"
}

// ms formats milliseconds.
func ms(v float64) string { return fmt.Sprintf("%.2f ms", v) }

// seconds formats a number of seconds as a duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// pct returns a as a percentage of b (0 when b is 0).
func pct(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * a / b
}
