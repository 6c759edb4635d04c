package jsontext

import (
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// The appenders of this file write JSON into a caller's buffer: no
// reflection, and nothing allocated beyond growing the buffer.

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json
// escapes it without its HTML escaping: quotes, backslashes and control
// characters escaped (\n, \r, \t, else \u00XX), invalid UTF-8 replaced by
// U+FFFD, and U+2028 and U+2029 escaped so that the output is also valid
// JavaScript. Any s gives a valid string; "" gives "".
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = AppendEscaped(b, s)
	return append(b, '"')
}

// AppendEscaped appends s escaped as AppendString escapes it, without
// the quotes: for a string written in pieces.
func AppendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if i = safeRun(s, i); i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}

// safe marks the bytes AppendEscaped writes as they are without looking
// further: ASCII that is not a control character, a quote or a
// backslash.
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// safeRun returns the offset of the first byte at or after i that is not
// safe (or len(s)), eight bytes at a time while it can: in a word, the
// bytes below the first unsafe one are ASCII of 0x20 and above, so that
// subtracting 0x20 from each, and 1 from each xored with '"' or '\\',
// borrows nowhere below it and sets no high bit there, while the first
// unsafe byte sets its own (a byte of 0x80 and above has it already).
func safeRun(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		w := load(s, i)
		q := w ^ (ones * '"')
		b := w ^ (ones * '\\')
		if m := (w | (w - ones*0x20) | (q - ones) | (b - ones)) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(s) && s[i] < utf8.RuneSelf && safe[s[i]] {
		i++
	}
	return i
}

// AppendFloat appends f as a JSON number, in the shortest form that reads
// back as f ('g' format: 1e+21, 0.5, 3). f must be finite: NaN and the
// infinities have no JSON form, and come out as strconv writes them
// (NaN, +Inf, -Inf).
func AppendFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
