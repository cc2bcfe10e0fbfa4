package server

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"

	"github.com/labstack/echo/v4"
)

// maxRequestIDLen bounds a request id accepted from a client.
const maxRequestIDLen = 64

// setRequestID gives the request an id, in the X-Request-Id response header
// and in every log line about it. A well-formed id sent by the client (or a
// proxy in front of us) is kept, so traces join up; anything else is
// replaced, so a client cannot inject text into logs.
func setRequestID(c echo.Context) {
	rid := c.Request().Header.Get(echo.HeaderXRequestID)
	if !validRequestID(rid) {
		rid = newRequestID()
	}
	c.Response().Header()[echo.HeaderXRequestID] = []string{rid}
}

// requestID returns the id the middleware gave the request.
func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// newRequestID returns 128 random bits in hex. A request id must be unique,
// not unguessable, so it comes from math/rand/v2's per-thread generator
// (ChaCha8, randomly seeded) rather than the slower crypto/rand.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// validRequestID accepts 1 to 64 characters of [A-Za-z0-9._-].
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
