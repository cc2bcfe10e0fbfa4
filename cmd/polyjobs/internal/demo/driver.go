package demo

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
)

// ActivePerType is how many demo jobs of each type are kept moving.
const ActivePerType = 2

// Driver keeps demo jobs of every type moving: each tick it advances some
// active jobs one step (created → running → done, or sometimes failed) and
// creates new ones so each type always has ActivePerType jobs in progress.
type Driver struct {
	Store  store.Store
	OrgID  uuid.UUID
	Logger *slog.Logger
	// FailureRate is the share of jobs that fail rather than finish.
	FailureRate float64
}

// Run ticks every interval until ctx ends.
func (d *Driver) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := d.Tick(ctx); err != nil && ctx.Err() == nil {
			d.Logger.Warn("demo driver", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick advances the demo once.
func (d *Driver) Tick(ctx context.Context) error {
	active, err := d.Store.ListJobs(ctx, store.JobFilter{OrgID: d.OrgID, Statuses: []store.JobStatus{api.JobStatusCreated, api.JobStatusRunning}})
	if err != nil {
		return err
	}
	perType := map[store.JobType]int{}
	for _, job := range active {
		// Each job moves with probability 1/2 per tick, so lifetimes vary.
		if rand.IntN(2) == 0 {
			perType[job.Type]++
			continue
		}
		if err := d.advance(ctx, job); err != nil {
			return err
		}
		if job.Status == api.JobStatusCreated {
			perType[job.Type]++
		}
	}
	for _, typ := range store.JobTypes() {
		for n := perType[typ]; n < ActivePerType; n++ {
			if _, err := d.Store.CreateJob(ctx, d.OrgID, typ); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Driver) advance(ctx context.Context, job store.Job) error {
	t := store.Start()
	if job.Status == api.JobStatusRunning {
		t = store.Finish(Result(job.Type, job.ID))
		if rand.Float64() < d.FailureRate {
			t = store.Fail(Failure())
		}
	}
	_, err := d.Store.Transition(ctx, job.ID, t)
	if errors.Is(err, store.ErrConflict) { // someone else (an admin command) moved it first
		return nil
	}
	return err
}
