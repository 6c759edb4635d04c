package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// isJSONObject is the scanner's contract: a well-formed JSON object, not
// nested deeper than maxDepth.
func isJSONObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return json.Valid(b) && len(t) > 0 && t[0] == '{'
}

// depth returns how deep b nests, roughly (brackets outside strings).
func depth(b []byte) int {
	d, max, in := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == '{' || c == '['):
			d++
			if d > max {
				max = d
			}
		case !in && (c == '}' || c == ']'):
			d--
		}
	}
	return max
}

func TestScanner(t *testing.T) {
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":-0.5e+3,"b":[1,"x",{"c":null}],"d":true,"e":false}`, `{"a":"\u00e9\ud83c\udf89\n\"\\\/"}`,
		`{"a":[]}`, `{"a":[ ]}`, `{"a":{}}`, "{\"a\":\"\xff\"}",
		`{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{"a":1 "b":2}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`,
		`{"a":tru}`, `{"a":nul}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\n\"}", `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":1}x`, `[1]`, `"s"`, ``,
		`{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
	} {
		var f fields
		got := f.check([]byte(s))
		want := isJSONObject([]byte(s)) && depth([]byte(s)) <= maxDepth
		if got != want {
			t.Errorf("read(%q) = %v, want %v", s, got, want)
		}
	}
	for _, s := range []string{`""`, `"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u2028"`, `"\ud83c\udf89"`, `"\ud83c"`, `"\udf89x"`, `"日本"`} {
		var want string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatal(err)
		}
		if got := unquote([]byte(s)); got != want {
			t.Errorf("unquote(%s) = %q, want %q", s, got, want)
		}
		if got := string(appendUnquoted([]byte("x"), []byte(s))); got != "x"+want {
			t.Errorf("appendUnquoted(%s) = %q", s, got)
		}
	}
	if unquote([]byte(`12`)) != "" || word([]byte(`null`)) != nil {
		t.Errorf("non-strings")
	}
	for s, want := range map[string]int64{"12": 12, "-3": -3, "1e3": 1000, "2.0": 2} {
		if n, ok := integer([]byte(s)); !ok || n != want {
			t.Errorf("integer(%s) = %d %v", s, n, ok)
		}
	}
	if _, ok := integer([]byte(`"1"`)); ok {
		t.Errorf("integer of a string")
	}
}

// FuzzScanner checks the scanner against encoding/json: it accepts exactly
// the well-formed objects, and reads their strings as encoding/json does.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\u00e9\n"}}`, `{"a":[1,{"b":null}],"c":-1.5e3}`, `{"a":"\ud83c\udf89"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Unchecked reading of any input must be safe.
		var tr fields
		tr.read(b)
		var rf rfields
		rf.read(b)
		for _, v := range [][]byte{tr.typ, tr.delta, tr.text, rf.content, rf.source} {
			unquote(v)
			appendUnquoted(nil, v)
			integer(v)
			if a, ok := newArray(v); ok {
				for _, ok := a.next(); ok; _, ok = a.next() {
				}
			}
		}
		var fl fields
		got := fl.check(b)
		if depth(b) > maxDepth {
			return
		}
		if want := isJSONObject(b); got != want {
			t.Fatalf("read(%q) = %v, encoding/json says %v", b, got, want)
		}
		if !got {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return // duplicate keys and the like
		}
		if v, ok := m["type"]; ok && len(v) > 0 && v[0] == '"' {
			var want string
			if json.Unmarshal(v, &want) == nil && unquote(fl.typ) != want && !strings.ContainsRune(want, '\ufffd') {
				t.Fatalf("unquote(%s) = %q, want %q", fl.typ, unquote(fl.typ), want)
			}
		}
	})
}
