package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of RetryPolicy's zero fields.
const (
	// DefaultMaxAttempts is three attempts in all: enough to ride out a
	// dropped connection or a server restart, few enough that a real outage
	// is reported within about a second.
	DefaultMaxAttempts = 3
	// DefaultMinRetryDelay is the shortest pause before a retry.
	DefaultMinRetryDelay = 200 * time.Millisecond
	// DefaultMaxRetryDelay caps the exponential backoff.
	DefaultMaxRetryDelay = 5 * time.Second
	// DefaultMaxRetryAfter is the longest Retry-After a Client waits for.
	DefaultMaxRetryAfter = 30 * time.Second
)

// RetryPolicy says how GetJob retries a failed attempt. Getting a job is
// idempotent, so an attempt is retried after a network error (but not after
// the context ended), and after a 408, 429, 500, 502, 503 or 504; never after
// another status, such as 400, 401 or 404, nor after an undecodable 200.
//
// Before retry n (n = 1, 2, ...) the client sleeps for a uniformly random
// delay between MinDelay and min(MaxDelay, MinDelay·2ⁿ) ("full jitter", so
// that clients that failed together do not retry together), unless the
// response carried a Retry-After header, which is then honoured exactly. A
// Retry-After longer than MaxRetryAfter, or a delay that would pass the
// context's deadline, ends the retries at once with the last error. Every
// sleep ends as soon as the context does.
//
// Zero fields take the defaults: DefaultMaxAttempts, DefaultMinRetryDelay,
// DefaultMaxRetryDelay (raised to MinDelay if that is larger) and
// DefaultMaxRetryAfter. New rejects negative values and a MaxDelay below
// MinDelay.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts in all, the first included; 1
	// disables retries.
	MaxAttempts int
	// MinDelay is the shortest pause before a retry.
	MinDelay time.Duration
	// MaxDelay caps the exponential backoff.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the client is willing to wait
	// for; a longer one ends the retries, with the error's RetryAfter telling
	// the caller when to come back.
	MaxRetryAfter time.Duration
}

// withDefaults validates p and fills in its zero fields.
func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 || p.MinDelay < 0 || p.MaxDelay < 0 || p.MaxRetryAfter < 0 {
		return p, fmt.Errorf("invalid retry policy %+v: negative value", p)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MinDelay == 0 {
		p.MinDelay = DefaultMinRetryDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = max(DefaultMaxRetryDelay, p.MinDelay)
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if p.MaxDelay < p.MinDelay {
		return p, fmt.Errorf("invalid retry policy: MaxDelay %v is below MinDelay %v", p.MaxDelay, p.MinDelay)
	}
	return p, nil
}

// backoff returns the delay before retry n (n ≥ 1), given u uniform in [0, 1).
func (p RetryPolicy) backoff(n int, u float64) time.Duration {
	ceiling := p.MinDelay
	for i := 0; i < n && ceiling < p.MaxDelay; i++ {
		if ceiling > p.MaxDelay/2 {
			ceiling = p.MaxDelay
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	return p.MinDelay + time.Duration(u*float64(ceiling-p.MinDelay))
}

// transportError marks an error of the transport (sending the request or
// reading the response), as opposed to a response the server sent.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// retryable reports whether an attempt that failed with err is worth
// repeating.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch apiErr.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var certErr *tls.CertificateVerificationError
	var tErr *transportError
	return errors.As(err, &tErr) && !errors.As(err, &certErr)
}

// retryDelay returns how long to sleep before retry n after err, or a reason
// not to retry.
func (c *Client) retryDelay(ctx context.Context, n int, err error) (time.Duration, string) {
	d := c.retry.backoff(n, c.jitter())
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		if apiErr.RetryAfter > c.retry.MaxRetryAfter {
			return 0, fmt.Sprintf("not retried: Retry-After %v exceeds MaxRetryAfter %v", apiErr.RetryAfter, c.retry.MaxRetryAfter)
		}
		d = apiErr.RetryAfter
	}
	if deadline, ok := ctx.Deadline(); ok && c.now().Add(d).After(deadline) {
		return 0, fmt.Sprintf("not retried: waiting %v would pass the context deadline", d.Round(time.Millisecond))
	}
	return d, ""
}

// parseRetryAfter parses a Retry-After header value, in seconds or as an HTTP
// date (relative to now; a past date is zero). ok is false when the value is
// missing or malformed.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	secs, err := strconv.ParseUint(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		secs, err = math.MaxUint64, nil // more digits than a uint64 holds
	}
	if err == nil {
		const maxSecs = math.MaxInt64 / uint64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleepContext sleeps for d or until ctx ends, whichever comes first, and
// returns ctx.Err() in the latter case.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
