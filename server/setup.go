package server

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/oapi-codegen/echo-middleware"

	"github.com/polyjobs/polyjobs/generated/apiserver"
	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/cache"
)

// Config configures the reference server's handler.
type Config struct {
	// Store holds organizations, keys and jobs. Required.
	Store store.Store
	// Logger receives the access log and errors. Default: slog.Default().
	Logger *slog.Logger
	// PollHint is the Retry-After sent with jobs that are not terminal yet,
	// rounded up to whole seconds. Zero means DefaultPollHint; negative sends none.
	PollHint time.Duration
	// BodyLimit caps request bodies in bytes (the API takes none). Default: 16 KiB.
	BodyLimit int64
	// KeyCacheTTL is how long a key lookup is reused, and so the longest a key
	// revoked by another process keeps working here. Zero means
	// cache.DefaultKeyTTL (10s); negative disables the key cache.
	KeyCacheTTL time.Duration
	// JobCacheTTL is how long a terminal job is reused (terminal jobs never
	// change), and so the longest a purged job may still be served. Zero
	// means cache.DefaultJobTTL (1m); negative disables the job cache.
	JobCacheTTL time.Duration
	// Rate is the sustained requests per second allowed per API key, and
	// Burst the bucket size. Zero means DefaultRate and DefaultBurst;
	// a negative Rate turns rate limiting off.
	Rate  float64
	Burst int
	// Metrics receives the server's metrics; serve Metrics.Registry (see
	// AdminHandler). Default: a private set.
	Metrics *Metrics
}

// DefaultPollHint is the default Retry-After of jobs that are not terminal.
const DefaultPollHint = 2 * time.Second

// New returns the reference server as an http.Handler ready to serve. Reading
// it top to bottom gives the request pipeline in order.
func New(cfg Config) (*echo.Echo, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.PollHint == 0 {
		cfg.PollHint = DefaultPollHint
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 16 << 10
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	spec, err := apispec.Load()
	if err != nil {
		return nil, err
	}
	// Every request looks up a key and a job: cache both within stated bounds.
	// Database lookups are timed under the cache, so hits are not counted.
	st := cache.New(timedStore{Store: cfg.Store, m: cfg.Metrics},
		cache.Config{KeyTTL: cfg.KeyCacheTTL, JobTTL: cfg.JobCacheTTL})

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = (&errorHandler{logger: logger}).handle

	// The pipeline (pipeline.go) runs every request, in order, through: a
	// request id, recovery from panics, the response headers, the body limit,
	// and echo-middleware's validation of route, parameters and security,
	// whose authentication function resolves the API key to a Principal
	// (a request identical but for its credentials to one already validated
	// is only authenticated: parammemo.go); then one access log line and the
	// request's metrics.
	auth := &authenticator{keys: st, logger: logger}
	p := &pipeline{
		logger:    logger,
		access:    newAccessLog(logger),
		metrics:   cfg.Metrics,
		bodyLimit: cfg.BodyLimit,
		router:    newSpecRouter(spec),
		memo:      newParamMemo(spec, defaultMemoSize),
		validation: &echomiddleware.Options{Options: openapi3filter.Options{
			AuthenticationFunc:      auth.Authenticate,
			SchemaValidationOptions: apispec.SchemaOptions(),
		}},
	}
	e.Use(p.middleware)
	// The generated strict wrapper binds the parameters and calls our handler.
	handler := &Server{store: st, metrics: cfg.Metrics, pollHint: retryAfterHeader(cfg.PollHint)}
	if cfg.Rate > 0 {
		handler.limiter = newKeyLimiter(cfg.Rate, cfg.Burst)
	}
	apiserver.RegisterHandlers(e, apiserver.NewStrictHandler(handler, nil))
	return e, nil
}

// HTTPServer wraps h in an http.Server with the timeouts and limits a server
// facing the network needs: slow or idle clients cannot hold connections and
// oversized headers are refused with 431.
func HTTPServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// MaxHeaderBytes is the largest request header block the server reads.
const MaxHeaderBytes = 16 << 10
