package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/client"
)

// Exit codes of `polyjobs job get` and `polyjobs job wait`.
const (
	exitDone    = 0 // get: the job was fetched; wait: the job is done
	exitFailed  = 1 // wait: the job failed
	exitUsage   = 2 // bad arguments, or an API or network error
	exitTimeout = 3 // wait: the timeout passed before the job finished
)

// jobOptions are the flags shared by `job get` and `job wait`.
type jobOptions struct {
	baseURL string
	apiKey  string
	orgID   string
	orgKey  string
	version string
	timeout time.Duration
	output  string
	// minPoll and maxPoll bound the delay between polls of `job wait`.
	minPoll, maxPoll time.Duration
}

const jobHelp = `Poll a job on Polytomic or on a polyjobs reference server.

Credentials: --api-key (a user key, sent as a bearer token), or --org-id and
--org-key (an organization-scoped key, sent as HTTP Basic credentials).

Exit codes:
  0  get: the job was fetched; wait: the job is done
  1  wait: the job failed
  2  usage error, or an API or network error (401, 404, ...)
  3  wait: --timeout passed before the job finished`

func newJobCmd() *cobra.Command {
	o := &jobOptions{}
	cmd := group("job", "Get a job or wait for it to finish (client of the API)")
	cmd.Long = jobHelp
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.baseURL, "base-url", client.DefaultBaseURL, "API base URL (env POLYJOBS_BASE_URL)")
	pf.StringVar(&o.apiKey, "api-key", "", "user API key, sent as a bearer token (env POLYJOBS_API_KEY)")
	pf.StringVar(&o.orgID, "org-id", "", "organization id, for an organization key (env POLYJOBS_ORG_ID)")
	pf.StringVar(&o.orgKey, "org-key", "", "organization-scoped API key (env POLYJOBS_ORG_KEY)")
	pf.StringVar(&o.version, "version", string(client.DefaultVersion), "X-Polytomic-Version to send (env POLYJOBS_VERSION)")
	pf.StringVarP(&o.output, "output", "o", "json", "output format: json or text")
	cmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		err := bindEnv(cmd, map[string]string{
			"base-url": "POLYJOBS_BASE_URL", "api-key": "POLYJOBS_API_KEY", "org-id": "POLYJOBS_ORG_ID",
			"org-key": "POLYJOBS_ORG_KEY", "version": "POLYJOBS_VERSION", "timeout": "POLYJOBS_TIMEOUT",
		})
		return withCode(exitUsage, err)
	}
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return withCode(exitUsage, err) })

	get := &cobra.Command{
		Use:   "get TYPE ID",
		Short: "Print a job",
		Long:  "Print a job: its id, type, status, result and error.\n\n" + jobHelp,
		Args:  jobArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.get(cmd, args)
		},
	}
	get.Flags().DurationVar(&o.timeout, "timeout", time.Minute, "give up after this long (env POLYJOBS_TIMEOUT)")
	wait := &cobra.Command{
		Use:   "wait TYPE ID",
		Short: "Wait for a job to finish, showing its progress, then print it",
		Long: `Poll a job until it is done or failed, then print it on stdout. Progress goes
to stderr: a live status line on a terminal, a line per status change
otherwise.

` + jobHelp,
		Args: jobArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.wait(cmd, args)
		},
	}
	wait.Flags().DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long (env POLYJOBS_TIMEOUT)")
	wait.Flags().DurationVar(&o.minPoll, "min-interval", client.DefaultMinPollInterval, "shortest delay between polls")
	wait.Flags().DurationVar(&o.maxPoll, "max-interval", client.DefaultMaxPollInterval, "longest delay between polls")
	cmd.AddCommand(get, wait)
	return cmd
}

// jobArgs checks TYPE and ID, with exit code 2 when they are wrong.
func jobArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 2 {
		return withCode(exitUsage, fmt.Errorf("want TYPE and ID, got %d arguments (see --help)", len(args)))
	}
	if !client.JobType(args[0]).Valid() {
		return withCode(exitUsage, fmt.Errorf("unknown job type %q: use one of %s", args[0], jobTypeList()))
	}
	if _, err := parseID("job id", args[1]); err != nil {
		return withCode(exitUsage, err)
	}
	return nil
}

// newClient builds the SDK client from the flags.
func (o *jobOptions) newClient() (*client.Client, error) {
	opts := []client.Option{client.WithBaseURL(o.baseURL), client.WithVersion(o.version),
		client.WithUserAgent("polyjobs-cli")}
	switch {
	case o.apiKey != "" && (o.orgID != "" || o.orgKey != ""):
		return nil, errors.New("give either --api-key or --org-id and --org-key, not both")
	case o.apiKey != "":
		opts = append(opts, client.WithAPIKey(o.apiKey))
	case o.orgID != "" || o.orgKey != "":
		id, err := parseID("--org-id", o.orgID)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithOrgKey(id, o.orgKey))
	default:
		return nil, errors.New("no credentials: set --api-key (POLYJOBS_API_KEY) or --org-id and --org-key")
	}
	if o.output != "json" && o.output != "text" {
		return nil, fmt.Errorf("--output %q: use json or text", o.output)
	}
	return client.New(opts...)
}

// jobRequest is what `job get` and `job wait` start from: a client, the job
// named by the arguments, and a context bounded by --timeout.
type jobRequest struct {
	client *client.Client
	typ    client.JobType
	id     uuid.UUID
	ctx    context.Context
	cancel context.CancelFunc
}

// request builds the jobRequest of a command; jobArgs has checked args.
func (o *jobOptions) request(cmd *cobra.Command, args []string) (*jobRequest, error) {
	c, err := o.newClient()
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	return &jobRequest{client: c, typ: client.JobType(args[0]), id: uuid.MustParse(args[1]), ctx: ctx, cancel: cancel}, nil
}

func (o *jobOptions) get(cmd *cobra.Command, args []string) error {
	r, err := o.request(cmd, args)
	if err != nil {
		return err
	}
	defer r.cancel()
	job, err := r.client.GetJob(r.ctx, r.typ, r.id)
	if err != nil {
		return withCode(exitUsage, err)
	}
	return printJob(cmd.OutOrStdout(), o.output, job)
}

func (o *jobOptions) wait(cmd *cobra.Command, args []string) error {
	r, err := o.request(cmd, args)
	if err != nil {
		return err
	}
	defer r.cancel()
	progress := newProgress(cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()))
	defer progress.stop()
	job, err := r.client.Wait(r.ctx, r.typ, r.id, client.WithProgress(progress.update), client.WithPollInterval(o.minPoll, o.maxPoll))
	progress.stop()
	var failed *client.JobFailedError
	switch {
	case err == nil:
		return printJob(cmd.OutOrStdout(), o.output, job)
	case errors.As(err, &failed):
		if perr := printJob(cmd.OutOrStdout(), o.output, job); perr != nil {
			return withCode(exitUsage, perr)
		}
		return withCode(exitFailed, fmt.Errorf("job failed: %s", job.Error))
	case errors.Is(err, context.DeadlineExceeded) && job != nil:
		if perr := printJob(cmd.OutOrStdout(), o.output, job); perr != nil {
			return withCode(exitUsage, perr)
		}
		return withCode(exitTimeout, fmt.Errorf("timed out after %s; the job is still %s", o.timeout, job.Status))
	case errors.Is(err, context.DeadlineExceeded):
		return withCode(exitTimeout, fmt.Errorf("timed out after %s: %w", o.timeout, err))
	}
	return withCode(exitUsage, err)
}

// jobView is how the CLI prints a job: the API's JobResponse fields.
type jobView struct {
	JobID  uuid.UUID       `json:"job_id"`
	Type   string          `json:"type"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
	Error  *string         `json:"error"`
}

// printJob writes the job as indented JSON or as text.
func printJob(w io.Writer, format string, job *client.Job) error {
	v := jobView{JobID: job.ID, Type: string(job.Type), Status: string(job.Status), Result: job.Result}
	if v.Result == nil {
		v.Result = json.RawMessage("null")
	}
	if job.Error != "" {
		v.Error = &job.Error
	}
	if format == "text" {
		fmt.Fprintf(w, "job_id: %s\ntype:   %s\nstatus: %s\n", v.JobID, v.Type, v.Status)
		if v.Error != nil {
			fmt.Fprintf(w, "error:  %s\n", *v.Error)
		}
		if job.Result != nil {
			fmt.Fprintf(w, "result: %s\n", job.Result)
		}
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// progress shows a job's status while `job wait` runs: on a terminal, one
// line redrawn with the elapsed time; otherwise a line per status change.
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time

	mu      sync.Mutex
	job     *client.Job
	done    chan struct{}
	stopped bool
}

func newProgress(w io.Writer, tty bool) *progress {
	p := &progress{w: w, tty: tty, start: time.Now(), done: make(chan struct{})}
	if tty {
		go p.redraw()
	}
	return p
}

// update is the WithProgress callback: it is called on every status change.
func (p *progress) update(job *client.Job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.job = job
	if p.tty {
		p.draw()
		return
	}
	fmt.Fprintf(p.w, "%s %s/%s: %s\n", elapsed(p.start), job.Type, job.ID, job.Status)
}

func (p *progress) redraw() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw rewrites the status line; p.mu is held.
func (p *progress) draw() {
	if p.stopped {
		return
	}
	status := "waiting"
	name := ""
	if p.job != nil {
		status, name = string(p.job.Status), fmt.Sprintf("%s/%s ", p.job.Type, p.job.ID)
	}
	fmt.Fprintf(p.w, "\r\033[K%s%s  %s", name, strings.ToUpper(status[:1])+status[1:], elapsed(p.start))
}

// stop ends the live line; it may be called more than once.
func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.done)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func elapsed(start time.Time) string {
	return time.Since(start).Truncate(time.Second).String()
}
