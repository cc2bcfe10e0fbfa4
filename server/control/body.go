package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/polyjobs/polyjobs/server/store"
)

// maxBodyBytes bounds a control request's body: a plan of two steps with a
// result of store.MaxResultLength each, and room for the rest.
const maxBodyBytes = 2*store.MaxResultLength + 64<<10

// checkBody reads r's body, up to maxBodyBytes, and checks what the JSON
// decoders behind the validator would let pass: a body larger than the
// limit (413), text that is not UTF-8, or escapes of lone surrogates (which
// the decoders would turn into U+FFFD, so that the server stored other text
// than the client sent), and JSON followed by more text (which they would
// ignore). It normalizes the Content-Type's case, which media types ignore.
// The body is put back for the validator. The status is 0 when the body is
// fine.
func checkBody(w http.ResponseWriter, r *http.Request) (status int, message string) {
	mediaType := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, params, err := mime.ParseMediaType(ct); err == nil {
			mediaType = mt
			r.Header.Set("Content-Type", mime.FormatMediaType(mt, params))
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return 0, ""
	}
	if r.ContentLength > maxBodyBytes {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	r.Body.Close()
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes)
	case err != nil:
		return http.StatusBadRequest, "request body could not be read"
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	if len(body) == 0 || mediaType != "application/json" {
		return 0, "" // the validator says what is wrong, if anything
	}
	valid := json.Valid(body)
	switch {
	case !utf8.Valid(body):
		return http.StatusBadRequest, "request body is not UTF-8 text"
	case valid && hasLoneSurrogate(body):
		return http.StatusBadRequest, `request body has a \u escape of a lone surrogate (\ud800-\udfff without its pair), which is no character`
	case !valid && textAfterValue(body):
		return http.StatusBadRequest, "request body is not valid JSON: text after the JSON value"
	}
	return 0, ""
}

// textAfterValue reports whether body starts with a whole JSON value and
// goes on with more than white space.
func textAfterValue(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if dec.Decode(&v) != nil {
		return false
	}
	return len(bytes.TrimSpace(body[dec.InputOffset():])) > 0
}

// hasLoneSurrogate reports whether JSON text holds, in a string, a \u escape
// of a high surrogate not followed by one of a low surrogate, or of a low
// surrogate not preceded by one of a high surrogate.
func hasLoneSurrogate(text []byte) bool {
	inString, pendingHigh := false, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case !inString:
			inString = c == '"'
		case c == '"':
			if pendingHigh {
				return true
			}
			inString = false
		case c == '\\' && i+1 < len(text) && text[i+1] == 'u' && i+5 < len(text):
			v, ok := hex4(text[i+2 : i+6])
			isHigh, isLow := ok && v >= 0xd800 && v <= 0xdbff, ok && v >= 0xdc00 && v <= 0xdfff
			if pendingHigh != isLow {
				return true // a high one unpaired, or a low one alone
			}
			pendingHigh = isHigh
			i += 5
		case c == '\\':
			if pendingHigh {
				return true
			}
			i++ // the escaped character
		default:
			if pendingHigh {
				return true
			}
		}
	}
	return false
}

// hex4 decodes four hexadecimal digits.
func hex4(b []byte) (rune, bool) {
	var v rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
