//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// doneResult is the result of every done job: a small signed URL, like a log
// export's.
const doneResult = `{"url":"https://storage.example.com/x.json.gz?sig=abc"}`

// Statuses of the seeded jobs, cycled so that each type gets each of them.
var seedStatuses = []string{"running", "done", "created"}

// jobMix returns the type and status of the i-th seeded job: types cycle
// through the six, statuses through running, done and created, shifted by
// one every six jobs so that every type gets every status. 100 jobs give
// 33 running, 34 done and 33 created.
func jobMix(i int) (typ, status string) {
	return fixture.Types[i%len(fixture.Types)], seedStatuses[(i+i/len(fixture.Types))%len(seedStatuses)]
}

// mixOf counts the jobs of fx by status.
func mixOf(fx *fixture.Fixture) map[string]int {
	m := map[string]int{}
	for _, j := range fx.Jobs {
		m[j.Status]++
	}
	return m
}

// describeMix says what the jobs are, for the report.
func describeMix(fx *fixture.Fixture) string {
	m := mixOf(fx)
	return fmt.Sprintf("%d jobs of one organization, the six types in turn: %d running, %d done (result `%s`), %d created",
		len(fx.Jobs), m["running"], m["done"], doneResult, m["created"])
}

// seedParallel is how many jobs are seeded at once: each admin command is a
// process that mostly waits, and both stores take concurrent writers.
const seedParallel = 4

// seed creates, with `polyjobs admin` on the database db, an organization, a
// user key and n jobs moved to their statuses, and returns them as a fixture.
func seed(ctx context.Context, polyjobs, db string, n int) (*fixture.Fixture, error) {
	if _, err := harness.RunAdmin(ctx, polyjobs, db, "org", "create", "loadbench"); err != nil {
		return nil, err
	}
	key, err := harness.RunAdmin(ctx, polyjobs, db, "key", "create", "--org", "loadbench", "--kind", "user")
	if err != nil {
		return nil, err
	}
	fx := &fixture.Fixture{Key: key, Jobs: make([]fixture.Job, n)}
	errs := make([]error, n)
	sem := make(chan struct{}, seedParallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fx.Jobs[i], errs[i] = seedJob(ctx, polyjobs, db, i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return fx, fx.Validate()
}

// seedJob creates the i-th job and moves it to its status.
func seedJob(ctx context.Context, polyjobs, db string, i int) (fixture.Job, error) {
	typ, status := jobMix(i)
	out, err := harness.RunAdmin(ctx, polyjobs, db, "job", "create", "--org", "loadbench", "--type", typ)
	if err != nil {
		return fixture.Job{}, err
	}
	id, err := uuid.Parse(out)
	if err != nil {
		return fixture.Job{}, fmt.Errorf("polyjobs admin job create printed %q, not a job id", out)
	}
	job := fixture.Job{ID: id, Type: typ, Status: status}
	if status == "running" || status == "done" {
		if _, err := harness.RunAdmin(ctx, polyjobs, db, "job", "start", out); err != nil {
			return job, err
		}
	}
	if status == "done" {
		if _, err := harness.RunAdmin(ctx, polyjobs, db, "job", "finish", out, "--result", doneResult); err != nil {
			return job, err
		}
		job.Result = json.RawMessage(doneResult)
	}
	return job, nil
}
