// Package client is the Go SDK for Polytomic's asynchronous Get Job endpoint,
// GET /api/jobs/{type}/{id}. It works against app.polytomic.com and against the
// polyjobs reference server alike.
//
// A Client is created once with New and is safe for concurrent use:
//
//	c, err := client.New(client.WithAPIKey(os.Getenv("POLYTOMIC_API_KEY")))
//	...
//	id, err := uuid.Parse(jobID)                              // the id string you were given
//	job, err := c.GetJob(ctx, client.JobTypeExportLogs, id)   // one look
//	job, err = c.Wait(ctx, client.JobTypeExportLogs, id)      // until done or failed
//
// Job ids are github.com/google/uuid values, so that a malformed id is caught
// where it enters a program rather than by the server: the endpoint that
// starts a job returns its id as a string, and uuid.Parse turns it into one.
//
// Compared with Polytomic's official Go SDK, this package honours Retry-After
// (in seconds or as an HTTP date), interrupts every sleep when the context
// ends, authenticates with an organization-scoped key (WithOrgKey) as well as a
// user key, sends a pinned X-Polytomic-Version by default, and polls with
// Wait.
//
// # Waiting without polling
//
// A server that supports it, such as the polyjobs reference server, tags each
// state of a job with an ETag (Job.ETag) and can hold a conditional request
// until the job changes: Wait uses that by itself, and GetJobIfChanged gives
// it to callers who poll themselves. Against a server without it, such as
// Polytomic's API, both fall back to plain requests: Wait polls exactly as
// it always did.
//
// # Errors
//
// Every error of GetJob and Wait names the job it concerns. The server's error responses are
// *APIError values, which match the sentinels ErrBadRequest, ErrUnauthorized,
// ErrNotFound, ErrRateLimited and ErrServer with errors.Is. A job that failed is
// reported by Wait as a *JobFailedError. Transport failures wrap the
// *url.Error returned by net/http, so errors.As(err, new(net.Error)) and
// errors.Is(err, context.Canceled) work as usual; a 200 response whose body
// cannot be decoded wraps ErrMalformedResponse. New's errors are
// *ConfigError values naming the option at fault. Credentials never appear in
// an error, a log line or a formatted Client, and never leave for another
// origin: a redirect that changes the scheme, host or port is followed
// without them. Text from the server is escaped in error messages, so that
// printing an error cannot send escape sequences to a terminal.
//
// The package imports the code generated from openapi.yaml, but re-exports
// every type and constant a caller needs, so callers never import it.
package client
