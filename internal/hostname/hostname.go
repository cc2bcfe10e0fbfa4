// Package hostname tells, without asking a resolver, whether a host (a
// listen address, a URL's host, a Host header; with or without a port)
// names this machine, and whether a request could have been sent there by a
// web page that rebound its own domain name to this machine's address.
package hostname

import (
	"net"
	"strings"
)

// IsLoopback reports whether host is this machine: localhost, or an address
// of 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	host = strip(host)
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsDirect reports whether host names the server by an IP address or as
// localhost. A browser sends its page's own domain name in the Host header,
// so a page that rebinds that name to the server's address (DNS rebinding)
// never sends a direct host: a service without credentials that answers only
// direct hosts cannot be reached that way.
func IsDirect(host string) bool {
	host = strip(host)
	return strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}

// strip removes a port and IPv6 brackets.
func strip(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
