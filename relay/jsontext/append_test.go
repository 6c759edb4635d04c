package jsontext

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

var appendCases = []string{
	"", "plain", "quote \" backslash \\ slash /", "lines\nand\ttabs\r\n", "\x00\x01\x1f\x7f control",
	"é ü 中文 日本 🎉", "\u2028\u2029", "q\"b\\s/", "\x00\x01\x1f\t\r\n", "<html>&</html>", "bad utf8 \xff\xfe", "\xe0\x80", "<html>&amp;</html>",
	"eight by", "sixteen bytes ok", "a long run of plain ASCII text that is longer than a word\"", strings.Repeat("x", 100) + "\n",
}

// TestAppendString checks that AppendString writes what encoding/json
// reads back as the string (invalid UTF-8 as U+FFFD), in the form
// encoding/json writes without its HTML escaping (but for \b and \f).
func TestAppendString(t *testing.T) {
	for _, s := range appendCases {
		t.Run("", func(t *testing.T) { checkAppend(t, s) })
	}
}

func checkAppend(t *testing.T, s string) {
	t.Helper()
	b := AppendString([]byte("x"), s)
	if b[0] != 'x' {
		t.Fatalf("AppendString(%q) changed the buffer", s)
	}
	b = b[1:]
	var got string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("AppendString(%q) = %s: %v", s, b, err)
	}
	if want := strings.ToValidUTF8(s, "\ufffd"); got != want && got != fffd(s) {
		t.Fatalf("AppendString(%q) = %s reads back as %q", s, b, got)
	}
	var w strings.Builder
	enc := json.NewEncoder(&w)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	// encoding/json writes \b and \f short since Go 1.22; the appenders
	// write them as \u0008 and \u000c, as the gateway always did.
	if want := strings.TrimSuffix(w.String(), "\n"); string(b) != want && utf8.ValidString(s) && !strings.ContainsAny(s, "\b\f") {
		t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, b, want)
	}
	if e := AppendEscaped(nil, s); string(e) != string(b[1:len(b)-1]) {
		t.Fatalf("AppendEscaped(%q) = %s, want the inside of %s", s, e, b)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range appendCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkAppend(t, s) })
}

func TestAppendNoAllocs(t *testing.T) {
	b := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		b = AppendString(b[:0], "a \"quoted\" text with a new line\n and é")
		b = AppendFloat(b, 0.25)
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

func TestAppendFloat(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{{0, "0"}, {1, "1"}, {-0.5, "-0.5"}, {0.1, "0.1"}, {1e21, "1e+21"}, {123456789, "1.23456789e+08"}, {math.SmallestNonzeroFloat64, "5e-324"}} {
		got := string(AppendFloat(nil, tt.f))
		if got != tt.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", tt.f, got, tt.want)
		}
		var back float64
		if err := json.Unmarshal([]byte(got), &back); err != nil || back != tt.f {
			t.Errorf("AppendFloat(%v) = %s reads back as %v, %v", tt.f, got, back, err)
		}
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		raw          string
		unquote      string
		n            int64
		isInt        bool
		f            float64
		isFloat, val bool
	}{
		{raw: `""`, val: true},
		{raw: `"plain"`, unquote: "plain", val: true},
		{raw: `"a\"b\\c\/d\b\f\n\r\t"`, unquote: "a\"b\\c/d\b\f\n\r\t", val: true},
		{raw: `"\u00e9\u2028"`, unquote: "é\u2028", val: true},
		{raw: `"\ud83c\udf89"`, unquote: "🎉", val: true},
		{raw: `"\ud83c"`, unquote: "\ufffd", val: true},
		{raw: `"\udf89x"`, unquote: "\ufffdx", val: true},
		{raw: `"日本"`, unquote: "日本", val: true},
		{raw: `12`, n: 12, isInt: true, f: 12, isFloat: true, val: true},
		{raw: `-3`, n: -3, isInt: true, f: -3, isFloat: true, val: true},
		{raw: `1e3`, n: 1000, isInt: true, f: 1000, isFloat: true, val: true},
		{raw: `2.9`, n: 2, isInt: true, f: 2.9, isFloat: true, val: true},
		{raw: `1e400`, n: math.MaxInt64, isInt: true, val: true},
		{raw: `-1e400`, n: math.MinInt64, isInt: true, val: true},
		{raw: `"1"`, unquote: "1", val: true},
		{raw: `null`, val: true},
		{raw: `[1]`, val: true},
		{raw: `1x`},
		{raw: `"\u12"`, unquote: ""},
		{raw: `"`},
		{raw: ``},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := Unquote(tt.raw); got != tt.unquote {
				t.Errorf("Unquote = %q, want %q", got, tt.unquote)
			}
			if got := UnquoteClone(tt.raw); got != tt.unquote {
				t.Errorf("UnquoteClone = %q, want %q", got, tt.unquote)
			}
			if got := string(AppendUnquote([]byte("x"), tt.raw)); got != "x"+tt.unquote {
				t.Errorf("AppendUnquote = %q", got)
			}
			if n, ok := Int(tt.raw); n != tt.n || ok != tt.isInt {
				t.Errorf("Int = %d %v, want %d %v", n, ok, tt.n, tt.isInt)
			}
			if f, ok := Float(tt.raw); f != tt.f && ok || ok != tt.isFloat {
				t.Errorf("Float = %v %v, want %v %v", f, ok, tt.f, tt.isFloat)
			}
			if got := Valid(tt.raw); got != tt.val {
				t.Errorf("Valid = %v, want %v", got, tt.val)
			}
		})
	}
}

// TestUnquoteShares checks that Unquote views strings without escapes
// and that UnquoteClone copies them.
func TestUnquoteShares(t *testing.T) {
	raw := `"plain"`
	if got := Unquote(raw); unsafeData(got) != unsafeData(raw[1:]) {
		t.Error("Unquote copied a string without escapes")
	}
	if got := UnquoteClone(raw); unsafeData(got) == unsafeData(raw[1:]) {
		t.Error("UnquoteClone shares memory")
	}
	if n := testing.AllocsPerRun(100, func() { Unquote(raw) }); n != 0 {
		t.Errorf("Unquote allocates %v times", n)
	}
}
