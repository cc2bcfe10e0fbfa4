package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/store"
)

// matrixEnv is an env whose requests are checked with the *testing.T of the
// subtest making them (env.do fails the test that built the env, which must
// not be done from a subtest).
type matrixEnv struct {
	*env
	spec *specChecker
}

// serve serves req and fails t unless the response matches openapi.yaml.
func (m matrixEnv) serve(t *testing.T, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	m.e.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if err := m.spec.check(req, r); err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return r
}

// wantJob fails t unless r is a 200 showing job.
func wantJob(t *testing.T, r response, job store.Job) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("job %s: status %d %s; want 200", job.ID, r.status, r.body)
	}
	var envl api.JobResponseEnvelope
	if err := json.Unmarshal(r.body, &envl); err != nil {
		t.Fatal(err)
	}
	d := envl.Data
	if d.JobID != job.ID || d.Type != job.Type || d.Status != job.Status {
		t.Fatalf("served %s %s %s; want job %s %s %s", d.JobID, d.Type, d.Status, job.ID, job.Type, job.Status)
	}
	if !jsonSame(t, d.Result, string(orNull(job.Result))) {
		t.Fatalf("result = %s; want %s", d.Result, job.Result)
	}
	if (d.Error == nil) != (job.Error == "") || d.Error != nil && *d.Error != job.Error {
		t.Fatalf("error = %v; want %q", d.Error, job.Error)
	}
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// wantSameResponse fails t unless a and b have the same status, the same
// body byte for byte and the same headers apart from X-Request-Id: nothing
// in them tells the two requests apart.
func wantSameResponse(t *testing.T, what string, a, b response) {
	t.Helper()
	if a.status != b.status || !bytes.Equal(a.body, b.body) {
		t.Fatalf("%s: %d %s differs from %d %s", what, a.status, a.body, b.status, b.body)
	}
	ha, hb := a.header.Clone(), b.header.Clone()
	ha.Del("X-Request-Id")
	hb.Del("X-Request-Id")
	for k, v := range ha {
		if !slices.Equal(v, hb[k]) {
			t.Fatalf("%s: header %s is %q in one response and %q in the other", what, k, v, hb[k])
		}
	}
	for k, v := range hb {
		if _, ok := ha[k]; !ok {
			t.Fatalf("%s: header %s (%q) is in one response only", what, k, v)
		}
	}
}

// want401 fails t unless r is a 401 RestErrResponse naming both schemes.
func want401(t *testing.T, what string, r response) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Fatalf("%s: status %d %s; want 401", what, r.status, r.body)
	}
	var body api.RestErrResponse
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("%s: 401 body %s: %v", what, r.body, err)
	}
	if body.Code != 401 || body.Status != "Unauthorized" || body.Error == "" {
		t.Fatalf("%s: 401 body %s; want a RestErrResponse", what, r.body)
	}
	if wa := r.header.Get("WWW-Authenticate"); !strings.Contains(wa, "Bearer") || !strings.Contains(wa, "Basic") {
		t.Fatalf("%s: WWW-Authenticate = %q; want both schemes", what, wa)
	}
}

// TestTenantMatrix checks organization isolation across every pairing of
// credentials and jobs: a key sees every job of its own organization and
// nothing of the others', and another organization's job cannot be told
// apart from a job that does not exist.
func TestTenantMatrix(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		// Rate limiting is off: this test is about isolation, and sends a
		// few hundred requests with a handful of keys.
		en := matrixEnv{env: s.env(t, func(c *server.Config) { c.Rate, c.AuthFailureRate = -1, -1 })}
		en.spec = newSpecChecker(t)
		orgs := []tenant{en.tenant("acme"), en.tenant("globex"), en.tenant("initech")}
		// Jobs of several types in every status, so that cached terminal
		// jobs are covered too.
		jobs := make([][]store.Job, len(orgs))
		for i, tn := range orgs {
			jobs[i] = []store.Job{
				en.job(tn.org.ID, api.JobTypeExportLogs),
				en.job(tn.org.ID, api.JobTypePreviewModel, store.Start()),
				en.job(tn.org.ID, api.JobTypeConnectionProxy, store.Start(),
					store.Finish(json.RawMessage(results[api.JobTypeConnectionProxy]))),
				en.job(tn.org.ID, api.JobTypeCreateModel, store.Start(), store.Fail("warehouse unreachable")),
				en.job(tn.org.ID, api.JobTypeSampleModel, store.Finish(json.RawMessage(results[api.JobTypeSampleModel]))),
			}
		}
		schemes := []struct {
			name string
			auth func(tenant) string
		}{{"bearer", tenant.bearer}, {"basic", tenant.basic}}

		// Key owners in the outer loop: each organization's jobs are read
		// by their owner (and so cached, when terminal) before the other
		// organizations ask for them.
		var cells, requests int
		for ki, keyOrg := range orgs {
			for ji, jobOrg := range orgs {
				for _, sc := range schemes {
					cells++
					name := fmt.Sprintf("%s-key/%s-jobs/%s", keyOrg.org.Name, jobOrg.org.Name, sc.name)
					t.Run(name, func(t *testing.T) {
						auth := sc.auth(keyOrg)
						for _, job := range jobs[ji] {
							r := en.serve(t, get(jobPath(job.Type, job.ID), "Authorization", auth))
							requests++
							if ki == ji {
								wantJob(t, r, job)
								// Its own job under another type is the same 404 as nothing.
								other := api.JobTypeUpdateModel
								mismatch := en.serve(t, get(jobPath(other, job.ID), "Authorization", auth))
								missing := en.serve(t, get(jobPath(other, uuid.Must(uuid.NewV7())), "Authorization", auth))
								requests += 2
								wantSameResponse(t, "own job under another type vs no job", mismatch, missing)
								continue
							}
							if r.status != http.StatusNotFound {
								t.Fatalf("%s's job %s read with %s's key: status %d %s; want 404",
									jobOrg.org.Name, job.ID, keyOrg.org.Name, r.status, r.body)
							}
							var body api.APIError
							if err := json.Unmarshal(r.body, &body); err != nil || body.Status != 404 || body.Message == "" {
								t.Fatalf("404 body %s is not an ApiError (%v)", r.body, err)
							}
							for _, id := range []uuid.UUID{uuid.Must(uuid.NewV7()), uuid.New()} {
								missing := en.serve(t, get(jobPath(job.Type, id), "Authorization", auth))
								requests++
								wantSameResponse(t, "another organization's job vs no job", r, missing)
							}
						}
					})
				}
			}
		}

		// Basic credentials pairing one organization's id with another
		// organization's key are refused, whoever owns the job asked for,
		// and the refusal is the same whether the job exists or not.
		var pairs int
		for x, orgX := range orgs {
			for y, orgY := range orgs {
				if x == y {
					continue
				}
				pairs++
				t.Run(fmt.Sprintf("basic/%s-id/%s-key", orgX.org.Name, orgY.org.Name), func(t *testing.T) {
					auth := basicAuth(orgX.org.ID.String(), orgY.orgKey)
					var first response
					targets := []store.Job{jobs[x][0], jobs[y][0], jobs[x][3], jobs[y][3]}
					for i, job := range targets {
						r := en.serve(t, get(jobPath(job.Type, job.ID), "Authorization", auth))
						requests++
						want401(t, "org id of "+orgX.org.Name+", key of "+orgY.org.Name, r)
						if i == 0 {
							first = r
						} else {
							wantSameResponse(t, "401 for different jobs", first, r)
						}
					}
					r := en.serve(t, get(jobPath(api.JobTypeExportLogs, uuid.Must(uuid.NewV7())), "Authorization", auth))
					requests++
					wantSameResponse(t, "401 for a job vs for no job", first, r)
				})
			}
		}

		t.Run("revoked keys", func(t *testing.T) {
			ctx := context.Background()
			acme := orgs[0]
			// Fresh keys, revoked before any request uses them (a key
			// lookup may be cached for a while once made).
			revokedUser, k := seedKey(t, en.store, acme.org.ID, store.KeyKindUser)
			if err := en.store.RevokeKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			revokedOrg, k := seedKey(t, en.store, acme.org.ID, store.KeyKindOrg)
			if err := en.store.RevokeKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			liveUser, _ := seedKey(t, en.store, acme.org.ID, store.KeyKindUser)
			liveOrg, _ := seedKey(t, en.store, acme.org.ID, store.KeyKindOrg)

			job := jobs[0][2]
			path := jobPath(job.Type, job.ID)
			var refused response
			for i, auth := range []string{"Bearer " + revokedUser, basicAuth(acme.org.ID.String(), revokedOrg)} {
				r := en.serve(t, get(path, "Authorization", auth))
				missing := en.serve(t, get(jobPath(job.Type, uuid.Must(uuid.NewV7())), "Authorization", auth))
				requests += 2
				want401(t, "revoked key", r)
				wantSameResponse(t, "revoked key: 401 for a job vs for no job", r, missing)
				if i == 0 {
					refused = r
				} else {
					wantSameResponse(t, "revoked user key vs revoked org key", refused, r)
				}
			}
			for _, auth := range []string{
				"Bearer " + liveUser, basicAuth(acme.org.ID.String(), liveOrg), acme.bearer(), acme.basic(),
			} {
				wantJob(t, en.serve(t, get(path, "Authorization", auth)), job)
				requests++
			}
		})
		t.Logf("%d organizations, %d jobs each: %d (key org, job org, scheme) cells, %d cross-organization basic pairs, %d requests",
			len(orgs), len(jobs[0]), cells, pairs, requests)
	})
}
