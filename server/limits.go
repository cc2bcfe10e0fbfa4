package server

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// limiter is a token bucket per key K: per API key for requests, per client
// address for failed authentications. Buckets idle long enough to be full
// again are dropped, so memory follows the number of active keys.
type limiter[K comparable] struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[K]*bucket
	lastSweep time.Time
	// size is len(buckets), readable without the lock.
	size atomic.Int64
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// sweepEvery is how often idle buckets are dropped.
const sweepEvery = time.Minute

func newLimiter[K comparable](limit float64, burst int) *limiter[K] {
	return &limiter[K]{limit: rate.Limit(limit), burst: burst, buckets: map[K]*bucket{}}
}

// keyLimiter holds each API key to its rate.
type keyLimiter = limiter[uuid.UUID]

func newKeyLimiter(limit float64, burst int) *keyLimiter { return newLimiter[uuid.UUID](limit, burst) }

// allow takes a token for key at now, or says how long until one is available.
func (l *limiter[K]) allow(key K, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	if b.lim.AllowN(now, 1) {
		return true, 0 // the common case, which makes no Reservation
	}
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// empty reports, without the lock, whether no key has a bucket: nobody
// is limited.
func (l *limiter[K]) empty() bool { return l.size.Load() == 0 }

// wait says how long until key has a token at now, without taking it: zero
// when it has one.
func (l *limiter[K]) wait(key K, now time.Time) time.Duration {
	if l.empty() {
		return 0 // the common case: nobody is limited
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	missing := 1 - b.lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// take takes a token for key at now, even if that leaves the bucket in debt.
func (l *limiter[K]) take(key K, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket(key, now).lim.AllowN(now, 1)
}

// bucket returns key's bucket, made full if new; l.mu is held.
func (l *limiter[K]) bucket(key K, now time.Time) *bucket {
	if now.Sub(l.lastSweep) > sweepEvery {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
		l.size.Store(int64(len(l.buckets)))
	}
	b.seen = now
	return b
}

// sweep drops buckets unused for longer than it takes them to refill.
func (l *limiter[K]) sweep(now time.Time) {
	l.lastSweep = now
	full := time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)) + time.Second
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
	l.size.Store(int64(len(l.buckets)))
}

// failureLimiter holds each client address to a rate of failed
// authentications: past it, the address's requests are refused with a 429
// before any credentials are looked up, so that guessing keys, or a client
// stuck with a bad one, costs no database work. Only failures count.
type failureLimiter struct {
	*limiter[netip.Addr]
}

func newFailureLimiter(limit float64, burst int) *failureLimiter {
	return &failureLimiter{newLimiter[netip.Addr](limit, burst)}
}

// clientAddr is the address of the peer of a request's connection (the
// load balancer's, behind one), or false when remoteAddr holds none.
func clientAddr(remoteAddr string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// wholeSeconds rounds a duration up to whole seconds, as Retry-After needs.
func wholeSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
