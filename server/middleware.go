package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// pipeline is what every request goes through around the generated handler,
// in order (see serve). It is one echo middleware rather than one per step
// because echo builds its middleware chain anew for every request,
// allocating a closure per middleware; steps called in sequence cost nothing
// of the kind.
type pipeline struct {
	logger    *slog.Logger
	access    *accessLog
	metrics   *Metrics
	bodyLimit int64
	validator requestValidator
	// failures limits failed authentications per client address; nil
	// when off.
	failures *failureLimiter
	// maxHold is the longest a request may be held (Prefer: wait).
	maxHold time.Duration
}

// middleware installs the pipeline in front of next.
func (p *pipeline) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p.serve(c, next)
		return nil
	}
}

// serve runs one request through the pipeline.
func (p *pipeline) serve(c echo.Context, next echo.HandlerFunc) {
	// 1. Every request gets an id, echoed in X-Request-Id and in its log
	//    lines, and a state on its context that the steps below fill in.
	st := begin(c)
	// 2-7. The steps that may fail; any error, panic included, goes to the
	//    error handler (errors.go), which writes the spec's JSON error.
	if err := p.guarded(c, next); err != nil {
		c.Error(err)
	}
	// 8. A request parked off net/http (park.go) accounts for itself once
	//    answered; any other one is accounted for now.
	if !st.parked {
		p.account(st, c.Path() == apiRoutePath, c.Response().Status, c.Response().Size)
	}
}

// account ends a request: one access log line and the request's metrics,
// with the status sent; a failed authentication (not an injected 401)
// counts against the client's address.
func (p *pipeline) account(st *requestState, api bool, status int, size int64) {
	end := time.Now()
	p.access.log(st, status, size, st.start, end)
	p.metrics.observeRequest(st, api, status, end.Sub(st.start))
	if status == http.StatusUnauthorized && p.failures != nil && !st.injected {
		if addr, ok := clientAddr(st.remoteAddr); ok {
			p.failures.take(addr, end)
		}
	}
}

func (p *pipeline) guarded(c echo.Context, next echo.HandlerFunc) (err error) {
	// 2. A panic becomes a 500, logged with its stack.
	defer func() {
		if r := recover(); r != nil {
			err = p.panicked(c, r)
		}
	}()
	// 3. Headers every response carries, errors included: the API version
	//    that serves it, and no caching or sniffing.
	setResponseHeaders(c)
	// 4. Oversized headers are refused; the API takes no body: refuse a
	//    large one, drain a small one.
	if headerSize(c.Request()) > MaxHeaderBytes {
		return &apiError{status: http.StatusRequestHeaderFieldsTooLarge}
	}
	if err := discardBody(c, p.bodyLimit); err != nil {
		return err
	}
	joinListHeaders(c.Request().Header)
	// 5. A client address that failed to authenticate too often waits.
	if err := p.checkFailures(c); err != nil {
		return err
	}
	// 6. The spec's request validation (validation.go): route, security
	//    (auth.go: the API key becomes the request's Principal, within its
	//    key's rate) and parameters.
	if err := p.validator.Validate(c); err != nil {
		return err
	}
	// 7. The generated wrapper binds the parameters and calls the strict
	//    handler, which calls handler.GetJob (handler.go). A request that
	//    may be held (wait.go) may write later than the server's write
	//    timeout allows.
	if p.maxHold > 0 && c.Request().Header.Get("Prefer") != "" {
		_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(p.maxHold + holdWriteMargin))
	}
	return next(c)
}

// holdWriteMargin is the time a held request has to write its answer.
const holdWriteMargin = 10 * time.Second

// checkFailures refuses, with a 429, a request from an address that failed
// to authenticate more often than its rate allows.
func (p *pipeline) checkFailures(c echo.Context) error {
	if p.failures == nil || p.failures.empty() {
		return nil // the common case: no address failed lately
	}
	addr, ok := clientAddr(c.Request().RemoteAddr)
	if !ok {
		return nil
	}
	if wait := p.failures.wait(addr, time.Now()); wait > 0 {
		secs := wholeSeconds(wait)
		return &apiError{status: http.StatusTooManyRequests, retryAfter: strconv.Itoa(secs),
			message: fmt.Sprintf("too many failed authentications from this address; retry after %d s", secs)}
	}
	return nil
}

// panicked logs a recovered panic and returns it as an error.
func (p *pipeline) panicked(c echo.Context, r any) error {
	err, ok := r.(error)
	if !ok {
		err = fmt.Errorf("%v", r)
	}
	stack := make([]byte, 4<<10)
	stack = stack[:runtime.Stack(stack, false)]
	p.logger.LogAttrs(c.Request().Context(), slog.LevelError, "panic",
		slog.String("request_id", requestID(c)), slog.String("error", err.Error()), slog.String("stack", string(stack)))
	return fmt.Errorf("panic: %w", err)
}

// requestState is what the pipeline learns about a request as it goes: the
// authentication step fills it in, the handler and the access log read it.
// It is the request's context, so that the strict handler, which sees only
// the context, finds it.
//
// It is never cancelled: net/http cancels a request's context when its
// client half-closes the connection after sending the request, yet that
// client still reads the answer. The lookups a request makes are short and
// bounded, so they always finish; only a held request (wait.go) watches
// gone, and ends early when its client leaves.
type requestState struct {
	// Context is the request's, without its cancellation.
	context.Context
	// parent is the request's context as net/http made it, for gone.
	parent context.Context
	// id is the request's id, as in its X-Request-Id response header.
	id string
	// method is the request's method as sent (the pipeline serves a HEAD as
	// a GET).
	method string
	// principal is who the request acts for, once authenticated is set.
	principal     Principal
	authenticated bool
	// req is the request as the pipeline serves it (a HEAD as a GET), with
	// this state as its context, until it is parked (park.go); start is when
	// it began. path (escaped) and remoteAddr are the request's, for its log
	// line and the failed-authentication limit.
	req              *http.Request
	start            time.Time
	path, remoteAddr string
	// parked is set when the request has left net/http to wait for its
	// job (park.go), which then answers it and accounts for it.
	parked bool
	// keyLimited is set when the request's key was over its rate (a 429),
	// injected when its answer is a fault the control API injected: the
	// metrics of refusals count neither an address's failed
	// authentications nor injected faults.
	keyLimited, injected bool
}

type stateKey struct{}

// Value returns the state itself for stateKey and defers to the parent otherwise.
func (s *requestState) Value(key any) any {
	if key == (stateKey{}) {
		return s
	}
	return s.Context.Value(key)
}

// gone is closed when net/http gives up on the client. It is asked for only
// when a request waits: net/http makes the channel on the first call, which
// costs more than the rest of the state.
func (s *requestState) gone() <-chan struct{} { return s.parent.Done() }

// stateFrom returns the state of a request's context, or nil outside the pipeline.
func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

// begin gives the request its id and its state.
func begin(c echo.Context) *requestState {
	req := c.Request()
	rid := req.Header.Get(echo.HeaderXRequestID)
	if !validRequestID(rid) {
		rid = newRequestID()
	}
	c.Response().Header()[echo.HeaderXRequestID] = []string{rid}
	st := &requestState{Context: context.WithoutCancel(req.Context()), parent: req.Context(), id: rid, method: req.Method, start: time.Now(),
		path: req.URL.EscapedPath(), remoteAddr: req.RemoteAddr}
	req = req.WithContext(st)
	st.req = req
	if req.Method == http.MethodHead {
		// Validated and served as the GET it stands for. This is the
		// pipeline's copy of the request: net/http still sees a HEAD, and
		// drops the body.
		req.Method = http.MethodGet
	}
	c.SetRequest(req)
	return st
}

// listHeaders are the request headers whose value is a list, which a client
// or a proxy may send on several lines (RFC 9110, 5.3).
var listHeaders = []string{"If-None-Match", "Prefer"}

// joinListHeaders puts each list header sent on several lines on one, as the
// same list: the generated parameter binding takes one line, and answered
// 400 to several.
func joinListHeaders(h http.Header) {
	for _, name := range listHeaders {
		if v := h[name]; len(v) > 1 {
			h[name] = []string{strings.Join(v, ", ")}
		}
	}
}

// headerSize is the size of the request's header block as it came on the
// wire, near enough: the request line and every header line.
func headerSize(req *http.Request) int {
	n := len(req.Method) + len(req.RequestURI) + len(req.Proto) + 4 + len(req.Host) + 8
	for name, values := range req.Header {
		for _, v := range values {
			n += len(name) + len(v) + 4
		}
	}
	return n
}

// PrincipalFrom returns the principal an authenticated request's context
// carries.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	if s := stateFrom(ctx); s != nil && s.authenticated {
		return s.principal, true
	}
	return Principal{}, false
}

// requestID returns the id the pipeline gave the request.
func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// maxRequestIDLen bounds a request id accepted from a client.
const maxRequestIDLen = 64

// newRequestID returns 128 random bits in hex. A request id must be unique,
// not unguessable, so it comes from math/rand/v2's per-thread generator
// (ChaCha8, randomly seeded) rather than the slower crypto/rand.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// validRequestID accepts 1 to 64 characters of [A-Za-z0-9._-]: a client's (or
// a proxy's) id is kept so that traces join up, and anything else is
// replaced, so that a client cannot inject text into logs.
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

// setResponseHeaders sets the headers every response carries, errors
// included: the served API version, and no caching or content sniffing of API
// data. It is the only place that sets X-Polytomic-Version.
func setResponseHeaders(c echo.Context) {
	h := c.Response().Header()
	h[headerVersion] = versionValues[servedVersion(c.Request().Header.Get(headerVersion))]
	h[echo.HeaderCacheControl] = noStore
	h[echo.HeaderXContentTypeOptions] = noSniff
}

// Shared header values (net/http only reads them).
var (
	noStore = []string{"no-store"}
	noSniff = []string{"nosniff"}
)

// discardBody reads and drops the request body, which the API does not take:
// one over limit bytes is a 413, one that cannot be read (a broken chunked
// encoding, a body shorter than its Content-Length) a 400. The request
// then goes on as if it had none. The common request (net/http gives it
// http.NoBody) passes untouched.
func discardBody(c echo.Context, limit int64) error {
	req := c.Request()
	if req.ContentLength > limit {
		return &apiError{status: http.StatusRequestEntityTooLarge}
	}
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	_, err := io.Copy(io.Discard, http.MaxBytesReader(c.Response(), req.Body, limit))
	req.Body.Close()
	req.Body, req.ContentLength = http.NoBody, 0
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge}
	case errors.As(err, &netErr) && netErr.Timeout():
		// Not err's text: it names the connection's addresses.
		return &apiError{status: http.StatusBadRequest, message: "the request body did not arrive in time"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{status: http.StatusBadRequest, message: "the request body ended before its Content-Length"}
	case err != nil:
		return &apiError{status: http.StatusBadRequest, message: "the request body could not be read: its chunked encoding is malformed"}
	}
	return nil
}
