package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
)

// Principal is who an authenticated request acts for.
type Principal struct {
	// OrgID is the organization the request may see jobs of.
	OrgID uuid.UUID
	// KeyID identifies the API key used; never the key itself.
	KeyID uuid.UUID
	// Kind is the kind of key (and so the authentication scheme) used.
	Kind store.KeyKind
}

// Security scheme names, as openapi.yaml declares them.
const (
	schemeBearer = "bearerUserAPIKey"
	schemeBasic  = "orgScopedAPIKey"
)

// maxAuthorizationLen bounds the Authorization header we look at: a valid one
// is far shorter, so anything longer is refused without decoding it.
const maxAuthorizationLen = 512

// errSchemeNotUsed tells kin-openapi that the request does not use the scheme
// it asked about, so that it tries the next one. It is deliberately not an
// *echo.HTTPError: when every scheme answers this way the request carried no
// usable credentials at all.
var errSchemeNotUsed = errors.New("credentials not presented for this scheme")

// errInvalidCredentials is the one answer for every credential that does not
// authenticate: unknown, revoked, malformed, or of the wrong kind or
// organization. Telling them apart would help an attacker, not a user.
var errInvalidCredentials = errors.New("invalid credentials")

// authenticator resolves the Authorization header to a Principal and holds
// each key to its rate. Its Authenticate method is the
// openapi3filter.AuthenticationFunc of the request validator.
type authenticator struct {
	keys   store.Store
	logger *slog.Logger
	// limiter is the per-key rate limit; nil when rate limiting is off.
	limiter *keyLimiter
}

// Authenticate implements openapi3filter.AuthenticationFunc. On success it
// records the Principal in the request's state (middleware.go), where the
// handler and the access log find it. A key over its rate is refused here,
// before the request's parameters are even looked at, with a 429.
func (a *authenticator) Authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	req := in.RequestValidationInput.Request
	if len(req.Header[echo.HeaderAuthorization]) > 1 {
		// Which one would count is a guess a proxy and this server might
		// make differently: refuse both.
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid credentials: send one Authorization header").
			SetInternal(errors.New("several Authorization headers"))
	}
	scheme, credentials, ok := strings.Cut(req.Header.Get(echo.HeaderAuthorization), " ")
	switch in.SecuritySchemeName {
	case schemeBearer:
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return errSchemeNotUsed
		}
	case schemeBasic:
		if !ok || !strings.EqualFold(scheme, "Basic") {
			return errSchemeNotUsed
		}
	default:
		return errSchemeNotUsed
	}
	ctx := req.Context()
	st := stateFrom(ctx)
	if st == nil {
		return echo.NewHTTPError(http.StatusInternalServerError).SetInternal(errors.New("authenticate: request outside the pipeline"))
	}
	p, err := a.resolve(ctx, in.SecuritySchemeName, strings.TrimSpace(credentials))
	if err != nil {
		var httpErr *echo.HTTPError
		if errors.As(err, &httpErr) {
			return httpErr
		}
		a.logger.LogAttrs(ctx, slog.LevelInfo, "authentication failed",
			slog.String("request_id", st.id), slog.String("scheme", in.SecuritySchemeName), slog.String("reason", err.Error()))
		return echo.NewHTTPError(http.StatusUnauthorized, errInvalidCredentials.Error()).SetInternal(err)
	}
	st.principal, st.authenticated = p, true
	if a.limiter != nil {
		if ok, wait := a.limiter.allow(p.KeyID, st.start); !ok {
			st.keyLimited = true
			secs := wholeSeconds(wait)
			msg := fmt.Sprintf("rate limit exceeded for this API key; retry after %d s", secs)
			return echo.NewHTTPError(http.StatusTooManyRequests, msg).
				SetInternal(&apiError{status: http.StatusTooManyRequests, message: msg, retryAfter: strconv.Itoa(secs)})
		}
	}
	return nil
}

// resolve checks credentials of the given scheme. Errors that are not
// *echo.HTTPError are reasons to refuse the credentials; they are logged,
// never shown. They never contain key material.
func (a *authenticator) resolve(ctx context.Context, scheme, credentials string) (Principal, error) {
	if len(credentials) > maxAuthorizationLen {
		return Principal{}, errors.New("credentials too long")
	}
	var (
		secret, user string
		want         store.KeyKind
	)
	switch scheme {
	case schemeBearer:
		secret, want = credentials, store.KeyKindUser
	case schemeBasic:
		decoded, err := base64.StdEncoding.DecodeString(credentials)
		if err != nil {
			return Principal{}, errors.New("basic credentials are not base64")
		}
		var pass string
		var found bool
		if user, pass, found = strings.Cut(string(decoded), ":"); !found {
			return Principal{}, errors.New("basic credentials have no colon")
		}
		if len(user) != 36 {
			return Principal{}, errors.New("basic user name is not an organization id")
		}
		secret, want = pass, store.KeyKindOrg
	}
	kind, err := apikey.Parse(secret)
	if err != nil {
		return Principal{}, err
	}
	if kind != want {
		return Principal{}, fmt.Errorf("a %s key was sent with the %s scheme", kind, scheme)
	}
	key, err := a.keys.KeyByHash(ctx, apikey.Hash(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Principal{}, errors.New("unknown key")
	case err != nil:
		return Principal{}, echo.NewHTTPError(http.StatusInternalServerError).SetInternal(fmt.Errorf("look up key: %w", err))
	case key.Revoked():
		return Principal{}, fmt.Errorf("key %s is revoked", key.ID)
	case key.Kind != want:
		return Principal{}, fmt.Errorf("key %s is a %s key", key.ID, key.Kind)
	case scheme == schemeBasic && !namesOrg(user, key.OrgID):
		return Principal{}, fmt.Errorf("key %s: the basic user name is not its organization id", key.ID)
	}
	return Principal{OrgID: key.OrgID, KeyID: key.ID, Kind: key.Kind}, nil
}

// namesOrg reports whether a basic user name is the organization id, in its
// canonical 36-character form, in either case.
func namesOrg(user string, orgID uuid.UUID) bool {
	id, err := uuid.Parse(user)
	return err == nil && len(user) == 36 && id == orgID
}
