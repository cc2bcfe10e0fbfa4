//go:build linux

package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

// headersFor returns the headers polyjobs sends with a job at rank.
func headersFor(rank int32) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Polytomic-Version", fixture.NewestVersion)
	if rank < rankTerminal {
		h.Set("Retry-After", "2")
	}
	return h
}

func TestCheckResponse(t *testing.T) {
	ok := newJob(uuid.New(), "exportlogs", false, rankRunning)
	bad := newJob(uuid.New(), "previewmodel", true, rankCreated)
	for _, c := range []struct {
		name         string
		j            *job
		rank         int32 // the status answered
		min, max     int32
		edit         func(h http.Header, body []byte) []byte
		wantErrorHas string
	}{
		{name: "running", j: ok, rank: rankRunning, min: rankRunning, max: rankRunning},
		{name: "done while being finished", j: ok, rank: rankTerminal, min: rankRunning, max: rankTerminal},
		{name: "running while being finished", j: ok, rank: rankRunning, min: rankRunning, max: rankTerminal},
		{name: "failed", j: bad, rank: rankTerminal, min: rankTerminal, max: rankTerminal},
		{name: "stale", j: ok, rank: rankCreated, min: rankRunning, max: rankRunning, wantErrorHas: "stale"},
		{name: "ahead of the writer", j: ok, rank: rankTerminal, min: rankRunning, max: rankRunning, wantErrorHas: "not begun"},
		{name: "the other terminal status", j: bad, rank: rankTerminal, min: rankTerminal, max: rankTerminal,
			edit: func(_ http.Header, _ []byte) []byte {
				return newJob(bad.id, bad.typ, false, rankTerminal).body(rankTerminal)
			}, wantErrorHas: "never reaches"},
		{name: "other body", j: ok, rank: rankRunning, min: rankRunning, max: rankRunning,
			edit: func(_ http.Header, b []byte) []byte {
				return []byte(strings.Replace(string(b), "exportlogs", "createmodel", 1))
			},
			wantErrorHas: "want"},
		{name: "not JSON", j: ok, rank: rankRunning, min: rankRunning, max: rankRunning,
			edit: func(_ http.Header, _ []byte) []byte { return []byte("oops") }, wantErrorHas: "envelope"},
		{name: "no Retry-After", j: ok, rank: rankRunning, min: rankRunning, max: rankRunning,
			edit: func(h http.Header, b []byte) []byte { h.Del("Retry-After"); return b }, wantErrorHas: "Retry-After"},
		{name: "Retry-After when done", j: ok, rank: rankTerminal, min: rankTerminal, max: rankTerminal,
			edit: func(h http.Header, b []byte) []byte { h.Set("Retry-After", "2"); return b }, wantErrorHas: "Retry-After"},
		{name: "content type", j: ok, rank: rankRunning, min: rankRunning, max: rankRunning,
			edit: func(h http.Header, b []byte) []byte { h.Set("Content-Type", "text/plain"); return b }, wantErrorHas: "Content-Type"},
		{name: "version", j: ok, rank: rankRunning, min: rankRunning, max: rankRunning,
			edit: func(h http.Header, b []byte) []byte { h.Set("X-Polytomic-Version", "2021-05-23"); return b }, wantErrorHas: "Version"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, body := headersFor(c.rank), c.j.body(c.rank)
			if c.edit != nil {
				body = c.edit(h, body)
			}
			err := checkResponse(c.j, h, body, c.min, c.max)
			switch {
			case c.wantErrorHas == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErrorHas != "" && (err == nil || !strings.Contains(err.Error(), c.wantErrorHas)):
				t.Fatalf("error %v, want one mentioning %q", err, c.wantErrorHas)
			}
		})
	}
}

func TestJobBody(t *testing.T) {
	id := uuid.MustParse("01a22501-26b6-750c-8de8-cc2b6c5273f9")
	done := newJob(id, "exportlogs", false, rankCreated)
	failed := newJob(id, "exportlogs", true, rankCreated)
	for _, c := range []struct {
		j    *job
		rank int32
		want string
	}{
		{done, rankCreated, `{"data":{"error":null,"job_id":"01a22501-26b6-750c-8de8-cc2b6c5273f9","result":null,"status":"created","type":"exportlogs"}}`},
		{done, rankTerminal, `{"data":{"error":null,"job_id":"01a22501-26b6-750c-8de8-cc2b6c5273f9","result":` + doneResult + `,"status":"done","type":"exportlogs"}}`},
		{failed, rankTerminal, `{"data":{"error":"soak: simulated failure of \"step 3\" \u003cafter retries\u003e","job_id":"01a22501-26b6-750c-8de8-cc2b6c5273f9","result":null,"status":"failed","type":"exportlogs"}}`},
	} {
		if got := strings.TrimSpace(string(c.j.body(c.rank))); got != c.want {
			t.Errorf("body at rank %d:\n got %s\nwant %s", c.rank, got, c.want)
		}
	}
	if done.path != "/api/jobs/exportlogs/"+id.String() {
		t.Errorf("path %s", done.path)
	}
}

func TestPool(t *testing.T) {
	a, b := newJob(uuid.New(), "exportlogs", false, rankCreated), newJob(uuid.New(), "samplemodel", false, rankTerminal)
	p := newPool([]*job{a})
	if first, second := p.next(), p.next(); first != a || second != a {
		t.Fatal("a pool of one rotates over that one")
	}
	p.add(b)
	seen := map[*job]int{}
	for range 10 {
		seen[p.next()]++
	}
	if seen[a] != 5 || seen[b] != 5 {
		t.Fatalf("rotation %v, want 5 each", seen)
	}
	if m := p.mix(); m["created"] != 1 || m["done"] != 1 {
		t.Fatalf("mix %v", m)
	}
	before := p.all()
	if !p.retire(a) || p.retire(a) || p.retire(b) {
		t.Fatal("retire: a once, never the last job")
	}
	if len(before) != 2 || len(p.all()) != 1 || p.next() != b {
		t.Fatal("retire must publish a new slice and leave the old one alone")
	}
}
