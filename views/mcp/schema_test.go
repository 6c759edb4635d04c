package mcp

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
)

const testSchema = `{
	"type": "object",
	"properties": {
		"city": {"type": "string", "description": "The city.", "default": "Paris"},
		"days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 3},
		"ratio": {"type": ["number", "null"]},
		"unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
		"level": {"type": "integer", "enum": [1, 2, 3]},
		"verbose": {"type": "boolean", "default": true},
		"dry": {"type": "boolean"},
		"filter": {"type": "object", "properties": {"tag": {"type": "string"}}, "default": {"tag": "a"}},
		"ids": {"type": "array", "items": {"type": "integer"}},
		"any": {}
	},
	"required": ["city", "days"]
}`

// TestArgFields: each property becomes the control of its type, in the
// schema's order, with its default, bounds and required mark.
func TestArgFields(t *testing.T) {
	fields, err := argFields(json.RawMessage(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		name     string
		kind     inputKind
		required bool
		def      string
		checked  bool
		min, max string
		enum     []string
	}
	wants := []want{
		{name: "city", kind: inputText, required: true, def: "Paris"},
		{name: "days", kind: inputNumber, required: true, def: "3", min: "1", max: "14"},
		{name: "ratio", kind: inputNumber},
		{name: "unit", kind: inputSelect, def: "c", enum: []string{"c", "f"}},
		{name: "level", kind: inputSelect, enum: []string{"1", "2", "3"}},
		{name: "verbose", kind: inputCheckbox, checked: true},
		{name: "dry", kind: inputCheckbox},
		{name: "filter", kind: inputJSON, def: "{\n  \"tag\": \"a\"\n}"},
		{name: "ids", kind: inputJSON},
		{name: "any", kind: inputJSON},
	}
	if len(fields) != len(wants) {
		t.Fatalf("%d fields, want %d", len(fields), len(wants))
	}
	for i, w := range wants {
		t.Run(w.name, func(t *testing.T) {
			f := fields[i]
			var enum []string
			for _, o := range f.Enum {
				enum = append(enum, o.Label)
			}
			got := want{name: f.Name, kind: f.Kind, required: f.Required, def: f.Default, checked: f.Checked, min: f.Min, max: f.Max, enum: enum}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("got %+v, want %+v", got, w)
			}
		})
	}
	if fields[0].Description != "The city." {
		t.Errorf("description %q", fields[0].Description)
	}
}

func TestArgFieldsEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		schema  string
		n       int
		wantErr bool
	}{
		{"empty", ``, 0, false},
		{"no properties", `{"type":"object"}`, 0, false},
		{"null properties", `{"type":"object","properties":null}`, 0, false},
		{"not JSON", `{`, 0, true},
		{"properties not an object", `{"properties":[1]}`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, err := argFields(json.RawMessage(tt.schema))
			if (err != nil) != tt.wantErr || len(fields) != tt.n {
				t.Errorf("got %d fields, %v; want %d, error %v", len(fields), err, tt.n, tt.wantErr)
			}
		})
	}
}

// TestParseArgs: the submitted strings become the JSON types of the
// schema, and values that do not fit are refused beside their input.
func TestParseArgs(t *testing.T) {
	fields, err := argFields(json.RawMessage(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		form url.Values
		want map[string]any
		errs map[string]string
	}{
		{
			name: "every type",
			form: url.Values{"arg.city": {" Lyon "}, "arg.days": {"7"}, "arg.ratio": {"0.5"}, "arg.unit": {"f"}, "arg.level": {"2"},
				"arg.verbose": {"true"}, "arg.dry": {"true"}, "arg.filter": {`{"tag":"b"}`}, "arg.ids": {"[1,2]"}, "arg.any": {`"x"`}},
			want: map[string]any{"city": "Lyon", "days": int64(7), "ratio": 0.5, "unit": "f", "level": float64(2),
				"verbose": true, "dry": true, "filter": map[string]any{"tag": "b"}, "ids": []any{float64(1), float64(2)}, "any": "x"},
		},
		{
			name: "empty optional values left out; unchecked boolean with a default is false",
			form: url.Values{"arg.city": {"Lyon"}, "arg.days": {"1"}, "arg.unit": {""}, "arg.filter": {"  "}},
			want: map[string]any{"city": "Lyon", "days": int64(1), "verbose": false},
		},
		{
			name: "required missing",
			form: url.Values{},
			errs: map[string]string{"arg.city": "city is required", "arg.days": "days is required"},
		},
		{
			name: "not whole, out of range, not in the enum, not an object, not an array, not JSON",
			form: url.Values{"arg.city": {"x"}, "arg.days": {"2.5"}, "arg.ratio": {"abc"}, "arg.unit": {"k"},
				"arg.filter": {"[1]"}, "arg.ids": {"{}"}, "arg.any": {"{"}},
			errs: map[string]string{"arg.days": "days must be a whole number", "arg.ratio": "ratio must be a number",
				"arg.unit": "unit must be one of the listed values", "arg.filter": "filter must be a JSON object",
				"arg.ids": "ids must be a JSON array", "arg.any": "any must be JSON"},
		},
		{
			name: "above the maximum",
			form: url.Values{"arg.city": {"x"}, "arg.days": {"15"}},
			errs: map[string]string{"arg.days": "days must be at most 14"},
		},
		{
			name: "below the minimum",
			form: url.Values{"arg.city": {"x"}, "arg.days": {"0"}},
			errs: map[string]string{"arg.days": "days must be at least 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, errs := parseArgs(fields, tt.form)
			if len(tt.errs) > 0 || len(errs) > 0 {
				if !reflect.DeepEqual(map[string]string(errs), tt.errs) {
					t.Errorf("errors %v, want %v", errs, tt.errs)
				}
				return
			}
			if !reflect.DeepEqual(args, tt.want) {
				t.Errorf("args %#v, want %#v", args, tt.want)
			}
		})
	}
}
