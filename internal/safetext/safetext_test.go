package safetext

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "job failed: 502 Bad Gateway", "job failed: 502 Bad Gateway"},
		{"unicode kept", "échec — ☃ \uFFFD", "échec — ☃ \uFFFD"},
		{"backslash kept", `C:\temp`, `C:\temp`},
		{"window title", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"clear screen", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"8-bit CSI", "\u009b2J", `\u009b2J`},
		{"forged line", "oops\nstatus: done", `oops\nstatus: done`},
		{"carriage return and tab", "a\rb\tc", `a\rb\tc`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"NUL", "a\x00b", `a\x00b`},
		{"bidi override", "abc\u202edef", `abc\u202edef`},
		{"invalid UTF-8", "a\xffb\x9b", `a\xffb\x9b`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Escape(tc.in)
			if got != tc.want {
				t.Fatalf("Escape(%q) = %q; want %q", tc.in, got, tc.want)
			}
			for _, r := range got {
				if unsafe(r) {
					t.Fatalf("Escape(%q) = %q still holds %U", tc.in, got, r)
				}
			}
			if !utf8.ValidString(got) {
				t.Fatalf("Escape(%q) = %q is not UTF-8", tc.in, got)
			}
		})
	}
}

func TestEscapeJSON(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", `{"url": "https://x/?a=1&b=2"}`, `{"url": "https://x/?a=1&b=2"}`},
		{"white space kept", "{\n  \"a\":\t1\r\n}", "{\n  \"a\":\t1\r\n}"},
		{"8-bit CSI", "{\"e\":\"\u009b2J\"}", `{"e":"\u009b2J"}`},
		{"DEL", "[\"a\x7f\"]", `["a\u007f"]`},
		{"bidi override", "[\"a\u202eb\"]", `["a\u202eb"]`},
		{"invalid UTF-8", "[\"a\xffb\"]", `["a\ufffdb"]`},
		{"escaped ESC untouched", `["\u001b[2J"]`, `["\u001b[2J"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(EscapeJSON([]byte(tc.in)))
			if got != tc.want {
				t.Fatalf("EscapeJSON(%q) = %q; want %q", tc.in, got, tc.want)
			}
			if json.Valid([]byte(tc.in)) && utf8.ValidString(tc.in) {
				var before, after any
				if json.Unmarshal([]byte(tc.in), &before) != nil || json.Unmarshal([]byte(got), &after) != nil {
					t.Fatalf("EscapeJSON(%q) = %q is no longer valid JSON", tc.in, got)
				}
				b1, _ := json.Marshal(before)
				b2, _ := json.Marshal(after)
				if string(b1) != string(b2) {
					t.Fatalf("EscapeJSON changed the value: %s became %s", b1, b2)
				}
			}
		})
	}
}

func FuzzEscape(f *testing.F) {
	f.Add("\x1b]0;title\x07")
	f.Add("\u009b\u202e\xff")
	f.Fuzz(func(t *testing.T, s string) {
		got := Escape(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Escape(%q) = %q is not UTF-8", s, got)
		}
		for _, r := range got {
			if unsafe(r) {
				t.Fatalf("Escape(%q) = %q holds %U", s, got, r)
			}
		}
		for _, r := range string(EscapeJSON([]byte(s))) {
			if unsafe(r) && r != '\n' && r != '\r' && r != '\t' {
				t.Fatalf("EscapeJSON(%q) holds %U", s, r)
			}
		}
	})
}
