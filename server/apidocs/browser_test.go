package apidocs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.yaml.in/yaml/v4"

	"github.com/polyjobs/polyjobs"
	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/servertest"
)

// TestDocsInBrowser uses the API reference in headless Chromium as a reader
// would, against the real server: it opens the server's root, checks that
// every operation, parameter, response and schema of openapi.yaml renders,
// types a user key, sends a request from the page's "try it" and reads the
// job it answers. It fails if the page makes any request that leaves this
// machine, if its Content-Security-Policy refuses anything, or if its scripts
// throw. Screenshots go to the test's artifact directory (kept with
// go test -artifacts; see the README).
func TestDocsInBrowser(t *testing.T) {
	chromium := browserPath(t)
	srv := servertest.New(t)
	const resultURL = "https://storage.example.com/logs/export.json.gz?signature=abc"
	job := srv.CreateJob(servertest.JobTypeExportLogs)
	srv.Start(job)
	srv.Finish(job, map[string]string{"url": resultURL})

	b := openTab(t, chromium)
	shots := t.ArtifactDir()

	// The root redirects to the page, which renders the contract.
	b.step(t, "load the reference from /", 60*time.Second, chromedp.Navigate(srv.URL+"/"))
	ops, ids := renderedIDs(t)
	b.step(t, "wait for the operation", 60*time.Second, chromedp.WaitVisible(chromedp.CSS(`[id$="`+ops[0]+`"]`)))
	b.screenshot(t, filepath.Join(shots, "docs.png"))
	// The reference renders an operation's details once it is in view.
	for _, op := range ops {
		b.step(t, "scroll to "+op, 5*time.Second, chromedp.ScrollIntoView(chromedp.CSS(`[id$="`+op+`"]`)))
	}
	const missing = `(ids) => ids.filter((id) => ![...document.querySelectorAll("[id]")].some((el) => el.id.endsWith(id)))`
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](`(ids) => (`+missing+`)(ids).length === 0`, chromedp.WithPollingArgs(ids)))
	cancel()
	if err != nil {
		b.fail(t, fmt.Sprintf("find %q", run(t, b, "list what is missing", 5*time.Second,
			chromedp.Evaluate[[]string](`(`+missing+`)(`+mustJSON(t, ids)+`)`))), err)
	}
	location := run(t, b, "read the location", 5*time.Second, chromedp.Location())
	if location, _, _ = strings.Cut(location, "#"); location != srv.URL+"/docs" {
		t.Errorf("/ led to %s; want %s/docs", location, srv.URL)
	}
	text := run(t, b, "read the page", 5*time.Second, chromedp.Evaluate[string](`document.body.innerText`))
	for _, want := range []string{"Get Job", "2025-09-18", "bearerUserAPIKey", "orgScopedAPIKey", "ApiError", "RestErrResponse", "X-Polytomic-Version", "exportlogs"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	b.screenshot(t, filepath.Join(shots, "docs-operation.png"))

	// Try it: the key in the page's authentication form, then the test
	// request client with the job's type and id.
	b.step(t, "type the user key", 15*time.Second, chromedp.SendKeys(chromedp.CSS(`input[placeholder="Token"]`), srv.UserKey))
	b.step(t, "open the request client", 15*time.Second, chromedp.Click(chromedp.CSS(`button.show-api-client-button`)))
	b.step(t, "open the type menu", 15*time.Second, chromedp.Click(chromedp.CSS(`tr#type button[aria-haspopup="menu"]`)))
	b.step(t, "choose exportlogs", 15*time.Second, chromedp.Click(chromedp.CSS(`button[role="menuitem"][value="exportlogs"]`)))
	b.step(t, "type the job id", 15*time.Second,
		chromedp.Click(chromedp.CSS(`tr#id [contenteditable][aria-label$="Value"]`)),
		chromedp.Evaluate[chromedp.Void](`document.execCommand("selectAll")`),
		chromedp.KeyEvent(job.String()))
	b.step(t, "send", 15*time.Second, chromedp.Click(chromedp.CSS(`button[data-addressbar-action="send"]`)))
	shown := run(t, b, "wait for the job", 30*time.Second, chromedp.PollFunction[string](`(id) => {
		for (const el of document.querySelectorAll('[role="textbox"][data-language="json"]')) {
			try {
				if (JSON.parse(el.innerText).data.job_id === id) return el.innerText;
			} catch (e) {}
		}
		return "";
	}`, chromedp.WithPollingArgs(job.String()), chromedp.WithPollingInterval(100*time.Millisecond)))
	b.step(t, "let the response settle", 5*time.Second, chromedp.Sleep(500*time.Millisecond))
	b.screenshot(t, filepath.Join(shots, "docs-try-it.png"))

	var got api.JobResponseEnvelope
	if err := json.Unmarshal([]byte(shown), &got); err != nil {
		t.Fatalf("the page shows %q: %v", shown, err)
	}
	if got.Data.JobID != job || got.Data.Type != api.JobTypeExportLogs || got.Data.Status != api.JobStatusDone ||
		!strings.Contains(string(got.Data.Result), "storage.example.com") {
		t.Errorf("the page shows the job %s", shown)
	}

	requests := b.requests()
	// The page sent the request itself, to this server, with the key.
	apiURL := srv.URL + "/api/jobs/exportlogs/" + job.String()
	i := slices.IndexFunc(requests, func(r sent) bool { return r.url == apiURL })
	switch {
	case i < 0:
		t.Errorf("the page never requested %s", apiURL)
	case requests[i].authorization != "Bearer "+srv.UserKey:
		t.Errorf("the page requested %s with Authorization %q; want the user key", apiURL, requests[i].authorization)
	case requests[i].status != http.StatusOK:
		t.Errorf("the page requested %s and got %d", apiURL, requests[i].status)
	}
	// Nothing else left this machine.
	for _, r := range requests {
		u, err := url.Parse(r.url)
		if err != nil {
			t.Errorf("request to %q: %v", r.url, err)
			continue
		}
		switch {
		case u.Scheme == "data" || u.Scheme == "blob":
		case u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost":
		default:
			t.Errorf("the page requested %s, which is not this machine", r.url)
		}
	}
	for _, v := range run(t, b, "read CSP violations", 5*time.Second, chromedp.Evaluate[[]string](`window.__cspViolations`)) {
		// The bundle's schema library probes whether it may compile code
		// (Function("")), and does without when refused.
		if v == "script-src eval" {
			t.Logf("Content-Security-Policy refused the bundle's eval probe, as it should")
			continue
		}
		t.Errorf("Content-Security-Policy refused %s", v)
	}
	if exceptions := b.exceptionTexts(); len(exceptions) > 0 {
		t.Errorf("the page threw: %q", exceptions)
	}
	t.Logf("%d requests, all to 127.0.0.1; screenshots in %s", len(requests), shots)
}

// browserPath returns Chromium's executable. Where there is none it skips,
// loudly, except in CI (CI set), where that is a failure.
func browserPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	const msg = "no chromium on PATH, so the real-browser test of /docs cannot run " +
		"(Debian: apt-get install -y --no-install-recommends chromium fonts-liberation)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; in CI it must")
	}
	// On stderr as well, like the PostgreSQL tests' skip (internal/pgserver):
	// go test -v, or a failing run, shows it.
	fmt.Fprintf(os.Stderr, "\n*** SKIPPING %s: %s ***\n\n", t.Name(), msg)
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium tab and what it has seen.
type browser struct {
	ctx context.Context

	mu         sync.Mutex
	sent       []sent
	byID       map[network.RequestID]int
	exceptions []string
}

// sent is a request the page made.
type sent struct {
	url           string
	authorization string
	status        int64 // 0 until answered
}

// openTab starts Chromium with a fresh profile and opens a tab, on a context
// that lives as long as the test: each step gets a timeout of its own.
func openTab(t *testing.T, chromium string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		// As root (CI and this machine) Chromium runs only without its
		// sandbox.
		chromedp.NoSandbox,
		// Chromium's own connections (updates, sync, QUIC probes) would
		// be refused here, and are not the page's.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		// A dead proxy for anything but loopback (which Chromium never
		// proxies): a request the page should not make is recorded, and
		// goes nowhere, even on a machine with a network.
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{byID: map[network.RequestID]int{}}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b.ctx = ctx
	// Start the browser and open the tab on the long-lived context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	// Record what the Content-Security-Policy refuses, from the first
	// script of every page on.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));`,
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// listen records the tab's requests and exceptions. It runs in the tab's
// event loop: it must return at once and send no command.
func (b *browser) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		var auth string
		for name, v := range ev.Request.Headers {
			if strings.EqualFold(name, "Authorization") {
				auth, _ = v.(string)
			}
		}
		b.byID[ev.RequestID] = len(b.sent)
		b.sent = append(b.sent, sent{url: ev.Request.URL, authorization: auth})
	case *network.EventResponseReceived:
		if i, ok := b.byID[ev.RequestID]; ok {
			b.sent[i].status = ev.Response.Status
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		b.exceptions = append(b.exceptions, text)
	}
}

func (b *browser) requests() []sent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sent)
}

func (b *browser) exceptionTexts() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.exceptions)
}

// step runs actions with a timeout of their own, and fails the test with a
// screenshot when they fail.
func (b *browser) step(t *testing.T, name string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(t, name, err)
	}
}

// run runs one action that returns a value, as step does.
func run[T any](t *testing.T, b *browser, name string, timeout time.Duration, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.fail(t, name, err)
	}
	return v
}

// fail keeps a screenshot of the page as it is and fails the test.
func (b *browser) fail(t *testing.T, name string, err error) {
	t.Helper()
	shot := filepath.Join(t.ArtifactDir(), "failed.png")
	b.screenshot(t, shot)
	t.Fatalf("%s: %v (screenshot: %s)", name, err, shot)
}

// screenshot saves a PNG of the tab's viewport.
func (b *browser) screenshot(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot %s: %v", path, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// renderedIDs returns the suffixes of the element ids under which the
// reference renders each operation of openapi.yaml (ops:
// "/GET/api/jobs/{type}/{id}"), and (all) the operations, their parameters
// and responses, and each schema: "/GET/api/jobs/{type}/{id}.path.type", ...,
// "/models/ApiError". They are the bundle's naming: a new version of it may
// change them.
func renderedIDs(t *testing.T) (ops, all []string) {
	t.Helper()
	type operation struct {
		Parameters []struct{ Name, In string }
		Responses  map[string]any
	}
	var spec struct {
		Paths map[string]struct {
			Get, Put, Post, Delete, Options, Head, Patch, Trace *operation
		}
		Components struct{ Schemas map[string]any }
	}
	if err := yaml.Unmarshal([]byte(polyjobs.OpenAPIYAML), &spec); err != nil {
		t.Fatal(err)
	}
	section := map[string]string{"path": "path", "query": "query", "header": "headers", "cookie": "cookies"}
	var ids []string
	for path, item := range spec.Paths {
		byMethod := map[string]*operation{"GET": item.Get, "PUT": item.Put, "POST": item.Post, "DELETE": item.Delete,
			"OPTIONS": item.Options, "HEAD": item.Head, "PATCH": item.Patch, "TRACE": item.Trace}
		for method, op := range byMethod {
			if op == nil {
				continue
			}
			opID := "/" + method + path
			ops = append(ops, opID)
			ids = append(ids, opID)
			for _, p := range op.Parameters {
				ids = append(ids, opID+"."+section[p.In]+"."+p.Name)
			}
			for status := range op.Responses {
				ids = append(ids, opID+".responses."+status)
			}
		}
	}
	if len(ops) == 0 {
		t.Fatal("openapi.yaml has no operation")
	}
	for name := range spec.Components.Schemas {
		ids = append(ids, "/models/"+name)
	}
	return ops, ids
}
