// Package safetext makes text that came from elsewhere, such as a server's
// error message, safe to print on a terminal. Control characters are how
// ANSI escape sequences reach a terminal (ESC and the C1 control CSI start
// them) and they let a hostile server move the cursor, clear the screen,
// set the window title or forge lines of output; bidirectional-text controls
// reorder what is shown. Both are printed escaped instead, as Go writes them
// in string literals.
package safetext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with each character that is not safe to print replaced
// by an escape: C0 controls, DEL and C1 controls (\x1b, \n, \u009b), the
// bidirectional-text controls (\u202e) and bytes that are not UTF-8 (\xff).
// Every other character, backslashes included, is kept, so printable text
// comes back unchanged.
func Escape(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unsafe(r):
			b.WriteString(s[i : i+size])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

// EscapeJSON returns JSON text with the characters Escape escapes written as
// JSON escapes (\u009b), and bytes that are not UTF-8 as \ufffd, keeping the
// white space between tokens. JSON allows DEL, C1 and bidirectional controls
// unescaped inside strings, and encoding/json passes a json.RawMessage
// through as it is, so JSON from a server needs this before it reaches a
// terminal. Valid JSON stays valid and means the same.
func EscapeJSON(b []byte) []byte {
	if isSafeJSON(b) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, `\ufffd`...)
		case r == '\n' || r == '\r' || r == '\t' || !unsafe(r):
			out = append(out, b[i:i+size]...)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}

// unsafe reports whether r must not reach a terminal as it is.
func unsafe(r rune) bool {
	return unicode.IsControl(r) || isBidiControl(r)
}

// isBidiControl reports whether r is one of the invisible characters that
// change the order in which text is displayed.
func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' ||
		('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

// isSafe reports whether s needs no escaping, quickly for ASCII.
func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return isSafeUnicode(s[i:])
		}
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func isSafeUnicode(s string) bool {
	for i, r := range s {
		if (r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")) || unsafe(r) {
			return false
		}
	}
	return true
}

// isSafeJSON reports whether b needs no escaping as JSON text.
func isSafeJSON(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= utf8.RuneSelf {
			return isSafeUnicode(string(b[i:]))
		}
		if (c < ' ' && c != '\n' && c != '\r' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
