//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// readyTimeout bounds how long a server may take to answer its first request.
const readyTimeout = 30 * time.Second

// checkClient makes the harness's own requests: readiness and verification.
var checkClient = &http.Client{Timeout: 5 * time.Second}

// waitReady waits until the server of p answers its first job, failing early
// when p exits (a busy port, a bad flag, a database it cannot open).
func waitReady(ctx context.Context, p *harness.Process, baseURL string, fx *fixture.Fixture) error {
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for {
		if !p.Running() {
			return p.ExitedError()
		}
		_, _, err := get(ctx, baseURL, fx.Key, fx.Jobs[0])
		if err == nil {
			return nil
		}
		lastErr = err
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v: %w; the end of its output:\n%s", p.Name, readyTimeout, lastErr, p.Tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// verify requests every job of fx once, as the load will, and checks each
// answer: 200, application/json, the served version, and exactly the body
// fixture.AppendBody writes. A server answering anything else (401s, 404s, a
// different body) is not measured.
func verify(ctx context.Context, name, baseURL string, fx *fixture.Fixture) error {
	for _, j := range fx.Jobs {
		resp, body, err := get(ctx, baseURL, fx.Key, j)
		if err != nil {
			return fmt.Errorf("%s: GET %s: %w", name, j.Path(), err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: GET %s answered %s: %s", name, j.Path(), resp.Status, bytes.TrimSpace(body))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			return fmt.Errorf("%s: GET %s: Content-Type %q, want application/json", name, j.Path(), ct)
		}
		if v := resp.Header.Get("X-Polytomic-Version"); v != fixture.NewestVersion {
			return fmt.Errorf("%s: GET %s: X-Polytomic-Version %q, want %s", name, j.Path(), v, fixture.NewestVersion)
		}
		if want := fixture.AppendBody(nil, j); !bytes.Equal(body, want) {
			return fmt.Errorf("%s: GET %s: body\n  %s\nwant\n  %s", name, j.Path(), bytes.TrimSpace(body), bytes.TrimSpace(want))
		}
	}
	return nil
}

// sample requests every job once more after a run with errors and describes
// the first answer that is not 200, or says they all were.
func sample(ctx context.Context, baseURL string, fx *fixture.Fixture) string {
	for _, j := range fx.Jobs {
		resp, body, err := get(ctx, baseURL, fx.Key, j)
		switch {
		case err != nil:
			return fmt.Sprintf("GET %s: %v", j.Path(), err)
		case resp.StatusCode != http.StatusOK:
			return fmt.Sprintf("GET %s: %s %s", j.Path(), resp.Status, bytes.TrimSpace(body))
		}
	}
	return "every job answers 200 again"
}

// get requests job j with the bearer key and the newest version, as the load does.
func get(ctx context.Context, baseURL, key string, j fixture.Job) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+j.Path(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Polytomic-Version", fixture.NewestVersion)
	resp, err := checkClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return resp, body, nil
}
