package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/polyjobs/polyjobs/internal/hostname"
	"github.com/polyjobs/polyjobs/server/store"
)

// readyTimeout bounds the store check of /readyz.
const readyTimeout = 2 * time.Second

// AdminConfig configures the admin listener's handler.
type AdminConfig struct {
	// Store is checked by /readyz: the server's store, or a *StoreGate
	// while it opens. Required.
	Store Pinger
	// Metrics are served on /metrics. Required.
	Metrics *Metrics
	// Logger receives why the server is not ready. Default: slog.Default().
	Logger *slog.Logger
	// Token, when set, must be sent as "Authorization: Bearer <Token>" for
	// /metrics and /debug/pprof/; /healthz and /readyz stay open, for load
	// balancers. Without it, those two answer only requests addressed by IP
	// address or as localhost (Host), which a DNS-rebinding page cannot send.
	Token string
	// Pprof serves Go's profiles on /debug/pprof/. Off by default: they
	// expose the command line (with its database URL) and internals.
	Pprof bool
}

// Pinger is what /readyz checks: a store.Store, or a StoreGate.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ErrStarting is a StoreGate's Ping error until its store is open, and
// ErrStopping once the server stops.
var (
	ErrStarting = errors.New("starting: the database is not open yet")
	ErrStopping = errors.New("stopping")
)

// StoreGate stands for the server's store in the admin listener, which
// serves for the server's whole life: /healthz answers throughout, and
// /readyz says "starting" until Open (a replica waiting for its database, or
// for another replica's migration), then checks the store until Stop.
type StoreGate struct {
	mu       sync.Mutex
	s        store.Store
	stopping bool
}

// Open hands the gate the store, once open.
func (g *StoreGate) Open(s store.Store) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.s = s
}

// Stop makes /readyz say the server is stopping, so that load balancers
// send it nothing more while it drains, and never touches the store again:
// the store may then close.
func (g *StoreGate) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopping = true
}

// Ping fails with ErrStarting until Open and with ErrStopping after Stop;
// in between it pings the store.
func (g *StoreGate) Ping(ctx context.Context) error {
	g.mu.Lock()
	s, stopping := g.s, g.stopping
	g.mu.Unlock()
	switch {
	case stopping:
		return ErrStopping
	case s == nil:
		return ErrStarting
	}
	return s.Ping(ctx)
}

// AdminHandler serves the admin listener, which is kept apart from the API:
//
//	/healthz        200 while the process is alive
//	/readyz         200 when the store answers, 503 when it does not, is
//	                still opening, or the server is stopping
//	/metrics        Prometheus metrics
//	/debug/pprof/   Go profiles, only with AdminConfig.Pprof
//
// It exposes internals: bind it to a loopback or private address, as the
// default does, and give it a Token when anyone else can reach it.
func AdminHandler(cfg AdminConfig) http.Handler {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		err := cfg.Store.Ping(ctx)
		switch {
		case errors.Is(err, ErrStarting):
			// Said by serve's own notices while it waits.
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "starting: opening the database"})
			return
		case errors.Is(err, ErrStopping):
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "stopping"})
			return
		}
		if err != nil {
			logger.LogAttrs(ctx, slog.LevelWarn, "not ready", slog.String("error", err.Error()))
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "store unreachable"})
			return
		}
		writeStatus(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	guard := func(h http.Handler) http.Handler { return requireToken(cfg.Token, h) }
	mux.Handle("GET /metrics", guard(promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{})))
	if cfg.Pprof {
		mux.Handle("/debug/pprof/", guard(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/cmdline", guard(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("/debug/pprof/profile", guard(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/symbol", guard(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("/debug/pprof/trace", guard(http.HandlerFunc(pprof.Trace)))
	}
	return mux
}

// requireToken serves h only to requests bearing token. Without a token it
// serves only requests addressed directly, by IP address or as localhost,
// so that no web page can reach it by rebinding its own name to the
// server's address (hostname.IsDirect).
func requireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hostname.IsDirect(r.Host) {
				writeStatus(w, http.StatusForbidden, map[string]string{"status": "forbidden",
					"reason": "without an admin token, address this listener by IP address or as localhost"})
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if len(r.Header.Values("Authorization")) != 1 || !strings.HasPrefix(got, "Bearer ") ||
			subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="polyjobs admin"`)
			writeStatus(w, http.StatusUnauthorized, map[string]string{"status": "unauthorized", "reason": "send Authorization: Bearer <admin token>"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeStatus(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
