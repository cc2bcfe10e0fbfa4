package server

import (
	"github.com/labstack/echo/v4"

	"github.com/polyjobs/polyjobs/generated"
)

// headerVersion is the request and response header naming the API version.
const headerVersion = "X-Polytomic-Version"

// NewestVersion is the version served when a request names none.
const NewestVersion = generated.APIVersion20250918

// servedVersion returns the version a request is served with: the one it
// asked for when that is known, else the newest. (An unknown version is then
// refused by the validator, with a 400 that still names a real version.)
func servedVersion(requested string) generated.APIVersion {
	if v := generated.APIVersion(requested); v.Valid() {
		return v
	}
	return NewestVersion
}

// responseHeaders sets the headers every response carries, errors included:
// the served API version, and no caching or content sniffing of API data.
func responseHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set(headerVersion, string(servedVersion(c.Request().Header.Get(headerVersion))))
		h.Set(echo.HeaderCacheControl, "no-store")
		h.Set(echo.HeaderXContentTypeOptions, "nosniff")
		return next(c)
	}
}
