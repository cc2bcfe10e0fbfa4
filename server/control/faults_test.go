package control

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestFaultsTake(t *testing.T) {
	key, job := uuid.New(), uuid.New()
	var fs Faults
	slow := fs.Add(Fault{Remaining: 3, Latency: 50 * time.Millisecond})
	fs.Add(Fault{Remaining: 1, KeyID: uuid.New(), Status: 500})
	fs.Add(Fault{Remaining: 2, JobID: job, Status: 503, RetryAfter: "2"})
	fs.Add(Fault{Remaining: 1, Status: 429})

	for i, want := range []Fault{
		{Status: 503, RetryAfter: "2", Latency: 50 * time.Millisecond}, // the first fault with a status that matches, and the latency
		{Status: 503, RetryAfter: "2", Latency: 50 * time.Millisecond},
		{Status: 429, Latency: 50 * time.Millisecond}, // the job fault is used up
	} {
		got, ok := fs.Take(key, job)
		got.ID = uuid.Nil
		if !ok || got != want {
			t.Fatalf("answer %d: %+v, %v; want %+v", i+1, got, ok, want)
		}
	}
	// Only the other key's fault is left, which this key does not match.
	if got, ok := fs.Take(key, job); ok {
		t.Fatalf("after every matching fault is used: %+v", got)
	}
	if left := fs.List(); len(left) != 1 || left[0].Status != 500 {
		t.Fatalf("left: %+v", left)
	}
	fs.Remove(slow.ID) // already gone: no effect
	fs.Clear()
	if len(fs.List()) != 0 {
		t.Fatal("Clear left faults")
	}
}
