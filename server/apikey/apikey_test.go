package apikey_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
)

func TestNewAndParse(t *testing.T) {
	for _, kind := range []store.KeyKind{store.KeyKindUser, store.KeyKindOrg} {
		t.Run(string(kind), func(t *testing.T) {
			secret, hash, err := apikey.New(kind)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if len(secret) != apikey.Len {
				t.Fatalf("len(%q) = %d, want %d", secret, len(secret), apikey.Len)
			}
			if hash != apikey.Hash(secret) {
				t.Fatal("hash differs from Hash(secret)")
			}
			got, err := apikey.Parse(secret)
			if err != nil || got != kind {
				t.Fatalf("Parse = %q, %v; want %q", got, err, kind)
			}
			other, _, _ := apikey.New(kind)
			if other == secret {
				t.Fatal("two keys are equal")
			}
		})
	}
	if _, _, err := apikey.New("admin"); err == nil {
		t.Fatal("New(admin) succeeded")
	}
}

func TestParseRejects(t *testing.T) {
	good, _, _ := apikey.New(store.KeyKindUser)
	flipped := []byte(good)
	if flipped[10] == 'a' {
		flipped[10] = 'b'
	} else {
		flipped[10] = 'a'
	}
	cases := map[string]string{
		"empty":          "",
		"short":          good[:len(good)-1],
		"long":           good + "a",
		"wrong prefix":   "ghp_" + good[4:],
		"bad checksum":   string(flipped),
		"uppercase":      strings.ToUpper(good[:4]) + good[4:],
		"non-base32":     good[:10] + "!" + good[11:],
		"non-utf8":       good[:10] + "\xff" + good[11:],
		"digits 0 and 1": good[:10] + "0" + good[11:],
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := apikey.Parse(s); !errors.Is(err, apikey.ErrMalformed) {
				t.Fatalf("Parse(%q) = %v; want ErrMalformed", s, err)
			}
		})
	}
}

func BenchmarkParseAndHash(b *testing.B) {
	secret, _, _ := apikey.New(store.KeyKindUser)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := apikey.Parse(secret); err != nil {
			b.Fatal(err)
		}
		_ = apikey.Hash(secret)
	}
}
