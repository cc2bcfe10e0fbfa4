package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Wait's default polling bounds; see Wait for why.
const (
	DefaultMinPollInterval = 2 * time.Second
	DefaultMaxPollInterval = 6 * time.Second
)

// DefaultLongPollWait is how long Wait asks a server that supports it to hold
// each request until the job changes (Prefer: wait). It is half of
// DefaultHTTPTimeout and well below the 60 s after which common proxies cut
// idle requests; servers cap it further (the reference server at 20 s by
// default), so a longer wait would save no request.
const DefaultLongPollWait = 30 * time.Second

const (
	// pollGrowth multiplies the delay between polls until it reaches the
	// maximum: with the defaults, 2 s then 6 s.
	pollGrowth = 3
	// pollJitter is the largest fraction by which a delay is shortened at
	// random (never below the minimum, never above the maximum).
	pollJitter = 0.03
)

// WaitOption configures one call of Wait.
type WaitOption func(*waitConfig)

type waitConfig struct {
	min, max time.Duration
	longPoll time.Duration
	progress func(*Job)
}

// WithPollInterval sets the bounds of the delay between polls:
// DefaultMinPollInterval and DefaultMaxPollInterval by default. min must be
// positive and max at least min, or Wait fails without polling.
func WithPollInterval(min, max time.Duration) WaitOption {
	return func(c *waitConfig) { c.min, c.max = min, max }
}

// WithLongPoll sets how long Wait asks the server to hold each request until
// the job changes: DefaultLongPollWait by default. Zero turns long-polling
// off: Wait then sends plain requests and polls exactly as it does against a
// server without the feature, which suits callers behind a proxy that
// mishandles held requests. Otherwise wait must be at least a second, or Wait
// fails without polling.
func WithLongPoll(wait time.Duration) WaitOption {
	return func(c *waitConfig) { c.longPoll = wait }
}

// WithProgress makes Wait call fn, from Wait's goroutine, each time it
// observes a new status of the job, the first observation included.
func WithProgress(fn func(*Job)) WaitOption {
	return func(c *waitConfig) { c.progress = fn }
}

// Wait waits until the job of type typ with id id is terminal or ctx ends.
//
// When the job is done, Wait returns it and nil. When it failed, Wait returns
// it and a *JobFailedError. When ctx ends first, Wait returns the last job it
// observed (nil if none) and an error wrapping ctx.Err(), so that
// errors.Is(err, context.DeadlineExceeded) works; rather than sleep past the
// context's deadline it polls one last time just before it. (An attempt cut
// by the HTTP client's own timeout, DefaultHTTPTimeout, matches
// context.DeadlineExceeded too, as net/http makes it: that error wraps a
// *url.Error, and ctx.Err() is still nil.) A poll that
// fails, after GetJob's own retries, ends the wait at once with the last job
// observed and GetJob's error, whether the error is permanent (400, 401,
// 404) or persistent trouble (a 503 that outlasted the retries): failing fast
// is what callers of pollers ask for, and calling Wait again resumes.
//
// Wait polls at once, then sleeps the minimum interval, and multiplies the
// delay by three up to the maximum, shortening each delay at random by up to
// 3% (never below the minimum). A running job's Retry-After hint replaces the
// computed delay, bounded to [min, max]. With the defaults (2 s, 6 s) the
// polls fall at 0 s, 2 s, then every 5.8 to 6 s: a job that runs for a minute
// costs at most 12 requests and its end is noticed at most 6 s (10%) late;
// a 10-minute job costs about 100 requests. A faster ramp would notice short
// jobs sooner but, under the 6 s cap, costs requests that a one-minute job
// cannot afford. The jitter is small because a larger one would cost
// requests too; it still makes the polls of clients that started together
// drift apart.
//
// Against a server that can hold requests, Wait waits without polling. From
// its second poll on (after the first pause), each request sends the ETag of
// the last state seen (If-None-Match) and asks the server to hold it until
// the job changes, for at most the WithLongPoll wait and never past ctx's
// deadline (Prefer: wait=<seconds>). When the server held the request (its
// answer carries Preference-Applied) until the job changed or the wait ran
// out, Wait asks again at once, so that it sees a change as soon as the
// server does: the reference server holds a request for up to 20 s, so a
// one-minute job costs 4 requests; a change that such a server answered at
// once (the job had changed before the request came) is also followed at
// once, but not twice in a row. An answer that did not come from a held
// request (from Polytomic's API, an older server, a proxy that drops the
// headers, a server at its limit) is followed by the polling delay above:
// against such a server, Wait sends exactly the requests it would send
// without long-polling. A 304 Not Modified means the job has not changed. When a held
// request is cut on the way (a network error, 408, 502 or 504), Wait polls
// for the rest of the call.
func (c *Client) Wait(ctx context.Context, typ JobType, id uuid.UUID, opts ...WaitOption) (*Job, error) {
	cfg := waitConfig{min: DefaultMinPollInterval, max: DefaultMaxPollInterval, longPoll: DefaultLongPollWait}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if cfg.min <= 0 || cfg.max < cfg.min {
		return nil, fmt.Errorf("polyjobs: wait for job %s/%s: invalid poll interval [%v, %v]", typ, id, cfg.min, cfg.max)
	}
	if cfg.longPoll < 0 || cfg.longPoll > 0 && cfg.longPoll < time.Second {
		return nil, fmt.Errorf("polyjobs: wait for job %s/%s: invalid long-poll wait %v: want 0 (off) or at least 1s", typ, id, cfg.longPoll)
	}
	var (
		last *Job
		// rtt is how long the last request that the server did not hold
		// took: the room to leave for one more before the deadline.
		rtt time.Duration
		// holds is whether the server has held a request of this wait.
		holds bool
		// rushed is whether this request was sent at once after a change
		// the server answered without holding it.
		rushed bool
		// hold is how long the next request asks the server to hold it.
		hold time.Duration
	)
	for polls, final := 0, false; ; {
		began := c.now()
		var job *Job
		var err error
		if cfg.longPoll == 0 || last == nil || last.ETag == "" {
			job, err = c.GetJob(ctx, typ, id)
		} else {
			var dropped bool
			job, _, dropped, err = c.refresh(ctx, last, hold)
			if dropped {
				cfg.longPoll = 0 // something on the way cuts held requests
			}
		}
		took := c.now().Sub(began)
		if err != nil {
			switch ctxErr := ctx.Err(); {
			case ctxErr != nil && !errors.Is(err, ctxErr):
				err = endedWith(typ, id, ctxErr, err)
			case ctxErr != nil && last != nil:
				// The context ended during the request, as it usually does
				// during a held one: say so as when it ends during a sleep.
				err = fmt.Errorf("polyjobs: wait for job %s/%s: %w (last status %s)", typ, id, ctxErr, last.Status)
			}
			return last, err
		}
		changed := last == nil || last.Status != job.Status
		if cfg.progress != nil && changed {
			cfg.progress(job)
		}
		last = job
		switch job.Status {
		case JobStatusDone:
			return job, nil
		case JobStatusFailed:
			return job, &JobFailedError{Job: job}
		}
		if final {
			return last, fmt.Errorf("polyjobs: wait for job %s/%s: %w (last status %s, polled just before the deadline)",
				typ, id, context.DeadlineExceeded, last.Status)
		}
		held := job.WaitApplied > 0
		if held {
			holds = true
		} else {
			rtt = took
		}
		// Ask again at once after a request the server held until the job
		// changed or the wait ran out (not one it answered early, as it
		// does when shutting down); and after a change that a server that
		// holds answered at once, but not twice in a row: a server whose
		// answers flip between statuses would have Wait ask without pause.
		again := held && (changed || took >= job.WaitApplied/2) || holds && changed && !rushed
		rushed = false
		if cfg.longPoll > 0 && job.ETag != "" && again {
			if hold = c.holdFor(ctx, cfg.longPoll, rtt); hold > 0 {
				rushed = !held
				continue
			}
		}
		delay := cfg.delay(polls, job, c.jitter())
		polls++
		if deadline, ok := ctx.Deadline(); ok {
			remaining := deadline.Sub(c.now())
			// Leave room for one more request, judged by the last one.
			margin := min(2*rtt, remaining/2)
			if delay+margin >= remaining {
				delay, final = max(remaining-margin, 0), true
			}
		}
		if err := c.sleep(ctx, delay); err != nil {
			return last, fmt.Errorf("polyjobs: wait for job %s/%s: %w (last status %s)", typ, id, err, last.Status)
		}
		hold = 0
		if !final && cfg.longPoll > 0 {
			hold = c.holdFor(ctx, cfg.longPoll, rtt)
		}
	}
}

// delay returns the pause after poll step (0-based) that observed job, given
// u uniform in [0, 1).
func (c *waitConfig) delay(step int, job *Job, u float64) time.Duration {
	if job.RetryAfter > 0 {
		return min(max(job.RetryAfter, c.min), c.max)
	}
	ceiling := c.min
	for i := 0; i < step && ceiling < c.max; i++ {
		if ceiling > c.max/pollGrowth {
			ceiling = c.max
			break
		}
		ceiling *= pollGrowth
	}
	ceiling = min(ceiling, c.max)
	return max(ceiling-time.Duration(pollJitter*u*float64(ceiling)), c.min)
}

// endedWith returns Wait's error for a poll of the job that failed with err
// after the context ended with ctxErr.
func endedWith(typ JobType, id uuid.UUID, ctxErr, err error) error {
	return &endedError{
		msg:  fmt.Sprintf("polyjobs: wait for job %s/%s: %v (last error: %s)", typ, id, ctxErr, strings.TrimPrefix(err.Error(), "polyjobs: ")),
		errs: []error{ctxErr, err},
	}
}

// endedError is Wait's error for a poll that failed after the context ended:
// it wraps both the context's error and the poll's, with one "polyjobs:"
// prefix in its message.
type endedError struct {
	msg  string
	errs []error
}

func (e *endedError) Error() string   { return e.msg }
func (e *endedError) Unwrap() []error { return e.errs }
