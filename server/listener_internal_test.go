package server

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// deadlineConn records the write deadlines armed on it.
type deadlineConn struct {
	net.Conn
	armed []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.armed = append(c.armed, t)
	return nil
}

func (c *deadlineConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

// TestLazyWriteDeadline: a write deadline is re-armed unless it is later
// than the armed one by less than the slack (an eighth of WriteTimeout, at
// most a second), so a write never times out more than the slack early; a
// clear keeps the armed deadline, SetDeadline clears it.
func TestLazyWriteDeadline(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name         string
		writeTimeout time.Duration
		set          []time.Time // by SetWriteDeadline; zero entries clear it
		armed        []time.Time
	}{
		{"first deadline", 30 * time.Second, []time.Time{at(30 * time.Second)}, []time.Time{at(30 * time.Second)}},
		{"busy connection", 30 * time.Second,
			[]time.Time{at(30 * time.Second), at(30*time.Second + 300*time.Millisecond), at(30*time.Second + 999*time.Millisecond), at(31 * time.Second)},
			[]time.Time{at(30 * time.Second), at(31 * time.Second)}},
		{"earlier deadline", 30 * time.Second,
			[]time.Time{at(30 * time.Second), at(10 * time.Second), at(10*time.Second + time.Millisecond)},
			[]time.Time{at(30 * time.Second), at(10 * time.Second)}},
		{"cleared, then set again", 30 * time.Second,
			[]time.Time{at(30 * time.Second), {}, at(30*time.Second + time.Millisecond), {}, at(40 * time.Second)},
			[]time.Time{at(30 * time.Second), at(40 * time.Second)}},
		{"short timeout, short slack", 400 * time.Millisecond,
			[]time.Time{at(400 * time.Millisecond), at(440 * time.Millisecond), at(460 * time.Millisecond)},
			[]time.Time{at(400 * time.Millisecond), at(460 * time.Millisecond)}},
		{"no write timeout", 0,
			[]time.Time{at(30 * time.Second), {}, at(30*time.Second + time.Millisecond)},
			[]time.Time{at(30 * time.Second), {}, at(30*time.Second + time.Millisecond)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner := &deadlineConn{}
			l := NewListener(nil, &http.Server{WriteTimeout: tc.writeTimeout}, 1)
			c := &limitedConn{Conn: inner, l: l}
			for _, d := range tc.set {
				if err := c.SetWriteDeadline(d); err != nil {
					t.Fatal(err)
				}
			}
			if len(inner.armed) != len(tc.armed) {
				t.Fatalf("armed %v, want %v", inner.armed, tc.armed)
			}
			for i := range tc.armed {
				if !inner.armed[i].Equal(tc.armed[i]) {
					t.Fatalf("armed %v, want %v", inner.armed, tc.armed)
				}
			}
		})
	}
	// SetDeadline clears the record too: the next deadline is armed.
	inner := &deadlineConn{}
	c := &limitedConn{Conn: inner, l: NewListener(nil, &http.Server{WriteTimeout: 30 * time.Second}, 1)}
	_ = c.SetWriteDeadline(at(30 * time.Second))
	_ = c.SetDeadline(time.Time{})
	_ = c.SetWriteDeadline(at(30 * time.Second))
	if len(inner.armed) != 3 {
		t.Fatalf("after SetDeadline, armed %v; want the deadline armed again", inner.armed)
	}
}
