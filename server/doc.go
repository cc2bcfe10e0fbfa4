// Package server is the reference implementation of the Get Job endpoint,
// GET /api/jobs/{type}/{id}: echo, kin-openapi request validation with an
// authentication function, API keys scoped to organizations, a durable store,
// and JSON errors in the spec's shapes.
//
// # One request
//
// Follow GET /api/jobs/exportlogs/{id} with "Authorization: Bearer pju_…"
// through the files of this package:
//
//   - server.go: New builds the handler from a Config (every default is
//     declared there) and HTTPServer the http.Server around it, with its
//     timeouts and header limit.
//   - middleware.go: the pipeline every request goes through, in order. It
//     gives the request an id and a state on its context, sets the headers
//     every response carries (X-Polytomic-Version, once, here), drains a body
//     the API does not take, and validates the request (validation.go)
//     against openapi.yaml: route, security, parameters.
//   - auth.go: security runs first. The authentication function turns the
//     Authorization header into the request's Principal (organization and
//     key), reading the key from the store by its hash, and holds the key to
//     its rate (limits.go): a 401 or a 429 stops the request here.
//   - handler.go: the generated strict wrapper binds the parameters and calls
//     handler.GetJob, which reads the job of the principal's organization
//     (another organization's job is a 404, like a missing one) and writes
//     it with the hand-written encoder of internal/jobjson.
//   - errors.go: any error on the way, panics included, leaves through one
//     HTTPErrorHandler as an ApiError (a RestErrResponse for a 401). Every
//     error status and its key are declared there.
//   - wait.go: a request whose If-None-Match names the job's state gets a
//     304; with Prefer: wait it is first held until the job changes. On a
//     connection of a Listener (listener.go, which also caps connections),
//     a held request leaves net/http while it waits (park.go).
//   - accesslog.go and observability.go: the pipeline ends with one access
//     log line (never a key; on NewLogger's loggers appended by hand, exactly
//     as slog writes it) and the request's metrics; database calls are timed,
//     and bounded (fastpath.LookupTimeout), there too. admin.go serves
//     health, readiness (StoreGate: starting, then the store, then stopping),
//     metrics and profiles on a listener of their own; retention.go purges
//     old terminal jobs.
//
// # Fast paths
//
// What exists only to make the server fast lives in internal/fastpath,
// behind two seams: the requestValidator (a segment router, a memo of
// validated parameters and security requirements resolved once, instead of
// echo-middleware with kin-openapi's router) and the store (caches of keys and jobs, and shared queries for PostgreSQL).
// Config.Plain turns all of it off, and parking too; the tests run the
// server both ways and check that the fast paths answer exactly as the plain
// path does.
package server
