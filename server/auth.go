package server

import (
	"context"
	"encoding/base64"
	"encoding/hex"
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
		secret, user string
		want         store.KeyKind
		buf          [maxBasicDecodedLen]byte
	)
	switch scheme {
	case schemeBearer:
		secret, want = credentials, store.KeyKindUser
	case schemeBasic:
		var pass string
		var err error
		if user, pass, err = decodeBasic(buf[:], credentials); err != nil {
			return Principal{}, err
		}
		if len(user) != len(canonicalUUID{}) {
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
	case scheme == schemeBasic && !names(user, key.OrgID):
		return Principal{}, fmt.Errorf("key %s: the basic user name is not its organization id", key.ID)
	}
	return Principal{OrgID: key.OrgID, KeyID: key.ID, Kind: key.Kind}, nil
}

// maxBasicDecodedLen is the most bytes decodeBasic can need.
const maxBasicDecodedLen = maxAuthorizationLen * 3 / 4

// decodeBasic decodes the credentials of an HTTP Basic Authorization header
// into buf, which must hold maxBasicDecodedLen bytes. The strings it returns
// share buf's bytes, so they live as long as buf and are never written: the
// caller keeps buf on its stack and spares an allocation per request.
func decodeBasic(buf []byte, credentials string) (user, pass string, err error) {
	if base64.StdEncoding.DecodedLen(len(credentials)) > len(buf) {
		return "", "", errors.New("basic credentials too long")
	}
	n, err := base64.StdEncoding.Decode(buf, unsafe.Slice(unsafe.StringData(credentials), len(credentials)))
	if err != nil {
		return "", "", errors.New("basic credentials are not base64")
	}
	raw := buf[:n]
	user, pass, ok := strings.Cut(unsafe.String(unsafe.SliceData(raw), len(raw)), ":")
	if !ok {
		return "", "", errors.New("basic credentials have no colon")
	}
	return user, pass, nil
}

// canonicalUUID is the text of a UUID in canonical form.
type canonicalUUID [36]byte

// names reports whether s is id in canonical form, in either case, as
// uuid.Parse would accept it for a 36-character string. It compares without
// parsing s, because uuid.Parse keeps its argument alive on the heap and s
// shares the stack buffer of the decoded credentials.
func names(s string, id uuid.UUID) bool {
	if len(s) != len(canonicalUUID{}) {
		return false
	}
	var text canonicalUUID
	hex.Encode(text[0:8], id[0:4])
	hex.Encode(text[9:13], id[4:6])
	hex.Encode(text[14:18], id[6:8])
	hex.Encode(text[19:23], id[8:10])
	hex.Encode(text[24:36], id[10:16])
	text[8], text[13], text[18], text[23] = '-', '-', '-', '-'
	return strings.EqualFold(s, unsafe.String(&text[0], len(text)))
}
