package anthropic

import "github.com/aiproxy/aiproxy/relay/jsontext"

// This file holds the field readers of the package: one pass of a
// jsontext.Scanner over an object gives the raw values of the members the
// package reads, which are read in turn when used. Input not checked
// before is read checking it (checkedObject, fields.check); values a
// checking scan passed over are read trusted (newObject, newArray,
// fields.read, rfields.read), which passes over what they do not read
// fast and, on malformed input, gives wrong fields but nothing worse.

// object iterates over the members of a JSON object.
type object struct {
	s jsontext.Scanner
	n int
}

// checkedObject starts iterating the object b, checking its syntax as it
// goes: for input not checked before. ok is false when b is not an
// object.
func checkedObject(b []byte) (o object, ok bool) {
	o.s.Reset(b)
	return o, o.s.Open('{')
}

// newObject starts iterating the raw object v, a value a checking scan
// passed over (or one whose syntax does not matter). ok is false when v
// is not an object.
func newObject(v string) (o object, ok bool) {
	o.s.ResetString(v)
	o.s.Trust()
	return o, o.s.Open('{')
}

// next returns the next member: its name and its raw value. It returns ok
// false after the last member and at a syntax error.
func (o *object) next() (key, val string, ok bool) { return o.s.Member(&o.n) }

// end reports whether the object was well-formed to the end of its text,
// once next returned false.
func (o *object) end() bool { return o.s.End() }

// array iterates over the elements of a raw JSON array, a value a checking
// scan passed over.
type array struct {
	s jsontext.Scanner
	n int
}

// newArray starts iterating the array v; ok is false when v is not one.
func newArray(v string) (a array, ok bool) {
	a.s.ResetString(v)
	a.s.Trust()
	return a, a.s.Open('[')
}

// next returns the next element's raw value; ok is false after the last
// and at a syntax error.
func (a *array) next() (val string, ok bool) { return a.s.Element(&a.n) }

// isString reports whether the raw value v is a string (at least its two
// quotes).
func isString(v string) bool { return len(v) > 1 && v[0] == '"' }

// isArr reports whether the raw value v is an array.
func isArr(v string) bool { return len(v) > 0 && v[0] == '[' }

// isObj reports whether the raw value v is an object.
func isObj(v string) bool { return len(v) > 0 && v[0] == '{' }

// isNull reports whether the raw value v is null or absent.
func isNull(v string) bool { return len(v) == 0 || v[0] == 'n' }

// isTrue reports whether the raw value v is true.
func isTrue(v string) bool { return len(v) > 0 && v[0] == 't' }

// isNumber reports whether the raw value v is a number.
func isNumber(v string) bool { return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') }

// word returns the characters of the raw string value v, unescaped only if
// it has no escapes (enough for the protocol's keywords); "" for a value
// that is not a string.
func word(v string) string {
	if !isString(v) {
		return ""
	}
	return v[1 : len(v)-1]
}

// fields holds the raw values of the fields of an Anthropic event object
// (or of one of its nested objects) that the package reads; "" for those
// absent.
type fields struct {
	typ, index, text, thinking, signature, data, id, name, model, input, partialJSON,
	stopReason, stopSequence, message, usage, delta, contentBlock, err string
}

// read fills f from the object v in one pass, without checking its
// syntax (v was checked, or its syntax does not matter).
func (f *fields) read(v string) {
	var s jsontext.Scanner
	s.ResetString(v)
	s.Trust()
	f.scan(&s)
}

// check fills f from the object v in one pass, checking its syntax; false
// when v is not a well-formed object.
func (f *fields) check(v string) bool {
	var s jsontext.Scanner
	s.ResetString(v)
	return f.scan(&s)
}

func (f *fields) scan(s *jsontext.Scanner) bool {
	if !s.Open('{') {
		return false
	}
	for n := 0; ; {
		k, v, ok := s.Member(&n)
		if !ok {
			break
		}
		switch k {
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
	return s.End()
}

// rfields holds the raw values of the fields of a request object (the
// body, a message, a content block, a source, a tool...) that the package
// reads; "" for those absent.
type rfields struct {
	typ, text, source, id, name, input, content, isError, thinking, signature, data,
	cacheControl, toolUseID, title, context, caller, role, mediaType, url, userID,
	effort, format, skills, description, inputSchema, strict, disableParallel,
	budgetTokens, display, schema string
}

// read fills f from the object v, a value a checking scan passed over, in
// one pass.
func (f *rfields) read(v string) {
	o, ok := newObject(v)
	if !ok {
		return
	}
	for k, v, ok := o.next(); ok; k, v, ok = o.next() {
		switch k {
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
