package gemini

import (
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
