package hostname_test

import (
	"testing"

	"github.com/polyjobs/polyjobs/internal/hostname"
)

func TestHosts(t *testing.T) {
	for _, tc := range []struct {
		host             string
		loopback, direct bool
	}{
		{"localhost", true, true},
		{"LocalHost:8080", true, true},
		{"127.0.0.1", true, true},
		{"127.0.0.1:9090", true, true},
		{"127.1.2.3:80", true, true},
		{"[::1]:8080", true, true},
		{"::1", true, true},
		{"[::1]", true, true},
		{"10.0.0.5:9090", false, true},
		{"[2001:db8::1]:443", false, true},
		{"0.0.0.0:8080", false, true},
		{":8080", false, false},
		{"", false, false},
		{"evil.example", false, false},
		{"evil.example:9090", false, false},
		{"localhost.evil.example:80", false, false},
		{"127.0.0.1.nip.io", false, false},
		{"::ffff:192.0.2.1", false, true},
		{"localhost.example.com", false, false},
	} {
		if got := hostname.IsLoopback(tc.host); got != tc.loopback {
			t.Errorf("IsLoopback(%q) = %v; want %v", tc.host, got, tc.loopback)
		}
		if got := hostname.IsDirect(tc.host); got != tc.direct {
			t.Errorf("IsDirect(%q) = %v; want %v", tc.host, got, tc.direct)
		}
	}
}
