package gemini

import (
	"encoding/json"
	"strings"
	"testing"
)

var scanCases = []string{
	`{}`, `[]`, `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `"x"`, `-0.5e+10`, `0`, `12`, `1.5E3`,
	` { "a" : [ 1 , 2 ] } `, `"\u00e9\ud83c\udf89 \n\t\"\\\/"`, `"\ud800"`, `"\ud83d\u0041"`,
	`{"a":1,}`, `[1,]`, `{,}`, `[,1]`, `{"a"}`, `{"a":}`, `{"a" 1}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`,
	`"unterminated`, `"bad \x escape"`, "\"ctrl \x01\"", `tru`, `nul`, `{"a":1}}`, `[1] 2`, ``, `   `,
	`{"a":"\u12"}`, strings.Repeat("[", 600) + strings.Repeat("]", 600),
}

// The scanner accepts what encoding/json accepts (up to its depth bound)
// and reads strings as it does.
func TestScannerMatchesJSON(t *testing.T) {
	for _, in := range scanCases {
		checkScanner(t, in)
	}
}

func checkScanner(t *testing.T, in string) {
	t.Helper()
	var sc scanner
	sc.reset(in)
	sc.skip()
	got := sc.end()
	want := json.Valid([]byte(in))
	if strings.Count(in, "[") > maxDepth {
		want = false
	}
	if got != want {
		t.Fatalf("scanner accepts %q: %v, encoding/json: %v", in, got, want)
	}
	if !want || strings.TrimSpace(in) == "" || strings.TrimSpace(in)[0] != '"' {
		return
	}
	var s string
	json.Unmarshal([]byte(in), &s)
	// Invalid UTF-8 is kept as it is; the encoders' appendString writes
	// it as U+FFFD, as encoding/json reads it.
	valid := func(s string) string {
		var b strings.Builder
		for _, r := range s { // invalid bytes range as U+FFFD, one each
			b.WriteRune(r)
		}
		return b.String()
	}
	same := func(a, b string) bool { return valid(a) == valid(b) }
	sc.reset(in)
	if str := sc.str(); !same(str, s) {
		t.Fatalf("scanner reads %q as %q, encoding/json as %q", in, str, s)
	}
	sc.reset(in)
	if b := sc.appendStr([]byte("x")); !same(string(b), "x"+s) {
		t.Fatalf("appendStr(%q) = %q", in, b)
	}
}

func FuzzScanner(f *testing.F) {
	for _, in := range scanCases {
		f.Add(in)
	}
	seed(f, "*.sse", func(b []byte) {
		for _, line := range strings.Split(string(b), "\n") {
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				f.Add(data)
			}
		}
	})
	f.Fuzz(func(t *testing.T, in string) {
		checkScanner(t, in)
	})
}
