package apidocs

import "testing"

func TestAcceptsGzip(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		want   bool
	}{
		{"none", nil, false},
		{"empty", []string{""}, false},
		{"gzip", []string{"gzip"}, true},
		{"browser", []string{"gzip, deflate, br, zstd"}, true},
		{"case and spaces", []string{" deflate ,  GZip "}, true},
		{"x-gzip", []string{"x-gzip"}, true},
		{"any", []string{"*"}, true},
		{"weighted", []string{"br;q=1.0, gzip;q=0.5"}, true},
		{"refused", []string{"gzip;q=0"}, false},
		{"refused with decimals", []string{"gzip; q=0.000, identity"}, false},
		{"any refused", []string{"*;q=0"}, false},
		{"refused by name, any accepted", []string{"gzip;q=0, *"}, false},
		{"accepted by name, any refused", []string{"*;q=0, gzip"}, true},
		{"identity only", []string{"identity"}, false},
		{"other codings", []string{"br, zstd"}, false},
		{"second header line", []string{"br", "gzip"}, true},
		{"gzip-like name", []string{"gzipped"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := acceptsGzip(tc.values); got != tc.want {
				t.Fatalf("acceptsGzip(%q) = %v; want %v", tc.values, got, tc.want)
			}
		})
	}
}
