// Package apikey makes and recognizes polyjobs API keys.
//
// A key is a prefix naming its kind ("pju_" for user keys, "pjo_" for
// organization-scoped keys), then 58 characters of lowercase base32 encoding
// 32 random bytes and a CRC-32 of them. The fixed prefixes let secret scanners
// spot a leaked key; the checksum lets the server reject a mistyped or made-up
// key without a database lookup. The server stores only the SHA-256 hash of a
// key, so a key is shown once, when it is made.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"unsafe"

	"github.com/polyjobs/polyjobs/server/store"
)

// Prefixes of the two kinds of key.
const (
	UserPrefix = "pju_"
	OrgPrefix  = "pjo_"
)

// HasKeyPrefix reports whether s starts as a key does, well-formed or not:
// text that is not to be echoed in an error, since it may be a secret.
func HasKeyPrefix(s string) bool {
	return strings.HasPrefix(s, UserPrefix) || strings.HasPrefix(s, OrgPrefix)
}

const (
	secretBytes = 32
	checkBytes  = 4
	// bodyLen is the length of the encoded random bytes and checksum.
	bodyLen = (8*(secretBytes+checkBytes) + 4) / 5
	// Len is the length of every key.
	Len = len(UserPrefix) + bodyLen
)

// alphabet is the keys' base32 alphabet.
const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

var encoding = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

// alphabetValue maps each byte to its value in alphabet, or noValue.
var alphabetValue = func() (t [256]byte) {
	for i := range t {
		t[i] = noValue
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

const noValue = 0xff

// ErrMalformed means a string is not a well-formed polyjobs key.
var ErrMalformed = errors.New("malformed API key")

// New makes a new random key of the given kind and returns it with its hash.
func New(kind store.KeyKind) (secret string, hash store.KeyHash, err error) {
	prefix, err := prefixOf(kind)
	if err != nil {
		return "", hash, err
	}
	var raw [secretBytes + checkBytes]byte
	if _, err := rand.Read(raw[:secretBytes]); err != nil {
		return "", hash, err
	}
	binary.BigEndian.PutUint32(raw[secretBytes:], crc32.ChecksumIEEE(raw[:secretBytes]))
	secret = prefix + encoding.EncodeToString(raw[:])
	return secret, Hash(secret), nil
}

// Hash returns the SHA-256 digest under which a key is stored.
func Hash(secret string) store.KeyHash {
	return sha256.Sum256(readOnly(secret))
}

// Parse checks that secret is a well-formed key and returns its kind. It does
// not say whether the key exists: only the store knows that.
func Parse(secret string) (store.KeyKind, error) {
	if len(secret) != Len {
		return "", ErrMalformed
	}
	var kind store.KeyKind
	switch {
	case strings.HasPrefix(secret, UserPrefix):
		kind = store.KeyKindUser
	case strings.HasPrefix(secret, OrgPrefix):
		kind = store.KeyKindOrg
	default:
		return "", ErrMalformed
	}
	var raw [secretBytes + checkBytes]byte
	if !decodeBody(&raw, secret[len(UserPrefix):]) {
		return "", ErrMalformed
	}
	if crc32.ChecksumIEEE(raw[:secretBytes]) != binary.BigEndian.Uint32(raw[secretBytes:secretBytes+checkBytes]) {
		return "", ErrMalformed
	}
	return kind, nil
}

// decodeBody decodes a key's body into raw and reports whether it is
// exactly raw in the keys' base32, as encoding.Decode would. Every request
// authenticates, and Decode allocates a copy of its input (to drop line
// breaks, which a key never has).
func decodeBody(raw *[secretBytes + checkBytes]byte, body string) bool {
	if len(body) != bodyLen {
		return false
	}
	var acc uint
	bits, n := 0, 0
	for i := 0; i < len(body); i++ {
		v := alphabetValue[body[i]]
		if v == noValue {
			return false
		}
		acc = acc<<5 | uint(v)
		if bits += 5; bits >= 8 {
			bits -= 8
			raw[n] = byte(acc >> bits)
			n++
		}
	}
	return n == len(raw)
}

func prefixOf(kind store.KeyKind) (string, error) {
	switch kind {
	case store.KeyKindUser:
		return UserPrefix, nil
	case store.KeyKindOrg:
		return OrgPrefix, nil
	}
	return "", errors.New("apikey: unknown key kind " + string(kind))
}

// readOnly returns the bytes of s without copying them, for functions that
// only read their input (hashing). Every request authenticates, so this
// spares an allocation on the hot path. The bytes must not be written.
func readOnly(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
