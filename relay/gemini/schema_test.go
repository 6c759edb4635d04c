package gemini

import (
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
)

func TestSchemaToJSONSchema(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"type":"OBJECT","properties":{"a":{"type":"STRING"}},"required":["a"]}`, `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`},
		{`{"type":"string"}`, `{"type":"string"}`},
		{`{"type":"TYPE_UNSPECIFIED","description":"d"}`, `{"description":"d"}`},
		{`{"type":"CUSTOM"}`, `{"type":"CUSTOM"}`},
		{`{"type":"STRING","nullable":true}`, `{"type":["string","null"]}`},
		{`{"type":"NULL","nullable":true}`, `{"type":"null"}`},
		{`{"type":"STRING","format":"enum","enum":["a","b"],"nullable":true}`, `{"type":["string","null"],"enum":["a","b",null]}`},
		{`{"type":"STRING","enum":["a",null],"nullable":true}`, `{"type":["string","null"],"enum":["a",null]}`},
		{`{"nullable":true,"anyOf":[{"type":"INTEGER"}]}`, `{"anyOf":[{"type":"integer"},{"type":"null"}]}`},
		{`{"nullable":true,"any_of":[]}`, `{"anyOf":[{"type":"null"}]}`},
		{`{"nullable":false,"type":"BOOLEAN"}`, `{"type":"boolean"}`},
		{`{"type":"ARRAY","items":{"type":"NUMBER","format":"double"},"min_items":"1","maxItems":3}`, `{"type":"array","items":{"type":"number","format":"double"},"minItems":1,"maxItems":3}`},
		{`{"type":"INTEGER","minimum":"0","maximum":1e3,"example":5}`, `{"type":"integer","minimum":0,"maximum":1e3,"examples":[5]}`},
		{`{"type":"OBJECT","propertyOrdering":["b","a"],"properties":{"b":{"type":"STRING"},"a":{"type":"STRING"}}}`, `{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"string"}}}`},
		{`{"$ref":"#/$defs/x","additionalProperties":false,"title":"T","default":{"a":1}}`, `{"$ref":"#/$defs/x","additionalProperties":false,"title":"T","default":{"a":1}}`},
		{` { "type" : "STRING" } `, `{"type":"string"}`},
	}
	for _, tt := range tests {
		got, err := SchemaToJSONSchema([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("SchemaToJSONSchema(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{`[]`, `"x"`, `{"properties":{"a":1}}`, `{"items":{"properties":{"a":"x"}}}`, `{"anyOf":[1]}`, `{`} {
		if _, err := SchemaToJSONSchema([]byte(in)); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("SchemaToJSONSchema(%s): err = %v, want EINVALID", in, err)
		}
	}
}

// The Google SDKs write upper-case type names in JSON Schema too (Gemini
// CLI's responseJsonSchema): they come out lower case, keywords that hold
// subschemas are followed, and a property named "type" is not touched.
func TestLowerJSONSchemaTypes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"type":"object","properties":{"a":{"type":"string"}}}`, `{"type":"object","properties":{"a":{"type":"string"}}}`},
		{`{"type":"OBJECT","properties":{"type":{"type":"STRING","enum":["OBJECT"]},"n":{"type":["INTEGER","NULL"]}},"required":["type"]}`,
			`{"type":"object","properties":{"type":{"type":"string","enum":["OBJECT"]},"n":{"type":["integer","null"]}},"required":["type"]}`},
		{`{"type":"ARRAY","items":{"anyOf":[{"type":"NUMBER"},{"type":"BOOLEAN"}]},"$defs":{"x":{"type":"OBJECT","additionalProperties":{"type":"STRING"}}}}`,
			`{"type":"array","items":{"anyOf":[{"type":"number"},{"type":"boolean"}]},"$defs":{"x":{"type":"object","additionalProperties":{"type":"string"}}}}`},
		{`{"description":"OBJECT","type":"thing"}`, `{"description":"OBJECT","type":"thing"}`},
	} {
		got, err := LowerJSONSchemaTypes(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("LowerJSONSchemaTypes(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	deep := strings.Repeat(`{"items":`, 70) + `{"type":"STRING"}` + strings.Repeat(`}`, 70)
	if _, err := LowerJSONSchemaTypes(deep); err == nil {
		t.Error("a schema nested 70 deep was followed")
	}
}
