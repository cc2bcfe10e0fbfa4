//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
	"github.com/polyjobs/polyjobs/bench/internal/harness"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/postgres"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// orgName is the organization the soak seeds.
const orgName = "soak"

// storeTimeout bounds one store call of the seeding and the writer.
const storeTimeout = 10 * time.Second

// createTenant creates the organization and a user key with `polyjobs admin`,
// as an operator would, and returns the organization's id and the key.
func createTenant(ctx context.Context, polyjobs, db string) (uuid.UUID, string, error) {
	out, err := harness.RunAdmin(ctx, polyjobs, db, "org", "create", orgName)
	if err != nil {
		return uuid.Nil, "", err
	}
	org, err := uuid.Parse(out)
	if err != nil {
		return uuid.Nil, "", fmt.Errorf("polyjobs admin org create printed %q, not an organization id", out)
	}
	key, err := harness.RunAdmin(ctx, polyjobs, db, "key", "create", "--org", orgName, "--kind", "user")
	if err != nil {
		return uuid.Nil, "", err
	}
	return org, key, nil
}

// openStore opens the database the server uses, in this process: a second
// writer, as another process of an operator would be.
func openStore(ctx context.Context, kind, db string) (store.Store, error) {
	if kind == "postgres" {
		return postgres.Open(ctx, db)
	}
	return sqlite.Open(ctx, db)
}

// seedMix returns the type, rank and outcome of the i-th seeded job: the types
// in turn, and the four statuses (created, running, done, failed) in turn,
// shifted by one every six jobs so that every type gets every status.
func seedMix(i int) (typ string, rank int32, fails bool) {
	typ = fixture.Types[i%len(fixture.Types)]
	switch (i + i/len(fixture.Types)) % 4 {
	case 0:
		return typ, rankCreated, plannedFailure(i)
	case 1:
		return typ, rankRunning, plannedFailure(i)
	case 2:
		return typ, rankTerminal, false
	default:
		return typ, rankTerminal, true
	}
}

// plannedFailure says whether the n-th job to be moved by the writer fails
// rather than finishes: one in four.
func plannedFailure(n int) bool { return n%4 == 3 }

// seedJobs creates n jobs through the store and moves each to its status.
func seedJobs(ctx context.Context, st store.Store, org uuid.UUID, n int) ([]*job, error) {
	jobs := make([]*job, 0, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		typ, rank, fails := seedMix(i)
		j, err := createJob(ctx, st, org, typ, fails)
		if err != nil {
			return nil, err
		}
		for r := rankRunning; r <= rank; r++ {
			if err := advance(ctx, st, j, r); err != nil {
				return nil, err
			}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// createJob creates a job in the store.
func createJob(ctx context.Context, st store.Store, org uuid.UUID, typ string, fails bool) (*job, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	sj, err := st.CreateJob(ctx, org, store.JobType(typ))
	if err != nil {
		return nil, fmt.Errorf("create a %s job: %w", typ, err)
	}
	return newJob(sj.ID, typ, fails, rankCreated), nil
}

// advance moves j to rank (running, or its terminal status) in the store,
// publishing the change as begun before and as committed after.
func advance(ctx context.Context, st store.Store, j *job, rank int32) error {
	t := store.Start()
	if rank == rankTerminal {
		t = store.Finish(json.RawMessage(doneResult))
		if j.fails {
			t = store.Fail(failMessage)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	j.begun.Store(rank)
	if _, err := st.Transition(ctx, j.id, t); err != nil {
		return fmt.Errorf("move job %s to %s: %w", j.id, j.status(rank), err)
	}
	j.committed.Store(rank)
	return nil
}
