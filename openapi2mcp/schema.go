package openapi2mcp

import (
	"cmp"
	"maps"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
)

// maxSchemaDepth bounds how deep a tool's input schema nests; deeper
// levels (and recursive schemas, at their first repetition) are written
// as an empty schema, which accepts anything: the arguments are still
// validated against the spec's full schema before a call.
const maxSchemaDepth = 24

// jsonSchema turns a resolved OpenAPI schema into a self-contained JSON
// Schema (2020-12 keywords, no $ref), keeping types, formats, enums,
// defaults, examples, bounds, required lists, nested objects and arrays and
// descriptions. Read-only properties are left out: they are not sent in
// requests. OpenAPI 3.0's nullable becomes a "null" type.
func jsonSchema(ref *openapi3.SchemaRef) map[string]any {
	return (&schemaWriter{seen: map[*openapi3.Schema]bool{}}).write(ref, 0)
}

type schemaWriter struct {
	seen map[*openapi3.Schema]bool // schemas on the current path, to cut cycles
}

func (w *schemaWriter) write(ref *openapi3.SchemaRef, depth int) map[string]any {
	out := map[string]any{}
	if ref == nil || ref.Value == nil {
		return out
	}
	s := ref.Value
	if s.Always != nil {
		if !*s.Always {
			out["not"] = map[string]any{}
		}
		return out
	}
	if w.seen[s] || depth > maxSchemaDepth {
		if s.Description != "" {
			out["description"] = s.Description
		}
		return out
	}
	w.seen[s] = true
	defer delete(w.seen, s)

	if s.Type != nil && len(*s.Type) > 0 {
		types := slices.Clone([]string(*s.Type))
		if s.Nullable && !slices.Contains(types, "null") {
			types = append(types, "null")
		}
		if len(types) == 1 {
			out["type"] = types[0]
		} else {
			out["type"] = types
		}
	}
	setString(out, "title", s.Title)
	setString(out, "format", s.Format)
	setString(out, "description", s.Description)
	setString(out, "pattern", s.Pattern)
	setString(out, "contentMediaType", s.ContentMediaType)
	setString(out, "contentEncoding", s.ContentEncoding)
	if len(s.Enum) > 0 {
		out["enum"] = s.Enum
	}
	if s.Const != nil {
		out["const"] = s.Const
	}
	if s.Default != nil {
		out["default"] = s.Default
	}
	if len(s.Examples) > 0 {
		out["examples"] = s.Examples
	} else if s.Example != nil {
		out["examples"] = []any{s.Example}
	}
	if s.Deprecated {
		out["deprecated"] = true
	}
	if s.WriteOnly {
		out["writeOnly"] = true
	}

	// Numbers: OpenAPI 3.0's boolean exclusive bounds become 2020-12's
	// numeric ones.
	if s.Min != nil {
		if s.ExclusiveMin.IsTrue() {
			out["exclusiveMinimum"] = *s.Min
		} else {
			out["minimum"] = *s.Min
		}
	}
	if s.Max != nil {
		if s.ExclusiveMax.IsTrue() {
			out["exclusiveMaximum"] = *s.Max
		} else {
			out["maximum"] = *s.Max
		}
	}
	if v := s.ExclusiveMin.Value; v != nil {
		out["exclusiveMinimum"] = *v
	}
	if v := s.ExclusiveMax.Value; v != nil {
		out["exclusiveMaximum"] = *v
	}
	if s.MultipleOf != nil {
		out["multipleOf"] = *s.MultipleOf
	}

	if s.MinLength > 0 {
		out["minLength"] = s.MinLength
	}
	if s.MaxLength != nil {
		out["maxLength"] = *s.MaxLength
	}

	if s.Items != nil {
		out["items"] = w.write(s.Items, depth+1)
	}
	if len(s.PrefixItems) > 0 {
		out["prefixItems"] = w.writeAll(s.PrefixItems, depth)
	}
	if s.MinItems > 0 {
		out["minItems"] = s.MinItems
	}
	if s.MaxItems != nil {
		out["maxItems"] = *s.MaxItems
	}
	if s.UniqueItems {
		out["uniqueItems"] = true
	}

	if len(s.Properties) > 0 {
		props := map[string]any{}
		readOnly := map[string]bool{}
		for name, p := range s.Properties {
			if p != nil && p.Value != nil && p.Value.ReadOnly {
				readOnly[name] = true
				continue
			}
			props[name] = w.write(p, depth+1)
		}
		out["properties"] = props
		var req []string
		for _, name := range s.Required {
			if !readOnly[name] {
				req = append(req, name)
			}
		}
		if len(req) > 0 {
			out["required"] = req
		}
	} else if len(s.Required) > 0 {
		out["required"] = s.Required
	}
	if s.MinProps > 0 {
		out["minProperties"] = s.MinProps
	}
	if s.MaxProps != nil {
		out["maxProperties"] = *s.MaxProps
	}
	if ap := s.AdditionalProperties; ap.Schema != nil {
		out["additionalProperties"] = w.write(ap.Schema, depth+1)
	} else if ap.Has != nil {
		out["additionalProperties"] = *ap.Has
	}

	if len(s.OneOf) > 0 {
		out["oneOf"] = w.writeAll(s.OneOf, depth)
	}
	if len(s.AnyOf) > 0 {
		out["anyOf"] = w.writeAll(s.AnyOf, depth)
	}
	if len(s.AllOf) > 0 {
		out["allOf"] = w.writeAll(s.AllOf, depth)
	}
	if s.Not != nil {
		out["not"] = w.write(s.Not, depth+1)
	}
	return out
}

func (w *schemaWriter) writeAll(refs openapi3.SchemaRefs, depth int) []any {
	out := make([]any, 0, len(refs))
	for _, r := range refs {
		out = append(out, w.write(r, depth+1))
	}
	return out
}

func setString(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	return slices.Sorted(maps.Keys(m))
}
