package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/buildinfo"
)

// DefaultBaseURL is the API a Client talks to unless WithBaseURL says
// otherwise: Polytomic's production service.
const DefaultBaseURL = "https://app.polytomic.com"

// DefaultHTTPTimeout bounds each HTTP attempt of a Client that was not given
// its own *http.Client, so that a server that stops answering cannot hang a
// caller whose context has no deadline. A timed-out attempt is retried like
// any network error. A request that asks the server to hold it (see
// GetJobIfChanged) asks for at most half the timeout of the Client's
// *http.Client.
const DefaultHTTPTimeout = 60 * time.Second

// Client calls the Polytomic Jobs API. Create it with New; it is safe for
// concurrent use by multiple goroutines.
type Client struct {
	gen           *api.ClientWithResponses
	baseURL       string
	version       APIVersion
	userAgent     string
	retry         RetryPolicy
	authorization string // the Authorization header value; never printed
	authScheme    string // "bearer" or "basic", for String
	// httpTimeout is the Timeout of the *http.Client requests are sent
	// with (zero: none). A held request asks for at most half of it.
	httpTimeout time.Duration

	// Hooks replaced by in-package tests and benchmarks to simulate time and
	// seed the jitter. now and sleep must agree with each other.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func() float64 // uniform in [0, 1)
}

// Option configures a Client in New.
type Option func(*options)

type options struct {
	baseURL    string
	userKey    *string
	orgID      uuid.UUID
	orgKey     *string
	version    string
	httpClient *http.Client
	userAgent  string
	retry      RetryPolicy
}

// WithBaseURL sets the API's base URL, an absolute http or https URL that may
// include a path prefix; DefaultBaseURL by default. New fails on a malformed
// URL.
func WithBaseURL(baseURL string) Option { return func(o *options) { o.baseURL = baseURL } }

// WithAPIKey authenticates with a user API key, sent as a bearer token.
// Surrounding white space is ignored. Exactly one of WithAPIKey and
// WithOrgKey must be given.
func WithAPIKey(userKey string) Option { return func(o *options) { o.userKey = &userKey } }

// WithOrgKey authenticates with an organization-scoped API key, sent as HTTP
// Basic credentials with the organization's id as the user name and the key as
// the password. Surrounding white space in key is ignored. Exactly one of
// WithAPIKey and WithOrgKey must be given.
func WithOrgKey(orgID uuid.UUID, key string) Option {
	return func(o *options) { o.orgID, o.orgKey = orgID, &key }
}

// WithVersion sets the API version sent in the X-Polytomic-Version header, as
// a string or an APIVersion; DefaultVersion by default. New fails on a version
// this package does not know (see Versions).
func WithVersion[V ~string](version V) Option {
	return func(o *options) { o.version = string(version) }
}

// WithHTTPClient makes the Client send its requests with hc, for custom
// transports, proxies or timeouts. By default a Client uses its own
// *http.Client with DefaultHTTPTimeout; nil restores that default. hc is not
// modified: the Client sends with a copy whose redirect policy first drops
// the credentials from any redirect to another origin (see New), then
// applies hc's own CheckRedirect.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.httpClient = hc } }

// WithUserAgent sets the User-Agent header; by default it is
// "polyjobs-go/<module version>".
func WithUserAgent(userAgent string) Option { return func(o *options) { o.userAgent = userAgent } }

// WithRetry sets how GetJob, and so Wait, retries failed attempts; the zero
// RetryPolicy means the defaults. Use RetryPolicy{MaxAttempts: 1} to disable
// retries.
func WithRetry(p RetryPolicy) Option { return func(o *options) { o.retry = p } }

// New returns a Client configured by opts. It fails with a *ConfigError when
// no credentials or both kinds of credentials are given, when the base URL is
// malformed or not http(s), when the version is unknown, or when the retry
// policy is invalid.
//
// The Client never sends its credentials to another origin: a redirect that
// changes the scheme, host or port is followed without the Authorization
// header. (net/http alone keeps it for a redirect to the same host on
// another port, or from https to http.)
func New(opts ...Option) (*Client, error) {
	o := options{baseURL: DefaultBaseURL, version: string(DefaultVersion)}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	c := &Client{
		userAgent: o.userAgent,
		now:       time.Now,
		sleep:     sleepContext,
		jitter:    rand.Float64,
	}
	var err error
	if c.baseURL, err = checkBaseURL(o.baseURL); err != nil {
		return nil, &ConfigError{Option: "WithBaseURL", Err: err}
	}
	if c.authorization, c.authScheme, err = authorization(o); err != nil {
		return nil, err
	}
	if c.version = APIVersion(o.version); !c.version.Valid() {
		return nil, &ConfigError{Option: "WithVersion", Err: fmt.Errorf("unknown API version %q; known versions are %v", o.version, Versions())}
	}
	if c.retry, err = o.retry.withDefaults(); err != nil {
		return nil, &ConfigError{Option: "WithRetry", Err: err}
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent()
	}
	hc := o.httpClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	c.httpTimeout = hc.Timeout
	c.gen, err = api.NewClientWithResponses(c.baseURL,
		api.WithHTTPClient(withSameOriginCredentials(hc)),
		api.WithRequestEditorFn(c.editRequest))
	if err != nil {
		return nil, &ConfigError{Option: "WithBaseURL", Err: err}
	}
	return c, nil
}

// String describes the Client without its credentials, so that printing or
// logging it is safe.
func (c *Client) String() string {
	return fmt.Sprintf("polyjobs client (%s, version %s, %s auth)", c.baseURL, c.version, c.authScheme)
}

// GoString is String, for the %#v verb.
func (c *Client) GoString() string { return c.String() }

// editRequest adds the headers every request carries.
func (c *Client) editRequest(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", c.authorization)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	return nil
}

// checkBaseURL validates a base URL and returns it without a trailing slash.
// Its errors show the URL with any password masked.
func checkBaseURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		// "127.0.0.1:8080" or "localhost:8080" would otherwise be refused
		// for a colon in a path, or taken for a scheme.
		return "", fmt.Errorf("base URL %q has no scheme: start it with http:// or https://",
			strings.TrimPrefix(redactRawURL("http://"+raw), "http://"))
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, password included: show the
		// URL redacted by hand, and only the reason of the error.
		reason := err
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			reason = urlErr.Err
		}
		return "", fmt.Errorf("malformed base URL %q: %v", redactRawURL(raw), reason)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return "", fmt.Errorf("base URL %q has no host", u.Redacted())
	case u.User != nil:
		return "", fmt.Errorf("base URL %q must not hold credentials; use WithAPIKey or WithOrgKey", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("base URL %q must not have a query or fragment", u.Redacted())
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// redactRawURL masks the password of a URL that url.Parse refused, as
// url.URL.Redacted does for one it accepts: everything between the first
// colon of the user information and its last @.
func redactRawURL(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	start := len(raw) - len(rest)
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return raw
	}
	colon := strings.Index(authority[:at], ":")
	if colon < 0 {
		return raw
	}
	return raw[:start+colon+1] + "xxxxx" + raw[start+at:]
}

// authorization returns the Authorization header value and its scheme's name.
func authorization(o options) (header, scheme string, err error) {
	switch {
	case o.userKey != nil && o.orgKey != nil:
		return "", "", &ConfigError{Err: errors.New("both WithAPIKey and WithOrgKey given; use one")}
	case o.userKey != nil:
		key, err := checkKey(*o.userKey, "API key")
		if err != nil {
			return "", "", &ConfigError{Option: "WithAPIKey", Err: err}
		}
		return "Bearer " + key, "bearer", nil
	case o.orgKey != nil:
		if o.orgID == uuid.Nil {
			return "", "", &ConfigError{Option: "WithOrgKey", Err: errors.New("WithOrgKey needs the organization id, got the nil UUID")}
		}
		key, err := checkKey(*o.orgKey, "organization key")
		if err != nil {
			return "", "", &ConfigError{Option: "WithOrgKey", Err: err}
		}
		creds := base64.StdEncoding.EncodeToString([]byte(o.orgID.String() + ":" + key))
		return "Basic " + creds, "basic", nil
	default:
		return "", "", &ConfigError{Err: errors.New("no credentials: use WithAPIKey(user key) or WithOrgKey(organization id, key)")}
	}
}

// checkKey trims a key and checks that it can be sent in a header. Its errors
// never quote the key.
func checkKey(key, what string) (string, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return "", fmt.Errorf("empty %s", what)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] >= 0x7f {
			return "", fmt.Errorf("%s holds a character that is not printable ASCII", what)
		}
	}
	return key, nil
}

// defaultUserAgent is "polyjobs-go/" and this module's version from the build
// information, "devel" when unknown.
var defaultUserAgent = sync.OnceValue(func() string {
	version := buildinfo.Read().Version
	if version == buildinfo.Devel {
		version = "devel"
	}
	return "polyjobs-go/" + version
})
