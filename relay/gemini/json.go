package gemini

import (
	"encoding/base64"
	"strings"
	"unsafe"
)

// This file holds the small tools the converters share beside those of
// package jsontext: a member appender, and base64 helpers.

// appendKey appends "key": after a comma when the object already has a
// member (b does not end with '{').
func appendKey(b []byte, key string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// isStdBase64 reports whether s is base64 in the standard, padded
// alphabet, the form proto JSON writes bytes in (and the form the Google
// SDKs require when they read thoughtSignature).
func isStdBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	pad := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			if pad > 0 {
				return false
			}
		case c == '=':
			pad++
			if pad > 2 || i < len(s)-2 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// stdBase64 returns s, base64 that proto JSON accepts (standard or
// URL-safe alphabet, padded or not), in the standard padded form chat.Media
// uses. It returns false for text that is not base64.
func stdBase64(s string) (string, bool) {
	if isStdBase64(s) {
		return s, true
	}
	t := strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(t, "-_") {
		enc = base64.RawURLEncoding
	}
	raw, err := enc.DecodeString(t)
	if err != nil {
		return "", false
	}
	return base64.StdEncoding.EncodeToString(raw), true
}

// base64Std returns s in standard padded base64.
func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// base64Decode decodes standard padded base64.
func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
