package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
)

// Waiting without polling: a conditional long-poll on the same GET.
//
// Every job response carries a strong ETag naming what the body shows (the
// job, its status, the API version that served it). A request whose
// If-None-Match matches it gets a 304 without a body; one that also sends
// Prefer: wait=N, for a job that is not terminal, is held until the job
// changes (a 200 with the new state) or the wait runs out (a 304), and the
// answer says Preference-Applied: wait=N. Clients that send neither header
// (Polytomic's SDKs, curl) see the API as it always was.
//
// A held request waits in the waitHub, which wakes it when its job's status
// changes: at once for a change made through this process's store (and, on
// PostgreSQL, through any replica or admin command: store.ChangeNotifier),
// within waitCheckEvery for a change another process committed to SQLite
// (store.ChangeWatcher), and on a safety re-read every waitSafetyEvery.

// Defaults of Config's waiting bounds.
const (
	// DefaultMaxWait caps a held request: below the server's write timeout
	// and the 60 s after which common proxies cut idle requests.
	DefaultMaxWait = 20 * time.Second
	// DefaultMaxWaiters and DefaultMaxWaitersPerKey cap the requests held
	// at once, in all and per API key; a request over a cap is answered at
	// once, without Preference-Applied, and its client polls as usual.
	DefaultMaxWaiters       = 20_000
	DefaultMaxWaitersPerKey = 1_000
)

const (
	// waitCheckEvery is how often, while anyone waits, the hub looks for
	// commits of other processes (the store's change token).
	waitCheckEvery = 100 * time.Millisecond
	// waitSafetyEvery is how often, while anyone waits, every awaited job is
	// read again whatever the notifications said.
	waitSafetyEvery = 10 * time.Second
	// waitJitter is the share of the applied wait added at random, so that
	// waiters that started together do not all return together.
	waitJitter = 16
)

// jobETag is the strong entity tag of a job as served: it changes whenever
// the body would, with the job's status and the API version. (A job's result
// and error are set once, with its last status.) It is an FNV-1a hash of the
// three, so every replica gives the same tag.
func jobETag(id uuid.UUID, status store.JobStatus, version api.APIVersion) string {
	const offset, prime = 14695981039346656037, 1099511628211
	sum := uint64(offset)
	add := func(b byte) { sum = (sum ^ uint64(b)) * prime }
	for _, b := range id {
		add(b)
	}
	for i := 0; i < len(status); i++ {
		add(status[i])
	}
	add(0)
	for i := 0; i < len(version); i++ {
		add(version[i])
	}
	const digits = "0123456789abcdef"
	var tag [18]byte
	tag[0], tag[17] = '"', '"'
	for i := 16; i >= 1; i-- {
		tag[i] = digits[sum&0xf]
		sum >>= 4
	}
	return string(tag[:])
}

// ifNoneMatch reports whether an If-None-Match header value matches etag: it
// is "*" (the job exists), or a list of entity tags one of which is etag
// under weak comparison (RFC 9110 §13.1.2, §8.8.3.2).
func ifNoneMatch(header, etag string) bool {
	header = strings.TrimSpace(header)
	if header == "*" {
		return true
	}
	for header != "" {
		var tag string
		tag, header = nextETag(header)
		if tag == "" {
			return false // malformed: no match
		}
		if strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

// nextETag splits the first entity tag off a comma-separated list: an
// optional W/ and a quoted string without quotes inside. It returns "" when
// the list does not start with one.
func nextETag(list string) (tag, rest string) {
	list = strings.TrimLeft(list, " \t,")
	start := 0
	if strings.HasPrefix(list, "W/") {
		start = 2
	}
	if len(list) < start+2 || list[start] != '"' {
		return "", ""
	}
	end := strings.IndexByte(list[start+1:], '"')
	if end < 0 {
		return "", ""
	}
	end += start + 2
	rest = strings.TrimLeft(list[end:], " \t")
	if rest != "" && rest[0] != ',' {
		return "", ""
	}
	return list[:end], rest
}

// preferWait returns the wait a Prefer header value asks for (RFC 7240:
// comma-separated preferences, the token case-insensitive, the value
// optionally quoted), or 0 for none.
func preferWait(header string) time.Duration {
	for _, pref := range strings.Split(header, ",") {
		pref, _, _ = strings.Cut(pref, ";") // parameters do not apply to wait
		name, value, ok := strings.Cut(strings.TrimSpace(pref), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
			continue
		}
		secs, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(value), `"`), 10, 32)
		if err != nil {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	return 0
}

// appliedWait returns how long to hold a request that asked for wait: at
// most maxWait, plus up to 1/16 of it at random; and the Preference-Applied
// value that says so.
func appliedWait(wait, maxWait time.Duration) (time.Duration, string) {
	wait = min(wait, maxWait)
	jitter := time.Duration(rand.Int64N(int64(wait/waitJitter) + 1))
	return wait + jitter, "wait=" + strconv.Itoa(int(wait/time.Second))
}

// waitHub holds the requests waiting for their job to change.
type waitHub struct {
	store   store.Store
	metrics *Metrics
	// maxTotal and maxPerKey cap the waiters, in all and per API key.
	maxTotal, maxPerKey int

	mu      sync.Mutex
	byJob   map[uuid.UUID]map[*waiter]struct{}
	perKey  map[uuid.UUID]int
	total   int
	running bool // the watch loop runs
	closed  bool
	// closing is closed when the server shuts down: every waiter answers.
	closing chan struct{}

	stopNotifications func()
}

// waiter is one held request.
type waiter struct {
	key    store.JobKey
	keyID  uuid.UUID
	status store.JobStatus // as the request saw it
	// wake receives when the job may have changed.
	wake chan struct{}
	// conn is the connection of a request parked off its goroutine
	// (park.go), which waits in a read on it: a poke interrupts that read.
	// Set, under the hub's lock, by park.
	conn net.Conn
}

func newWaitHub(s store.Store, m *Metrics, maxTotal, maxPerKey int) *waitHub {
	h := &waitHub{store: s, metrics: m, maxTotal: maxTotal, maxPerKey: maxPerKey,
		byJob: map[uuid.UUID]map[*waiter]struct{}{}, perKey: map[uuid.UUID]int{}, closing: make(chan struct{})}
	// With no waiter allowed, nothing needs to hear of changes (on
	// PostgreSQL, a subscription holds a connection of its own).
	if n, ok := s.(store.ChangeNotifier); ok && maxTotal > 0 {
		h.stopNotifications = n.Subscribe(h.changed)
	}
	return h
}

// join registers a waiter for job, as seen by the request of API key keyID,
// or says false when a cap, or shutdown, forbids holding the request.
func (h *waitHub) join(job store.Job, keyID uuid.UUID) (*waiter, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.total >= h.maxTotal || h.perKey[keyID] >= h.maxPerKey {
		h.metrics.wakes["capped"].Inc()
		return nil, false
	}
	w := &waiter{key: store.JobKey{OrgID: job.OrgID, ID: job.ID}, keyID: keyID, status: job.Status, wake: make(chan struct{}, 1)}
	if h.byJob[job.ID] == nil {
		h.byJob[job.ID] = map[*waiter]struct{}{}
	}
	h.byJob[job.ID][w] = struct{}{}
	h.perKey[keyID]++
	h.total++
	h.metrics.waiters.Set(float64(h.total))
	if !h.running {
		h.running = true
		go h.watch()
	}
	return w, true
}

// leave removes a waiter, counting why it left.
func (h *waitHub) leave(w *waiter, cause string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.byJob[w.key.ID], w)
	if len(h.byJob[w.key.ID]) == 0 {
		delete(h.byJob, w.key.ID)
	}
	if h.perKey[w.keyID]--; h.perKey[w.keyID] == 0 {
		delete(h.perKey, w.keyID)
	}
	h.total--
	h.metrics.waiters.Set(float64(h.total))
	h.metrics.wakes[cause].Inc()
}

// changed is the store's notification that job id changed, or, for
// uuid.Nil, that anything may have: every awaited job is read again.
func (h *waitHub) changed(id uuid.UUID) {
	if id == uuid.Nil {
		go h.recheck(context.Background())
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.byJob[id] {
		w.poke()
	}
}

// waitEnd says why a wait ended.
type waitEnd int

const (
	woken waitEnd = iota
	timedOut
	shuttingDown
	clientGone
)

// wait blocks until the waiter is poked, timer fires, the server shuts down
// or the client goes.
func (w *waiter) wait(timer <-chan time.Time, closing, gone <-chan struct{}) waitEnd {
	select {
	case <-w.wake:
		return woken
	case <-timer:
		return timedOut
	case <-closing:
		return shuttingDown
	case <-gone:
		return clientGone
	}
}

// poke wakes the waiter, unless a wake is already pending. Call it with the
// hub's lock held.
func (w *waiter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
	w.interrupt()
}

// interrupt ends the read a parked waiter waits in, if it is parked: it then
// looks at wake and the hub's closing to see why.
func (w *waiter) interrupt() {
	if w.conn != nil {
		_ = w.conn.SetReadDeadline(longAgo)
	}
}

// longAgo is a deadline in the past: it ends a read at once.
var longAgo = time.Unix(1, 0)

// park records that w now waits in a read on conn (park.go), so that pokes
// and shutdown interrupt that read.
func (h *waitHub) park(w *waiter, conn net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.conn = conn
}

// watch runs while anyone waits: it re-reads the awaited jobs when the
// store's change token moves (a commit by any process), and every
// waitSafetyEvery whatever happened.
func (h *waitHub) watch() {
	tokens, _ := h.store.(store.ChangeWatcher)
	var last store.ChangeToken
	if tokens != nil {
		last, _ = tokens.ChangeToken()
	}
	tick := time.NewTicker(waitCheckEvery)
	defer tick.Stop()
	lastCheck := time.Now()
	for now := range tick.C {
		h.mu.Lock()
		if h.total == 0 || h.closed {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		moved := false
		if tokens != nil {
			if tok, ok := tokens.ChangeToken(); !ok || tok != last {
				last, moved = tok, true
			}
		}
		if moved || now.Sub(lastCheck) >= waitSafetyEvery {
			lastCheck = now
			h.recheck(context.Background())
		}
	}
}

// recheck reads every awaited job again, in as few queries as the store
// allows, and wakes the waiters whose job is no longer as they saw it.
func (h *waitHub) recheck(ctx context.Context) {
	h.mu.Lock()
	keys := make([]store.JobKey, 0, len(h.byJob))
	for _, ws := range h.byJob {
		for w := range ws {
			keys = append(keys, w.key)
			break // jobs are one organization's: one key per job
		}
	}
	h.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, waitSafetyEvery)
	defer cancel()
	current := make(map[uuid.UUID]store.JobStatus, len(keys))
	if mr, ok := h.store.(store.MultiReader); ok {
		jobs, err := mr.JobsByKeys(ctx, keys)
		if err != nil {
			return // the next check tries again; waiters time out meanwhile
		}
		for _, j := range jobs {
			current[j.ID] = j.Status
		}
	} else {
		for _, k := range keys {
			j, err := h.store.Job(ctx, k.OrgID, k.ID)
			if err == nil {
				current[j.ID] = j.Status
			} else if !errors.Is(err, store.ErrNotFound) {
				return
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, ws := range h.byJob {
		status, found := current[id]
		for w := range ws {
			if !found || status != w.status {
				w.poke()
			}
		}
	}
}

// shutdown answers every waiter at once and refuses to hold any request
// from now on; the server is going away.
func (h *waitHub) shutdown() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.closing)
	for _, ws := range h.byJob {
		for w := range ws {
			w.interrupt()
		}
	}
	h.mu.Unlock()
	// Not under the hub's lock: stopping waits for the notifications in
	// flight, and each takes that lock (changed).
	if h.stopNotifications != nil {
		h.stopNotifications()
	}
}
