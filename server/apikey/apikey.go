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

const (
	secretBytes = 32
	checkBytes  = 4
	// bodyLen is the length of the encoded random bytes and checksum.
	bodyLen = (8*(secretBytes+checkBytes) + 4) / 5
	// Len is the length of every key.
	Len = len(UserPrefix) + bodyLen
)

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

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
	var raw [secretBytes + checkBytes + 1]byte
	n, err := encoding.Decode(raw[:], readOnly(secret[len(UserPrefix):]))
	if err != nil || n != secretBytes+checkBytes {
		return "", ErrMalformed
	}
	if crc32.ChecksumIEEE(raw[:secretBytes]) != binary.BigEndian.Uint32(raw[secretBytes:secretBytes+checkBytes]) {
		return "", ErrMalformed
	}
	return kind, nil
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
// only read their input (hashing, decoding). Every request authenticates, so
// this spares two allocations on the hot path. The bytes must not be written.
func readOnly(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
