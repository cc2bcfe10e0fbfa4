package client

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// maxRedirects is how many redirects a Client follows when the
// *http.Client it sends with has no CheckRedirect of its own: net/http's
// default.
const maxRedirects = 10

// withSameOriginCredentials returns a copy of hc that sends the
// Authorization header only to the origin (scheme, host and port) of the
// request it was set on: a redirect elsewhere is followed without it. hc's
// own CheckRedirect, if any, then decides whether to follow. hc is not
// modified.
//
// net/http drops Authorization only when the host name changes to one that
// is not a subdomain; it keeps it for another port of the same host, for a
// subdomain and from https to http, each of which may be another service.
func withSameOriginCredentials(hc *http.Client) *http.Client {
	c := *hc
	next := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && !sameOrigin(req.URL, via[0].URL) {
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// sameOrigin reports whether a and b have the same scheme, host and port,
// an omitted port being the scheme's default.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b)
}

// port returns u's port, or its scheme's default port.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}
