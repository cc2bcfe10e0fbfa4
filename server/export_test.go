package server

import "time"

// Away returns how many connections are away from net/http: held requests
// parked (park.go), and connections they answered waiting for their next
// request.
func (l *Listener) Away() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.away)
}

// SetLookupTimeout sets how long a database lookup of the request path may
// take, until the test ends.
func SetLookupTimeout(t interface{ Cleanup(func()) }, d time.Duration) {
	old := lookupTimeout
	lookupTimeout = d
	t.Cleanup(func() { lookupTimeout = old })
}
