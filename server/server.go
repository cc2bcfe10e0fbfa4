package server

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/polyjobs/polyjobs/generated/apiserver"
	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/server/apidocs"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/internal/fastpath"
	"github.com/polyjobs/polyjobs/server/store"
)

// Config configures the reference server. Zero values take the defaults.
type Config struct {
	// Store holds organizations, keys and jobs. Required.
	Store store.Store
	// Logger receives the access log and errors. Default: slog.Default().
	Logger *slog.Logger
	// PollHint is the Retry-After sent with jobs that are not terminal yet,
	// rounded up to whole seconds. Zero means DefaultPollHint; negative sends none.
	PollHint time.Duration
	// BodyLimit caps request bodies in bytes (the API takes none). Zero
	// means DefaultBodyLimit.
	BodyLimit int64
	// KeyCacheTTL is how long a key lookup is reused, and so the longest a key
	// revoked by another process keeps working here. Zero means
	// DefaultKeyCacheTTL; negative disables the key cache.
	KeyCacheTTL time.Duration
	// JobCacheTTL is how long a terminal job is reused (terminal jobs never
	// change), and so the longest a purged job may still be served. Zero
	// means DefaultJobCacheTTL; negative disables the job cache.
	JobCacheTTL time.Duration
	// Rate is the sustained requests per second allowed per API key, and
	// Burst the bucket size. Zero means DefaultRate and DefaultBurst;
	// a negative Rate turns rate limiting off.
	Rate  float64
	Burst int
	// AuthFailureRate is the sustained failed authentications per second
	// allowed per client address, and AuthFailureBurst the bucket size;
	// past them the address's requests get a 429 before any credentials
	// are looked up. Behind a load balancer every client shares its
	// address, so the defaults are generous. Zero means the defaults; a
	// negative rate turns the limit off.
	AuthFailureRate  float64
	AuthFailureBurst int
	// MaxWait caps how long a request that asks to (Prefer: wait) is held
	// until its job changes. Zero means DefaultMaxWait; negative never holds.
	MaxWait time.Duration
	// MaxWaiters and MaxWaitersPerKey cap the requests held at once, in all
	// and per API key. Zero means DefaultMaxWaiters and
	// DefaultMaxWaitersPerKey.
	MaxWaiters, MaxWaitersPerKey int
	// Control, when not nil, turns the control API on, served under
	// control.Prefix on the same listener (see Handler.Control); the faults it
	// injects reach the API's answers, and its writes go through the same
	// caches as the API's reads.
	Control *control.Options
	// Metrics receives the server's metrics; serve Metrics.Registry (see
	// AdminHandler). Default: a private set.
	Metrics *Metrics
	// Plain turns every fast path off (server/internal/fastpath): each
	// request is validated in full by echo-middleware with kin-openapi's own
	// router, and each key and job is read from the store. It is the
	// reference the fast paths are tested against, and a way to rule them
	// out when something looks wrong. It also keeps held requests on their
	// goroutines rather than parked off net/http (park.go).
	Plain bool
}

// Defaults of Config.
const (
	DefaultPollHint    = 2 * time.Second
	DefaultBodyLimit   = 16 << 10
	DefaultKeyCacheTTL = fastpath.DefaultKeyTTL
	DefaultJobCacheTTL = fastpath.DefaultJobTTL
	DefaultRate        = 50.0
	DefaultBurst       = 100
	// A client may fail to authenticate 50 times in a row, then about once
	// a second.
	DefaultAuthFailureRate  = 1.0
	DefaultAuthFailureBurst = 50
)

// DefaultIdleTimeout is how long an idle keep-alive connection is kept: long
// enough for a poller's next request, short enough that idle clients do not
// pile up.
const DefaultIdleTimeout = 30 * time.Second

// MaxHeaderBytes is the largest request header block (request line
// included) the server accepts: beyond it the pipeline answers a JSON 431.
// net/http itself reads twice as much before it answers a 431 of its own.
const MaxHeaderBytes = 16 << 10

// Handler is the reference server's http.Handler: the API (an echo
// instance), the requests it holds until their job changes, the API
// reference (server/apidocs) and the control API when it is on.
type Handler struct {
	control *control.Control
	waits   *waitHub
	// docs answers the API reference's paths and passes every other request
	// to the API's echo instance.
	docs http.Handler
}

// ServeHTTP serves the control API under control.Prefix, when it is on, the
// API reference, and every other request through echo and the pipeline.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.control != nil && strings.HasPrefix(r.URL.Path, control.Prefix+"/") {
		h.control.ServeHTTP(w, r)
		return
	}
	h.docs.ServeHTTP(w, r)
}

// Control returns the control API, or nil when it is off. Its Run method
// takes the steps of jobs' plans: run it while the server serves.
func (h *Handler) Control() *control.Control { return h.control }

// EndWaits answers every held request at once (304) and holds none from
// then on: call it when the server shuts down, or http.Server.Shutdown waits
// for the held requests. HTTPServer registers it with RegisterOnShutdown.
func (h *Handler) EndWaits() { h.waits.shutdown() }

// MaxWaiters returns how many requests the server may hold at once: Config's
// MaxWaiters with its default applied, or 0 when MaxWait forbids holding.
func (h *Handler) MaxWaiters() int { return h.waits.maxTotal }

// Waiting returns how many requests the server holds now (the
// polyjobs_waiters gauge).
func (h *Handler) Waiting() int {
	h.waits.mu.Lock()
	defer h.waits.mu.Unlock()
	return h.waits.total
}

// New returns the reference server as a handler ready to serve. The package
// documentation walks one request through it.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PollHint == 0 {
		cfg.PollHint = DefaultPollHint
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.AuthFailureRate == 0 {
		cfg.AuthFailureRate = DefaultAuthFailureRate
	}
	if cfg.AuthFailureBurst <= 0 {
		cfg.AuthFailureBurst = DefaultAuthFailureBurst
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.MaxWaiters <= 0 {
		cfg.MaxWaiters = DefaultMaxWaiters
	}
	if cfg.MaxWaitersPerKey <= 0 {
		cfg.MaxWaitersPerKey = DefaultMaxWaitersPerKey
	}
	if cfg.MaxWait < 0 {
		cfg.MaxWaiters = 0
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	spec, err := apispec.Load()
	if err != nil {
		return nil, err
	}

	// The store the request path reads: every database call timed, then,
	// unless Plain, the fast paths' caches and shared queries in front.
	var st store.Store = newTimedStore(cfg.Store, cfg.Metrics)
	auth := &authenticator{logger: cfg.Logger}
	if cfg.Rate > 0 {
		auth.limiter = newKeyLimiter(cfg.Rate, cfg.Burst)
	}
	options := &openapi3filter.Options{
		AuthenticationFunc:      auth.Authenticate,
		SchemaValidationOptions: apispec.SchemaOptions(),
	}
	var validator requestValidator
	if cfg.Plain {
		if validator, err = newPlainValidator(spec, options); err != nil {
			return nil, err
		}
	} else {
		st = fastpath.NewStore(st, fastpath.StoreConfig{KeyTTL: cfg.KeyCacheTTL, JobTTL: cfg.JobCacheTTL})
		validator = fastpath.NewValidator(spec, options, cfg.Metrics.memoHits.Inc)
	}
	auth.keys = st

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = echo.ExtractIPDirect()
	errs := &errorHandler{logger: cfg.Logger}
	e.HTTPErrorHandler = errs.handle
	p := &pipeline{
		logger:    cfg.Logger,
		access:    newAccessLog(cfg.Logger),
		metrics:   cfg.Metrics,
		bodyLimit: cfg.BodyLimit,
		validator: validator,
		maxHold:   cfg.MaxWait + cfg.MaxWait/waitJitter,
	}
	if cfg.AuthFailureRate > 0 {
		p.failures = newFailureLimiter(cfg.AuthFailureRate, cfg.AuthFailureBurst)
	}
	e.Use(p.middleware)
	// The generated wrapper binds the parameters and calls the strict
	// handler, which calls handler.GetJob.
	h := &handler{store: st, metrics: cfg.Metrics, pollHint: retryAfterValue(cfg.PollHint),
		waits: newWaitHub(cfg.Store, cfg.Metrics, cfg.MaxWaiters, cfg.MaxWaitersPerKey), maxWait: cfg.MaxWait,
		parking: !cfg.Plain, errors: errs, pipeline: p}
	var ctl *control.Control
	if cfg.Control != nil {
		opts := *cfg.Control
		if opts.Logger == nil {
			opts.Logger = cfg.Logger
		}
		if ctl, err = control.New(st, opts); err != nil {
			return nil, err
		}
		h.faults = ctl.Faults()
	}
	apiserver.RegisterHandlers(withHead{e}, apiserver.NewStrictHandler(h, nil))
	docs, err := apidocs.Mount(e)
	if err != nil {
		return nil, err
	}
	return &Handler{control: ctl, waits: h.waits, docs: docs}, nil
}

// withHead registers every GET route of the spec for HEAD too: RFC 9110
// requires HEAD to answer like GET without a body. The pipeline validates a
// HEAD request as the GET it stands for, and net/http drops the body.
type withHead struct{ *echo.Echo }

// GET registers h for GET and HEAD.
func (r withHead) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	r.Echo.HEAD(path, h, m...)
	return r.Echo.GET(path, h, m...)
}

// HTTPServer wraps h in an http.Server with the timeouts and limits a server
// facing the network needs: slow or idle clients cannot hold connections and
// oversized headers are refused with 431. When h is a *Handler, shutting the
// server down answers the requests it holds at once (Handler.EndWaits). On a
// Listener's connections, held requests leave net/http while they wait
// (park.go): call Listener.Drain after Shutdown, which does not see them.
func HTTPServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.Default()
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    2 * MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// Held requests on a Listener's connections leave net/http while
		// they wait (park.go).
		ConnContext: withConn,
	}
	if sh, ok := h.(*Handler); ok {
		srv.RegisterOnShutdown(sh.EndWaits)
	}
	return srv
}
