package apispec

import (
	"bytes"
	"encoding/json"
)

// decodeJSON decodes with numbers kept as json.Number, as kin-openapi expects.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(v)
}
