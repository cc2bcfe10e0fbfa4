package demo_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/cmd/polyjobs/internal/demo"
	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// newControl is the control operations on a store.
func newControl(s store.Store) *control.Service { return control.NewService(s, &control.Faults{}, nil) }

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSetupIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	keyFile := filepath.Join(t.TempDir(), "keys.json")
	first, err := demo.Setup(ctx, newControl(s), s, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(keyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", info, err)
	}
	again, err := demo.Setup(ctx, newControl(s), s, keyFile)
	if err != nil || again != first {
		t.Fatalf("second Setup = %+v, %v; want %+v", again, err, first)
	}
	// A revoked saved key is replaced by a fresh one.
	key, err := s.KeyByHash(ctx, apikey.Hash(first.UserKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	third, err := demo.Setup(ctx, newControl(s), s, keyFile)
	if err != nil || third.UserKey == first.UserKey || third.OrgID != first.OrgID {
		t.Fatalf("Setup after revocation = %+v, %v", third, err)
	}
}

// setUp makes a store with the demo organization and keys.
func setUp(t *testing.T) (store.Store, *control.Service, demo.Credentials) {
	t.Helper()
	s := openStore(t)
	c := newControl(s)
	creds, err := demo.Setup(context.Background(), c, s, filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s, c, creds
}

func TestDriverMovesEveryType(t *testing.T) {
	ctx := context.Background()
	s, c, creds := setUp(t)
	d := &demo.Driver{Control: c, OrgID: creds.OrgID, Interval: time.Millisecond, FailureRate: 0.3}
	for i := 0; i < 20; i++ {
		if err := d.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // every plan is due within 10 intervals
		if _, err := c.TakeDueSteps(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	active, err := s.ListJobs(ctx, store.JobFilter{OrgID: creds.OrgID, Statuses: []store.JobStatus{api.JobStatusCreated, api.JobStatusRunning}})
	if err != nil {
		t.Fatal(err)
	}
	perType := map[store.JobType]int{}
	for _, j := range active {
		perType[j.Type]++
	}
	finished, err := s.ListJobs(ctx, store.JobFilter{OrgID: creds.OrgID, Statuses: []store.JobStatus{api.JobStatusDone, api.JobStatusFailed}})
	if err != nil {
		t.Fatal(err)
	}
	ended := map[store.JobType]bool{}
	for _, j := range finished {
		ended[j.Type] = true
		if j.Status == api.JobStatusDone && j.Result != nil && !json.Valid(j.Result) {
			t.Fatalf("done %s job has result %q", j.Type, j.Result)
		}
	}
	for _, typ := range store.JobTypes() {
		if perType[typ] != demo.ActivePerType {
			t.Errorf("%s: %d active jobs; want %d", typ, perType[typ], demo.ActivePerType)
		}
		if !ended[typ] {
			t.Errorf("%s: no job finished after 20 ticks", typ)
		}
	}
}

// TestDriverStopsAfterAReset: once a reset through the control API deleted
// the demo organization, the driver says so once and stops, rather than
// warning every interval.
func TestDriverStopsAfterAReset(t *testing.T) {
	ctx := context.Background()
	_, c, creds := setUp(t)
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	d := &demo.Driver{Control: c, OrgID: creds.OrgID, Interval: time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the driver still runs after its organization was reset:\n%s", logs)
	}
	if out := logs.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, "the demo organization is gone") {
		t.Fatalf("log %q; want one line saying the demo organization is gone", out)
	}
}
