package anthropic

import (
	"strconv"
	"unsafe"

	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// This file holds the small JSON tools of the package beside those of
// package jsontext.

// appendKey appends ,"key": (without the comma when first is set).
func appendKey(b []byte, key string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendInt appends n.
func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// unsafeBytes views s as bytes without copying; they must not be changed.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// isObject reports whether raw is one well-formed JSON object.
func isObject(raw string) bool {
	var s jsontext.Scanner
	s.ResetString(raw)
	if s.Peek() != '{' {
		return false
	}
	s.Skip()
	return s.End()
}
