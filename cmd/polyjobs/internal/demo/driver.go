package demo

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store"
)

// ActivePerType is how many demo jobs of each type are kept moving.
const ActivePerType = 2

// Driver keeps demo jobs of every type moving: each tick it gives every type
// new jobs, each with a plan (running after a while, then done with a
// realistic result, or sometimes failed), until ActivePerType of them are in
// progress. The control API's plan runner takes the steps.
type Driver struct {
	Control *control.Service
	OrgID   uuid.UUID
	Logger  *slog.Logger
	// Interval is the unit of the plans: a job starts one to two units
	// after it is created, and ends two to eight units after that.
	Interval time.Duration
	// FailureRate is the share of jobs that fail rather than finish.
	FailureRate float64
}

// Run ticks every Interval until ctx ends.
func (d *Driver) Run(ctx context.Context) {
	t := time.NewTicker(d.Interval)
	defer t.Stop()
	for {
		err := d.Tick(ctx)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// A reset through the control API deleted the demo
			// organization, and its keys with it.
			d.Logger.Info("the demo organization is gone (a reset?): demo jobs stop; restart serve --dev for a new one, with new keys")
			return
		case err != nil && ctx.Err() == nil:
			d.Logger.Warn("demo driver", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick starts the jobs that bring every type to ActivePerType in progress.
func (d *Driver) Tick(ctx context.Context) error {
	active, err := d.Control.ListJobs(ctx, d.OrgID.String(), store.JobFilter{Statuses: []store.JobStatus{api.JobStatusCreated, api.JobStatusRunning}})
	if err != nil {
		return err
	}
	perType := map[store.JobType]int{}
	for _, job := range active {
		perType[job.Type]++
	}
	for _, typ := range store.JobTypes() {
		for n := perType[typ]; n < ActivePerType; n++ {
			if _, err := d.Control.CreateJob(ctx, d.OrgID.String(), typ, d.plan(typ)); err != nil {
				return err
			}
		}
	}
	return nil
}

// plan is a random lifecycle for a job of type typ.
func (d *Driver) plan(typ store.JobType) []control.Step {
	between := func(lo, hi int) time.Duration {
		return time.Duration(lo)*d.Interval + rand.N(time.Duration(hi-lo)*d.Interval+1)
	}
	end := store.Finish(Result(typ, uuid.New()))
	if rand.Float64() < d.FailureRate {
		end = store.Fail(Failure())
	}
	return []control.Step{{After: between(1, 2), Transition: store.Start()}, {After: between(2, 8), Transition: end}}
}
