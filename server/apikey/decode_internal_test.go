package apikey

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecodeBody: decodeBody accepts exactly what encoding.Decode decodes
// to a key's raw bytes, and decodes it alike.
func FuzzDecodeBody(f *testing.F) {
	secret, _, err := New("user")
	if err != nil {
		f.Fatal(err)
	}
	body := secret[len(UserPrefix):]
	for _, seed := range []string{body, strings.ToUpper(body), body[:57] + "a", body[:57] + "=", body[:56] + "\r\n", "", body + "a", strings.Repeat("7", bodyLen)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var raw [secretBytes + checkBytes]byte
		ok := decodeBody(&raw, body)
		want, err := encoding.DecodeString(body)
		wantOK := err == nil && len(want) == len(raw) && len(body) == bodyLen
		if ok != wantOK || ok && !bytes.Equal(raw[:], want) {
			t.Fatalf("decodeBody(%q) = %x, %v; encoding.DecodeString: %x, %v", body, raw, ok, want, err)
		}
	})
}
