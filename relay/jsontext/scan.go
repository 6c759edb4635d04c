// Package jsontext reads and writes JSON text without reflection, for the
// relay's per-request and per-chunk work: a Scanner that checks untrusted
// text in one pass as it reads it and allocates nothing for strings
// without escapes, functions on the raw values it returns, and appenders
// that write JSON strings and numbers into a caller's buffer.
package jsontext

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unsafe"
)

// MaxDepth is how deeply a Scanner lets objects and arrays nest: text
// nested deeper is malformed.
const MaxDepth = 512

// Scanner reads JSON text in one pass, checking it as it goes. A reader
// walks the text with Open, More and Key, reads the values it needs (Str,
// Text, Number, Int, Bool, Raw) and skips the others (Skip); every value
// read or skipped is checked, so that reading a whole value checks it:
//
//	var s jsontext.Scanner
//	s.Reset(body)
//	if !s.Open('{') { ... }
//	for n := 0; s.More('}', &n); {
//		switch s.Key() {
//		case "model":
//			model = s.Text()
//		default:
//			s.Skip()
//		}
//	}
//	if !s.End() { ... malformed ... }
//
// After the first malformed byte the scanner is failed: it reads nothing
// more, every method returns its zero value (More false, so that loops
// end) and OK and End report false. Strings without escapes, raw values
// and numbers are views of the text, valid while the text is and never to
// be changed; strings with escapes are unescaped into memory of their
// own. The zero Scanner reads empty text, in which reading any value
// fails it. A Scanner is not safe for concurrent use; copying one copies
// its position.
type Scanner struct {
	s       string
	i       int
	depth   int
	bad     bool
	trusted bool
}

// Reset points the scanner at b, to read it from its start, checking it.
// The scanner views b without copying it: b must not change while the
// scanner or a string it returned is in use.
func (s *Scanner) Reset(b []byte) {
	*s = Scanner{s: unsafe.String(unsafe.SliceData(b), len(b))}
}

// ResetString points the scanner at text, to read it from its start,
// checking it.
func (s *Scanner) ResetString(text string) { *s = Scanner{s: text} }

// Trust makes the scanner pass over the values it skips (Skip, and Raw,
// Member and Element, which skip to find a value's end) without checking
// them, finding the end of a string with a fast search for its closing
// quote: for text a checking scan has read before, such as a raw value
// it returned. Trusted text that is malformed after all gives wrong
// values, never a panic. Strings read as text (Key, Str, Text) and the
// structure (Open, More) are still checked. Reset and ResetString end
// it.
func (s *Scanner) Trust() { s.trusted = true }

// OK reports whether everything read so far was well-formed.
func (s *Scanner) OK() bool { return !s.bad }

// Fail marks the scanner failed, as if it had met malformed text: for a
// reader that finds the text well-formed but not of the shape it reads.
func (s *Scanner) Fail() {
	s.bad = true
	s.i = len(s.s)
}

// End reports whether the text was well-formed up to its end: nothing
// failed, and only white space follows what was read (else the scanner
// fails).
func (s *Scanner) End() bool {
	s.ws()
	if s.i != len(s.s) {
		s.Fail()
	}
	return !s.bad
}

// Input returns the text the scanner reads.
func (s *Scanner) Input() string { return s.s }

// Offset returns the offset in the text of the next byte to read (the
// length of the text once the scanner failed).
func (s *Scanner) Offset() int { return s.i }

// Seek moves the scanner to offset i of its text, at the depth it is at,
// without reading the bytes in between: for a reader that knows what they
// hold, such as a prefix of the text it read before in other text (the
// caller then gives More the count of the members it passed). Offsets
// outside the text fail the scanner.
func (s *Scanner) Seek(i int) {
	if s.bad {
		return
	}
	if i < 0 || i > len(s.s) {
		s.Fail()
		return
	}
	s.i = i
}

// ws skips white space.
func (s *Scanner) ws() {
	if s.i < len(s.s) && s.s[s.i] > ' ' {
		return
	}
	t, i := s.s, s.i
	for i < len(t) && (t[i] == ' ' || t[i] == '\n' || t[i] == '\r' || t[i] == '\t') {
		i++
	}
	s.i = i
}

// Peek returns the first byte of the next value (or the next comma,
// colon or closing bracket) after white space, which tells the value's
// type: '{', '[', '"', 't', 'f', 'n', '-' or a digit. It returns 0 at the
// end of the text and once the scanner failed.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.i < len(s.s) {
		return s.s[s.i]
	}
	return 0
}

// Open reads the opening c, '{' or '[', of the next value and reports
// whether it was there; when the next value is of another type it reads
// nothing and reports false. Nesting deeper than MaxDepth fails the
// scanner.
func (s *Scanner) Open(c byte) bool {
	if s.Peek() != c {
		return false
	}
	s.i++
	if s.depth++; s.depth > MaxDepth {
		s.Fail()
		return false
	}
	return true
}

// Expect is Open for a value that must be an object or array: a value of
// another type fails the scanner.
func (s *Scanner) Expect(c byte) bool {
	if s.Open(c) {
		return true
	}
	s.Fail()
	return false
}

// Enter is Open that skips a value of another type (checking it) before
// reporting false.
func (s *Scanner) Enter(c byte) bool {
	if s.Open(c) {
		return true
	}
	s.Skip()
	return false
}

// More reports whether another member follows in the object or array
// that c, '}' or ']', closes, which the caller opened: it reads the comma
// before the member, or the closing c after the last one. n counts the
// members read so far: the caller starts it at 0 for each object or
// array and leaves it to More. A missing comma or closing c fails the
// scanner (a member missing after a comma fails the read of it), and
// More reports false.
func (s *Scanner) More(c byte, n *int) bool {
	p := s.Peek() // 0 at the end, and once failed
	if p == c {
		s.i++
		s.depth--
		return false
	}
	if *n > 0 {
		if p != ',' {
			s.Fail()
			return false
		}
		s.i++
	} else if p == ',' || p == 0 {
		s.Fail()
		return false
	}
	*n++
	return true
}

// Key reads an object member's name and the colon after it, for a reader
// More let into an object. It returns "" and fails the scanner when no
// name is there.
func (s *Scanner) Key() string {
	k := s.Str()
	if s.Peek() != ':' {
		s.Fail()
		return ""
	}
	s.i++
	return k
}

// Member reads the next member of the object the caller opened: its name
// and its raw value (as Raw returns it). It reports false after the last
// member and on malformed text, which fails the scanner; n is as for
// More.
func (s *Scanner) Member(n *int) (key, raw string, ok bool) {
	if !s.More('}', n) {
		return "", "", false
	}
	key = s.Key()
	raw = s.Raw()
	return key, raw, !s.bad
}

// Element reads the raw value (as Raw returns it) of the next element of
// the array the caller opened. It reports false after the last element
// and on malformed text, which fails the scanner; n is as for More.
func (s *Scanner) Element(n *int) (raw string, ok bool) {
	if !s.More(']', n) {
		return "", false
	}
	raw = s.Raw()
	return raw, !s.bad
}

// strRaw reads a string and returns its text between the quotes, still
// escaped, and whether it has escapes. It fails the scanner on anything
// else and on malformed strings: control characters, unknown escapes,
// \u without four hex digits, no closing quote.
func (s *Scanner) strRaw() (raw string, escaped bool) {
	if s.Peek() != '"' {
		s.Fail()
		return "", false
	}
	t := s.s
	start := s.i + 1
	i := start
	for {
		i = plainRun(t, i)
		if i >= len(t) {
			break
		}
		switch t[i] {
		case '"':
			s.i = i + 1
			return t[start:i], escaped
		case '\\':
			escaped = true
			if i+1 >= len(t) {
				break
			}
			switch t[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
				continue
			case 'u':
				if _, ok := hex4(t[i+2:]); ok {
					i += 6
					continue
				}
			}
		}
		break // a control character or a malformed escape
	}
	s.Fail()
	return "", false
}

// Str reads a string and returns its text: a view of the text when the
// string has no escapes, else unescaped into memory of its own (lone
// surrogates become U+FFFD, as encoding/json reads them; invalid UTF-8 is
// kept as it is). It returns "" and fails the scanner when the next
// value is not a well-formed string.
func (s *Scanner) Str() string {
	raw, esc := s.strRaw()
	if !esc {
		return raw
	}
	return unescape(raw)
}

// StrClone is Str that always returns memory of its own, never a view of
// the text: for strings kept after the text changes.
func (s *Scanner) StrClone() string {
	raw, esc := s.strRaw()
	if !esc {
		return string(raw)
	}
	return unescape(raw)
}

// AppendStr reads a string and appends its text (as Str returns it) to
// b. On a value that is not a well-formed string it returns b unchanged
// and fails the scanner.
func (s *Scanner) AppendStr(b []byte) []byte {
	raw, esc := s.strRaw()
	if !esc {
		return append(b, raw...)
	}
	return appendUnescaped(b, raw)
}

// Text reads a string's text, as Str does, or skips a value of any other
// type and returns "" (as gjson's Str reads values).
func (s *Scanner) Text() string {
	if s.Peek() == '"' {
		return s.Str()
	}
	s.Skip()
	return ""
}

// Number reads a number and returns its text. It returns "" and fails
// the scanner when the next value is not a well-formed number.
func (s *Scanner) Number() string {
	s.ws()
	t, start := s.s, s.i
	i := skipNumber(t, start)
	if i < 0 {
		s.Fail()
		return ""
	}
	s.i = i
	return t[start:i]
}

// Int reads a number as an integer: a fraction is cut, and numbers
// beyond the range of int64 become its bounds. A value of another type
// is skipped (checked) as 0, and ok reports false.
func (s *Scanner) Int() (n int64, ok bool) {
	if c := s.Peek(); c != '-' && (c < '0' || c > '9') {
		s.Skip()
		return 0, false
	}
	t := s.Number()
	if s.bad {
		return 0, false
	}
	return parseInt(t), true
}

// parseInt returns the number text t, well-formed, as an integer, as Int
// reads it.
func parseInt(t string) int64 {
	if len(t) > 0 && len(t) <= 18 { // the usual small integers, without strconv
		neg := t[0] == '-'
		i := 0
		if neg {
			i = 1
		}
		var n int64
		for ; i < len(t); i++ {
			c := t[i]
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int64(c-'0')
		}
		if i == len(t) {
			if neg {
				return -n
			}
			return n
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n
	}
	switch f, _ := strconv.ParseFloat(t, 64); {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	default:
		return int64(f)
	}
}

// Bool reads true as true; any other value is skipped (checked) as false.
func (s *Scanner) Bool() bool {
	if s.Peek() == 't' {
		s.literal("true")
		return !s.bad
	}
	s.Skip()
	return false
}

// literal reads true, false or null.
func (s *Scanner) literal(lit string) {
	if len(s.s)-s.i < len(lit) || s.s[s.i:s.i+len(lit)] != lit {
		s.Fail()
		return
	}
	s.i += len(lit)
}

// Skip reads the next value, of any type, without keeping it, checking
// it (unless the scanner is trusted); malformed text fails the scanner.
func (s *Scanner) Skip() {
	if s.trusted {
		s.ws()
		if j := skipFast(s.s, s.i); j > s.i {
			s.i = j
		} else {
			s.Fail()
		}
		return
	}
	switch c := s.Peek(); c {
	case '"':
		s.strRaw()
	case '{':
		s.skipObject()
	case '[':
		s.skipArray()
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	default:
		if i := skipNumber(s.s, s.i); i >= 0 {
			s.i = i
		} else {
			s.Fail()
		}
	}
}

// skipObject skips an object, its names read without being unescaped.
func (s *Scanner) skipObject() {
	if !s.Open('{') {
		return
	}
	for n := 0; s.More('}', &n); {
		s.strRaw()
		if s.Peek() != ':' {
			s.Fail()
			return
		}
		s.i++
		s.Skip()
	}
}

func (s *Scanner) skipArray() {
	if !s.Open('[') {
		return
	}
	for n := 0; s.More(']', &n); {
		s.Skip()
	}
}

// Raw reads the next value, of any type, as Skip does, and returns its
// text as written (without the white space around it). It returns "" for
// malformed text.
func (s *Scanner) Raw() string {
	s.ws()
	start := s.i
	s.Skip()
	if s.bad {
		return ""
	}
	return s.s[start:s.i]
}

// skipNumber returns the offset after the number
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at offset i of t, -1
// when there is none.
func skipNumber(t string, i int) int {
	if i < len(t) && t[i] == '-' {
		i++
	}
	switch {
	case i < len(t) && t[i] == '0':
		i++
	case i < len(t) && isDigit(t[i]):
		i = digits(t, i)
	default:
		return -1
	}
	if i < len(t) && t[i] == '.' {
		if j := digits(t, i+1); j > i+1 {
			i = j
		} else {
			return -1
		}
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		j := digits(t, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// digits returns the offset after the digits at offset i of t.
func digits(t string, i int) int {
	for i < len(t) && isDigit(t[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipFast returns the offset after the value at offset i of t without
// checking it (len(t) for a value that does not end, i for none):
// strings are passed over with a search for their closing quote, so that
// large ones (base64 media) cost little.
func skipFast(t string, i int) int {
	if i >= len(t) {
		return i
	}
	switch t[i] {
	case '"':
		return skipStringFast(t, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(t); j++ {
			switch t[j] {
			case '"':
				j = skipStringFast(t, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(t)
	case '}', ']', ',', ':':
		return i
	}
	j := i
	for j < len(t) && t[j] != ',' && t[j] != '}' && t[j] != ']' && t[j] != ':' && t[j] > ' ' {
		j++
	}
	return j
}

// skipStringFast returns the offset after the string at offset i of t,
// t[i] == '"', without checking it; len(t) when it does not end. Short
// strings (names, keywords) are read byte by byte, long ones with
// IndexByte.
func skipStringFast(t string, i int) int {
	j := i + 1
	for end := min(len(t), j+24); j < end; j++ {
		switch t[j] {
		case '"':
			return j + 1
		case '\\':
			j++
		}
	}
	for j < len(t) {
		k := strings.IndexByte(t[j:], '"')
		if k < 0 {
			return len(t)
		}
		j += k
		n := 0
		for p := j - 1; p > i && t[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
	return len(t)
}

// plain marks the bytes a JSON string holds as they are: not the quote,
// the backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Words of eight bytes, for plainRun and safeRun.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load returns the eight bytes of t at offset i as a little-endian word
// (one load on the machines Go runs on).
func load(t string, i int) uint64 {
	w := t[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// plainRun returns the offset of the first byte at or after i that is
// not plain (or len(t)), eight bytes at a time while it can. In a word,
// the bytes below 0x20 and those equal to '"' or '\\' are found with the
// usual tests for a small or a zero byte: each sets the high bit of its
// byte, and while bytes above the first one found may be flagged wrongly
// (by a borrow), the lowest flag is exact.
func plainRun(t string, i int) int {
	for ; i+8 <= len(t); i += 8 {
		w := load(t, i)
		q := w ^ (ones * '"')
		b := w ^ (ones * '\\')
		if m := ((w-ones*0x20)&^w | (q-ones)&^q | (b-ones)&^b) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(t) && plain[t[i]] {
		i++
	}
	return i
}

// hex4 reads the four hex digits of a \u escape at the start of t.
func hex4(t string) (rune, bool) {
	if len(t) < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
