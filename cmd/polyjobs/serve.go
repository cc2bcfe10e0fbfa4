package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/cmd/polyjobs/internal/demo"
	"github.com/polyjobs/polyjobs/server"
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
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference server",
		Long: `Run the reference server of GET /api/jobs/{type}/{id}.

With --dev it also creates a demo organization and keys (kept in --dev-keys so
they survive restarts), prints them with ready-to-paste curl lines, and keeps
demo jobs of every type moving through their lifecycle.

Every flag falls back to an environment variable (POLYJOBS_ADDR, POLYJOBS_DB,
...; see each flag). SIGINT or SIGTERM stops the server gracefully.`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return bindEnv(cmd, map[string]string{
				"addr": "POLYJOBS_ADDR", "admin-addr": "POLYJOBS_ADMIN_ADDR", "db": "POLYJOBS_DB",
				"rate": "POLYJOBS_RATE", "burst": "POLYJOBS_BURST",
				"key-cache-ttl": "POLYJOBS_KEY_CACHE_TTL", "job-cache-ttl": "POLYJOBS_JOB_CACHE_TTL", "dev-keys": "POLYJOBS_DEV_KEYS",
				"poll-hint": "POLYJOBS_POLL_HINT", "retention": "POLYJOBS_RETENTION",
				"shutdown-grace": "POLYJOBS_SHUTDOWN_GRACE", "log-format": "POLYJOBS_LOG_FORMAT",
				"log-level": "POLYJOBS_LOG_LEVEL",
			})
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (env POLYJOBS_ADDR)")
	f.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:9090", "address of the admin listener (/healthz, /readyz, /metrics); empty to disable (env POLYJOBS_ADMIN_ADDR)")
	f.StringVar(&o.db, "db", defaultDB, dbUsage)
	f.Float64Var(&o.rate, "rate", server.DefaultRate, "requests per second allowed per API key; negative to disable (env POLYJOBS_RATE)")
	f.IntVar(&o.burst, "burst", server.DefaultBurst, "burst of requests allowed per API key (env POLYJOBS_BURST)")
	f.DurationVar(&o.keyCacheTTL, "key-cache-ttl", server.DefaultKeyCacheTTL, "how long key lookups are cached: a key revoked elsewhere works here at most this long; negative to disable (env POLYJOBS_KEY_CACHE_TTL)")
	f.DurationVar(&o.jobCacheTTL, "job-cache-ttl", server.DefaultJobCacheTTL, "how long terminal jobs are cached: a purged job may be served at most this long; negative to disable (env POLYJOBS_JOB_CACHE_TTL)")
	f.BoolVar(&o.dev, "dev", false, "demo mode: demo organization, printed keys, moving demo jobs")
	f.StringVar(&o.devKeys, "dev-keys", "polyjobs.devkeys.json", "file keeping the demo keys between --dev runs (env POLYJOBS_DEV_KEYS)")
	f.DurationVar(&o.devInterval, "dev-interval", 3*time.Second, "how often demo jobs move")
	f.DurationVar(&o.pollHint, "poll-hint", server.DefaultPollHint, "Retry-After sent with jobs not yet terminal; negative for none (env POLYJOBS_POLL_HINT)")
	f.DurationVar(&o.retention, "retention", server.DefaultRetention, "how long terminal jobs are kept (env POLYJOBS_RETENTION)")
	f.DurationVar(&o.purgeInterval, "purge-interval", time.Hour, "how often expired jobs are purged")
	f.DurationVar(&o.shutdownGrace, "shutdown-grace", 10*time.Second, "how long in-flight requests may finish on shutdown (env POLYJOBS_SHUTDOWN_GRACE)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json (env POLYJOBS_LOG_FORMAT)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error (env POLYJOBS_LOG_LEVEL)")
	return cmd
}

// serve runs the server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, o *serveOptions, stdout, stderr io.Writer) error {
	setGCPercent()
	logs := newLogBuffer(stderr)
	defer logs.Close()
	logger, err := newLogger(logs, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	if o.retention <= 0 || o.purgeInterval <= 0 || o.devInterval <= 0 {
		return errors.New("--retention, --purge-interval and --dev-interval must be positive")
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

	var creds demo.Credentials
	var driver *demo.Driver
	if o.dev {
		if creds, err = demo.Setup(ctx, st, o.devKeys); err != nil {
			return err
		}
		driver = &demo.Driver{Store: st, OrgID: creds.OrgID, Logger: logger, FailureRate: 0.2}
		if err := driver.Tick(ctx); err != nil {
			return fmt.Errorf("demo jobs: %w", err)
		}
	}

	metrics := server.NewMetrics()
	handler, err := server.New(server.Config{
		Store: st, Logger: logger, PollHint: o.pollHint, Metrics: metrics,
		Rate: o.rate, Burst: o.burst, KeyCacheTTL: o.keyCacheTTL, JobCacheTTL: o.jobCacheTTL,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := server.HTTPServer(o.addr, handler, logger)
	baseURL := "http://" + ln.Addr().String()
	logger.Info("listening", slog.String("url", baseURL), slog.String("db", database.Redact(o.db)))
	var admin *http.Server
	if o.adminAddr != "" {
		adminLn, err := net.Listen("tcp", o.adminAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listener: %w", err)
		}
		admin = server.HTTPServer(o.adminAddr, server.AdminHandler(st, metrics, logger), logger)
		logger.Info("admin listening", slog.String("url", "http://"+adminLn.Addr().String()))
		go admin.Serve(adminLn)
	}
	if o.dev {
		if err := printDevBanner(ctx, stdout, baseURL, o, creds, st); err != nil {
			return err
		}
		go driver.Run(ctx, o.devInterval)
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
	logger.Info("shutting down", slog.Duration("grace", o.shutdownGrace))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
	defer cancel()
	if admin != nil {
		defer admin.Close()
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// newLogger builds the process logger.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
