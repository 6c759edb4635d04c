package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy/views/web"
)

// argPrefix begins the form names of a tool's arguments ("arg.city"), so
// that they never clash with the form's own fields (csrf, tool, group).
const argPrefix = "arg."

// inputKind is the HTML control an argument is edited with.
type inputKind int

// The controls of the try-a-tool form.
const (
	inputText     inputKind = iota // <input type="text">: a string
	inputSelect                    // <select>: an enum, of any JSON type
	inputNumber                    // <input type="number">: an integer or a number
	inputCheckbox                  // <input type="checkbox">: a boolean
	inputJSON                      // <textarea> of JSON: an object, an array, or a schema without a type
)

// enumOption is one value of an enum: its label (the value as the form
// sends it) and the JSON value it stands for.
type enumOption struct {
	Label string
	Value any
}

// argField is one argument of a tool as the try-a-tool form shows it,
// read from a property of the tool's input schema.
type argField struct {
	// Name is the property's name; the input's name is argPrefix+Name.
	Name string
	// Type is the property's JSON Schema type ("string", "integer",
	// "number", "boolean", "object", "array"); "" when it has none.
	Type        string
	Kind        inputKind
	Required    bool
	Description string
	// Enum are the values of a select, in the schema's order.
	Enum []enumOption
	// Default is the value the input starts with (a select's option
	// label, a number's text, a JSON textarea's JSON); Checked a
	// checkbox's. HasDefault says whether the schema gave a default.
	Default    string
	Checked    bool
	HasDefault bool
	// Min and Max bound a number ("" when unbounded), as the schema's
	// minimum and maximum.
	Min, Max string
}

// InputName returns the form name of f's input.
func (f argField) InputName() string { return argPrefix + f.Name }

// Step returns the step attribute of a number input: "1" for an integer,
// "any" for a number.
func (f argField) Step() string {
	if f.Type == "integer" {
		return "1"
	}
	return "any"
}

// jsonSchema is the part of a JSON Schema the form reads.
type jsonSchema struct {
	Type        json.RawMessage `json:"type"`
	Description string          `json:"description"`
	Title       string          `json:"title"`
	Enum        []any           `json:"enum"`
	Default     json.RawMessage `json:"default"`
	Minimum     *float64        `json:"minimum"`
	Maximum     *float64        `json:"maximum"`
	Properties  json.RawMessage `json:"properties"`
	Required    []string        `json:"required"`
}

// typeName returns the schema's type: its "type", or the first one other
// than "null" of a list of types; "" when it has none.
func (s *jsonSchema) typeName() string {
	if len(s.Type) == 0 {
		return ""
	}
	var one string
	if json.Unmarshal(s.Type, &one) == nil {
		return one
	}
	var many []string
	if json.Unmarshal(s.Type, &many) == nil {
		for _, t := range many {
			if t != "null" {
				return t
			}
		}
	}
	return ""
}

// argFields returns the fields of the try-a-tool form of a tool whose
// input schema is schema (a JSON Schema object), in the order of its
// properties: strings as text inputs (an enum, of any type, as a select),
// integers and numbers as number inputs bounded by minimum and maximum,
// booleans as checkboxes, and objects, arrays and untyped properties as
// JSON textareas. An empty schema has no fields; one that is not a JSON
// object is an error.
func argFields(schema json.RawMessage) ([]argField, error) {
	if len(bytes.TrimSpace(schema)) == 0 {
		return nil, nil
	}
	var root jsonSchema
	if err := json.Unmarshal(schema, &root); err != nil {
		return nil, fmt.Errorf("mcp: the input schema: %w", err)
	}
	names, err := objectKeys(root.Properties)
	if err != nil {
		return nil, fmt.Errorf("mcp: the input schema's properties: %w", err)
	}
	var props map[string]json.RawMessage
	if len(names) > 0 {
		if err := json.Unmarshal(root.Properties, &props); err != nil {
			return nil, fmt.Errorf("mcp: the input schema's properties: %w", err)
		}
	}
	required := map[string]bool{}
	for _, n := range root.Required {
		required[n] = true
	}
	out := make([]argField, 0, len(names))
	for _, name := range names {
		var p jsonSchema
		if err := json.Unmarshal(props[name], &p); err != nil {
			return nil, fmt.Errorf("mcp: the input schema's property %q: %w", name, err)
		}
		out = append(out, newArgField(name, &p, required[name]))
	}
	return out, nil
}

// newArgField returns the field of property name, described by p.
func newArgField(name string, p *jsonSchema, required bool) argField {
	f := argField{Name: name, Type: p.typeName(), Required: required, Description: p.Description}
	if f.Description == "" {
		f.Description = p.Title
	}
	var def any
	if len(p.Default) > 0 && string(p.Default) != "null" && json.Unmarshal(p.Default, &def) == nil {
		f.HasDefault = true
	}
	switch {
	case len(p.Enum) > 0:
		f.Kind = inputSelect
		for _, v := range p.Enum {
			f.Enum = append(f.Enum, enumOption{Label: label(v), Value: v})
		}
		if f.HasDefault {
			f.Default = label(def)
		}
	case f.Type == "string":
		f.Kind = inputText
		if s, ok := def.(string); ok {
			f.Default = s
		}
	case f.Type == "integer" || f.Type == "number":
		f.Kind = inputNumber
		if n, ok := def.(float64); ok {
			f.Default = formatNumber(n)
		}
		if p.Minimum != nil {
			f.Min = formatNumber(*p.Minimum)
		}
		if p.Maximum != nil {
			f.Max = formatNumber(*p.Maximum)
		}
	case f.Type == "boolean":
		f.Kind = inputCheckbox
		f.Checked, _ = def.(bool)
	default: // object, array, or no type at all
		f.Kind = inputJSON
		if f.HasDefault {
			b, _ := json.MarshalIndent(def, "", "  ")
			f.Default = string(b)
		}
	}
	return f
}

// label returns the text an enum value is shown and sent as: a string as
// it is, anything else as its JSON.
func label(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// formatNumber writes n without an exponent or trailing zeros.
func formatNumber(n float64) string { return strconv.FormatFloat(n, 'f', -1, 64) }

// objectKeys returns the keys of the JSON object raw in their order
// (Go's maps forget it, and a form should follow the schema); none for
// an empty raw or null.
func objectKeys(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// parseArgs reads the arguments of a try-a-tool form back into the JSON
// values the tool expects: integers as int64, numbers as float64,
// booleans as true or false, an enum's option as the value it stands
// for, and JSON textareas decoded (an object or an array checked as
// such). An empty input is left out, and so is an unchecked checkbox of
// an optional boolean without a default (a checkbox cannot tell false
// from "not given"). It returns the errors by field name (the input's
// name) when a value does not fit; the arguments are then incomplete.
func parseArgs(fields []argField, form url.Values) (map[string]any, web.FieldErrors) {
	args := map[string]any{}
	errs := web.FieldErrors{}
	for _, f := range fields {
		key := f.InputName()
		raw := form.Get(key)
		if f.Kind == inputCheckbox {
			on := raw != ""
			if on || f.Required || f.HasDefault {
				args[f.Name] = on
			}
			continue
		}
		if f.Kind != inputJSON {
			raw = strings.TrimSpace(raw)
		}
		if strings.TrimSpace(raw) == "" {
			if f.Required {
				errs[key] = f.Name + " is required"
			}
			continue
		}
		v, err := f.parse(raw)
		if err != nil {
			errs[key] = err.Error()
			continue
		}
		args[f.Name] = v
	}
	if len(errs) == 0 {
		errs = nil
	}
	return args, errs
}

// parse converts raw, the non-empty text of f's input, to its value.
func (f argField) parse(raw string) (any, error) {
	switch f.Kind {
	case inputSelect:
		for _, o := range f.Enum {
			if o.Label == raw {
				return o.Value, nil
			}
		}
		return nil, fmt.Errorf("%s must be one of the listed values", f.Name)
	case inputNumber:
		var v any
		var n float64
		if f.Type == "integer" {
			i, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s must be a whole number", f.Name)
			}
			v, n = i, float64(i)
		} else {
			x, err := strconv.ParseFloat(raw, 64)
			if err != nil {
				return nil, fmt.Errorf("%s must be a number", f.Name)
			}
			v, n = x, x
		}
		if lo, err := strconv.ParseFloat(f.Min, 64); err == nil && n < lo {
			return nil, fmt.Errorf("%s must be at least %s", f.Name, f.Min)
		}
		if hi, err := strconv.ParseFloat(f.Max, 64); err == nil && n > hi {
			return nil, fmt.Errorf("%s must be at most %s", f.Name, f.Max)
		}
		return v, nil
	case inputJSON:
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("%s must be JSON", f.Name)
		}
		switch _, isObject := v.(map[string]any); {
		case f.Type == "object" && !isObject:
			return nil, fmt.Errorf("%s must be a JSON object", f.Name)
		case f.Type == "array":
			if _, ok := v.([]any); !ok {
				return nil, fmt.Errorf("%s must be a JSON array", f.Name)
			}
		}
		return v, nil
	}
	return raw, nil
}
