package openai

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanValid reports whether the scanner reads b as one JSON value.
func scanValid(b []byte) bool {
	s := scanner{b: b}
	s.skip()
	return s.end()
}

var scanCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+3`, `-12.25E-2`, `true`, `false`, `null`,
	` { "a" : [ 1 , 2 , { "b" : null } ] , "c" : "d" } `,
	`{"a":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`,
	`"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"\u0000"`, "\"\xff\"",
	// invalid
	``, ` `, `{`, `}`, `[1,]`, `{,}`, `{"a" 1}`, `{"a":1,}`, `{"a":1 "b":2}`, `[1 2]`, `01`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`,
	`"\u12"`, `"\x"`, "\"a\tb\"", `"abc`, `tru`, `nul`, `falsey`, `{"a":1}x`, `{1:2}`, `[`, `"\`,
	`[` + strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth+1),
}

func TestScanner(t *testing.T) {
	for _, in := range scanCases {
		b := []byte(in)
		if got, want := scanValid(b), json.Valid(b) && strings.Count(in, "[") <= maxDepth; got != want {
			t.Errorf("valid(%q) = %v, want %v", in, got, want)
		}
		if len(in) > 0 && in[0] == '"' && json.Valid(b) && utf8.ValidString(in) {
			var want string
			json.Unmarshal(b, &want)
			s := scanner{b: b}
			if got := s.str(); got != want || !s.end() {
				t.Errorf("str(%q) = %q, want %q", in, got, want)
			}
		}
	}
	s := scanner{b: []byte(`{"a":"plain","b":"es\"caped"}`)}
	s.open('{')
	var got []string
	for n := 0; s.more('}', &n); {
		got = append(got, s.key(), s.str())
	}
	if strings.Join(got, "|") != `a|plain|b|es"caped` || !s.end() {
		t.Fatalf("read %q", got)
	}
	s = scanner{b: []byte(`[1, 2.9, -3, "x", null, 1e3, 99999999999999999999]`)}
	s.open('[')
	var ns []int64
	for n := 0; s.more(']', &n); {
		v, _ := s.integer()
		ns = append(ns, v)
	}
	if want := []int64{1, 2, -3, 0, 0, 1000, 1<<63 - 1}; !equalInts(ns, want) {
		t.Fatalf("integers %v, want %v", ns, want)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzScanner checks the scanner against encoding/json: the same values
// are valid, and strings read the same.
func FuzzScanner(f *testing.F) {
	for _, in := range scanCases {
		f.Add([]byte(in))
	}
	seed(f, "testdata/convert/request_*.json", "testdata/convert/response_*.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > maxDepth {
			return // deeper than the scanner reads; encoding/json reads 10000 levels
		}
		valid := json.Valid(b)
		if got := scanValid(b); got != valid {
			t.Fatalf("scanner says valid %v, encoding/json %v: %q", got, valid, b)
		}
		if valid && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte(`"`)) && utf8.Valid(b) {
			var want string
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			s := scanner{b: b}
			if got := s.str(); got != want {
				t.Fatalf("str(%q) = %q, want %q", b, got, want)
			}
		}
	})
}
