package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	"github.com/google/uuid"
)

// hostile is text a hostile server sends to take over the user's terminal:
// set the window title, clear the screen, an 8-bit CSI, a forged line and a
// bidi override.
const hostile = "\x1b]0;pwned\x07\x1b[2J\u009b31m\nstatus: done\u202e"

// TestHostileServerText runs job get and job wait against a server whose
// jobs and errors carry terminal escape sequences: whatever the output
// format, nothing the CLI prints lets them through.
func TestHostileServerText(t *testing.T) {
	failed, done, missing := uuid.New(), uuid.New(), uuid.New()
	message, _ := json.Marshal(hostile)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, failed.String()):
			fmt.Fprintf(w, `{"data":{"job_id":%q,"type":"exportlogs","status":"failed","result":null,"error":%s}}`, failed, message)
		case strings.HasSuffix(r.URL.Path, done.String()):
			// Raw C1 and bidi characters are valid JSON inside strings.
			fmt.Fprintf(w, "{\"data\":{\"job_id\":%q,\"type\":\"exportlogs\",\"status\":\"done\",\"result\":{\"url\":\"x\u009b2J\u202ey\",\r\"n\":1},\"error\":null}}", done)
		default:
			w.Header().Set("X-Request-Id", "rid\u009b1m")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"status":404,"message":%s,"key":"not_found\u009b"}`, message)
		}
	}))
	t.Cleanup(srv.Close)
	c := newCLI(t)
	flags := []string{"--base-url", srv.URL, "--api-key", "pju_x"}
	fast := []string{"--min-interval", "5ms", "--max-interval", "5ms"}
	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout or stderr, escaped
	}{
		{"get failed, text", []string{"get", "exportlogs", failed.String(), "-o", "text"}, 0, `error:  \x1b]0;pwned\x07\x1b[2J\u009b31m\nstatus: done\u202e`},
		{"get failed, json", []string{"get", "exportlogs", failed.String()}, 0, `"error": "\u001b]0;pwned\u0007\u001b[2J\u009b31m\nstatus: done\u202e"`},
		{"get done, text", []string{"get", "exportlogs", done.String(), "-o", "text"}, 0, `result: {"url":"x\u009b2J\u202ey","n":1}`},
		{"get done, json", []string{"get", "exportlogs", done.String()}, 0, `"url": "x\u009b2J\u202ey"`},
		{"error, text message", []string{"get", "exportlogs", missing.String(), "-o", "text"}, exitRequest, `HTTP 404 Not Found: \x1b]0;pwned\x07\x1b[2J\u009b31m\nstatus: done\u202e (request id rid\u009b1m)`},
		{"error, json", []string{"get", "exportlogs", missing.String()}, exitRequest, `"key":"not_found\u009b","request_id":"rid\u009b1m"`},
		{"wait failed, text", append([]string{"wait", "exportlogs", failed.String(), "-o", "text"}, fast...), exitFailed, `job failed: \x1b]0;pwned`},
		{"wait failed, jsonl", append([]string{"wait", "exportlogs", failed.String(), "-o", "jsonl"}, fast...), exitFailed, `"error":"\u001b]0;pwned`},
		{"wait done, jsonl", append([]string{"wait", "exportlogs", done.String(), "-o", "jsonl"}, fast...), 0, `{"url":"x\u009b2J\u202ey","n":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := c.run(append(append([]string{"job"}, tc.args...), flags...)...)
			if code != tc.code {
				t.Fatalf("exit %d; want %d (stderr %q)", code, tc.code, errOut)
			}
			for _, printed := range []string{out, errOut} {
				for _, r := range printed {
					if (unicode.IsControl(r) && r != '\n') || isBidi(r) || r == unicode.ReplacementChar {
						t.Fatalf("printed %U: stdout %q, stderr %q", r, out, errOut)
					}
				}
			}
			if !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("stdout %q, stderr %q; want %q", out, errOut, tc.want)
			}
		})
	}
}

func isBidi(r rune) bool { return r == '\u202e' || r == '\u202a' || r == '\u2066' }
