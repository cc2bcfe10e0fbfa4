//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

// checkResponse checks a 200 response for j exactly: Content-Type, the
// served version, Retry-After exactly while the job is not terminal, and the
// exact body of a status the job may be in. minRank is the job's committed
// rank when the request was sent, which the response must show at least;
// maxRank its begun rank once the response was read, beyond which it cannot
// be.
func checkResponse(j *job, h http.Header, body []byte, minRank, maxRank int32) error {
	if ct := h.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	if v := h.Get("X-Polytomic-Version"); v != fixture.Version {
		return fmt.Errorf("X-Polytomic-Version %q, want %s", v, fixture.Version)
	}
	var env struct {
		Data struct {
			Status string `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("body is not a job envelope (%v): %s", err, excerpt(body))
	}
	rank, ok := j.rankOf(env.Data.Status)
	switch {
	case !ok:
		return fmt.Errorf("status %q, which this job never reaches (it ends %s)", env.Data.Status, j.status(rankTerminal))
	case rank < minRank:
		return fmt.Errorf("stale: status %s, but %s was committed before the request was sent", env.Data.Status, j.status(minRank))
	case rank > maxRank:
		return fmt.Errorf("status %s, which was not begun to be written (newest: %s)", env.Data.Status, j.status(maxRank))
	}
	if want := j.fixture(rank).AppendBody(nil); !bytes.Equal(body, want) {
		return fmt.Errorf("body\n    %s\n  want\n    %s", bytes.TrimSpace(body), bytes.TrimSpace(want))
	}
	if hint := h.Get("Retry-After"); (hint == "") != (rank == rankTerminal) {
		return fmt.Errorf("Retry-After %q on a %s job", hint, env.Data.Status)
	}
	return nil
}

// checkClient makes the requests outside the load: readiness and checks.
var checkClient = &http.Client{Timeout: 10 * time.Second}

// errUnsettled marks a job whose last change failed, so that its status is
// unknown: verifyAll skips it (the writer's error already fails the run).
var errUnsettled = errors.New("unsettled")

// verifyAll requests every job once, while no change is under way, and
// checks each answer exactly. It returns the number of jobs checked.
func verifyAll(ctx context.Context, baseURL, key string, jobs []*job) (int, error) {
	n := 0
	for _, j := range jobs {
		err := verifyJob(ctx, baseURL, key, j)
		if errors.Is(err, errUnsettled) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("GET %s: %w", j.path, err)
		}
		n++
	}
	return n, nil
}

// verifyJob requests j and checks the answer against its committed status.
func verifyJob(ctx context.Context, baseURL, key string, j *job) error {
	rank := j.committed.Load()
	if j.begun.Load() != rank {
		return errUnsettled
	}
	resp, body, err := get(ctx, baseURL+j.path, key)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, excerpt(body))
	}
	return checkResponse(j, resp.Header, body, rank, rank)
}

// get requests url, with the bearer key and the newest version as the load
// sends them unless key is empty.
func get(ctx context.Context, url, key string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Polytomic-Version", fixture.Version)
	}
	resp, err := checkClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}
