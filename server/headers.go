package server

import (
	"github.com/labstack/echo/v4"

	"github.com/polyjobs/polyjobs/generated/api"
)

// headerVersion is the request and response header naming the API version.
const headerVersion = "X-Polytomic-Version"

// NewestVersion is the version served when a request names none: the last
// of the versions the contract lists, oldest first.
var NewestVersion = func() api.APIVersion {
	versions := api.APIVersionValues()
	return versions[len(versions)-1]
}()

// servedVersion returns the version a request is served with: the one it
// asked for when that is known, else the newest. (An unknown version is then
// refused by the validator, with a 400 that still names a real version.)
func servedVersion(requested string) api.APIVersion {
	if v := api.APIVersion(requested); v.Valid() {
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
