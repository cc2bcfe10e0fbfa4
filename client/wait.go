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
	progress func(*Job)
}

// WithPollInterval sets the bounds of the delay between polls:
// DefaultMinPollInterval and DefaultMaxPollInterval by default. min must be
// positive and max at least min, or Wait fails without polling.
func WithPollInterval(min, max time.Duration) WaitOption {
	return func(c *waitConfig) { c.min, c.max = min, max }
}

// WithProgress makes Wait call fn, from Wait's goroutine, each time it
// observes a new status of the job, the first observation included.
func WithProgress(fn func(*Job)) WaitOption {
	return func(c *waitConfig) { c.progress = fn }
}

// Wait polls the job of type typ with id id until it is terminal or ctx ends.
//
// When the job is done, Wait returns it and nil. When it failed, Wait returns
// it and a *JobFailedError. When ctx ends first, Wait returns the last job it
// observed (nil if none) and an error wrapping ctx.Err(), so that
// errors.Is(err, context.DeadlineExceeded) works; rather than sleep past the
// context's deadline it polls one last time just before it. A poll that
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
func (c *Client) Wait(ctx context.Context, typ JobType, id uuid.UUID, opts ...WaitOption) (*Job, error) {
	cfg := waitConfig{min: DefaultMinPollInterval, max: DefaultMaxPollInterval}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if cfg.min <= 0 || cfg.max < cfg.min {
		return nil, fmt.Errorf("polyjobs: wait for job %s/%s: invalid poll interval [%v, %v]", typ, id, cfg.min, cfg.max)
	}
	var last *Job
	for step, final := 0, false; ; step++ {
		began := c.now()
		job, err := c.GetJob(ctx, typ, id)
		took := c.now().Sub(began)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
				err = endedWith(typ, id, ctxErr, err)
			}
			return last, err
		}
		if cfg.progress != nil && (last == nil || last.Status != job.Status) {
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
		delay := cfg.delay(step, job, c.jitter())
		if deadline, ok := ctx.Deadline(); ok {
			remaining := deadline.Sub(c.now())
			// Leave room for one more request, judged by the last one.
			margin := min(2*took, remaining/2)
			if delay+margin >= remaining {
				delay, final = max(remaining-margin, 0), true
			}
		}
		if err := c.sleep(ctx, delay); err != nil {
			return last, fmt.Errorf("polyjobs: wait for job %s/%s: %w (last status %s)", typ, id, err, last.Status)
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
