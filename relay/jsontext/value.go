package jsontext

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The functions of this file read raw values, the text of one value as
// Scanner.Raw, Member and Element return it.

// Unquote returns the text of the raw string value v: a view of v when
// the string has no escapes, else unescaped into memory of its own (as
// Scanner.Str reads strings). It returns "" for a value that is not a
// string; a malformed string (one no checking scan passed over) gives
// wrong text, never a panic.
func Unquote(v string) string {
	if !isString(v) {
		return ""
	}
	inner := v[1 : len(v)-1]
	if strings.IndexByte(inner, '\\') < 0 {
		return inner
	}
	return unescape(inner)
}

// UnquoteClone is Unquote that always returns memory of its own, never a
// view of v: for text kept after v changes.
func UnquoteClone(v string) string {
	if !isString(v) {
		return ""
	}
	inner := v[1 : len(v)-1]
	if strings.IndexByte(inner, '\\') < 0 {
		return strings.Clone(inner)
	}
	return unescape(inner)
}

// AppendUnquote appends the text of the raw string value v (as Unquote
// returns it) to b. It returns b unchanged for a value that is not a
// string.
func AppendUnquote(b []byte, v string) []byte {
	if !isString(v) {
		return b
	}
	return appendUnescaped(b, v[1:len(v)-1])
}

// Int returns the raw number value v as an integer, as Scanner.Int reads
// it: a fraction is cut, and numbers beyond the range of int64 become its
// bounds. ok is false, and n 0, for a value that is not a number.
func Int(v string) (n int64, ok bool) {
	if len(v) == 0 || skipNumber(v, 0) != len(v) {
		return 0, false
	}
	return parseInt(v), true
}

// Float returns the raw number value v as a float64. ok is false for a
// value that is not a number and for one beyond the range of float64.
func Float(v string) (f float64, ok bool) {
	if len(v) == 0 || (v[0] != '-' && !isDigit(v[0])) {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// Valid reports whether text is one well-formed JSON value, with white
// space around it or not, nested no deeper than MaxDepth.
func Valid(text string) bool {
	var s Scanner
	s.ResetString(text)
	s.Skip()
	return s.End()
}

// isString reports whether the raw value v is a string: at least its two
// quotes.
func isString(v string) bool { return len(v) > 1 && v[0] == '"' }

// unescape returns the text of raw, the inside of a string with escapes,
// in memory of its own.
func unescape(raw string) string {
	b := appendUnescaped(make([]byte, 0, len(raw)), raw)
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not changed again
}

// appendUnescaped appends the text of raw, the inside of a JSON string,
// to b. Lone surrogates become U+FFFD, as encoding/json reads them. A
// malformed escape (in text no checking scan passed over) ends the text.
func appendUnescaped(b []byte, raw string) []byte {
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			j := strings.IndexByte(raw[i:], '\\')
			if j < 0 {
				return append(b, raw[i:]...)
			}
			b = append(b, raw[i:i+j]...)
			i += j
			continue
		}
		if i+1 >= len(raw) {
			return b
		}
		e := raw[i+1]
		i += 2
		switch e {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(raw[i:])
			if !ok {
				return b
			}
			i += 4
			if utf16.IsSurrogate(r) {
				pair := utf8.RuneError
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if low, ok := hex4(raw[i+2:]); ok {
						if pair = utf16.DecodeRune(r, low); pair != utf8.RuneError {
							i += 6 // else the second escape is read on its own
						}
					}
				}
				r = pair
			}
			b = utf8.AppendRune(b, r)
		default: // '"', '\\', '/'
			b = append(b, e)
		}
	}
	return b
}
