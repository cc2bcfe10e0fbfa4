//go:build linux

package main

import (
	"math"
	"time"
)

// schedule is an open-loop arrival schedule: requests arrive at a constant
// rate per second, reached from zero by a linear ramp, so that a cold server
// is not hit at full rate by its first requests.
type schedule struct {
	origin time.Time     // when the ramp starts
	rate   float64       // requests per second once ramped up; 0 for a closed loop
	ramp   time.Duration // 0 for none
}

// due returns when request n (from 0) is due. Along the ramp the rate grows
// linearly, so the n-th request is due at sqrt(2·ramp·n/rate); after it,
// requests are 1/rate apart.
func (s schedule) due(n int) time.Time {
	k, ramp := float64(n), s.ramp.Seconds()
	t := k/s.rate + ramp/2
	if k < s.rate*ramp/2 {
		t = math.Sqrt(2 * ramp * k / s.rate)
	}
	return s.origin.Add(time.Duration(t * float64(time.Second)))
}
