package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unsafe"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/oapi-codegen/echo-middleware"

	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
)

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

// authenticator resolves the Authorization header to a Principal. It is the
// openapi3filter.AuthenticationFunc of the request validator.
type authenticator struct {
	keys   store.Store
	logger *slog.Logger
}

// Authenticate implements openapi3filter.AuthenticationFunc. On success it puts
// the Principal on the request's context, where the strict handler finds it.
func (a *authenticator) Authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	req := in.RequestValidationInput.Request
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
	c := echomiddleware.GetEchoContext(ctx)
	if c == nil {
		return echo.NewHTTPError(http.StatusInternalServerError).SetInternal(errors.New("authenticate: no echo context"))
	}
	p, err := a.resolve(c.Request().Context(), in.SecuritySchemeName, strings.TrimSpace(credentials))
	if err != nil {
		var httpErr *echo.HTTPError
		if errors.As(err, &httpErr) {
			return httpErr
		}
		a.logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "authentication failed",
			slog.String("request_id", requestID(c)), slog.String("scheme", in.SecuritySchemeName), slog.String("reason", err.Error()))
		return echo.NewHTTPError(http.StatusUnauthorized, errInvalidCredentials.Error()).SetInternal(err)
	}
	c.SetRequest(c.Request().WithContext(WithPrincipal(c.Request().Context(), p)))
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
		secret string
		orgID  uuid.UUID
		want   store.KeyKind
	)
	switch scheme {
	case schemeBearer:
		secret, want = credentials, store.KeyKindUser
	case schemeBasic:
		user, pass, err := decodeBasic(credentials)
		if err != nil {
			return Principal{}, err
		}
		if orgID, err = uuid.Parse(user); err != nil || len(user) != 36 {
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
	case scheme == schemeBasic && key.OrgID != orgID:
		return Principal{}, fmt.Errorf("key %s belongs to another organization than %s", key.ID, orgID)
	}
	return Principal{OrgID: key.OrgID, KeyID: key.ID, Kind: key.Kind}, nil
}

// decodeBasic decodes the credentials of an HTTP Basic Authorization header.
func decodeBasic(credentials string) (user, pass string, err error) {
	raw, err := base64.StdEncoding.DecodeString(credentials)
	if err != nil {
		return "", "", errors.New("basic credentials are not base64")
	}
	// raw is never written again, so the string can share its bytes.
	user, pass, ok := strings.Cut(unsafe.String(unsafe.SliceData(raw), len(raw)), ":")
	if !ok {
		return "", "", errors.New("basic credentials have no colon")
	}
	return user, pass, nil
}
