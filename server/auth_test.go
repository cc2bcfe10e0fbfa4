package server

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestNamesOrg checks the organization id comparison of basic authentication.
func TestNamesOrg(t *testing.T) {
	id := uuid.MustParse("0190a8f2-7c3e-7d4b-9f10-abcdef012345")
	other := uuid.MustParse("0190a8f2-7c3e-7d4b-9f10-abcdef012346")
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"canonical", id.String(), true},
		{"uppercase", strings.ToUpper(id.String()), true},
		{"mixed case", "0190A8F2-7c3e-7D4B-9f10-ABCdef012345", true},
		{"other id", other.String(), false},
		{"no hyphens", strings.ReplaceAll(id.String(), "-", ""), false},
		{"hyphens moved", "0190a8f27-c3e-7d4b-9f10-abcdef012345", false},
		{"braces", "{" + id.String() + "}", false},
		{"urn", "urn:uuid:" + id.String(), false},
		{"empty", "", false},
		{"non-ascii fold", strings.Replace(id.String(), "b", "\u212a", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := namesOrg(tt.s, id); got != tt.want {
				t.Fatalf("namesOrg(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}
