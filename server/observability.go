package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/internal/fastpath"
	"github.com/polyjobs/polyjobs/server/store"
)

// Metrics are the server's Prometheus metrics, on a registry of their own.
type Metrics struct {
	// Registry holds every metric below plus the Go and process collectors.
	Registry *prometheus.Registry

	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	storeLatency   *prometheus.HistogramVec
	authFailures   prometheus.Counter
	rateLimited    prometheus.Counter
	memoHits       prometheus.Counter
	jobsPolled     *prometheus.CounterVec
	byStatus       map[int]prometheus.Counter
	otherByStatus  map[int]prometheus.Counter
	apiLatency     prometheus.Observer
	otherLatency   prometheus.Observer
	polledByStatus map[api.JobStatus]prometheus.Counter
	waiters        prometheus.Gauge
	wakes          map[string]prometheus.Counter
	jobLookups     prometheus.Observer
	batchLookups   prometheus.Observer
	keyLookups     prometheus.Observer
}

// Route labels: the API's one route, and everything else (unknown paths).
const (
	routeAPI   = "/api/jobs/{type}/{id}"
	routeOther = "other"
)

// knownStatuses are the statuses whose counters are resolved up front, so
// counting a request costs no label lookup.
var knownStatuses = []int{200, 400, 401, 404, 405, 413, 429, 500, 503}

// NewMetrics creates the metrics on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "polyjobs_http_requests_total",
			Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "polyjobs_http_request_duration_seconds",
			Help:    "API request latency, from the first middleware to the last byte handed to the connection.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "polyjobs_store_duration_seconds",
			Help:    "Latency of the database calls of the request path, by operation: job (one job), jobs (a shared query: the lookups in flight together, one or more) and key. Answers from memory are not counted.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"op"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polyjobs_auth_failures_total",
			Help: "Requests refused with 401: missing, malformed, unknown or revoked credentials (injected faults are not counted).",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polyjobs_rate_limited_total",
			Help: "Requests refused with 429 because their key exceeded its rate (an address's failed authentications and injected faults are not counted).",
		}),
		memoHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polyjobs_validation_memo_hits_total",
			Help: "Requests whose route and parameters an identical earlier request had already validated, so that only their credentials were checked.",
		}),
		jobsPolled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "polyjobs_jobs_polled_total",
			Help: "Jobs returned by the API, by the job's status.",
		}, []string{"status"}),
	}
	m.waiters = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "polyjobs_waiters",
		Help: "Requests held now until their job changes (Prefer: wait).",
	})
	wakes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "polyjobs_waiter_wakes_total",
		Help: "Held requests answered, by cause: changed (200), timed_out and shutdown (304), canceled (the client left), error; capped counts requests not held because a cap was reached.",
	}, []string{"cause"})
	m.wakes = map[string]prometheus.Counter{}
	for _, cause := range []string{"changed", "timed_out", "shutdown", "canceled", "error", "capped"} {
		m.wakes[cause] = wakes.WithLabelValues(cause)
	}
	m.Registry.MustRegister(m.waiters, wakes)
	m.Registry.MustRegister(m.requests, m.latency, m.storeLatency, m.authFailures, m.rateLimited, m.memoHits, m.jobsPolled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.byStatus = map[int]prometheus.Counter{}
	m.otherByStatus = map[int]prometheus.Counter{}
	for _, code := range knownStatuses {
		m.byStatus[code] = m.requests.WithLabelValues(routeAPI, strconv.Itoa(code))
		m.otherByStatus[code] = m.requests.WithLabelValues(routeOther, strconv.Itoa(code))
	}
	m.apiLatency = m.latency.WithLabelValues(routeAPI)
	m.otherLatency = m.latency.WithLabelValues(routeOther)
	m.polledByStatus = map[api.JobStatus]prometheus.Counter{}
	for _, st := range api.JobStatusValues() {
		m.polledByStatus[st] = m.jobsPolled.WithLabelValues(string(st))
	}
	m.jobLookups = m.storeLatency.WithLabelValues("job")
	m.batchLookups = m.storeLatency.WithLabelValues("jobs")
	m.keyLookups = m.storeLatency.WithLabelValues("key")
	return m
}

// observeRequest counts a finished request.
func (m *Metrics) observeRequest(st *requestState, apiRoute bool, status int, elapsed time.Duration) {
	counters, latency := m.otherByStatus, m.otherLatency
	route := routeOther
	if apiRoute {
		counters, latency, route = m.byStatus, m.apiLatency, routeAPI
	}
	if c, ok := counters[status]; ok {
		c.Inc()
	} else {
		m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	}
	latency.Observe(elapsed.Seconds())
	switch {
	case st.injected:
	case status == http.StatusUnauthorized:
		m.authFailures.Inc()
	case st.keyLimited:
		m.rateLimited.Inc()
	}
}

// observePolled counts a job returned by the API.
func (m *Metrics) observePolled(status api.JobStatus) {
	if c, ok := m.polledByStatus[status]; ok {
		c.Inc()
	}
}

// newTimedStore wraps s so that every database call of the request path is
// timed in polyjobs_store_duration_seconds, and bounded by lookupTimeout (a
// request's context is never cancelled: see requestState). It sits under
// the fast paths, so that what they answer from memory is not counted, and
// passes on the capabilities they use: the change token, and shared queries
// (which bound themselves).
func newTimedStore(s store.Store, m *Metrics) store.Store {
	t := timedStore{Store: s, m: m}
	if b, ok := s.(store.BatchReader); ok {
		return timedBatchStore{timedStore: t, batch: b}
	}
	return t
}

// timedStore times the job and key lookups of a store.
type timedStore struct {
	store.Store
	m *Metrics
}

// lookupTimeout is fastpath.LookupTimeout; a variable for tests.
var lookupTimeout = fastpath.LookupTimeout

// Job times the job lookup.
func (s timedStore) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	start := time.Now()
	j, err := s.Store.Job(ctx, orgID, id)
	s.m.jobLookups.Observe(time.Since(start).Seconds())
	return j, err
}

// KeyByHash times the key lookup.
func (s timedStore) KeyByHash(ctx context.Context, hash store.KeyHash) (store.Key, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	start := time.Now()
	k, err := s.Store.KeyByHash(ctx, hash)
	s.m.keyLookups.Observe(time.Since(start).Seconds())
	return k, err
}

// ChangeToken passes on the store's change token, if it has one; reading it
// is no database call.
func (s timedStore) ChangeToken() (store.ChangeToken, bool) {
	if w, ok := s.Store.(store.ChangeWatcher); ok {
		return w.ChangeToken()
	}
	return store.ChangeToken{}, false
}

// timedBatchStore is a timedStore of a store.BatchReader.
type timedBatchStore struct {
	timedStore
	batch store.BatchReader
}

// JobsByKeys times the shared query.
func (s timedBatchStore) JobsByKeys(ctx context.Context, keys []store.JobKey) ([]store.Job, error) {
	start := time.Now()
	jobs, err := s.batch.JobsByKeys(ctx, keys)
	s.m.batchLookups.Observe(time.Since(start).Seconds())
	return jobs, err
}

// BatchConcurrency passes on the store's.
func (s timedBatchStore) BatchConcurrency() int { return s.batch.BatchConcurrency() }
