package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/cmd/polyjobs/internal/demo"
	"github.com/polyjobs/polyjobs/internal/buildinfo"
	"github.com/polyjobs/polyjobs/internal/hostname"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store/database"
)

// serveOptions are the flags of `polyjobs serve`.
type serveOptions struct {
	addr          string
	adminAddr     string
	rate          float64
	burst         int
	keyCacheTTL   time.Duration
	jobCacheTTL   time.Duration
	plain         bool
	db            string
	dev           bool
	devKeys       string
	devInterval   time.Duration
	pollHint      time.Duration
	retention     time.Duration
	purgeInterval time.Duration
	shutdownGrace time.Duration
	logFormat     string
	logLevel      string
	maxWait       time.Duration
	maxWaiters    int
	maxKeyWaiters int
	maxConns      int
	failureRate   float64
	failureBurst  int
	adminToken    string
	pprof         bool
	control       bool
	controlToken  string

	// program is how the binary was invoked, for the commands the --dev
	// banner prints.
	program string
	// stopSignals, when set, stops catching SIGINT and SIGTERM: serve calls
	// it as its shutdown begins, so that a second signal stops the process
	// at once, as Go does by default, rather than waiting out the grace.
	stopSignals func()
}

// defaultDevKeys is the file where `serve --dev` keeps its demo keys.
const defaultDevKeys = "polyjobs.devkeys.json"

// flags declares every flag of `polyjobs serve` with its environment
// variable and default.
func (o *serveOptions) flags() []flagSpec {
	return []flagSpec{
		{name: "addr", env: "POLYJOBS_ADDR", value: stringFlag(&o.addr, "127.0.0.1:8080"),
			usage: "address of the API listener"},
		{name: "admin-addr", env: "POLYJOBS_ADMIN_ADDR", value: stringFlag(&o.adminAddr, "127.0.0.1:9090"), emptyMeans: true,
			usage: "address of the admin listener (/healthz, /readyz, /metrics); empty disables it"},
		dbFlag(&o.db),
		{name: "poll-hint", env: "POLYJOBS_POLL_HINT", value: durationFlag(&o.pollHint, server.DefaultPollHint),
			usage: "Retry-After sent with jobs that are not terminal; negative sends none"},
		{name: "rate", env: "POLYJOBS_RATE", value: floatFlag(&o.rate, server.DefaultRate),
			usage: "requests per second allowed per API key, beyond which the answer is 429 with Retry-After; negative disables the limit"},
		{name: "burst", env: "POLYJOBS_BURST", value: intFlag(&o.burst, server.DefaultBurst),
			usage: "burst of requests allowed per API key above --rate"},
		{name: "key-cache-ttl", env: "POLYJOBS_KEY_CACHE_TTL", value: durationFlag(&o.keyCacheTTL, server.DefaultKeyCacheTTL),
			usage: "how long key lookups are cached: a key revoked by another process (admin key revoke, another replica) keeps working here at most this long; negative disables the cache"},
		{name: "job-cache-ttl", env: "POLYJOBS_JOB_CACHE_TTL", value: durationFlag(&o.jobCacheTTL, server.DefaultJobCacheTTL),
			usage: "how long terminal jobs, which never change, are cached: a purged job may be served at most this long; negative disables the cache"},
		{name: "plain", env: "POLYJOBS_PLAIN", value: boolFlag(&o.plain, false),
			usage: "turn every fast path off: full request validation by echo-middleware, no key or job cache, held requests kept in net/http; slower, and the reference the fast paths are tested against"},
		{name: "max-wait", env: "POLYJOBS_MAX_WAIT", value: durationFlag(&o.maxWait, server.DefaultMaxWait),
			usage: "longest a request with If-None-Match and Prefer: wait is held until its job changes; negative never holds"},
		{name: "max-waiters", env: "POLYJOBS_MAX_WAITERS", value: intFlag(&o.maxWaiters, server.DefaultMaxWaiters),
			usage: "requests held at once, in all; over it a request is answered at once and its client polls"},
		{name: "max-waiters-per-key", env: "POLYJOBS_MAX_WAITERS_PER_KEY", value: intFlag(&o.maxKeyWaiters, server.DefaultMaxWaitersPerKey),
			usage: "requests held at once per API key"},
		{name: "max-conns", env: "POLYJOBS_MAX_CONNS", value: intFlag(&o.maxConns, 0),
			usage: "connections the API listener holds at once, idle keep-alive connections shed first at the cap; 0 derives it from the open-file limit"},
		{name: "auth-failure-rate", env: "POLYJOBS_AUTH_FAILURE_RATE", value: floatFlag(&o.failureRate, server.DefaultAuthFailureRate),
			usage: "failed authentications per second allowed per client address, beyond --auth-failure-burst; over it the address gets 429 before any key is looked up; negative disables the limit"},
		{name: "auth-failure-burst", env: "POLYJOBS_AUTH_FAILURE_BURST", value: intFlag(&o.failureBurst, server.DefaultAuthFailureBurst),
			usage: "failed authentications allowed per client address in a burst"},
		{name: "admin-token", env: "POLYJOBS_ADMIN_TOKEN", value: stringFlag(&o.adminToken, ""),
			usage: "bearer token the admin listener requires for /metrics and /debug/pprof/ (/healthz and /readyz stay open); without one, those answer only requests addressed by IP address or as localhost; prefer the environment variable, the command line is visible to other users"},
		{name: "pprof", env: "POLYJOBS_PPROF", value: boolFlag(&o.pprof, false),
			usage: "serve Go's profiles on the admin listener's /debug/pprof/ (off a loopback --admin-addr, only with --admin-token)"},
		{name: "control", env: "POLYJOBS_CONTROL", value: boolFlag(&o.control, false),
			usage: "serve the control API under /__polyjobs/ on the API listener (create organizations, keys and planned jobs, inject faults, reset); --dev turns it on"},
		{name: "control-token", env: "POLYJOBS_CONTROL_TOKEN", value: stringFlag(&o.controlToken, ""),
			usage: "bearer token the control API requires; needed when --addr is not a loopback address"},
		{name: "retention", env: "POLYJOBS_RETENTION", value: durationFlag(&o.retention, server.DefaultRetention),
			usage: "terminal jobs older than this are purged"},
		{name: "purge-interval", env: "POLYJOBS_PURGE_INTERVAL", value: durationFlag(&o.purgeInterval, time.Hour),
			usage: "how often jobs older than --retention are purged"},
		{name: "shutdown-grace", env: "POLYJOBS_SHUTDOWN_GRACE", value: durationFlag(&o.shutdownGrace, 10*time.Second),
			usage: "how long in-flight requests may finish after SIGINT or SIGTERM"},
		{name: "log-format", env: "POLYJOBS_LOG_FORMAT", value: stringFlag(&o.logFormat, "text"),
			usage: "log format, " + strings.Join(server.LogFormats, " or ") + ": one line per request with request id, status and latency, never a key"},
		{name: "log-level", env: "POLYJOBS_LOG_LEVEL", value: stringFlag(&o.logLevel, "info"),
			usage: "log level: debug, info, warn or error"},
		{name: "dev", env: "POLYJOBS_DEV", value: boolFlag(&o.dev, false),
			usage: "demo mode: a demo organization and keys, printed with commands to paste, and demo jobs of every type that keep moving"},
		{name: "dev-keys", env: "POLYJOBS_DEV_KEYS", value: stringFlag(&o.devKeys, defaultDevKeys),
			usage: "file keeping the demo keys between --dev runs (mode 0600)"},
		{name: "dev-interval", env: "POLYJOBS_DEV_INTERVAL", value: durationFlag(&o.devInterval, 3*time.Second),
			usage: "the time unit of the demo jobs of --dev: each starts one to two units after it is created, and ends two to eight units after that"},
	}
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{program: programName()}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference server",
		Long: `Run the reference server of GET /api/jobs/{type}/{id}.

With --dev it also creates a demo organization and keys (kept in --dev-keys so
they survive restarts), prints them with ready-to-paste commands, and keeps
demo jobs of every type moving through their lifecycle.

Every flag falls back to the environment variable named in its help.
SIGINT or SIGTERM stops the server gracefully; a second one stops it at once.`,
		Args: exactArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return o.validate(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.stopSignals = stop
			return serve(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addFlags(cmd.Flags(), o.flags()...)
	return cmd
}

// maxPollHint bounds --poll-hint: a client told to come back later than
// this has most likely been misconfigured.
const maxPollHint = 24 * time.Hour

// validate checks the flags' values before anything starts. A zero that
// the server would read as "the default" is refused where the flag's
// default is given: it would not mean what it says.
func (o *serveOptions) validate(cmd *cobra.Command) error {
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"retention", o.retention}, {"purge-interval", o.purgeInterval}, {"dev-interval", o.devInterval}} {
		if d.value <= 0 {
			return usagef("%s must be positive, got %s", flagSource(cmd, d.name), d.value)
		}
	}
	for _, d := range []struct {
		name, negative string
		value          time.Duration
	}{
		{"poll-hint", "send none", o.pollHint},
		{"key-cache-ttl", "turn the cache off", o.keyCacheTTL},
		{"job-cache-ttl", "turn the cache off", o.jobCacheTTL},
		{"max-wait", "never hold", o.maxWait},
	} {
		if d.value == 0 {
			return usagef("%s must not be 0: give a positive duration, or a negative one to %s", flagSource(cmd, d.name), d.negative)
		}
	}
	if o.pollHint > maxPollHint {
		return usagef("%s must be at most %s, got %s", flagSource(cmd, "poll-hint"), maxPollHint, o.pollHint)
	}
	if o.shutdownGrace < 0 {
		return usagef("%s must not be negative, got %s", flagSource(cmd, "shutdown-grace"), o.shutdownGrace)
	}
	for _, n := range []struct {
		name  string
		value int
	}{{"max-waiters", o.maxWaiters}, {"max-waiters-per-key", o.maxKeyWaiters}, {"burst", o.burst}, {"auth-failure-burst", o.failureBurst}} {
		if n.value <= 0 {
			return usagef("%s must be positive, got %d", flagSource(cmd, n.name), n.value)
		}
	}
	if o.maxConns < 0 {
		return usagef("%s must not be negative, got %d", flagSource(cmd, "max-conns"), o.maxConns)
	}
	for _, r := range []struct {
		name  string
		value float64
	}{{"rate", o.rate}, {"auth-failure-rate", o.failureRate}} {
		if r.value == 0 || math.IsNaN(r.value) || math.IsInf(r.value, 0) {
			return usagef("%s must be a positive number, or a negative one to disable the limit, got %v", flagSource(cmd, r.name), r.value)
		}
	}
	if o.dev {
		// --dev prints its keys and serves demo data: never beyond this host,
		// with a control token or not (so this comes first).
		for _, a := range []struct{ name, addr string }{{"addr", o.addr}, {"admin-addr", o.adminAddr}} {
			if a.addr != "" && !hostname.IsLoopback(a.addr) {
				return usagef("--dev serves demo keys, so it listens on this host only: %s %q is not a loopback address (use 127.0.0.1:PORT, or run without --dev)",
					flagSource(cmd, a.name), a.addr)
			}
		}
	}
	if (o.control || o.dev) && o.controlToken == "" && !hostname.IsLoopback(o.addr) {
		return usagef("the control API can reset the server: %s %q is not a loopback address, so give it --control-token (POLYJOBS_CONTROL_TOKEN)",
			flagSource(cmd, "addr"), o.addr)
	}
	if o.pprof && o.adminAddr != "" && o.adminToken == "" && !hostname.IsLoopback(o.adminAddr) {
		return usagef("the profiles show the command line, database URL included: %s %q is not a loopback address, so give it --admin-token (POLYJOBS_ADMIN_TOKEN)",
			flagSource(cmd, "admin-addr"), o.adminAddr)
	}
	if _, err := newLogger(io.Discard, o.logFormat, o.logLevel); err != nil {
		return usage(err)
	}
	return nil
}

// serve runs the server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, o *serveOptions, stdout, stderr io.Writer) error {
	logs := newLogBuffer(stderr)
	defer logs.Close()
	logger, err := newLogger(logs, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	info := buildinfo.Read()
	metrics := server.NewMetrics()
	if err := registerBuildInfo(metrics.Registry, info); err != nil {
		return err
	}
	// The admin listener serves from the start, so that an orchestrator's
	// liveness probe (/healthz) does not restart a replica that waits for
	// its database, and /readyz says it is starting.
	gate := &server.StoreGate{}
	if o.adminAddr != "" {
		adminLn, err := net.Listen("tcp", o.adminAddr)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		admin := server.HTTPServer(o.adminAddr, server.AdminHandler(server.AdminConfig{
			Store: gate, Metrics: metrics, Logger: logger, Token: o.adminToken, Pprof: o.pprof}), logger)
		defer admin.Close()
		logger.Info("admin listening", slog.String("url", "http://"+adminLn.Addr().String()))
		go admin.Serve(adminLn)
	}
	st, err := openStoreNoticed(ctx, o.db, logger)
	if err != nil {
		if ctx.Err() != nil {
			// SIGINT or SIGTERM while starting (waiting for the database or
			// another replica's migration): a clean stop, not a failure.
			logger.Info("stopped before serving", slog.String("reason", ctx.Err().Error()))
			return nil
		}
		return err
	}
	defer st.Close()
	defer gate.Stop() // first: the admin listener, still open, no longer checks the store

	handler, err := server.New(server.Config{
		Store: st, Logger: logger, PollHint: o.pollHint, Metrics: metrics,
		Rate: o.rate, Burst: o.burst, KeyCacheTTL: o.keyCacheTTL, JobCacheTTL: o.jobCacheTTL,
		AuthFailureRate: o.failureRate, AuthFailureBurst: o.failureBurst,
		MaxWait: o.maxWait, MaxWaiters: o.maxWaiters, MaxWaitersPerKey: o.maxKeyWaiters,
		Plain: o.plain, Control: o.controlOptions(),
	})
	if err != nil {
		return err
	}
	tuneGC(handler.MaxWaiters())
	var creds demo.Credentials
	var driver *demo.Driver
	if ctl := handler.Control(); ctl != nil {
		go ctl.Run(ctx)
		if o.dev {
			if creds, err = demo.Setup(ctx, ctl.Service, st, o.devKeys); err != nil {
				return err
			}
			driver = &demo.Driver{Control: ctl.Service, OrgID: creds.OrgID, Logger: logger, Interval: o.devInterval, FailureRate: 0.2}
			if err := driver.Tick(ctx); err != nil {
				return fmt.Errorf("demo jobs: %w", err)
			}
		}
	}
	tcp, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := server.HTTPServer(o.addr, handler, logger)
	maxConns := o.maxConns
	if maxConns == 0 {
		maxConns = server.DefaultMaxConns(openFileLimit())
	}
	ln := server.NewListener(tcp, srv, maxConns)
	baseURL := "http://" + ln.Addr().String()
	// Where the server listens, on what database, and which build: logged
	// once it can serve, so that one that cannot start prints only its
	// error.
	logger.Info("listening", slog.String("url", baseURL), slog.String("db", database.Redact(o.db)),
		slog.String("version", info.Version), slog.String("commit", info.Commit), slog.String("go", info.GoVersion),
		slog.Bool("plain", o.plain), slog.Int("max_conns", maxConns))
	gate.Open(st)
	if o.dev {
		if err := printDevBanner(ctx, stdout, baseURL, o, creds, st); err != nil {
			return err
		}
		go driver.Run(ctx)
	}
	purger := &server.Purger{Store: st, Retention: o.retention, Interval: o.purgeInterval, Logger: logger}
	go purger.Run(ctx)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// Not ready from now on; the store closes after the admin listener's
	// last check of it.
	gate.Stop()
	if o.stopSignals != nil {
		o.stopSignals()
	}
	logger.Info("shutting down: a second SIGINT or SIGTERM stops at once", slog.Duration("grace", o.shutdownGrace))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	// Held requests parked off net/http, which Shutdown does not see, are
	// answered (Handler.EndWaits) and closed.
	cut := ln.Drain(shutdownCtx)
	if err != nil {
		cut += ln.Open()
		srv.Close()
	}
	if cut > 0 {
		// The grace is over: what still runs is cut. That is the stop the
		// operator asked for, not a failure.
		logger.Warn("shutdown grace over: connections closed", slog.Int("connections", cut), slog.Duration("grace", o.shutdownGrace))
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// controlOptions turns the control API on for --control and --dev.
func (o *serveOptions) controlOptions() *control.Options {
	if !o.control && !o.dev {
		return nil
	}
	return &control.Options{Token: o.controlToken}
}

// newLogger builds the process logger.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	logger, err := server.NewLogger(w, strings.ToLower(format), lv)
	if err != nil {
		return nil, fmt.Errorf("--log-format: %w", err)
	}
	return logger, nil
}
