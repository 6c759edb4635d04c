package jsontext

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanCases are the table cases of the scanners this package replaces,
// valid and malformed; the tests compare them with encoding/json.
var scanCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `12`, `1.5e+3`, `1.5E3`, `-0.5e+10`, `-12.25E-2`, `true`, `false`, `null`, `"x"`,
	` { } `, ` { "a" : [ 1 , 2 , { "b" : null } ] , "c" : "d" } `,
	`{"a":1}`, `{"a":[]}`, `{"a":[ ]}`, `{"a":{}}`, `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`,
	`{"a":-0.5e+3,"b":[1,"x",{"c":null}],"d":true,"e":false}`,
	`{"a":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, `"\u00e9\ud83c\udf89 \n\t\"\\\/"`,
	`"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"\ud83d\u0041"`, `"\u0000"`, "\"\xff\"", "{\"a\":\"\xff\"}",
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\u00e9\n"}}`,
	`{"a":[1,{"b":null}],"c":-1.5e3}`, `{"a":"\ud83c\udf89"}`,
	// malformed
	``, ` `, `   `, `{`, `}`, `[`, `"\`, `[1,]`, `{,}`, `[,1]`, `{,"a":1}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{"a":1,}`,
	`{"a":1 "b":2}`, `[1 2]`, `{"a":[1,]}`, `{"a":[1 2]}`, `01`, `{"a":01}`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`,
	`{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `"\u12"`, `{"a":"\u12"}`, `"\x"`, `"bad \x escape"`, `{"a":"\x"}`,
	"\"a\tb\"", "\"ctrl \x01\"", "{\"a\":\"\n\"}", `"abc`, `"unterminated`, `tru`, `nul`, `falsey`, `{"a":tru}`,
	`{"a":nul}`, `{"a":1}x`, `{"a":1}}`, `[1] 2`, `{1:2}`,
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	`{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`,
}

// depth returns how deeply b nests (brackets outside strings).
func depth(b []byte) int {
	d, deepest, in := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == '{' || c == '['):
			d++
			deepest = max(deepest, d)
		case !in && (c == '}' || c == ']'):
			d--
		}
	}
	return deepest
}

// valid is the scanner's contract: what encoding/json accepts, nested no
// deeper than MaxDepth.
func valid(b []byte) bool { return json.Valid(b) && depth(b) <= MaxDepth }

// sameText reports whether a and b are the same text once each byte of
// invalid UTF-8 is read as U+FFFD, as encoding/json reads it (the scanner
// keeps it).
func sameText(a, b string) bool { return fffd(a) == fffd(b) }

// fffd replaces each invalid byte by U+FFFD, as ranging over a string
// reads them.
func fffd(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// checkScan compares the scanner with encoding/json on in: validity,
// raw values, strings, numbers and the members of objects.
func checkScan(t *testing.T, in []byte) {
	t.Helper()
	want := valid(in)
	var s Scanner
	s.Reset(in)
	s.Skip()
	if got := s.End(); got != want {
		t.Fatalf("Skip+End(%q) = %v, encoding/json %v", in, got, want)
	}
	if got := Valid(string(in)); got != want {
		t.Fatalf("Valid(%q) = %v, want %v", in, got, want)
	}
	s.Reset(in)
	raw := s.Raw()
	if want && (raw != string(bytes.TrimSpace(in)) || !s.End()) {
		t.Fatalf("Raw(%q) = %q", in, raw)
	}
	if !want {
		readTrusted(in)
		return
	}
	v, err := decode(in)
	if err != nil {
		t.Fatal(err)
	}
	switch v := v.(type) {
	case string:
		s.Reset(in)
		if got := s.Str(); !sameText(got, v) || !s.End() {
			t.Fatalf("Str(%q) = %q, encoding/json %q", in, got, v)
		}
		s.Reset(in)
		if got := s.StrClone(); !sameText(got, v) {
			t.Fatalf("StrClone(%q) = %q, want %q", in, got, v)
		}
		s.Reset(in)
		if got := string(s.AppendStr([]byte("x"))); !sameText(got, "x"+v) {
			t.Fatalf("AppendStr(%q) = %q, want %q", in, got, "x"+v)
		}
		if got := Unquote(raw); !sameText(got, v) {
			t.Fatalf("Unquote(%q) = %q, want %q", raw, got, v)
		}
		if got := UnquoteClone(raw); !sameText(got, v) {
			t.Fatalf("UnquoteClone(%q) = %q, want %q", raw, got, v)
		}
		if got := string(AppendUnquote([]byte("x"), raw)); !sameText(got, "x"+v) {
			t.Fatalf("AppendUnquote(%q) = %q", raw, got)
		}
	case json.Number:
		s.Reset(in)
		if got := s.Number(); got != string(v) || !s.End() {
			t.Fatalf("Number(%q) = %q, encoding/json %q", in, got, v)
		}
		want, err := strconv.ParseFloat(string(v), 64)
		if f, ok := Float(raw); ok != (err == nil) || ok && f != want {
			t.Fatalf("Float(%q) = %v %v, want %v %v", raw, f, ok, want, err)
		}
		if _, ok := Int(raw); !ok {
			t.Fatalf("Int(%q) not ok", raw)
		}
	case map[string]any:
		checkMembers(t, in, v)
	}
}

// checkMembers compares the members the scanner reads, checking and
// trusting the text, with those encoding/json reads.
func checkMembers(t *testing.T, in []byte, want map[string]any) {
	t.Helper()
	for _, trusted := range []bool{false, true} {
		var s Scanner
		s.Reset(in)
		if trusted {
			s.Trust()
		}
		if !s.Open('{') {
			t.Fatalf("Open(%q) = false", in)
		}
		got := map[string]any{}
		for n := 0; ; {
			k, raw, ok := s.Member(&n)
			if !ok {
				break
			}
			v, err := decode([]byte(raw))
			if err != nil {
				t.Fatalf("member %q of %q: raw %q: %v", k, in, raw, err)
			}
			got[k] = v
		}
		if !s.End() {
			t.Fatalf("members of %q: not at the end (trusted %v)", in, trusted)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) && utf8.Valid(in) {
			t.Fatalf("members of %q (trusted %v) = %s, encoding/json %s", in, trusted, g, w)
		}
	}
}

// decode decodes b as encoding/json does, numbers as json.Number.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// readTrusted reads malformed text as trusted text, the way field
// readers read it: it must not panic nor loop.
func readTrusted(in []byte) {
	var s Scanner
	s.Reset(in)
	s.Trust()
	if s.Open('{') {
		for n := 0; ; {
			_, raw, ok := s.Member(&n)
			if !ok {
				break
			}
			Unquote(raw)
			UnquoteClone(raw)
			AppendUnquote(nil, raw)
			Int(raw)
			Float(raw)
			var e Scanner
			e.ResetString(raw)
			e.Trust()
			if e.Open('[') {
				for m := 0; ; {
					if _, ok := e.Element(&m); !ok {
						break
					}
				}
			}
		}
	}
	s.Reset(in)
	s.Trust()
	s.Skip()
	s.End()
}

func TestScanner(t *testing.T) {
	for _, in := range scanCases {
		t.Run("", func(t *testing.T) { checkScan(t, []byte(in)) })
	}
}

func TestReader(t *testing.T) {
	var s Scanner
	s.ResetString(`{"a":"plain","b":"es\"caped","n":[1, 2.9, -3, "x", null, 1e3, 99999999999999999999, -1e30],"t":true,"f":false,"o":{"x":1}}`)
	if !s.Open('{') {
		t.Fatal("Open")
	}
	var keys, strs []string
	var ints []int64
	var bools []bool
	for n := 0; s.More('}', &n); {
		k := s.Key()
		keys = append(keys, k)
		switch k {
		case "a", "b":
			strs = append(strs, s.Str())
		case "n":
			if !s.Enter('[') {
				t.Fatal("Enter")
			}
			for m := 0; s.More(']', &m); {
				v, _ := s.Int()
				ints = append(ints, v)
			}
		case "t", "f":
			bools = append(bools, s.Bool())
		case "o":
			if s.Enter('[') {
				t.Fatal("Enter('[') on an object")
			}
		}
	}
	if !s.End() {
		t.Fatal("not at the end")
	}
	if got := strings.Join(keys, ","); got != "a,b,n,t,f,o" {
		t.Errorf("keys %s", got)
	}
	if got := strings.Join(strs, "|"); got != `plain|es"caped` {
		t.Errorf("strings %s", got)
	}
	if want := []int64{1, 2, -3, 0, 0, 1000, 1<<63 - 1, -1 << 63}; !equal(ints, want) {
		t.Errorf("integers %v, want %v", ints, want)
	}
	if len(bools) != 2 || !bools[0] || bools[1] {
		t.Errorf("booleans %v", bools)
	}
}

func equal[T comparable](a, b []T) bool {
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

func TestScannerShape(t *testing.T) {
	tests := []struct {
		name string
		in   string
		read func(s *Scanner) string
		want string
		ok   bool
	}{
		{"Open on another type reads nothing", `"x"`, func(s *Scanner) string {
			if s.Open('{') {
				return "opened"
			}
			return s.Str()
		}, "x", true},
		{"Expect on another type fails", `"x"`, func(s *Scanner) string {
			s.Expect('{')
			return s.Str()
		}, "", false},
		{"Text of a number", `12`, func(s *Scanner) string { return s.Text() }, "", true},
		{"Text of an object", `{"a":"b"}`, func(s *Scanner) string { return s.Text() }, "", true},
		{"Str of a number fails", `12`, func(s *Scanner) string { return s.Str() }, "", false},
		{"Number of a string fails", `"12"`, func(s *Scanner) string { return s.Number() }, "", false},
		{"Int of a string", `"12"`, func(s *Scanner) string {
			if n, ok := s.Int(); n != 0 || ok {
				return "int"
			}
			return ""
		}, "", true},
		{"Bool of null", `null`, func(s *Scanner) string {
			if s.Bool() {
				return "true"
			}
			return ""
		}, "", true},
		{"Key without colon fails", `{"a" 1}`, func(s *Scanner) string {
			s.Open('{')
			n := 0
			s.More('}', &n)
			return s.Key()
		}, "", false},
		{"Raw of malformed", `[1,]`, func(s *Scanner) string { return s.Raw() }, "", false},
		{"Seek within an object", `{"a":1,"b":2}`, func(s *Scanner) string {
			s.Open('{')
			s.Seek(len(`{"a":1`))
			var keys []string
			for n := 1; s.More('}', &n); {
				keys = append(keys, s.Key())
				s.Skip()
			}
			return strings.Join(keys, ",")
		}, "b", true},
		{"Seek out of the text fails", `{}`, func(s *Scanner) string {
			s.Seek(3)
			return ""
		}, "", false},
		{"Input and Offset", ` {"a":[1,2]} `, func(s *Scanner) string {
			s.Open('{')
			n := 0
			s.More('}', &n)
			s.Key()
			s.Peek()
			start := s.Offset()
			s.Skip()
			raw := s.Input()[start:s.Offset()]
			s.More('}', &n)
			return raw
		}, "[1,2]", true},
		{"Trusted skip of a long string", `["` + strings.Repeat(`ab\"`, 40) + `" , 1]`, func(s *Scanner) string {
			s.Trust()
			s.Open('[')
			var raws []string
			for n := 0; ; {
				raw, ok := s.Element(&n)
				if !ok {
					break
				}
				raws = append(raws, raw)
			}
			if len(raws) != 2 || raws[0] != `"`+strings.Repeat(`ab\"`, 40)+`"` {
				return "wrong"
			}
			return raws[1]
		}, "1", true},
		{"Fail", `{}`, func(s *Scanner) string {
			s.Fail()
			return ""
		}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Scanner
			s.ResetString(tt.in)
			if got := tt.read(&s); got != tt.want {
				t.Errorf("read %q, want %q", got, tt.want)
			}
			if ok := s.End(); ok != tt.ok {
				t.Errorf("End() = %v, want %v", ok, tt.ok)
			}
		})
	}
}

func TestZeroScanner(t *testing.T) {
	var s Scanner
	if s.Peek() != 0 || s.Open('{') || s.Str() != "" || s.End() {
		t.Fatal("the zero Scanner reads something")
	}
}

// TestNoAllocs checks that reading strings without escapes, numbers and
// skipped values allocates nothing.
func TestNoAllocs(t *testing.T) {
	in := []byte(`{"model":"gpt","n":12,"skip":{"a":[1,"x\n",{"b":null}]},"text":"plain text"}`)
	var s Scanner
	allocs := testing.AllocsPerRun(100, func() {
		s.Reset(in)
		s.Open('{')
		for n := 0; s.More('}', &n); {
			switch s.Key() {
			case "model", "text":
				_ = s.Str()
			case "n":
				_, _ = s.Int()
			default:
				s.Skip()
			}
		}
		s.End()
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

// FuzzScanner compares the scanner with encoding/json: the same text is
// valid (up to MaxDepth), raw values, strings, numbers and members read
// the same, and reading malformed text as trusted text is safe. Its seeds
// are the table cases, this package's corpus (testdata/fuzz) and the wire
// fixtures of the protocol packages, whose scanners this one replaced.
func FuzzScanner(f *testing.F) {
	for _, in := range scanCases {
		f.Add([]byte(in))
	}
	seedFiles(f, "../openai/testdata/convert/request_*.json", "../openai/testdata/convert/response_*.json")
	seedFiles(f, "../anthropic/testdata/*.json", "../gemini/testdata/*.json")
	seedLines(f, "../gemini/testdata/*.sse", "../anthropic/testdata/*.sse", "../openai/testdata/convert/*.sse")
	f.Fuzz(func(t *testing.T, in []byte) {
		checkScan(t, in)
	})
}

// seedFiles adds the files of patterns to the corpus.
func seedFiles(f *testing.F, patterns ...string) {
	f.Helper()
	for _, file := range globs(f, patterns) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// seedLines adds the data of the server-sent events of the files of
// patterns to the corpus.
func seedLines(f *testing.F, patterns ...string) {
	f.Helper()
	for _, file := range globs(f, patterns) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data:"); ok {
				f.Add([]byte(strings.TrimSpace(data)))
			}
		}
	}
}

func globs(tb testing.TB, patterns []string) []string {
	tb.Helper()
	var files []string
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		if len(m) == 0 {
			tb.Fatalf("no seeds for %s", p)
		}
		files = append(files, m...)
	}
	return files
}
