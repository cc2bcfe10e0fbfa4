package server

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

func TestJobETag(t *testing.T) {
	id := uuid.MustParse("0190a8f2-7c3e-7d4b-9f10-abcdef012345")
	a := jobETag(id, api.JobStatusRunning, api.APIVersion20250918)
	if len(a) != 18 || a[0] != '"' || a[17] != '"' {
		t.Fatalf("ETag %s is not a quoted 16-digit tag", a)
	}
	if jobETag(id, api.JobStatusRunning, api.APIVersion20250918) != a {
		t.Fatal("the ETag of the same state differs between calls")
	}
	for name, other := range map[string]string{
		"status":  jobETag(id, api.JobStatusDone, api.APIVersion20250918),
		"version": jobETag(id, api.JobStatusRunning, api.APIVersion20240208),
		"job":     jobETag(uuid.New(), api.JobStatusRunning, api.APIVersion20250918),
	} {
		if other == a {
			t.Errorf("another %s gives the same ETag %s", name, a)
		}
	}
}

func TestIfNoneMatch(t *testing.T) {
	const etag = `"abc"`
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{`"abc"`, true},
		{`W/"abc"`, true},
		{` "x" , "abc"`, true},
		{`"x",W/"abc",  "y"`, true},
		{`*`, true},
		{` * `, true},
		{`"abcd"`, false},
		{`abc`, false},
		{`"x"`, false},
		{``, false},
		{`"abc`, false},
		{`"x" "abc"`, false},
		{`w/"abc"`, false},
		{`"x", *`, false},
		{`,,"abc"`, true},
	} {
		if got := ifNoneMatch(tc.header, etag); got != tc.want {
			t.Errorf("ifNoneMatch(%q, %s) = %v; want %v", tc.header, etag, got, tc.want)
		}
	}
}

func TestPreferWait(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"wait=10", 10 * time.Second},
		{"WAIT=3", 3 * time.Second},
		{"respond-async, wait=5", 5 * time.Second},
		{`wait="7"`, 7 * time.Second},
		{"wait = 2", 2 * time.Second},
		{"wait=4; foo=bar", 4 * time.Second},
		{"return=minimal", 0},
		{"wait=-1", 0},
		{"wait=soon", 0},
		{"wait=99999999999", 0},
		{"", 0},
		{"waiting=5", 0},
	} {
		if got := preferWait(tc.header); got != tc.want {
			t.Errorf("preferWait(%q) = %v; want %v", tc.header, got, tc.want)
		}
	}
}

// TestAppliedWait: the wait is capped, and its random extra stays within a
// sixteenth of it, spread out rather than constant.
func TestAppliedWait(t *testing.T) {
	const maxWait = 20 * time.Second
	seen := map[time.Duration]bool{}
	for range 200 {
		d, applied := appliedWait(time.Hour, maxWait)
		if applied != "wait=20" {
			t.Fatalf("Preference-Applied %q; want wait=20", applied)
		}
		if d < maxWait || d > maxWait+maxWait/16 {
			t.Fatalf("held %v; want between %v and %v", d, maxWait, maxWait+maxWait/16)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct waits in 200: the jitter does not spread waiters", len(seen))
	}
	if d, applied := appliedWait(3*time.Second, maxWait); applied != "wait=3" || d < 3*time.Second || d > 3*time.Second+3*time.Second/16 {
		t.Fatalf("a wait under the cap: %v, %q", d, applied)
	}
}

// TestShutdownWhileJobsMove: jobs that change (a plan, the demo, a test
// double's caller) while the server shuts down must not deadlock the hub. A
// change's notification runs with the store's subscriptions read-locked and
// takes the hub's lock (changed); shutdown stops the hub's subscription, which
// waits for those notifications, so it must not hold the hub's lock then.
func TestShutdownWhileJobsMove(t *testing.T) {
	ctx := t.Context()
	for attempt := range 10 {
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), fmt.Sprintf("polyjobs-%d.db", attempt)))
		if err != nil {
			t.Fatal(err)
		}
		org, err := st.CreateOrganization(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		held, err := st.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
		if err != nil {
			t.Fatal(err)
		}
		hub := newWaitHub(st, NewMetrics(), 1000, 1000)
		stop := hub.stopNotifications
		hub.stopNotifications = func() {
			if !hub.mu.TryLock() {
				t.Error("shutdown stops the store's notifications while holding the hub's lock")
			} else {
				hub.mu.Unlock()
			}
			stop()
		}
		for range 100 {
			if _, ok := hub.join(held, uuid.New()); !ok {
				t.Fatal("a waiter was refused")
			}
		}
		moving, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ctx.Err() == nil; i++ {
				j, err := st.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
				if err == nil {
					_, err = st.Transition(ctx, j.ID, store.Start())
				}
				if err != nil {
					return // the store is closed
				}
				if i == 10 {
					close(moving)
				}
			}
		}()
		<-moving
		shut := make(chan struct{})
		go func() { hub.shutdown(); close(shut) }()
		select {
		case <-shut:
		case <-time.After(10 * time.Second):
			t.Fatalf("attempt %d: shutdown has not returned after 10 s while jobs moved", attempt+1)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		<-done
	}
}
