package gemini

import (
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// maxSchemaDepth bounds the nesting of a schema the converter follows.
const maxSchemaDepth = 64

// SchemaToJSONSchema converts a Gemini Schema (the OpenAPI 3.0 subset of
// FunctionDeclaration.parameters and GenerationConfig.responseSchema) into
// the JSON Schema the neutral form carries:
//
//   - type names become lower case ("OBJECT" → "object"; the Google SDKs
//     write them upper case), TYPE_UNSPECIFIED is dropped;
//   - "nullable": true becomes a "null" type beside the type (["string",
//     "null"]), null among the enum values, or a {"type":"null"} branch of
//     anyOf for a schema that has no type;
//   - "example" becomes "examples": [example]; format "enum" (Gemini's
//     marker of enums) and propertyOrdering (Gemini's hint, which JSON
//     Schema has no word for) are dropped;
//   - snake_case keywords (any_of, max_items, ...) get their camelCase
//     names, and int64 bounds written as strings (proto JSON) become
//     numbers;
//   - properties, items and anyOf are converted in turn; every other
//     keyword is kept as it is.
//
// It returns EINVALID when s is not a JSON object or nests deeper than 64
// levels. The output is always valid JSON.
func SchemaToJSONSchema(s []byte) ([]byte, error) {
	if !jsontext.Valid(unsafeString(s)) {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The schema is not valid JSON.")
	}
	b, err := appendSchema(make([]byte, 0, len(s)+16), unsafeString(s), 0)
	if err != nil {
		return nil, schemaError(nil, err)
	}
	return b, nil
}

// errSchema is why a schema cannot be converted: a (sub)schema that is not
// an object, or nesting too deep. schemaError names the schema's field.
type errSchema string

func (e errSchema) Error() string { return string(e) }

func schemaError(at *path, err error) error {
	f := at.String()
	if f == "" {
		f = "schema"
	}
	return aiproxy.FieldErrorf(f, "%s", err.Error())
}

// member is a member of a JSON object: its name, and its name and value
// as they are written.
type member struct {
	key, rawKey, raw string
}

// members reads the members of the object js (checked JSON) into ms.
func members(js string, ms []member) ([]member, bool) {
	var sc jsontext.Scanner
	sc.ResetString(js)
	if !sc.Expect('{') {
		return ms, false
	}
	for n := 0; sc.More('}', &n); {
		start := sc.Offset()
		k := sc.Key()
		rawKey := strings.TrimRight(sc.Input()[start:sc.Offset()], " \t\r\n:")
		if raw := sc.Raw(); sc.OK() {
			ms = append(ms, member{key: k, rawKey: rawKey, raw: raw})
		}
	}
	return ms, sc.OK()
}

// elements calls f with each element of the array js (checked JSON).
func elements(js string, f func(raw string) bool) {
	var sc jsontext.Scanner
	sc.ResetString(js)
	if !sc.Expect('[') {
		return
	}
	for n := 0; sc.More(']', &n); {
		if !f(sc.Raw()) {
			return
		}
	}
}

// appendSchema appends the JSON Schema of s, checked JSON. Its errors are
// errSchema.
func appendSchema(b []byte, s string, depth int) ([]byte, error) {
	if depth > maxSchemaDepth {
		return nil, errSchema("The schema nests deeper than " + strconv.Itoa(maxSchemaDepth) + " levels.")
	}
	var buf [16]member
	ms, ok := members(s, buf[:0])
	if !ok {
		return nil, errSchema("A schema and each of its subschemas must be a JSON object.")
	}
	var nullable, hasType bool
	for _, m := range ms {
		switch m.key {
		case "nullable":
			nullable = m.raw == "true"
		case "type":
			hasType = jsonType(jsontext.Unquote(m.raw)) != ""
		}
	}
	b = append(b, '{')
	var err error
	for _, m := range ms {
		switch m.key {
		case "nullable", "propertyOrdering", "property_ordering":
		case "type":
			if m.raw[0] != '"' {
				b = appendRaw(b, m.rawKey, m.raw)
				break
			}
			name := jsontext.Unquote(m.raw)
			t := jsonType(name)
			if t == "" {
				if !strings.EqualFold(name, "TYPE_UNSPECIFIED") {
					b = appendRaw(b, m.rawKey, m.raw)
				}
				break
			}
			b = appendKey(b, "type")
			if nullable && t != "null" {
				b = append(b, '[')
				b = jsontext.AppendString(b, t)
				b = append(b, `,"null"]`...)
			} else {
				b = jsontext.AppendString(b, t)
			}
		case "format":
			if jsontext.Unquote(m.raw) != "enum" {
				b = appendRaw(b, m.rawKey, m.raw)
			}
		case "enum":
			if !nullable || m.raw[0] != '[' || hasNull(m.raw) {
				b = appendRaw(b, m.rawKey, m.raw)
				break
			}
			b = appendKey(b, "enum")
			b = appendArrayWith(b, m.raw, "null")
		case "example":
			b = appendKey(b, "examples")
			b = append(b, '[')
			b = append(b, m.raw...)
			b = append(b, ']')
		case "properties":
			if m.raw[0] != '{' {
				b = appendRaw(b, m.rawKey, m.raw)
				break
			}
			b = appendKey(b, "properties")
			if b, err = appendSchemaMap(b, m.raw, depth+1, appendSchema); err != nil {
				return nil, err
			}
		case "items":
			if m.raw[0] != '{' {
				b = appendRaw(b, m.rawKey, m.raw)
				break
			}
			b = appendKey(b, "items")
			if b, err = appendSchema(b, m.raw, depth+1); err != nil {
				return nil, err
			}
		case "anyOf", "any_of":
			if m.raw[0] != '[' {
				b = appendRaw(b, m.rawKey, m.raw)
				break
			}
			b = appendKey(b, "anyOf")
			extra := ""
			if nullable && !hasType {
				extra = `{"type":"null"}`
			}
			if b, err = appendSchemaList(b, m.raw, depth+1, appendSchema, extra); err != nil {
				return nil, err
			}
		case "maxItems", "max_items", "minItems", "min_items", "maxLength", "max_length", "minLength", "min_length",
			"maxProperties", "max_properties", "minProperties", "min_properties", "minimum", "maximum":
			b = appendKey(b, camel(m.key))
			b = appendNumber(b, m.raw)
		default:
			b = appendRaw(b, m.rawKey, m.raw)
		}
	}
	return append(b, '}'), nil
}

// appendRaw appends a member as it came.
func appendRaw(b []byte, key, value string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, key...)
	b = append(b, ':')
	return append(b, value...)
}

// appendNumber appends raw, a number or a number written as a string
// (proto JSON writes int64 that way), as a JSON number; anything else as
// it came.
func appendNumber(b []byte, raw string) []byte {
	if raw != "" && raw[0] == '"' {
		if f, err := strconv.ParseFloat(strings.TrimSpace(jsontext.Unquote(raw)), 64); err == nil {
			return jsontext.AppendFloat(b, f)
		}
	}
	return append(b, raw...)
}

// appendArrayWith appends the array arr with one more raw element.
func appendArrayWith(b []byte, arr string, extra string) []byte {
	b = append(b, '[')
	n := 0
	elements(arr, func(raw string) bool {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, raw...)
		n++
		return true
	})
	if n > 0 {
		b = append(b, ',')
	}
	b = append(b, extra...)
	return append(b, ']')
}

// hasNull reports whether the array arr holds null.
func hasNull(arr string) bool {
	found := false
	elements(arr, func(raw string) bool {
		found = raw == "null"
		return !found
	})
	return found
}

// jsonType returns the JSON Schema name of a Gemini type name, in any
// case; "" for TYPE_UNSPECIFIED and names it does not know.
func jsonType(t string) string {
	switch strings.ToUpper(t) {
	case "STRING":
		return "string"
	case "NUMBER":
		return "number"
	case "INTEGER":
		return "integer"
	case "BOOLEAN":
		return "boolean"
	case "ARRAY":
		return "array"
	case "OBJECT":
		return "object"
	case "NULL":
		return "null"
	}
	return ""
}

// camel returns the camelCase form of a snake_case key.
func camel(k string) string {
	if strings.IndexByte(k, '_') < 0 {
		return k
	}
	var sb strings.Builder
	up := false
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_':
			up = true
		case up && c >= 'a' && c <= 'z':
			sb.WriteByte(c - 'a' + 'A')
			up = false
		default:
			sb.WriteByte(c)
			up = false
		}
	}
	return sb.String()
}

// upperTypes are the type names the Google SDKs write (their Type enum),
// which JSON Schema spells in lower case.
var upperTypes = [...]string{`"STRING"`, `"NUMBER"`, `"INTEGER"`, `"BOOLEAN"`, `"ARRAY"`, `"OBJECT"`, `"NULL"`}

// LowerJSONSchemaTypes returns the JSON Schema s (of parametersJsonSchema
// or responseJsonSchema, checked JSON) with the Google SDKs' upper-case
// type names in lower case, wherever a schema's "type" keyword holds them
// (in properties, items, anyOf and every other keyword that holds
// subschemas); a property that happens to be named "type" is left alone.
// Gemini takes either case; other providers' JSON Schema validators take
// only lower case. s itself comes back when it holds no upper-case name,
// which is what every client but the Google SDKs sends.
func LowerJSONSchemaTypes(s string) (string, error) {
	found := false
	for _, t := range upperTypes {
		if strings.Contains(s, t) {
			found = true
			break
		}
	}
	if !found {
		return s, nil
	}
	b, err := appendLowered(make([]byte, 0, len(s)), s, 0)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// appendLowered appends the schema s with its type names in lower case;
// anything that is not an object (true, false) comes as it is.
func appendLowered(b []byte, s string, depth int) ([]byte, error) {
	if depth > maxSchemaDepth {
		return nil, errSchema("The schema nests deeper than " + strconv.Itoa(maxSchemaDepth) + " levels.")
	}
	if s == "" || s[0] != '{' {
		return append(b, s...), nil
	}
	var buf [16]member
	ms, ok := members(s, buf[:0])
	if !ok {
		return nil, errSchema("The schema is not valid JSON.")
	}
	b = append(b, '{')
	var err error
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.rawKey...)
		b = append(b, ':')
		switch m.key {
		case "type":
			switch m.raw[0] {
			case '"':
				b = appendTypeName(b, m.raw)
			case '[':
				b = append(b, '[')
				n := 0
				elements(m.raw, func(raw string) bool {
					if n > 0 {
						b = append(b, ',')
					}
					n++
					b = appendTypeName(b, raw)
					return true
				})
				b = append(b, ']')
			default:
				b = append(b, m.raw...)
			}
		case "properties", "patternProperties", "$defs", "definitions", "dependentSchemas":
			if m.raw[0] != '{' {
				b = append(b, m.raw...)
				break
			}
			if b, err = appendSchemaMap(b, m.raw, depth+1, appendLowered); err != nil {
				return nil, err
			}
		case "items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
			"unevaluatedItems", "unevaluatedProperties", "additionalItems", "anyOf", "oneOf", "allOf", "prefixItems":
			if m.raw[0] != '[' {
				if b, err = appendLowered(b, m.raw, depth+1); err != nil {
					return nil, err
				}
				break
			}
			if b, err = appendSchemaList(b, m.raw, depth+1, appendLowered, ""); err != nil {
				return nil, err
			}
		default:
			b = append(b, m.raw...)
		}
	}
	return append(b, '}'), nil
}

// appendSchemaMap appends the object raw (checked JSON) whose members are
// subschemas, each converted by conv (properties, $defs, ...).
func appendSchemaMap(b []byte, raw string, depth int, conv func([]byte, string, int) ([]byte, error)) ([]byte, error) {
	var buf [16]member
	ms, ok := members(raw, buf[:0])
	if !ok {
		return nil, errSchema("A schema's properties must be a JSON object.")
	}
	b = append(b, '{')
	var err error
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.rawKey...)
		b = append(b, ':')
		if b, err = conv(b, m.raw, depth); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendSchemaList appends the array raw (checked JSON) whose elements
// are subschemas, each converted by conv (anyOf, prefixItems, ...), and
// then extra, a raw element, unless it is "".
func appendSchemaList(b []byte, raw string, depth int, conv func([]byte, string, int) ([]byte, error), extra string) ([]byte, error) {
	b = append(b, '[')
	n := 0
	var err error
	elements(raw, func(el string) bool {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b, err = conv(b, el, depth)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if extra != "" {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, extra...)
	}
	return append(b, ']'), nil
}

// appendTypeName appends the JSON string raw, lower-cased when it is one
// of the Google SDKs' type names.
func appendTypeName(b []byte, raw string) []byte {
	if raw[0] == '"' {
		if name := jsontext.Unquote(raw); name != "" {
			if t := jsonType(name); t != "" {
				return jsontext.AppendString(b, t)
			}
		}
	}
	return append(b, raw...)
}
