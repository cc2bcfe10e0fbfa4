package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/client"
	"github.com/polyjobs/polyjobs/internal/hostname"
)

// jobOptions are the flags of `polyjobs job get` and `polyjobs job wait`.
type jobOptions struct {
	baseURL    string
	apiKey     string
	orgID      string
	orgKey     string
	apiVersion string
	timeout    time.Duration
	output     string
	// minPoll and maxPoll bound the delay between polls of `job wait`.
	minPoll, maxPoll time.Duration
	// longPoll is how long `job wait` asks the server to hold each request
	// until the job changes; zero asks for none.
	longPoll time.Duration
}

// clientFlags declares the flags `job get` and `job wait` share: where the
// API is and how to authenticate.
func (o *jobOptions) clientFlags() []flagSpec {
	return []flagSpec{
		{name: "base-url", env: "POLYJOBS_BASE_URL", value: stringFlag(&o.baseURL, client.DefaultBaseURL),
			usage: "API base URL"},
		{name: "api-key", env: "POLYJOBS_API_KEY", value: stringFlag(&o.apiKey, ""),
			usage: "user API key, sent as a bearer token"},
		{name: "org-id", env: "POLYJOBS_ORG_ID", value: stringFlag(&o.orgID, ""),
			usage: "organization id, for --org-key"},
		{name: "org-key", env: "POLYJOBS_ORG_KEY", value: stringFlag(&o.orgKey, ""),
			usage: "organization-scoped API key, sent as HTTP Basic credentials with --org-id"},
		{name: "api-version", env: "POLYJOBS_API_VERSION", value: stringFlag(&o.apiVersion, string(client.DefaultVersion)),
			usage: "API version to request (X-Polytomic-Version): " + versionList()},
	}
}

// legacyVersionEnv named the API version before --version came to mean
// polyjobs's own. It is still read, with a warning, when it holds a known
// API version and --api-version was given neither as a flag nor as
// POLYJOBS_API_VERSION: any other value (a build's version, say) is not an
// API version and is ignored.
const legacyVersionEnv = "POLYJOBS_VERSION"

// jobHelp is the part of the help that `job`, `job get` and `job wait` share.
var jobHelp = `Credentials: --api-key (a user key, sent as a bearer token), or --org-id and
--org-key (an organization-scoped key, sent as HTTP Basic credentials). Every
flag falls back to the environment variable named in its help.

` + exitCodeHelp()

func newJobCmd() *cobra.Command {
	o := &jobOptions{}
	cmd := group("job", "Get a job or wait for it to finish (client of the API)")
	cmd.Long = "Poll a job on Polytomic or on a polyjobs reference server.\n\n" + jobHelp
	addFlags(cmd.PersistentFlags(), o.clientFlags()...)

	get := &cobra.Command{
		Use:               "get TYPE ID",
		Short:             "Print a job",
		Long:              "Print a job: its id, type, status, result and error.\n\n" + jobHelp,
		Args:              jobArgs,
		ValidArgsFunction: completeJobArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkTimeout(cmd); err != nil {
				return err
			}
			return checkOutput(o.output, "json", "text")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.get(cmd, args)
		},
	}
	addFlags(get.Flags(),
		flagSpec{name: "timeout", env: "POLYJOBS_TIMEOUT", value: durationFlag(&o.timeout, time.Minute),
			usage: "give up after this long"},
		flagSpec{name: "output", short: "o", value: stringFlag(&o.output, "json"),
			usage: "output format: json (the API's job, indented) or text"},
	)
	wait := &cobra.Command{
		Use:   "wait TYPE ID",
		Short: "Wait for a job to finish, showing its progress, then print it",
		Long: `Poll a job until it is done or failed, then print it on stdout. A server
that can hold requests until the job changes (the reference server) is asked
to, so that each change is seen at once with few requests; any other is
polled between --min-interval and --max-interval.

Progress goes to stderr as a live status line when stderr is a terminal, and
otherwise, with -o text, as a line per status change. With -o jsonl, stdout
gets the job as one line of JSON at every status change: the last line is the
final job. With -o json or jsonl, errors and warnings go to stderr as JSON
objects, one a line, unless stderr is a terminal.

` + jobHelp,
		Args:              jobArgs,
		ValidArgsFunction: completeJobArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if o.minPoll <= 0 || o.maxPoll < o.minPoll {
				return usagef("--min-interval %s and --max-interval %s: want 0 < min <= max", o.minPoll, o.maxPoll)
			}
			if o.longPoll < 0 || o.longPoll > 0 && o.longPoll < time.Second {
				return usagef("%s %s: want 0 (off) or at least 1s", flagSource(cmd, "long-poll"), o.longPoll)
			}
			if err := o.checkTimeout(cmd); err != nil {
				return err
			}
			return checkOutput(o.output, "json", "jsonl", "text")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.wait(cmd, args)
		},
	}
	addFlags(wait.Flags(),
		flagSpec{name: "timeout", env: "POLYJOBS_TIMEOUT", value: durationFlag(&o.timeout, 30*time.Minute),
			usage: "give up after this long"},
		flagSpec{name: "min-interval", value: durationFlag(&o.minPoll, client.DefaultMinPollInterval),
			usage: "shortest delay between polls"},
		flagSpec{name: "max-interval", value: durationFlag(&o.maxPoll, client.DefaultMaxPollInterval),
			usage: "longest delay between polls (a running job's Retry-After is kept within both)"},
		flagSpec{name: "long-poll", env: "POLYJOBS_LONG_POLL", value: durationFlag(&o.longPoll, client.DefaultLongPollWait),
			usage: "longest a server that supports it may hold each request until the job changes (Prefer: wait), instead of being polled; 0 turns this off, for proxies that cut held requests"},
		flagSpec{name: "output", short: "o", value: stringFlag(&o.output, "json"),
			usage: "output format: json (the final job, indented), jsonl (the job at every status change, one a line) or text"},
	)
	cmd.AddCommand(get, wait)
	return cmd
}

// jobArgs checks TYPE and ID.
func jobArgs(cmd *cobra.Command, args []string) error {
	if err := exactArgs(cmd, args); err != nil {
		return err
	}
	if !client.JobType(args[0]).Valid() {
		return usagef("unknown job type %q: use one of %s", args[0], jobTypeList())
	}
	if _, err := parseID("job id", args[1]); err != nil {
		return usage(err)
	}
	return nil
}

// checkTimeout refuses a --timeout that would end the command before it
// starts.
func (o *jobOptions) checkTimeout(cmd *cobra.Command) error {
	if o.timeout <= 0 {
		return usagef("%s %s: want a positive duration", flagSource(cmd, "timeout"), o.timeout)
	}
	return nil
}

// timeoutError is the error of a command whose --timeout passed before the
// server answered with the job (err is the SDK's): with the error it last
// answered, when the SDK kept it; the SDK's own account would only add that
// its request's context ended.
func (o *jobOptions) timeoutError(err error) error {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		return fmt.Errorf("timed out after %s; the last answer from %s: %s", o.timeout, o.baseURL, message(apiErr))
	}
	return fmt.Errorf("timed out after %s before %s answered with the job", o.timeout, o.baseURL)
}

// checkOutput checks an --output value against the formats a command knows.
func checkOutput(output string, formats ...string) error {
	for _, f := range formats {
		if output == f {
			return nil
		}
	}
	return usagef("--output %q: use %s", output, strings.Join(formats, ", "))
}

// optionFlags maps the SDK's options to the flags that set them.
var optionFlags = map[string]string{
	"WithBaseURL": "base-url", "WithAPIKey": "api-key", "WithOrgKey": "org-key", "WithVersion": "api-version",
}

// optionsAsFlags names the flags where the SDK's messages name its options.
var optionsAsFlags = func() *strings.Replacer {
	var pairs []string
	for option, flag := range optionFlags {
		pairs = append(pairs, option, "--"+flag)
	}
	return strings.NewReplacer(pairs...)
}()

// newClient builds the SDK client from the flags. Its errors name the flag
// or environment variable at fault.
func (o *jobOptions) newClient(cmd *cobra.Command, rep *reporter) (*client.Client, error) {
	if f := cmd.Flags().Lookup("api-version"); f != nil && !f.Changed {
		if v := os.Getenv(legacyVersionEnv); v != "" && client.APIVersion(v).Valid() {
			o.apiVersion = v
			rep.warn(legacyVersionEnv + " is deprecated for the API version: set POLYJOBS_API_VERSION")
		}
	}
	opts := []client.Option{client.WithBaseURL(o.baseURL), client.WithVersion(o.apiVersion),
		client.WithUserAgent("polyjobs-cli"), client.WithHTTPClient(&http.Client{Timeout: attemptTimeout})}
	key := "API key"
	switch {
	case o.apiKey != "" && (o.orgID != "" || o.orgKey != ""):
		return nil, usagef("give either %s or %s and %s, not both",
			flagSource(cmd, "api-key"), flagSource(cmd, "org-id"), flagSource(cmd, "org-key"))
	case o.apiKey != "":
		opts = append(opts, client.WithAPIKey(o.apiKey))
	case o.orgID != "" || o.orgKey != "":
		if o.orgID == "" {
			return nil, usagef("%s needs the organization id: set --org-id (POLYJOBS_ORG_ID)", flagSource(cmd, "org-key"))
		}
		id, err := uuid.Parse(o.orgID)
		if err != nil || id == uuid.Nil || len(o.orgID) != 36 {
			return nil, usagef("%s %q is not an organization id (a UUID)", flagSource(cmd, "org-id"), o.orgID)
		}
		opts = append(opts, client.WithOrgKey(id, o.orgKey))
		key = "organization key"
	default:
		return nil, usagef("no credentials: set --api-key (POLYJOBS_API_KEY), or --org-id and --org-key (POLYJOBS_ORG_ID and POLYJOBS_ORG_KEY)")
	}
	c, err := client.New(opts...)
	var ce *client.ConfigError
	switch {
	case errors.As(err, &ce) && optionFlags[ce.Option] != "":
		return nil, usagef("%s: %s", flagSource(cmd, optionFlags[ce.Option]), optionsAsFlags.Replace(message(ce.Err)))
	case err != nil:
		return nil, usage(err)
	}
	if u, err := url.Parse(o.baseURL); err == nil && u.Scheme == "http" && !hostname.IsLoopback(u.Hostname()) {
		rep.warn(fmt.Sprintf("sending the %s over plain http:// to %s, where anyone on the way can read it: use https://", key, u.Host))
	}
	return c, nil
}

// jobRequest is what `job get` and `job wait` start from: a client, the job
// named by the arguments, and a context bounded by --timeout.
type jobRequest struct {
	client *client.Client
	typ    client.JobType
	id     uuid.UUID
	ctx    context.Context
	cancel context.CancelFunc
	// interrupted is done once SIGINT or SIGTERM came.
	interrupted context.Context
}

// request builds the jobRequest of a command; jobArgs has checked args.
// SIGINT and SIGTERM end its context, so that the command can say so and
// end its output cleanly; cancel stops catching them.
func (o *jobOptions) request(cmd *cobra.Command, args []string, rep *reporter) (*jobRequest, error) {
	c, err := o.newClient(cmd, rep)
	if err != nil {
		return nil, err
	}
	interrupted, stopSignals := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(interrupted, o.timeout)
	return &jobRequest{client: c, typ: client.JobType(args[0]), id: uuid.MustParse(args[1]), ctx: ctx, interrupted: interrupted,
		cancel: func() { cancel(); stopSignals() }}, nil
}

// attemptTimeout bounds each HTTP attempt, as the SDK's default does; a
// variable so that tests can cut attempts short.
var attemptTimeout = client.DefaultHTTPTimeout

// timedOut reports whether err, from the SDK, says that the request's
// --timeout has passed: its context ended, or Wait, having polled one last
// time just before the deadline, said so. errors.Is(err,
// context.DeadlineExceeded) alone is no proof: an attempt cut by the HTTP
// client's own timeout (a *url.Error) matches it too, and is a network error.
func (r *jobRequest) timedOut(err error) bool {
	if errors.Is(r.ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	var urlErr *url.Error
	return errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &urlErr)
}

func (o *jobOptions) get(cmd *cobra.Command, args []string) error {
	r, err := o.request(cmd, args, reporterFor(cmd, cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	defer r.cancel()
	job, err := r.client.GetJob(r.ctx, r.typ, r.id)
	switch {
	case err != nil && r.interrupted.Err() != nil:
		return withCode(exitInterrupted, errors.New("interrupted"))
	case err != nil && r.timedOut(err):
		return withCode(exitRequest, o.timeoutError(err))
	case err != nil:
		return withCode(exitRequest, err)
	}
	return printJob(cmd.OutOrStdout(), o.output, job)
}

func (o *jobOptions) wait(cmd *cobra.Command, args []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	r, err := o.request(cmd, args, reporterFor(cmd, stderr))
	if err != nil {
		return err
	}
	defer r.cancel()

	// On a terminal, a live line whatever the output; otherwise a line per
	// change in text only, so that stderr holds only JSON with json and jsonl.
	tty := isTerminal(stderr)
	var progress *progress
	if tty || o.output == "text" {
		progress = newProgress(stderr, tty)
	}
	defer progress.stop()
	var printErr error
	onChange := func(job *client.Job) {
		progress.update(job)
		if o.output == "jsonl" && printErr == nil {
			// Above the live line, which shares the terminal; a line
			// that cannot be written ends the wait.
			progress.above(func() { printErr = printJob(stdout, o.output, job) })
			if printErr != nil {
				r.cancel()
			}
		}
	}
	job, err := r.client.Wait(r.ctx, r.typ, r.id, client.WithProgress(onChange),
		client.WithPollInterval(o.minPoll, o.maxPoll), client.WithLongPoll(o.longPoll))
	progress.stop()
	if printErr != nil {
		return printErr
	}
	// printFinal prints the job Wait ended with; with jsonl it is already
	// the last line.
	printFinal := func() error {
		if o.output == "jsonl" {
			return nil
		}
		return printJob(stdout, o.output, job)
	}
	var failed *client.JobFailedError
	switch {
	case err == nil:
		return printFinal()
	case errors.As(err, &failed):
		if err := printFinal(); err != nil {
			return err
		}
		if job.Error == "" {
			return withCode(exitFailed, errors.New("job failed, without an error message"))
		}
		return withCode(exitFailed, fmt.Errorf("job failed: %s", job.Error))
	case r.interrupted.Err() != nil && job != nil:
		if err := printFinal(); err != nil {
			return err
		}
		return withCode(exitInterrupted, fmt.Errorf("interrupted; the job is still %s", job.Status))
	case r.interrupted.Err() != nil:
		return withCode(exitInterrupted, fmt.Errorf("interrupted before %s answered with the job", o.baseURL))
	case r.timedOut(err) && job != nil:
		if err := printFinal(); err != nil {
			return err
		}
		return withCode(exitTimeout, fmt.Errorf("timed out after %s; the job is still %s", o.timeout, job.Status))
	case r.timedOut(err):
		return withCode(exitTimeout, o.timeoutError(err))
	}
	return withCode(exitRequest, err)
}

// versionList names the API versions for help.
func versionList() string { return joinValues(client.Versions()) }
