package server

import (
	"github.com/labstack/echo/v4"

	"github.com/polyjobs/polyjobs/generated"
)

// headerVersion is the request and response header naming the API version.
const headerVersion = "X-Polytomic-Version"

// NewestVersion is the version served when a request names none.
const NewestVersion = generated.APIVersion20250918

// Versions lists the known API versions, oldest first.
var Versions = []generated.APIVersion{
	generated.APIVersion20210523, generated.APIVersion20221212, generated.APIVersion20230425,
	generated.APIVersion20240208, generated.APIVersion20250918,
}

// servedVersion returns the version a request is served with: the one it
// asked for when that is known, else the newest. (An unknown version is then
// refused by the validator, with a 400 that still names a real version.)
func servedVersion(requested string) generated.APIVersion {
	if v := generated.APIVersion(requested); v.Valid() {
		return v
	}
	return NewestVersion
}

// setResponseHeaders sets the headers every response carries, errors
// included: the served API version, and no caching or content sniffing of API
// data.
func setResponseHeaders(c echo.Context) {
	h := c.Response().Header()
	h[headerVersion] = versionValues[servedVersion(c.Request().Header.Get(headerVersion))]
	h[echo.HeaderCacheControl] = noStore
	h[echo.HeaderXContentTypeOptions] = noSniff
}

// Shared header values (net/http only reads them).
var (
	noStore = []string{"no-store"}
	noSniff = []string{"nosniff"}
)
