package control

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/oapi-codegen/echo-middleware"

	"github.com/polyjobs/polyjobs/generated/controlapi"
	"github.com/polyjobs/polyjobs/generated/controlserver"
	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/hostname"
	"github.com/polyjobs/polyjobs/server/store"
)

// Prefix is where the control API is served, on the API's listener (the way
// WireMock serves /__admin).
const Prefix = "/__polyjobs"

// Control serves the control API (control.openapi.yaml) under Prefix.
type Control struct {
	*Service
	token string
	e     *echo.Echo
	// router finds the methods a path allows, for a 405's Allow header.
	router routers.Router
}

// Options configure Control.
type Options struct {
	// Token, when set, must come with every request as
	// "Authorization: Bearer <Token>". Serve the control API beyond
	// loopback only with one.
	Token string
	// Logger receives server errors. Default: slog.Default().
	Logger *slog.Logger
}

// New returns the control API of a store, with faults of its own.
func New(s store.Store, opts Options) (*Control, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	spec, err := controlserver.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("control API spec: %w", err)
	}
	// Routes match under Prefix. (echo-middleware's own Prefix option clones
	// the request, and the body the validator then reads is lost to the
	// handler.)
	spec.Servers = openapi3.Servers{{URL: Prefix}}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("control API router: %w", err)
	}
	c := &Control{Service: NewService(s, &Faults{}, logger), token: opts.Token, e: echo.New(), router: router}
	c.e.HideBanner, c.e.HidePort = true, true
	c.e.HTTPErrorHandler = c.handleError
	c.e.Use(echomiddleware.OapiRequestValidatorWithOptions(spec, &echomiddleware.Options{
		Options: openapi3filter.Options{
			AuthenticationFunc:      c.authenticate,
			SchemaValidationOptions: apispec.SchemaOptions(),
		},
		// Validation errors go to the error handler, in ApiError shape.
		ErrorHandler: func(_ echo.Context, err *echo.HTTPError) error { return err },
		// The one server is a path, not a host.
		SilenceServersWarning: true,
	}))
	controlserver.RegisterHandlersWithBaseURL(c.e, controlserver.NewStrictHandler(handlers{c.Service}, nil), Prefix)
	return c, nil
}

// ServeHTTP serves the control API.
//
// Without a token it answers only requests addressed directly, by IP
// address or as localhost: a web page that rebinds its own name to this
// server's address cannot reset it or take keys (hostname.IsDirect).
//
// A request a browser sends for another site's page (Sec-Fetch-Site, Origin)
// that could change anything is refused too, token or not: a page cannot
// have a visitor's browser reset the server (http.CrossOriginProtection).
func (c *Control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if c.token == "" && !hostname.IsDirect(r.Host) {
		forbidden(w, "without a control token, address the control API by IP address or as localhost")
		return
	}
	if crossOrigin.Check(r) != nil {
		forbidden(w, "a cross-origin request from a browser cannot change the reference server")
		return
	}
	if !c.tokenOK(r) {
		// Before the body is read: nothing of it is looked at for a
		// request that may not use the control API.
		w.Header().Set("WWW-Authenticate", wwwAuthenticate)
		refuse(w, http.StatusUnauthorized, tokenMessage)
		return
	}
	if status, message := checkBody(w, r); status != 0 {
		refuse(w, status, message)
		return
	}
	c.e.ServeHTTP(w, r)
}

// crossOrigin tells the unsafe requests a browser sends for another origin.
var crossOrigin = http.NewCrossOriginProtection()

// forbidden writes a 403 ApiError.
func forbidden(w http.ResponseWriter, message string) { refuse(w, http.StatusForbidden, message) }

// refuse writes an ApiError, before the request reaches echo.
func refuse(w http.ResponseWriter, status int, message string) {
	key := errorKey(status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(controlapi.APIError{Status: status, Key: &key, Message: message})
}

// errorKey is an ApiError's key for status: its reason phrase in snake case.
func errorKey(status int) string {
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

// authenticate checks the control token, when the server has one, as the
// spec's security scheme (ServeHTTP has checked it already, before reading
// the body).
func (c *Control) authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if !c.tokenOK(in.RequestValidationInput.Request) {
		return echo.NewHTTPError(http.StatusUnauthorized, tokenMessage)
	}
	return nil
}

// tokenMessage says what a request without the control token lacks, and
// wwwAuthenticate is the challenge of its 401.
const (
	tokenMessage    = "send Authorization: Bearer <control token>"
	wwwAuthenticate = `Bearer realm="polyjobs control"`
)

// tokenOK reports whether r bears the control token, or the server has none.
func (c *Control) tokenOK(r *http.Request) bool {
	if c.token == "" {
		return true
	}
	got := r.Header.Values("Authorization")
	var scheme, token string
	if len(got) == 1 {
		scheme, token, _ = strings.Cut(got[0], " ")
	}
	// The scheme's case does not matter (RFC 9110, 11.1); the token's does.
	return strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(token), []byte(c.token)) == 1
}

// handleError writes every error as an ApiError.
func (c *Control) handleError(err error, ctx echo.Context) {
	if ctx.Response().Committed {
		return
	}
	status, message := http.StatusInternalServerError, "internal server error"
	var he *echo.HTTPError
	switch {
	case errors.Is(err, store.ErrNotFound):
		status, message = http.StatusNotFound, err.Error()
	case errors.Is(err, store.ErrConflict):
		status, message = http.StatusConflict, err.Error()
	case errors.Is(err, store.ErrInvalid):
		status, message = http.StatusBadRequest, err.Error()
	case errors.As(err, &he) && he.Code == http.StatusForbidden:
		// No security scheme accepted the request: the token is wrong.
		status, message = http.StatusUnauthorized, tokenMessage
	case errors.As(err, &he) && he.Code == http.StatusNotFound && he.Message == any(routers.ErrPathNotFound.Error()):
		status, message = http.StatusNotFound, "no such control endpoint: control.openapi.yaml lists them, under "+Prefix
	case errors.As(err, &he) && he.Code < 500:
		status, message = he.Code, fmt.Sprint(he.Message)
		if m, ok := he.Message.(string); ok {
			message, _, _ = strings.Cut(m, "\n")
		}
		var re *openapi3filter.RequestError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(he.Internal, &re):
			message = requestMessage(re)
		case errors.As(he.Internal, &ute):
			message = fmt.Sprintf("request body: /%s: %s is not a %s", strings.ReplaceAll(ute.Field, ".", "/"), ute.Value, ute.Type)
			if ute.Type.Kind() >= reflect.Int && ute.Type.Kind() <= reflect.Uint64 {
				// The schema's integers admit 500.0 and 5e2; Go's do not.
				message = fmt.Sprintf("request body: /%s: write the integer %s without a fraction or exponent",
					strings.ReplaceAll(ute.Field, ".", "/"), strings.TrimPrefix(ute.Value, "number "))
			}
		}
	default:
		c.Service.logger.Error("control request failed", slog.String("path", ctx.Request().URL.Path), slog.String("error", err.Error()))
	}
	switch status {
	case http.StatusUnauthorized:
		ctx.Response().Header().Set("WWW-Authenticate", wwwAuthenticate)
	case http.StatusMethodNotAllowed:
		allow := strings.Join(c.allowed(ctx.Request()), ", ")
		ctx.Response().Header().Set("Allow", allow)
		message = fmt.Sprintf("method %s not allowed: this path accepts %s", ctx.Request().Method, allow)
	}
	key := errorKey(status)
	_ = ctx.JSON(status, controlapi.APIError{Status: status, Message: message, Key: &key})
}

// allowed returns the methods control.openapi.yaml has for r's path.
func (c *Control) allowed(r *http.Request) []string {
	var methods []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, _, err := c.router.FindRoute(probe); err == nil {
			methods = append(methods, m)
		}
	}
	return methods
}

// requestMessage says what is wrong with a request's parameter or body:
// where and why, without kin-openapi's account of the schema it checked.
func requestMessage(re *openapi3filter.RequestError) string {
	var se *openapi3.SchemaError
	var pe *openapi3filter.ParseError
	switch {
	case re.Parameter != nil && errors.As(re.Err, &se):
		return fmt.Sprintf("%s parameter %q: %s", re.Parameter.In, re.Parameter.Name, se.Reason)
	case re.RequestBody != nil && errors.As(re.Err, &se):
		if at := se.JSONPointer(); len(at) > 0 {
			return fmt.Sprintf("request body: /%s: %s", strings.Join(at, "/"), se.Reason)
		}
		return "request body: " + se.Reason
	case re.RequestBody != nil && errors.As(re.Err, &pe) && pe.Cause != nil:
		return "request body is not valid JSON: " + pe.Cause.Error()
	case re.RequestBody != nil && re.Err == nil && re.Reason != "":
		return "request body: " + re.Reason // its Content-Type, for one
	}
	first, _, _ := strings.Cut(re.Error(), "\n")
	return first
}

// handlers implements the generated strict server on the Service.
type handlers struct{ s *Service }

var _ controlserver.StrictServerInterface = handlers{}

func (h handlers) CreateOrganization(ctx context.Context, req controlserver.CreateOrganizationRequestObject) (controlserver.CreateOrganizationResponseObject, error) {
	org, err := h.s.CreateOrganization(ctx, req.Body.Name)
	if err != nil {
		return nil, err
	}
	return controlserver.CreateOrganization201JSONResponse{ID: org.ID, Name: org.Name, CreatedAt: org.CreatedAt}, nil
}

func (h handlers) CreateKey(ctx context.Context, req controlserver.CreateKeyRequestObject) (controlserver.CreateKeyResponseObject, error) {
	kind := store.KeyKindUser
	if req.Body.Kind != nil {
		kind = store.KeyKind(*req.Body.Kind)
	}
	k, err := h.s.CreateKey(ctx, req.Org, kind)
	if err != nil {
		return nil, err
	}
	return controlserver.CreateKey201JSONResponse{ID: k.ID, OrgID: k.OrgID, Kind: controlapi.KeyKind(k.Kind), Secret: k.Secret}, nil
}

func (h handlers) RevokeKey(ctx context.Context, req controlserver.RevokeKeyRequestObject) (controlserver.RevokeKeyResponseObject, error) {
	if err := h.s.RevokeKey(ctx, req.ID); err != nil {
		return nil, err
	}
	return controlserver.RevokeKey204Response{}, nil
}

func (h handlers) CreateJob(ctx context.Context, req controlserver.CreateJobRequestObject) (controlserver.CreateJobResponseObject, error) {
	var plan []Step
	if req.Body.Plan != nil {
		for i, st := range *req.Body.Plan {
			after, err := time.ParseDuration(st.After)
			if err != nil {
				return nil, fmt.Errorf("plan step %d: %w: after %q is not a duration such as 1s", i+1, store.ErrInvalid, st.After)
			}
			plan = append(plan, Step{After: after, Transition: transition(string(st.Status), st.Result, st.Error)})
		}
	}
	job, err := h.s.CreateJob(ctx, req.Body.Org, store.JobType(req.Body.Type), plan)
	if err != nil {
		return nil, err
	}
	return controlserver.CreateJob201JSONResponse(jobView(job)), nil
}

func (h handlers) GetJob(ctx context.Context, req controlserver.GetJobRequestObject) (controlserver.GetJobResponseObject, error) {
	job, err := h.s.Job(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	return controlserver.GetJob200JSONResponse(jobView(job)), nil
}

func (h handlers) ListJobs(ctx context.Context, req controlserver.ListJobsRequestObject) (controlserver.ListJobsResponseObject, error) {
	f := store.JobFilter{Limit: 100}
	p := req.Params
	if p.Limit != nil {
		f.Limit = *p.Limit
	}
	if p.Type != nil {
		for _, t := range *p.Type {
			f.Types = append(f.Types, store.JobType(t))
		}
	}
	if p.Status != nil {
		for _, st := range *p.Status {
			f.Statuses = append(f.Statuses, store.JobStatus(st))
		}
	}
	org := ""
	if p.Org != nil {
		org = *p.Org
	}
	jobs, err := h.s.ListJobs(ctx, org, f)
	if err != nil {
		return nil, err
	}
	out := controlserver.ListJobs200JSONResponse{Jobs: make([]controlapi.Job, len(jobs))}
	for i, j := range jobs {
		out.Jobs[i] = jobView(Job{Job: j})
	}
	return out, nil
}

func (h handlers) MoveJob(ctx context.Context, req controlserver.MoveJobRequestObject) (controlserver.MoveJobResponseObject, error) {
	job, err := h.s.MoveJob(ctx, req.ID, transition(string(req.Body.Status), req.Body.Result, req.Body.Error))
	if err != nil {
		return nil, err
	}
	return controlserver.MoveJob200JSONResponse(jobView(job)), nil
}

func (h handlers) InjectFault(_ context.Context, req controlserver.InjectFaultRequestObject) (controlserver.InjectFaultResponseObject, error) {
	b := req.Body
	f := Fault{Remaining: 1}
	if b.KeyID != nil {
		f.KeyID = *b.KeyID
	}
	if b.JobID != nil {
		f.JobID = *b.JobID
	}
	if b.Count != nil {
		f.Remaining = *b.Count
	}
	if b.Status != nil {
		f.Status = *b.Status
	}
	if b.RetryAfter != nil {
		f.RetryAfter = strconv.Itoa(*b.RetryAfter)
	}
	if b.LatencyMs != nil {
		f.Latency = time.Duration(*b.LatencyMs) * time.Millisecond
	}
	if f.Status == 0 && f.Latency == 0 {
		return nil, fmt.Errorf("%w: a fault needs a status, a latency_ms, or both", store.ErrInvalid)
	}
	return controlserver.InjectFault201JSONResponse(faultView(h.s.Faults().Add(f))), nil
}

func (h handlers) ListFaults(context.Context, controlserver.ListFaultsRequestObject) (controlserver.ListFaultsResponseObject, error) {
	faults := h.s.Faults().List()
	out := controlserver.ListFaults200JSONResponse{Faults: make([]controlapi.Fault, len(faults))}
	for i, f := range faults {
		out.Faults[i] = faultView(f)
	}
	return out, nil
}

func (h handlers) ClearFaults(context.Context, controlserver.ClearFaultsRequestObject) (controlserver.ClearFaultsResponseObject, error) {
	h.s.Faults().Clear()
	return controlserver.ClearFaults204Response{}, nil
}

func (h handlers) Reset(ctx context.Context, _ controlserver.ResetRequestObject) (controlserver.ResetResponseObject, error) {
	if err := h.s.Reset(ctx); err != nil {
		return nil, err
	}
	return controlserver.Reset204Response{}, nil
}

// transition is the store transition a request describes.
func transition(status string, result json.RawMessage, errMsg *string) store.Transition {
	t := store.Transition{To: store.JobStatus(status), Result: result}
	if errMsg != nil {
		t.Error = *errMsg
	}
	return t
}

// jobView is a job as the control API shows it.
func jobView(j Job) controlapi.Job {
	v := controlapi.Job{ID: j.ID, OrgID: j.OrgID, Type: string(j.Type), Status: controlapi.JobStatus(j.Status),
		Result: j.Result, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
	if v.Result == nil {
		v.Result = json.RawMessage("null")
	}
	if j.Error != "" {
		v.Error = &j.Error
	}
	if len(j.Plan) > 0 {
		plan := make([]controlapi.PendingStep, len(j.Plan))
		for i, st := range j.Plan {
			plan[i] = controlapi.PendingStep{At: st.At, Status: string(st.Transition.To), Result: st.Transition.Result}
			if st.Transition.Error != "" {
				plan[i].Error = &st.Transition.Error
			}
		}
		v.Plan = &plan
	}
	return v
}

// faultView is a fault as the control API shows it.
func faultView(f Fault) controlapi.Fault {
	v := controlapi.Fault{ID: f.ID, Remaining: f.Remaining}
	if f.KeyID != uuid.Nil {
		v.KeyID = &f.KeyID
	}
	if f.JobID != uuid.Nil {
		v.JobID = &f.JobID
	}
	if f.Status != 0 {
		v.Status = &f.Status
	}
	if secs, err := strconv.Atoi(f.RetryAfter); err == nil {
		v.RetryAfter = &secs
	}
	if f.Latency > 0 {
		ms := int(f.Latency / time.Millisecond)
		v.LatencyMs = &ms
	}
	return v
}
