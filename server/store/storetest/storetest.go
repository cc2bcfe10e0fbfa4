// Package storetest is the conformance suite every store.Store implementation
// must pass. An implementation's test calls Run with a function that returns a
// fresh, empty store.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
)

// NewStore returns a fresh, empty store for one test. The suite closes it.
type NewStore func(t *testing.T) store.Store

// Run runs the whole conformance suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Organizations", testOrganizations},
		{"Keys", testKeys},
		{"CreateAndGetJob", testCreateAndGetJob},
		{"JobsAreScopedToOrganization", testJobScope},
		{"LegalTransitions", testLegalTransitions},
		{"IllegalTransitions", testIllegalTransitions},
		{"MalformedTransitions", testMalformedTransitions},
		{"ConcurrentTransitionsHaveOneWinner", testConcurrentTransitions},
		{"ConcurrentReadsSeeCommittedWrites", testConcurrentReads},
		{"ListJobs", testListJobs},
		{"JobsByKeys", testJobsByKeys},
		{"ChangeNotifications", testChangeNotifications},
		{"Plans", testPlans},
		{"Reset", testReset},
		{"PurgeJobs", testPurgeJobs},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// MustOrg creates an organization with a unique name or fails the test.
func MustOrg(t *testing.T, s store.Store) store.Organization {
	t.Helper()
	org, err := s.CreateOrganization(ctx(t), "org-"+uuid.NewString())
	if err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	return org
}

// MustJob creates a job or fails the test.
func MustJob(t *testing.T, s store.Store, orgID uuid.UUID, typ store.JobType) store.Job {
	t.Helper()
	job, err := s.CreateJob(ctx(t), orgID, typ)
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	return job
}

func testOrganizations(t *testing.T, s store.Store) {
	c := ctx(t)
	org, err := s.CreateOrganization(c, "  acme  ")
	if err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	if org.Name != "acme" || org.ID == uuid.Nil || org.CreatedAt.IsZero() {
		t.Fatalf("CreateOrganization returned %+v", org)
	}
	if _, err := s.CreateOrganization(c, "acme"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate name: got %v, want ErrConflict", err)
	}
	for name, bad := range map[string]string{
		"empty":             "   ",
		"too long":          strings.Repeat("a", store.MaxOrganizationNameLength+1),
		"newline":           "acme\nadmin",
		"escape":            "acme\x1b[2J",
		"NUL":               "acme\x00",
		"not UTF-8":         "acme\xff",
		"bidi override":     "acme\u202eemca",
		"line separator":    "ac\u2028me",
		"zero-width joiner": "ac\u200dme",
		// Taken for an id where an organization is named by id or name.
		"UUID":           "00000000-0000-0000-0000-000000000000",
		"UUID in braces": "{0190a8f2-7c3e-7d4b-9f10-abcdef012345}",
		"UUID as 32 hex": "0190a8f27c3e7d4b9f10abcdef012345",
		"UUID as a URN":  "urn:uuid:0190a8f2-7c3e-7d4b-9f10-abcdef012345",
	} {
		if _, err := s.CreateOrganization(c, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s name: got %v, want ErrInvalid", name, err)
		}
	}
	if long, err := s.CreateOrganization(c, "Ünïcode & Co. "+strings.Repeat("x", store.MaxOrganizationNameLength-20)); err != nil {
		t.Errorf("a long name within the bound: %v", err)
	} else if len(long.Name) > store.MaxOrganizationNameLength {
		t.Errorf("stored a name of %d bytes", len(long.Name))
	}
	got, err := s.Organization(c, org.ID)
	if err != nil || got.ID != org.ID || got.Name != "acme" || !got.CreatedAt.Equal(org.CreatedAt) {
		t.Fatalf("Organization = %+v, %v; want %+v", got, err, org)
	}
	got, err = s.OrganizationByName(c, "acme")
	if err != nil || got.ID != org.ID {
		t.Fatalf("OrganizationByName = %+v, %v", got, err)
	}
	if _, err := s.Organization(c, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: got %v, want ErrNotFound", err)
	}
	if _, err := s.OrganizationByName(c, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown name: got %v, want ErrNotFound", err)
	}
}

func testKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	org := MustOrg(t, s)
	hash := store.KeyHash(sha256.Sum256([]byte("secret-" + uuid.NewString())))
	key, err := s.CreateKey(c, org.ID, store.KeyKindUser, hash)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if key.ID == uuid.Nil || key.OrgID != org.ID || key.Kind != store.KeyKindUser || key.Hash != hash || key.Revoked() {
		t.Fatalf("CreateKey returned %+v", key)
	}
	got, err := s.KeyByHash(c, hash)
	if err != nil || got.ID != key.ID || got.OrgID != org.ID || got.Kind != store.KeyKindUser || got.Revoked() {
		t.Fatalf("KeyByHash = %+v, %v", got, err)
	}
	if _, err := s.CreateKey(c, org.ID, store.KeyKindOrg, hash); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate hash: got %v, want ErrConflict", err)
	}
	if _, err := s.CreateKey(c, uuid.New(), store.KeyKindOrg, store.KeyHash(sha256.Sum256([]byte("x")))); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown org: got %v, want ErrNotFound", err)
	}
	if _, err := s.CreateKey(c, org.ID, "admin", store.KeyHash(sha256.Sum256([]byte("y")))); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("unknown kind: got %v, want ErrInvalid", err)
	}
	if _, err := s.KeyByHash(c, store.KeyHash{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: got %v, want ErrNotFound", err)
	}
	if err := s.RevokeKey(c, key.ID); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	got, err = s.KeyByHash(c, hash)
	if err != nil || !got.Revoked() {
		t.Fatalf("after revoke: KeyByHash = %+v, %v; want revoked", got, err)
	}
	first := *got.RevokedAt
	if err := s.RevokeKey(c, key.ID); err != nil {
		t.Fatalf("second RevokeKey: %v", err)
	}
	if again, _ := s.KeyByHash(c, hash); !again.RevokedAt.Equal(first) {
		t.Fatalf("second revoke moved revoked_at from %v to %v", first, again.RevokedAt)
	}
	if err := s.RevokeKey(c, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: got %v, want ErrNotFound", err)
	}
}

func testCreateAndGetJob(t *testing.T, s store.Store) {
	c := ctx(t)
	org := MustOrg(t, s)
	for _, typ := range store.JobTypes() {
		job := MustJob(t, s, org.ID, typ)
		if job.ID == uuid.Nil || job.OrgID != org.ID || job.Type != typ || job.Status != api.JobStatusCreated ||
			job.Result != nil || job.Error != "" || job.FinishedAt != nil || job.Terminal() {
			t.Fatalf("CreateJob(%s) returned %+v", typ, job)
		}
		got, err := s.Job(c, org.ID, job.ID)
		if err != nil {
			t.Fatalf("Job: %v", err)
		}
		assertSameJob(t, got, job)
		got, err = s.JobByID(c, job.ID)
		if err != nil {
			t.Fatalf("JobByID: %v", err)
		}
		assertSameJob(t, got, job)
	}
	if _, err := s.CreateJob(c, org.ID, "deletemodel"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("unknown type: got %v, want ErrInvalid", err)
	}
	if _, err := s.CreateJob(c, uuid.New(), api.JobTypeExportLogs); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown org: got %v, want ErrNotFound", err)
	}
	if _, err := s.Job(c, org.ID, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown job: got %v, want ErrNotFound", err)
	}
	if _, err := s.JobByID(c, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown job by id: got %v, want ErrNotFound", err)
	}
}

func testJobScope(t *testing.T, s store.Store) {
	c := ctx(t)
	a, b := MustOrg(t, s), MustOrg(t, s)
	job := MustJob(t, s, a.ID, api.JobTypeSampleModel)
	if _, err := s.Job(c, b.ID, job.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other organization's job: got %v, want ErrNotFound", err)
	}
	if _, err := s.Job(c, a.ID, job.ID); err != nil {
		t.Fatalf("own job: %v", err)
	}
}

func testLegalTransitions(t *testing.T, s store.Store) {
	c := ctx(t)
	org := MustOrg(t, s)
	result := json.RawMessage(`{"url":"https://example.com/export.json?sig=abc","n":[1,2,3]}`)
	paths := []struct {
		name  string
		steps []store.Transition
	}{
		{"created-running-done", []store.Transition{store.Start(), store.Finish(result)}},
		{"created-running-failed", []store.Transition{store.Start(), store.Fail("boom")}},
		{"created-done", []store.Transition{store.Finish(result)}},
		{"created-done-without-result", []store.Transition{store.Finish(nil)}},
		{"created-done-null-result", []store.Transition{store.Finish(json.RawMessage("null"))}},
		{"created-done-empty-result", []store.Transition{store.Finish(json.RawMessage{})}},
		{"created-failed", []store.Transition{store.Fail("could not start")}},
		// Kept as compacted text: key order and number forms stay.
		{"created-done-spaced-result", []store.Transition{store.Finish(json.RawMessage("{ \"b\" : [1.0, 2e0] ,\n \"a\":\"<x>&\u2028\" }"))}},
		{"created-done-deepest-result", []store.Transition{store.Finish(nested(store.MaxResultDepth))}},
		{"created-done-nested-huge-number", []store.Transition{store.Finish(json.RawMessage(`{"n":1e400}`))}},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			job := MustJob(t, s, org.ID, api.JobTypeExportLogs)
			var last store.Job
			for _, step := range p.steps {
				got, err := s.Transition(c, job.ID, step)
				if err != nil {
					t.Fatalf("Transition to %s: %v", step.To, err)
				}
				if got.Status != step.To || got.ID != job.ID || got.OrgID != org.ID || got.Type != job.Type {
					t.Fatalf("Transition to %s returned %+v", step.To, got)
				}
				if got.UpdatedAt.Before(job.CreatedAt) {
					t.Fatalf("updated_at %v before created_at %v", got.UpdatedAt, job.CreatedAt)
				}
				last = got
			}
			final := p.steps[len(p.steps)-1].Normalized()
			if !last.Terminal() || last.FinishedAt == nil {
				t.Fatalf("final job not terminal: %+v", last)
			}
			if string(last.Result) != string(final.Result) || last.Error != final.Error {
				t.Fatalf("final job result %s error %q; want %s %q", last.Result, last.Error, final.Result, final.Error)
			}
			stored, err := s.Job(c, org.ID, job.ID)
			if err != nil {
				t.Fatalf("Job: %v", err)
			}
			assertSameJob(t, stored, last)
		})
	}
}

// nested returns a JSON array nested depth levels deep.
func nested(depth int) json.RawMessage {
	return json.RawMessage(strings.Repeat("[", depth) + strings.Repeat("]", depth))
}

func testIllegalTransitions(t *testing.T, s store.Store) {
	c := ctx(t)
	org := MustOrg(t, s)
	cases := []struct {
		name    string
		prepare []store.Transition
		attempt store.Transition
		from    store.JobStatus
	}{
		{"running-running", []store.Transition{store.Start()}, store.Start(), api.JobStatusRunning},
		{"done-running", []store.Transition{store.Finish(nil)}, store.Start(), api.JobStatusDone},
		{"done-done", []store.Transition{store.Finish(json.RawMessage(`1`))}, store.Finish(json.RawMessage(`2`)), api.JobStatusDone},
		{"done-failed", []store.Transition{store.Start(), store.Finish(nil)}, store.Fail("late"), api.JobStatusDone},
		{"failed-done", []store.Transition{store.Fail("x")}, store.Finish(nil), api.JobStatusFailed},
		{"failed-running", []store.Transition{store.Fail("x")}, store.Start(), api.JobStatusFailed},
		{"failed-failed", []store.Transition{store.Fail("x")}, store.Fail("y"), api.JobStatusFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := MustJob(t, s, org.ID, api.JobTypeCreateModel)
			var before store.Job
			for _, step := range tc.prepare {
				var err error
				if before, err = s.Transition(c, job.ID, step); err != nil {
					t.Fatalf("prepare %s: %v", step.To, err)
				}
			}
			_, err := s.Transition(c, job.ID, tc.attempt)
			var te *store.TransitionError
			if !errors.As(err, &te) || !errors.Is(err, store.ErrConflict) {
				t.Fatalf("Transition = %v; want a *TransitionError that is ErrConflict", err)
			}
			if te.From != tc.from || te.To != tc.attempt.To || te.JobID != job.ID {
				t.Fatalf("TransitionError = %+v", te)
			}
			after, err := s.Job(c, org.ID, job.ID)
			if err != nil {
				t.Fatalf("Job: %v", err)
			}
			assertSameJob(t, after, before)
		})
	}
	if _, err := s.Transition(c, uuid.New(), store.Start()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown job: got %v, want ErrNotFound", err)
	}
}

func testMalformedTransitions(t *testing.T, s store.Store) {
	c := ctx(t)
	org := MustOrg(t, s)
	job := MustJob(t, s, org.ID, api.JobTypePreviewModel)
	cases := []struct {
		name string
		tr   store.Transition
	}{
		{"to-created", store.Transition{To: api.JobStatusCreated}},
		{"to-unknown", store.Transition{To: "paused"}},
		{"running-with-result", store.Transition{To: api.JobStatusRunning, Result: json.RawMessage(`{}`)}},
		{"running-with-error", store.Transition{To: api.JobStatusRunning, Error: "x"}},
		{"done-with-invalid-json", store.Finish(json.RawMessage(`{"a":`))},
		{"done-with-error", store.Transition{To: api.JobStatusDone, Error: "x"}},
		{"failed-without-message", store.Fail("")},
		{"failed-with-result", store.Transition{To: api.JobStatusFailed, Error: "x", Result: json.RawMessage(`1`)}},
		{"failed-with-huge-message", store.Fail(string(make([]byte, store.MaxErrorLength+1)))},
		// What some clients, or PostgreSQL, cannot take: refused by every store.
		{"done-with-invalid-utf8", store.Finish(json.RawMessage("\"\xff\""))},
		{"done-nested-too-deep", store.Finish(nested(store.MaxResultDepth + 1))},
		{"done-with-number-beyond-float64", store.Finish(json.RawMessage(`1e400`))},
		{"failed-with-nul", store.Fail("nul\x00byte")},
		{"failed-with-invalid-utf8", store.Fail("bad\xffbyte")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Transition(c, job.ID, tc.tr); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Transition = %v; want ErrInvalid", err)
			}
		})
	}
	after, err := s.Job(c, org.ID, job.ID)
	if err != nil || after.Status != api.JobStatusCreated {
		t.Fatalf("job changed by malformed transitions: %+v, %v", after, err)
	}
}

// testConcurrentTransitions races many writers on each job: exactly one wins,
// every loser gets a *TransitionError, and the stored state is the winner's.
func testConcurrentTransitions(t *testing.T, s store.Store) {
	c := ctx(t)
	org := MustOrg(t, s)
	const writers = 50
	for round := 0; round < 5; round++ {
		job := MustJob(t, s, org.ID, api.JobTypeConnectionProxy)
		var (
			wins      atomic.Int32
			conflicts atomic.Int32
			winner    atomic.Value
			wg        sync.WaitGroup
			start     = make(chan struct{})
			errs      = make(chan error, writers)
		)
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				tr := store.Finish(json.RawMessage(fmt.Sprintf(`{"writer":%d}`, i)))
				if i%2 == 1 {
					tr = store.Fail(fmt.Sprintf("writer %d", i))
				}
				got, err := s.Transition(c, job.ID, tr)
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(got)
				case errors.Is(err, store.ErrConflict):
					conflicts.Add(1)
				default:
					errs <- err
				}
			}(i)
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("unexpected error: %v", err)
		}
		if wins.Load() != 1 || conflicts.Load() != writers-1 {
			t.Fatalf("round %d: %d winners and %d conflicts; want 1 and %d", round, wins.Load(), conflicts.Load(), writers-1)
		}
		stored, err := s.Job(c, org.ID, job.ID)
		if err != nil {
			t.Fatalf("Job: %v", err)
		}
		assertSameJob(t, stored, winner.Load().(store.Job))
	}
}

// testConcurrentReads looks jobs up from many goroutines at once, as a busy
// API server does (a store may share queries between concurrent lookups): each
// goroutine moves its own job and must at once read back what it wrote, and
// nobody may see another organization's job.
func testConcurrentReads(t *testing.T, s store.Store) {
	c := ctx(t)
	a, b := MustOrg(t, s), MustOrg(t, s)
	const readers = 40
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	start := make(chan struct{})
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			org, other := a, b
			if i%2 == 1 {
				org, other = b, a
			}
			job, err := s.CreateJob(c, org.ID, api.JobTypeExportLogs)
			if err != nil {
				errs <- err
				return
			}
			<-start
			steps := []store.Transition{store.Start(), store.Finish(json.RawMessage(fmt.Sprintf(`{"reader":%d}`, i)))}
			for round, tr := range steps {
				want, err := s.Transition(c, job.ID, tr)
				if err != nil {
					errs <- fmt.Errorf("reader %d: transition %d: %w", i, round, err)
					return
				}
				for range 5 {
					got, err := s.Job(c, org.ID, job.ID)
					if err != nil {
						errs <- fmt.Errorf("reader %d: own job after transition %d: %w", i, round, err)
						return
					}
					if got.Status != want.Status || string(got.Result) != string(want.Result) {
						errs <- fmt.Errorf("reader %d: read %s %s after writing %s %s", i, got.Status, got.Result, want.Status, want.Result)
						return
					}
					if _, err := s.Job(c, other.ID, job.ID); !errors.Is(err, store.ErrNotFound) {
						errs <- fmt.Errorf("reader %d: other organization's job: got %v, want ErrNotFound", i, err)
						return
					}
				}
			}
		}(i)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testListJobs(t *testing.T, s store.Store) {
	c := ctx(t)
	org, other := MustOrg(t, s), MustOrg(t, s)
	a := MustJob(t, s, org.ID, api.JobTypeExportLogs)
	b := MustJob(t, s, org.ID, api.JobTypeSampleModel)
	d := MustJob(t, s, org.ID, api.JobTypeUpdateModel)
	e := MustJob(t, s, other.ID, api.JobTypeExportLogs)
	if _, err := s.Transition(c, b.ID, store.Start()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(c, d.ID, store.Finish(nil)); err != nil {
		t.Fatal(err)
	}
	active := []store.JobStatus{api.JobStatusCreated, api.JobStatusRunning}
	for _, tt := range []struct {
		name   string
		filter store.JobFilter
		want   []uuid.UUID
	}{
		{"organization", store.JobFilter{OrgID: org.ID}, []uuid.UUID{a.ID, b.ID, d.ID}},
		{"active", store.JobFilter{OrgID: org.ID, Statuses: active}, []uuid.UUID{a.ID, b.ID}},
		{"type", store.JobFilter{OrgID: org.ID, Types: []store.JobType{api.JobTypeExportLogs, api.JobTypeUpdateModel}}, []uuid.UUID{a.ID, d.ID}},
		{"type and status", store.JobFilter{OrgID: org.ID, Types: []store.JobType{api.JobTypeExportLogs}, Statuses: active}, []uuid.UUID{a.ID}},
		{"newest two", store.JobFilter{OrgID: org.ID, Limit: 2}, []uuid.UUID{b.ID, d.ID}},
		{"unknown organization", store.JobFilter{OrgID: uuid.New()}, nil},
	} {
		jobs, err := s.ListJobs(c, tt.filter)
		if err != nil {
			t.Fatalf("%s: ListJobs: %v", tt.name, err)
		}
		if ids := jobIDs(jobs); fmt.Sprint(ids) != fmt.Sprint(tt.want) && !(len(ids) == 0 && len(tt.want) == 0) {
			t.Errorf("%s: ListJobs = %v; want %v", tt.name, ids, tt.want)
		}
	}
	// Without an organization, every organization's jobs, oldest first
	// (other stores' tests may share the database: look at ours only).
	all, err := s.ListJobs(c, store.JobFilter{Types: []store.JobType{api.JobTypeExportLogs}})
	if err != nil {
		t.Fatal(err)
	}
	var ours []uuid.UUID
	for _, j := range all {
		if j.ID == a.ID || j.ID == e.ID {
			ours = append(ours, j.ID)
		}
	}
	if fmt.Sprint(ours) != fmt.Sprint([]uuid.UUID{a.ID, e.ID}) {
		t.Errorf("ListJobs(every organization) holds %v of ours; want %v", ours, []uuid.UUID{a.ID, e.ID})
	}
}

// testJobsByKeys checks a store.MultiReader: every job is matched with its
// organization by the database, so another organization's key finds nothing.
func testJobsByKeys(t *testing.T, s store.Store) {
	b, ok := s.(store.MultiReader)
	if !ok {
		t.Skip("this store reads jobs one at a time: it is no store.MultiReader")
	}
	if br, ok := s.(store.BatchReader); ok && br.BatchConcurrency() < 1 {
		t.Fatalf("BatchConcurrency() = %d; want at least 1", br.BatchConcurrency())
	}
	c := ctx(t)
	org, other := MustOrg(t, s), MustOrg(t, s)
	a := MustJob(t, s, org.ID, api.JobTypeExportLogs)
	d := MustJob(t, s, org.ID, api.JobTypeSampleModel)
	e := MustJob(t, s, other.ID, api.JobTypeExportLogs)
	jobs, err := b.JobsByKeys(c, []store.JobKey{
		{OrgID: org.ID, ID: a.ID},
		{OrgID: org.ID, ID: d.ID},
		{OrgID: org.ID, ID: e.ID},       // another organization's job
		{OrgID: other.ID, ID: a.ID},     // asked for by another organization
		{OrgID: org.ID, ID: uuid.New()}, // no such job
	})
	if err != nil {
		t.Fatalf("JobsByKeys: %v", err)
	}
	got := map[uuid.UUID]store.Job{}
	for _, j := range jobs {
		if _, dup := got[j.ID]; dup {
			t.Fatalf("JobsByKeys returned job %s twice", j.ID)
		}
		got[j.ID] = j
	}
	if len(got) != 2 {
		t.Fatalf("JobsByKeys returned %v; want jobs %s and %s only", jobIDs(jobs), a.ID, d.ID)
	}
	assertSameJob(t, got[a.ID], a)
	assertSameJob(t, got[d.ID], d)
}

// testChangeNotifications checks a store.ChangeNotifier: a transition made
// through the store has been announced when Transition returns; a refused
// one is not a change.
func testChangeNotifications(t *testing.T, s store.Store) {
	n, ok := s.(store.ChangeNotifier)
	if !ok {
		t.Skip("this store does not announce changes: it is no store.ChangeNotifier")
	}
	c := ctx(t)
	org := MustOrg(t, s)
	job := MustJob(t, s, org.ID, api.JobTypeExportLogs)
	var (
		mu    sync.Mutex
		heard []uuid.UUID
	)
	stop := n.Subscribe(func(id uuid.UUID) {
		mu.Lock()
		heard = append(heard, id)
		mu.Unlock()
	})
	defer stop()
	heardOf := func(id uuid.UUID) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(heard, id)
	}
	if _, err := s.Transition(c, job.ID, store.Start()); err != nil {
		t.Fatal(err)
	}
	if !heardOf(job.ID) {
		t.Fatalf("Transition returned before announcing job %s (heard %v)", job.ID, heard)
	}
	other := MustJob(t, s, org.ID, api.JobTypeExportLogs)
	if _, err := s.Transition(c, other.ID, store.Fail("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(c, other.ID, store.Start()); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("illegal transition: %v", err)
	}
	stop()
	mu.Lock()
	heard = nil
	mu.Unlock()
	if _, err := s.Transition(c, job.ID, store.Finish(nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if heardOf(job.ID) {
		t.Fatal("a stopped subscription still hears changes")
	}
}

func testPlans(t *testing.T, s store.Store) {
	c := ctx(t)
	org := MustOrg(t, s)
	a, b := MustJob(t, s, org.ID, api.JobTypeExportLogs), MustJob(t, s, org.ID, api.JobTypeSampleModel)
	t0 := store.Now()
	planA := []store.PlanStep{
		{At: t0.Add(time.Second), Transition: store.Start()},
		{At: t0.Add(3 * time.Second), Transition: store.Finish(json.RawMessage(`{"url":"https://x.example/e?a=1&b=2"}`))},
	}
	if err := s.SetPlan(c, a.ID, planA); err != nil {
		t.Fatalf("SetPlan: %v", err)
	}
	if err := s.SetPlan(c, b.ID, []store.PlanStep{{At: t0.Add(2 * time.Second), Transition: store.Fail("boom")}}); err != nil {
		t.Fatalf("SetPlan: %v", err)
	}
	got, err := s.Plan(c, a.ID)
	if err != nil || len(got) != 2 || got[0].Seq != 0 || got[1].Seq != 1 || got[1].Transition.To != api.JobStatusDone ||
		!jsonEqual(got[1].Transition.Result, planA[1].Transition.Result) || !got[0].At.Equal(planA[0].At) {
		t.Fatalf("Plan = %+v, %v", got, err)
	}
	due := func(at time.Duration) []string {
		t.Helper()
		steps, err := s.DueSteps(c, t0.Add(at), 10)
		if err != nil {
			t.Fatalf("DueSteps: %v", err)
		}
		var names []string
		for _, st := range steps {
			names = append(names, fmt.Sprintf("%s/%d", map[uuid.UUID]string{a.ID: "a", b.ID: "b"}[st.JobID], st.Seq))
		}
		return names
	}
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{{0, "[]"}, {time.Second, "[a/0]"}, {2 * time.Second, "[a/0 b/0]"}, {time.Hour, "[a/0 b/0 a/1]"}} {
		if got := fmt.Sprint(due(tc.at)); got != tc.want {
			t.Errorf("due at +%v: %s; want %s", tc.at, got, tc.want)
		}
	}
	// Taking a step moves its job and removes the step, once.
	step, err := s.DueSteps(c, t0.Add(time.Second), 1)
	if err != nil || len(step) != 1 {
		t.Fatalf("DueSteps: %v, %v", step, err)
	}
	if job, err := s.TakeStep(c, step[0]); err != nil || job.Status != api.JobStatusRunning {
		t.Fatalf("TakeStep(a/0) = %+v, %v; want a running job", job, err)
	}
	if _, err := s.TakeStep(c, step[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("taking a step twice: %v; want ErrNotFound", err)
	}
	if got := fmt.Sprint(due(time.Hour)); got != "[b/0 a/1]" {
		t.Errorf("after taking a/0: %s", got)
	}
	// A step read before its plan was dropped (a move by hand) is never
	// applied; one the job's status refuses is removed all the same.
	d := MustJob(t, s, org.ID, api.JobTypeCreateModel)
	if err := s.SetPlan(c, d.ID, []store.PlanStep{{At: t0, Transition: store.Finish(nil)}}); err != nil {
		t.Fatal(err)
	}
	dropped, err := s.Plan(c, d.ID)
	if err != nil || len(dropped) != 1 {
		t.Fatalf("Plan: %v, %v", dropped, err)
	}
	if err := s.SetPlan(c, d.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeStep(c, dropped[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("taking a step whose plan was dropped: %v; want ErrNotFound", err)
	}
	if job, err := s.JobByID(c, d.ID); err != nil || job.Status != api.JobStatusCreated {
		t.Fatalf("the job of a dropped step: %+v, %v; want it still created", job, err)
	}
	// Nor one read before its plan was replaced: the new plan's step of the
	// same number is another step, and stays.
	if err := s.SetPlan(c, d.ID, []store.PlanStep{{At: t0, Transition: store.Start()}}); err != nil {
		t.Fatal(err)
	}
	stale, _ := s.Plan(c, d.ID)
	if err := s.SetPlan(c, d.ID, []store.PlanStep{{At: t0.Add(time.Hour), Transition: store.Fail("later")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeStep(c, stale[0]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("taking a step whose plan was replaced: %v; want ErrNotFound", err)
	}
	if job, _ := s.JobByID(c, d.ID); job.Status != api.JobStatusCreated {
		t.Fatalf("a step of a replaced plan moved its job to %s", job.Status)
	}
	if left, _ := s.Plan(c, d.ID); len(left) != 1 || left[0].Transition.To != api.JobStatusFailed {
		t.Fatalf("the new plan after a stale take: %+v; want its one step", left)
	}
	if err := s.SetPlan(c, d.ID, []store.PlanStep{{At: t0, Transition: store.Fail("late")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(c, d.ID, store.Finish(nil)); err != nil {
		t.Fatal(err)
	}
	refused, _ := s.Plan(c, d.ID)
	if len(refused) != 1 {
		t.Fatalf("Plan: %v", refused)
	}
	if _, err := s.TakeStep(c, refused[0]); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("taking a step the job's status refuses: %v; want ErrConflict", err)
	}
	if left, err := s.Plan(c, d.ID); err != nil || len(left) != 0 {
		t.Fatalf("a refused step was not removed: %v, %v", left, err)
	}
	// A job is created with its plan, in one transaction, or not at all.
	before, err := s.ListJobs(c, store.JobFilter{OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.CreateJob(c, org.ID, api.JobTypeExportLogs, store.PlanStep{At: t0.Add(2 * time.Hour), Transition: store.Start()}) // beyond the due(time.Hour) below
	if err != nil {
		t.Fatalf("CreateJob with a plan: %v", err)
	}
	if got, err := s.Plan(c, e.ID); err != nil || len(got) != 1 || got[0].JobID != e.ID || got[0].Transition.To != api.JobStatusRunning {
		t.Fatalf("the plan of a job created with one: %+v, %v", got, err)
	}
	if _, err := s.CreateJob(c, org.ID, api.JobTypeExportLogs, store.PlanStep{At: t0, Transition: store.Transition{To: api.JobStatusFailed}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("CreateJob with a malformed step: %v; want ErrInvalid", err)
	}
	if after, err := s.ListJobs(c, store.JobFilter{OrgID: org.ID}); err != nil || len(after) != len(before)+1 {
		t.Fatalf("jobs after creating one with a plan and refusing one: %d, then %d (%v); want one more", len(before), len(after), err)
	}
	// A new plan replaces the old; none removes it.
	if err := s.SetPlan(c, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Plan(c, a.ID); len(got) != 0 {
		t.Fatalf("plan after removing it: %+v", got)
	}
	for name, bad := range map[string][]store.PlanStep{
		"unknown status":     {{At: t0, Transition: store.Transition{To: "paused"}}},
		"fail without error": {{At: t0, Transition: store.Transition{To: api.JobStatusFailed}}},
	} {
		if err := s.SetPlan(c, a.ID, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v; want ErrInvalid", name, err)
		}
	}
	if err := s.SetPlan(c, uuid.New(), planA); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("plan of an unknown job: %v; want ErrNotFound", err)
	}
	// A purged job takes its plan with it.
	if _, err := s.Transition(c, b.ID, store.Fail("now")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PurgeJobs(c, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(due(time.Hour)); got != "[]" {
		t.Errorf("steps of a purged job remain: %s", got)
	}
}

func testReset(t *testing.T, s store.Store) {
	c := ctx(t)
	org := MustOrg(t, s)
	job := MustJob(t, s, org.ID, api.JobTypeExportLogs)
	hash := store.KeyHash(sha256.Sum256([]byte("reset-" + uuid.NewString())))
	if _, err := s.CreateKey(c, org.ID, store.KeyKindUser, hash); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPlan(c, job.ID, []store.PlanStep{{At: store.Now(), Transition: store.Start()}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(c); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if _, err := s.Organization(c, org.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("organization after Reset: %v", err)
	}
	if _, err := s.KeyByHash(c, hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("key after Reset: %v", err)
	}
	if _, err := s.JobByID(c, job.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("job after Reset: %v", err)
	}
	if steps, err := s.DueSteps(c, time.Now().Add(time.Hour), 10); err != nil || len(steps) != 0 {
		t.Errorf("steps after Reset: %v, %v", steps, err)
	}
	// The store works on.
	if _, err := s.CreateOrganization(c, org.Name); err != nil {
		t.Errorf("a name used before Reset: %v", err)
	}
}

func testPurgeJobs(t *testing.T, s store.Store) {
	c := ctx(t)
	org := MustOrg(t, s)
	done := MustJob(t, s, org.ID, api.JobTypeExportLogs)
	failed := MustJob(t, s, org.ID, api.JobTypeExportLogs)
	running := MustJob(t, s, org.ID, api.JobTypeExportLogs)
	created := MustJob(t, s, org.ID, api.JobTypeExportLogs)
	for _, step := range []struct {
		id uuid.UUID
		tr store.Transition
	}{{done.ID, store.Finish(nil)}, {failed.ID, store.Fail("x")}, {running.ID, store.Start()}} {
		if _, err := s.Transition(c, step.id, step.tr); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeJobs(c, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("PurgeJobs(an hour ago) = %d, %v; want 0", n, err)
	}
	n, err = s.PurgeJobs(c, time.Now().Add(time.Second))
	if err != nil || n != 2 {
		t.Fatalf("PurgeJobs(now) = %d, %v; want 2", n, err)
	}
	for _, id := range []uuid.UUID{done.ID, failed.ID} {
		if _, err := s.Job(c, org.ID, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("purged job %s: got %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range []uuid.UUID{running.ID, created.ID} {
		if _, err := s.Job(c, org.ID, id); err != nil {
			t.Fatalf("active job %s was purged: %v", id, err)
		}
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func jobIDs(jobs []store.Job) []uuid.UUID {
	ids := make([]uuid.UUID, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

func assertSameJob(t *testing.T, got, want store.Job) {
	t.Helper()
	if got.ID != want.ID || got.OrgID != want.OrgID || got.Type != want.Type || got.Status != want.Status ||
		string(got.Result) != string(want.Result) || got.Error != want.Error ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
		(got.FinishedAt == nil) != (want.FinishedAt == nil) ||
		(got.FinishedAt != nil && !got.FinishedAt.Equal(*want.FinishedAt)) {
		t.Fatalf("job = %+v\nwant %+v", got, want)
	}
}

// jsonEqual compares two JSON documents by value; nil equals nil only.
func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}
