package server

// Away returns how many connections are away from net/http: held requests
// parked (park.go), and connections they answered waiting for their next
// request.
func (l *Listener) Away() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.away)
}
