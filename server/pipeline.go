package server

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/labstack/echo/v4"
	echomiddleware "github.com/oapi-codegen/echo-middleware"
)

// pipeline is what every request goes through before the generated handler,
// in order. It is one echo middleware rather than six because echo builds its
// middleware chain anew for every request, allocating a closure per
// middleware; steps called in sequence cost nothing of the kind.
type pipeline struct {
	logger    *slog.Logger
	access    *accessLog
	metrics   *Metrics
	bodyLimit int64
	// router and validation configure echo-middleware's request validator.
	router     *specRouter
	validation *echomiddleware.Options
	// memo remembers requests whose parameters passed validation; nil
	// validates every request in full.
	memo *paramMemo
}

// apiRoutePath is the echo path of the API's route.
const apiRoutePath = "/api/jobs/:type/:id"

// middleware installs the pipeline in front of next.
func (p *pipeline) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p.serve(c, next)
		return nil
	}
}

// serve runs one request through the pipeline.
func (p *pipeline) serve(c echo.Context, next echo.HandlerFunc) {
	start := time.Now()
	// 1. Every request gets an id, echoed in X-Request-Id and in its log lines.
	setRequestID(c)
	// 2-6. The steps that may fail; any error, panic included, goes to the
	// error handler, which writes the spec's JSON error.
	if err := p.guarded(c, next); err != nil {
		c.Error(err)
	}
	// 7. One access log line and the request's metrics, with the status sent.
	end := time.Now()
	p.access.log(c, start, end)
	p.metrics.observeRequest(c.Path() == apiRoutePath, c.Response().Status, end.Sub(start))
}

func (p *pipeline) guarded(c echo.Context, next echo.HandlerFunc) (err error) {
	// 2. A panic becomes a 500, logged with its stack.
	defer func() {
		if r := recover(); r != nil {
			err = p.panicked(c, r)
		}
	}()
	// 3. Headers every response carries, errors included.
	setResponseHeaders(c)
	// 4. The API takes no body: refuse large ones before reading them.
	if err := limitBody(c, p.bodyLimit); err != nil {
		return err
	}
	// 5. The spec's request validation (echo-middleware's, with our router;
	//    validation.go): route, parameters, version header and security,
	//    which resolves the API key to a Principal on the request context.
	if err := p.validate(c); err != nil {
		return err
	}
	// 6. The generated wrapper binds the parameters and calls the strict
	//    handler, which calls Server.GetJob.
	return next(c)
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
