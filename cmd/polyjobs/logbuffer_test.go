package main

import (
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/syncbuf"
)

func TestLogBufferFlushes(t *testing.T) {
	var out syncbuf.Buffer
	b := newLogBuffer(&out)
	b.Write([]byte("one\n"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "one") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "one") {
		t.Fatal("a buffered line was not flushed by the timer")
	}
	b.Write([]byte("two\n"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one\ntwo\n" {
		t.Fatalf("after Close: %q", out.String())
	}
}
