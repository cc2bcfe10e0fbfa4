//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"time"
)

// conn is one keep-alive connection of the load generator. Requests are
// written by hand, as bench/cmd/loadgen does, and responses read with
// net/http's parser: no client pool between the load and the server.
type conn struct {
	addr    string
	timeout time.Duration

	c    net.Conn
	br   *bufio.Reader
	req  []byte       // the request being sent, reused
	body bytes.Buffer // the last body read, reused
}

// failure is a request that got no complete HTTP response.
type failure struct {
	kind string // connect, write, read or timeout
	err  error
}

// roundTrip sends GET path with the given header lines (each ending in CRLF)
// and reads the response. The body stays valid until the next call. On any
// failure the connection is dropped; the next call dials again.
func (c *conn) roundTrip(path string, headers []byte) (*http.Response, []byte, *failure) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return nil, nil, c.fail("connect", err)
		}
		c.c, c.br = nc, bufio.NewReaderSize(nc, 16<<10)
	}
	c.req = append(c.req[:0], "GET "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.addr...)
	c.req = append(c.req, "\r\n"...)
	c.req = append(c.req, headers...)
	c.req = append(c.req, "\r\n"...)
	_ = c.c.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.c.Write(c.req); err != nil {
		return nil, nil, c.fail("write", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, nil, c.fail("read", err)
	}
	c.body.Reset()
	_, err = c.body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, c.fail("read", err)
	}
	if resp.Close {
		c.close()
	}
	return resp, c.body.Bytes(), nil
}

// fail drops the connection and classifies err, timeouts apart.
func (c *conn) fail(kind string, err error) *failure {
	c.close()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		kind = "timeout"
	}
	return &failure{kind: kind, err: err}
}

// close drops the connection, if any.
func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c, c.br = nil, nil
	}
}
