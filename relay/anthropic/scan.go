package anthropic

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small JSON scanner for stream events, which are read
// on every chunk: one pass over an object's fields, values given as raw
// spans of the input, nothing allocated. It checks the syntax of what it
// passes over (strings, numbers, literals, nesting up to maxDepth), so
// that a malformed event is refused rather than misread.

// maxDepth bounds the nesting the scanner follows.
const maxDepth = 256

// object iterates over the fields of a JSON object.
type object struct {
	b       []byte
	i       int
	n       int // fields read
	bad     bool
	end     bool
	checked bool // check the syntax of every value passed over
}

// checkedObject starts iterating the object b, checking its syntax as it
// goes: for input not checked before. ok is false when b is not an object.
func checkedObject(b []byte) (o object, ok bool) {
	o, ok = newObject(b)
	o.checked = true
	return o, ok
}

// newObject starts iterating the object b, a value a checked iteration
// passed over (or one whose syntax does not matter): values are skipped
// without checking them, and malformed input gives wrong fields but
// nothing worse. ok is false when b is not an object.
func newObject(b []byte) (o object, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return object{bad: true, end: true}, false
	}
	return object{b: b, i: i + 1}, true
}

// next returns the next field: its key (without quotes, as written) and
// its raw value. It returns ok false at the end of the object or at a
// syntax error, which Err then reports.
func (o *object) next() (key, val []byte, ok bool) { return o.nextAt(0) }

// nextAt is next for an object nested depth deep.
func (o *object) nextAt(depth int) (key, val []byte, ok bool) {
	if o.end {
		return nil, nil, false
	}
	if depth > maxDepth {
		return o.fail()
	}
	b := o.b
	i := skipSpace(b, o.i)
	if i < len(b) && b[i] == '}' {
		o.end, o.i = true, i+1
		return nil, nil, false
	}
	if o.n > 0 {
		if i >= len(b) || b[i] != ',' {
			return o.fail()
		}
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return o.fail()
	}
	var ke, ve int
	okk, okv := true, true
	if o.checked {
		ke, okk = skipString(b, i)
	} else {
		ke = skipStringFast(b, i)
	}
	if !okk || ke < i+2 {
		return o.fail()
	}
	key = b[i+1 : ke-1]
	i = skipSpace(b, ke)
	if i >= len(b) || b[i] != ':' {
		return o.fail()
	}
	i = skipSpace(b, i+1)
	if o.checked {
		ve, okv = skipValue(b, i, depth)
	} else {
		ve = skipFast(b, i)
	}
	if !okv || ve <= i {
		return o.fail()
	}
	o.i, o.n = ve, o.n+1
	return key, b[i:ve], true
}

func (o *object) fail() ([]byte, []byte, bool) {
	o.bad, o.end = true, true
	return nil, nil, false
}

// Err reports whether the object was malformed (only meaningful once next
// returned false).
func (o *object) Err() bool { return o.bad }

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// plain marks the bytes a JSON string holds as they are: not a quote, a
// backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	j := i + 1
	for {
		for j < len(b) && plain[b[j]] {
			j++
		}
		if j >= len(b) {
			return 0, false
		}
		switch b[j] {
		case '"':
			return j + 1, true
		case '\\':
			j++
			if j >= len(b) {
				return 0, false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+4 >= len(b) || !isHex(b[j+1]) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) {
					return 0, false
				}
				j += 5
			default:
				return 0, false
			}
		default:
			return 0, false
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxDepth {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{':
		o := object{b: b, i: i + 1, checked: true}
		for {
			_, _, ok := o.nextAt(depth + 1)
			if !ok {
				break
			}
		}
		return o.i, !o.bad
	case c == '[':
		j := skipSpace(b, i+1)
		if j < len(b) && b[j] == ']' {
			return j + 1, true
		}
		for {
			var ok bool
			if j, ok = skipValue(b, j, depth+1); !ok {
				return 0, false
			}
			j = skipSpace(b, j)
			if j >= len(b) {
				return 0, false
			}
			if b[j] == ']' {
				return j + 1, true
			}
			if b[j] != ',' {
				return 0, false
			}
			j = skipSpace(b, j+1)
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || isDigit(c):
		return skipNumber(b, i)
	}
	return 0, false
}

// skipStringFast returns the index after the string starting at b[i] ==
// '"', without checking it; len(b) when it does not end. Short strings
// (keys, keywords) are read byte by byte, long ones with IndexByte.
func skipStringFast(b []byte, i int) int {
	j := i + 1
	for end := min(len(b), j+24); j < end; j++ {
		switch b[j] {
		case '"':
			return j + 1
		case '\\':
			j++
		}
	}
	for j < len(b) {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		j += k
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
	return len(b)
}

// skipFast returns the index after the value starting at b[i], without
// checking it; strings are passed over with IndexByte, so that large ones
// (base64 images) cost little.
func skipFast(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return skipStringFast(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipStringFast(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
		j++
	}
	return j
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// skipNumber passes over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}

// isString reports whether the raw value v is a string (at least its two
// quotes).
func isString(v []byte) bool { return len(v) > 1 && v[0] == '"' }

// appendUnquoted appends the text of the raw string value v to dst; dst
// unchanged for a value that is not a string.
func appendUnquoted(dst, v []byte) []byte {
	if !isString(v) {
		return dst
	}
	s := v[1 : len(v)-1]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if i+4 >= len(s) {
				return dst
			}
			r := rune(hex4(s[i+1 : i+5]))
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2 = utf16.DecodeRune(r, rune(hex4(s[i+3:i+7])))
					if r2 != utf8.RuneError {
						i += 6
					}
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hex4(b []byte) int {
	n := 0
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			n = n*16 + int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n*16 + int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n*16 + int(c-'A'+10)
		}
	}
	return n
}

// unquote returns the text of the raw string value v as a new string; ""
// for a value that is not a string.
func unquote(v []byte) string {
	if !isString(v) {
		return ""
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			b := appendUnquoted(make([]byte, 0, len(inner)), v)
			return unsafeString(b)
		}
	}
	return string(inner)
}

// integer returns the raw number value v as an integer; ok is false for a
// value that is not a number.
func integer(v []byte) (int64, bool) {
	if len(v) == 0 || (v[0] != '-' && !isDigit(v[0])) {
		return 0, false
	}
	if n, err := strconv.ParseInt(unsafeString(v), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(unsafeString(v), 64)
	return int64(f), err == nil
}

// fields holds the raw values of the fields of an Anthropic event object
// (or of one of its nested objects) that the package reads; nil for those
// absent.
type fields struct {
	typ, index, text, thinking, signature, data, id, name, model, input, partialJSON,
	stopReason, stopSequence, message, usage, delta, contentBlock, err []byte
}

// read fills f from the object b in one pass, without checking its
// syntax (b was checked, or its syntax does not matter).
func (f *fields) read(b []byte) { f.scan(b, false) }

// check fills f from the object b in one pass, checking its syntax; false
// when b is not a well-formed object.
func (f *fields) check(b []byte) bool { return f.scan(b, true) }

func (f *fields) scan(b []byte, checked bool) bool {
	o, ok := newObject(b)
	if !ok {
		return false
	}
	o.checked = checked
	for k, v, ok := o.next(); ok; k, v, ok = o.next() {
		switch string(k) {
		case "type":
			f.typ = v
		case "index":
			f.index = v
		case "text":
			f.text = v
		case "thinking":
			f.thinking = v
		case "signature":
			f.signature = v
		case "data":
			f.data = v
		case "id":
			f.id = v
		case "name":
			f.name = v
		case "model":
			f.model = v
		case "input":
			f.input = v
		case "partial_json":
			f.partialJSON = v
		case "stop_reason":
			f.stopReason = v
		case "stop_sequence":
			f.stopSequence = v
		case "message":
			f.message = v
		case "usage":
			f.usage = v
		case "delta":
			f.delta = v
		case "content_block":
			f.contentBlock = v
		case "error":
			f.err = v
		}
	}
	return !o.Err() && skipSpace(b, o.i) == len(b)
}

// word returns the characters of the raw string value v, unescaped only if
// it has no escapes (enough for the protocol's keywords); nil for a value
// that is not a string.
func word(v []byte) []byte {
	if !isString(v) {
		return nil
	}
	return v[1 : len(v)-1]
}

// array iterates over the elements of a JSON array, a value a checked
// iteration passed over: elements are not checked.
type array struct {
	b   []byte
	i   int
	n   int
	bad bool
	end bool
}

// newArray starts iterating the array v; ok is false when v is not one.
func newArray(v []byte) (a array, ok bool) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return array{bad: true, end: true}, false
	}
	return array{b: v, i: i + 1}, true
}

// next returns the next element's raw value; ok is false at the end or at
// a syntax error, which Err then reports.
func (a *array) next() (val []byte, ok bool) {
	if a.end {
		return nil, false
	}
	b := a.b
	i := skipSpace(b, a.i)
	if i < len(b) && b[i] == ']' {
		a.end, a.i = true, i+1
		return nil, false
	}
	if a.n > 0 {
		if i >= len(b) || b[i] != ',' {
			a.bad, a.end = true, true
			return nil, false
		}
		i = skipSpace(b, i+1)
	}
	e := skipFast(b, i)
	if e <= i {
		a.bad, a.end = true, true
		return nil, false
	}
	a.i, a.n = e, a.n+1
	return b[i:e], true
}

// Err reports whether the array was malformed.
func (a *array) Err() bool { return a.bad }

// isArr reports whether the raw value v is an array.
func isArr(v []byte) bool { return len(v) > 0 && v[0] == '[' }

// isNull reports whether the raw value v is null or absent.
func isNull(v []byte) bool { return len(v) == 0 || v[0] == 'n' }

// isTrue reports whether the raw value v is true.
func isTrue(v []byte) bool { return len(v) > 0 && v[0] == 't' }

// isNumber reports whether the raw value v is a number.
func isNumber(v []byte) bool { return len(v) > 0 && (v[0] == '-' || isDigit(v[0])) }

// number returns the raw number value v.
func number(v []byte) (float64, bool) {
	if !isNumber(v) {
		return 0, false
	}
	f, err := strconv.ParseFloat(unsafeString(v), 64)
	return f, err == nil
}

// view returns the text of the raw string value v, viewing v itself when
// the string has no escapes (v must then not change while the text is in
// use), else a new string; "" for a value that is not a string.
func view(v []byte) string {
	if !isString(v) {
		return ""
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			return unquote(v)
		}
	}
	return unsafeString(inner)
}

// rfields holds the raw values of the fields of a request object (the
// body, a message, a content block, a source, a tool...) that the package
// reads; nil for those absent.
type rfields struct {
	typ, text, source, id, name, input, content, isError, thinking, signature, data,
	cacheControl, toolUseID, title, context, caller, role, mediaType, url, userID,
	effort, format, skills, description, inputSchema, strict, disableParallel,
	budgetTokens, display, schema []byte
}

// read fills f from the object b, a value a checked iteration passed
// over, in one pass.
func (f *rfields) read(b []byte) {
	o, ok := newObject(b)
	if !ok {
		return
	}
	for k, v, ok := o.next(); ok; k, v, ok = o.next() {
		switch string(k) {
		case "type":
			f.typ = v
		case "text":
			f.text = v
		case "source":
			f.source = v
		case "id":
			f.id = v
		case "name":
			f.name = v
		case "input":
			f.input = v
		case "content":
			f.content = v
		case "is_error":
			f.isError = v
		case "thinking":
			f.thinking = v
		case "signature":
			f.signature = v
		case "data":
			f.data = v
		case "cache_control":
			f.cacheControl = v
		case "tool_use_id":
			f.toolUseID = v
		case "title":
			f.title = v
		case "context":
			f.context = v
		case "caller":
			f.caller = v
		case "role":
			f.role = v
		case "media_type":
			f.mediaType = v
		case "url":
			f.url = v
		case "user_id":
			f.userID = v
		case "effort":
			f.effort = v
		case "format":
			f.format = v
		case "skills":
			f.skills = v
		case "description":
			f.description = v
		case "input_schema":
			f.inputSchema = v
		case "strict":
			f.strict = v
		case "disable_parallel_tool_use":
			f.disableParallel = v
		case "budget_tokens":
			f.budgetTokens = v
		case "display":
			f.display = v
		case "schema":
			f.schema = v
		}
	}
}
