package gemini

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads JSON text in one pass, checking it as it goes, for the
// per-chunk work of streams: a member loop reads only what it needs and
// skips the rest, strings come back as views of the text unless they have
// escapes. Once it meets anything that is not JSON it is bad: every
// method then does nothing, and loops end.
type scanner struct {
	s   string
	i   int
	bad bool
	buf []byte // scratch for unescaping
}

// reset points the scanner at s.
func (sc *scanner) reset(s string) {
	sc.s, sc.i, sc.bad = s, 0, false
}

func (sc *scanner) fail() { sc.bad, sc.i = true, len(sc.s) }

// ws skips white space.
func (sc *scanner) ws() {
	if sc.i < len(sc.s) && sc.s[sc.i] > ' ' {
		return
	}
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (sc *scanner) peek() byte {
	sc.ws()
	if sc.i >= len(sc.s) {
		return 0
	}
	return sc.s[sc.i]
}

// open consumes c ('{' or '['), failing when the next value is something
// else.
func (sc *scanner) open(c byte) bool {
	if sc.bad || sc.peek() != c {
		sc.fail()
		return false
	}
	sc.i++
	return true
}

// more reports whether the object or array being read (closed by c) has
// another member, consuming the comma before it or the closing bracket
// after the last; n counts the members read.
func (sc *scanner) more(c byte, n *int) bool {
	if sc.bad {
		return false
	}
	switch sc.peek() {
	case c:
		sc.i++
		return false
	case ',':
		if *n == 0 {
			sc.fail()
			return false
		}
		sc.i++
		sc.ws()
	default:
		if *n > 0 {
			sc.fail()
			return false
		}
	}
	if sc.i >= len(sc.s) {
		sc.fail()
		return false
	}
	*n++
	return true
}

// key reads a member's name and its colon.
func (sc *scanner) key() string {
	if sc.peek() != '"' {
		sc.fail()
		return ""
	}
	k := sc.str()
	if sc.peek() != ':' {
		sc.fail()
		return ""
	}
	sc.i++
	return k
}

// plain marks the bytes a JSON string holds as they are: not the quote,
// the backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Words of eight bytes, for plainRun.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun returns the index of the first byte at or after i that is not
// plain (or len(s)), eight bytes at a time while it can: a word has no
// quote, backslash or control byte when none of its bytes is below 0x20
// and none equals '"' or '\\' (the usual tests for a zero or small byte
// in a word).
func plainRun(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		w := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		q := w ^ (ones * '"')
		b := w ^ (ones * '\\')
		if ((w-ones*0x20)&^w|(q-ones)&^q|(b-ones)&^b)&highs != 0 {
			break
		}
	}
	for i < len(s) && plain[s[i]] {
		i++
	}
	return i
}

// strRaw reads a string and returns its text between the quotes, still
// escaped, and whether it has escapes.
func (sc *scanner) strRaw() (raw string, escaped bool) {
	if sc.bad || sc.peek() != '"' {
		sc.fail()
		return "", false
	}
	s := sc.s
	start := sc.i + 1
	i := start
	for {
		i = plainRun(s, i)
		if i >= len(s) {
			break
		}
		switch s[i] {
		case '"':
			sc.i = i + 1
			return s[start:i], escaped
		case '\\':
			escaped = true
			if i+1 >= len(s) {
				sc.fail()
				return "", false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(s[i+2:]); !ok {
					sc.fail()
					return "", false
				}
				i += 6
			default:
				sc.fail()
				return "", false
			}
			continue
		}
		break // a control character
	}
	sc.fail()
	return "", false
}

// str reads a string: a view of the text when it has no escapes (valid
// only while the text is), else a string of its own.
func (sc *scanner) str() string {
	raw, esc := sc.strRaw()
	if !esc {
		return raw
	}
	sc.buf = appendUnescaped(sc.buf[:0], raw)
	return string(sc.buf)
}

// ownStr reads a string into memory of its own.
func (sc *scanner) ownStr() string {
	raw, esc := sc.strRaw()
	if !esc {
		return strings.Clone(raw)
	}
	sc.buf = appendUnescaped(sc.buf[:0], raw)
	return string(sc.buf)
}

// appendStr reads a string and appends its text to b.
func (sc *scanner) appendStr(b []byte) []byte {
	raw, esc := sc.strRaw()
	if !esc {
		return append(b, raw...)
	}
	return appendUnescaped(b, raw)
}

// strOrSkip reads a string, or skips a value of another type and returns
// "".
func (sc *scanner) strOrSkip() string {
	if sc.peek() == '"' {
		return sc.str()
	}
	sc.skip()
	return ""
}

// boolean reads true or false (anything else is skipped as false).
func (sc *scanner) boolean() bool {
	switch sc.peek() {
	case 't':
		sc.literal("true")
		return !sc.bad
	default:
		sc.skip()
		return false
	}
}

// integer reads a number, truncated to an integer; a value of another
// type is skipped as 0.
func (sc *scanner) integer() int64 {
	c := sc.peek()
	if c != '-' && (c < '0' || c > '9') {
		sc.skip()
		return 0
	}
	n := sc.number()
	if v, err := strconv.ParseInt(n, 10, 64); err == nil {
		return v
	}
	f, _ := strconv.ParseFloat(n, 64)
	return int64(f)
}

// number reads a JSON number and returns its text.
func (sc *scanner) number() string {
	start := sc.i
	i := sc.i
	s := sc.s
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() bool {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > j
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		sc.fail()
		return ""
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			sc.fail()
			return ""
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			sc.fail()
			return ""
		}
	}
	sc.i = i
	return s[start:i]
}

// literal reads true, false or null.
func (sc *scanner) literal(lit string) {
	if !strings.HasPrefix(sc.s[sc.i:], lit) {
		sc.fail()
		return
	}
	sc.i += len(lit)
}

// skip reads a value of any type, checking it.
func (sc *scanner) skip() { sc.skipDepth(0) }

// maxDepth bounds the nesting of values the scanner follows.
const maxDepth = 512

func (sc *scanner) skipDepth(depth int) {
	if depth > maxDepth {
		sc.fail()
		return
	}
	switch c := sc.peek(); {
	case c == '"':
		sc.strRaw()
	case c == '{':
		sc.i++
		for n := 0; sc.more('}', &n); {
			sc.key()
			sc.skipDepth(depth + 1)
		}
	case c == '[':
		sc.i++
		for n := 0; sc.more(']', &n); {
			sc.skipDepth(depth + 1)
		}
	case c == 't':
		sc.literal("true")
	case c == 'f':
		sc.literal("false")
	case c == 'n':
		sc.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		sc.number()
	default:
		sc.fail()
	}
}

// raw reads a value of any type and returns its text.
func (sc *scanner) raw() string {
	sc.ws()
	start := sc.i
	sc.skip()
	if sc.bad {
		return ""
	}
	return sc.s[start:sc.i]
}

// end reports whether the text held one value and nothing after it.
func (sc *scanner) end() bool {
	sc.ws()
	return !sc.bad && sc.i == len(sc.s)
}

// hex4 reads the four hex digits of a \u escape.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// appendUnescaped appends the text of raw, the inside of a checked JSON
// string, to b. Lone surrogates become U+FFFD, as encoding/json makes them.
func appendUnescaped(b []byte, raw string) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		switch raw[i] {
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'u':
			r, _ := hex4(raw[i+1:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(utf8.RuneError)
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if x, ok := hex4(raw[i+3:]); ok {
						if d := utf16.DecodeRune(r, x); d != utf8.RuneError {
							r2 = d
							i += 6
						}
					}
				}
				r = r2
			}
			b = utf8.AppendRune(b, r)
		default: // '"', '\\', '/'
			b = append(b, raw[i])
		}
	}
	return b
}
