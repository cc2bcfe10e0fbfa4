package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/client"
	"github.com/polyjobs/polyjobs/internal/safetext"
)

// Everything the CLI prints that came from elsewhere (a server's job, error
// message or request id) goes through internal/safetext, so that a hostile
// server cannot send escape sequences to the user's terminal.

// jobView is how the CLI prints a job: the API's JobResponse fields.
type jobView struct {
	JobID  uuid.UUID       `json:"job_id"`
	Type   string          `json:"type"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
	Error  *string         `json:"error"`
}

// printJob writes the job as indented JSON (json), as one line of JSON
// (jsonl) or as text.
func printJob(w io.Writer, format string, job *client.Job) error {
	v := jobView{JobID: job.ID, Type: string(job.Type), Status: string(job.Status), Result: job.Result}
	if v.Result == nil {
		v.Result = json.RawMessage("null")
	}
	if job.Error != "" {
		v.Error = &job.Error
	}
	if format == "text" {
		var b bytes.Buffer
		fmt.Fprintf(&b, "job_id: %s\ntype:   %s\nstatus: %s\n", v.JobID, safetext.Escape(v.Type), safetext.Escape(v.Status))
		if v.Error != nil {
			fmt.Fprintf(&b, "error:  %s\n", safetext.Escape(*v.Error))
		}
		if job.Result != nil {
			// Compact: white space in the server's JSON (a carriage return,
			// say) must not rearrange the line either.
			var compact bytes.Buffer
			if err := json.Compact(&compact, job.Result); err != nil {
				compact.Reset()
				compact.WriteString(safetext.Escape(string(job.Result)))
			}
			fmt.Fprintf(&b, "result: %s\n", safetext.EscapeJSON(compact.Bytes()))
		}
		_, err := w.Write(b.Bytes())
		return err
	}
	return writeJSON(w, v, format == "json")
}

// writeJSON writes v as JSON and a newline, indented or on one line, with
// the characters a terminal would act on escaped.
func writeJSON(w io.Writer, v any, indent bool) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep URLs readable: & not \u0026
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(safetext.EscapeJSON(b.Bytes()))
	return err
}

// reporter writes a command's warnings and errors on stderr: as lines of
// text prefixed "polyjobs: ", or as JSON objects, one a line, when the
// command's --output is json or jsonl and stderr is not a terminal, so that
// a program reading the output can read them too.
type reporter struct {
	w    io.Writer
	json bool
}

// reporterFor returns the reporter of cmd writing to w.
func reporterFor(cmd *cobra.Command, w io.Writer) *reporter {
	r := &reporter{w: w}
	if f := cmd.Flags().Lookup("output"); f != nil {
		format := f.Value.String()
		r.json = (format == "json" || format == "jsonl") && !isTerminal(w)
	}
	return r
}

// warn reports something the user should know that does not stop the
// command.
func (r *reporter) warn(msg string) {
	if r.json {
		_ = writeJSON(r.w, map[string]string{"warning": msg}, false)
		return
	}
	fmt.Fprintf(r.w, "polyjobs: warning: %s\n", safetext.Escape(msg))
}

// errorJSON is an error as JSON on stderr.
type errorJSON struct {
	Error    string `json:"error"`
	ExitCode int    `json:"exit_code"`
	// Status, Key and RequestID describe an error response of the API.
	Status    int    `json:"status,omitempty"`
	Key       string `json:"key,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// error reports the error a command ends with, and its exit code.
func (r *reporter) error(err error, code int) {
	if !r.json {
		fmt.Fprintf(r.w, "polyjobs: %s\n", message(err))
		return
	}
	v := errorJSON{Error: message(err), ExitCode: code}
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		v.Status, v.Key, v.RequestID = apiErr.StatusCode, apiErr.Key, apiErr.RequestID
	}
	_ = writeJSON(r.w, v, false)
}

// reportError reports the error cmd ended with on w.
func reportError(cmd *cobra.Command, w io.Writer, err error, code int) {
	reporterFor(cmd, w).error(err, code)
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
