package server

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	echomiddleware "github.com/oapi-codegen/echo-middleware"

	"github.com/polyjobs/polyjobs/generated"
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
	// BodyLimit caps request bodies (the API takes none). Default: "16K".
	BodyLimit string
	// KeyCacheTTL is how long a key lookup is reused, and so the longest a key
	// revoked by another process keeps working here. Zero means
	// cache.DefaultKeyTTL (10s); negative disables the key cache.
	KeyCacheTTL time.Duration
	// JobCacheTTL is how long a terminal job is reused (terminal jobs never
	// change), and so the longest a purged job may still be served. Zero
	// means cache.DefaultJobTTL (1m); negative disables the job cache.
	JobCacheTTL time.Duration
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
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "16K"
	}
	spec, err := apispec.Load()
	if err != nil {
		return nil, err
	}
	// Every request looks up a key and a job: cache both within stated bounds.
	st := cache.New(cfg.Store, cache.Config{KeyTTL: cfg.KeyCacheTTL, JobTTL: cfg.JobCacheTTL})

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = (&errorHandler{logger: logger}).handle

	// 1. Every request gets an id, echoed in X-Request-Id and in its log lines.
	e.Use(requestIDMiddleware)
	// 2. One access log line per request, written after the error handler ran.
	e.Use(accessLog(logger))
	// 3. A panic becomes a 500 (inside the access log, so it is logged too).
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			logger.LogAttrs(c.Request().Context(), slog.LevelError, "panic",
				slog.String("request_id", requestID(c)), slog.String("error", err.Error()), slog.String("stack", string(stack)))
			return err
		},
	}))
	// 4. Headers every response carries, errors included.
	e.Use(responseHeaders)
	// 5. The API takes no body: refuse large ones before reading them.
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	// 6. The spec's request validation: route, parameters, version header and
	//    security, which resolves the API key to a Principal on the context.
	auth := &authenticator{keys: st, logger: logger}
	e.Use(echomiddleware.OapiRequestValidatorWithOptions(spec, &echomiddleware.Options{
		DoNotValidateServers:  true,
		SilenceServersWarning: true,
		Options: openapi3filter.Options{
			AuthenticationFunc:      auth.Authenticate,
			SchemaValidationOptions: apispec.SchemaOptions(),
		},
	}))
	// 7. The generated strict wrapper binds parameters and calls our handler.
	generated.RegisterHandlers(e, generated.NewStrictHandler(&Server{
		store:    st,
		pollHint: pollHintSeconds(cfg.PollHint),
	}, nil))
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
