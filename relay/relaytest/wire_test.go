package relaytest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"   ", 0},
		{"one", 1},
		{" one  two\tthree\n", 3},
		{"héllo wörld", 2},
		{"a\u00a0b", 2}, // no-break space is a space
	} {
		if got := Tokens(tt.in); got != tt.want {
			t.Errorf("Tokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tt := range []struct {
		text string
		n    int
		want []string
	}{
		{"", 0, nil},
		{"", 2, []string{"", ""}},
		{"Hello! You said: hi", 0, []string{"Hello!", " You", " said:", " hi"}},
		{" lead and trail ", 0, []string{" lead", " and", " trail "}},
		{"   ", 0, []string{"   "}},
		{"a b c d e", 2, []string{"a b", " c d e"}},
		{"a b c d e", 5, []string{"a", " b", " c", " d", " e"}},
		{"ab cd", 4, []string{"a", "b", " ", "cd"}},
		{"héllo", 3, []string{"h", "él", "lo"}},
		{"hi", 4, []string{"h", "i", "", ""}},
	} {
		if got := split(tt.text, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("split(%q, %d) = %q, want %q", tt.text, tt.n, got, tt.want)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("Hello! You said: hi", 0)
	f.Add("  a  b  ", 3)
	f.Add("日本語 テキスト", 7)
	f.Fuzz(func(t *testing.T, text string, n int) {
		n %= 64
		got := split(text, n)
		if joined := strings.Join(got, ""); joined != text {
			t.Errorf("split(%q, %d) joins to %q", text, n, joined)
		}
		if n > 0 && len(got) != n {
			t.Errorf("split(%q, %d) made %d pieces", text, n, len(got))
		}
		if n <= 0 && text != "" && len(got) != max(1, Tokens(text)) {
			t.Errorf("split(%q, %d) made %d pieces for %d words", text, n, len(got), Tokens(text))
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ slash`, "ctl \x00\x01\x1f\t\r\n", "bad \xff utf8 \xc3", "é ☃ 😀", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var wantS string
		_ = json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Errorf("appendString(%q) decodes to %q, encoding/json gives %q", s, got, wantS)
		}
	})
}

func TestInputs(t *testing.T) {
	for _, tt := range []struct {
		json string
		want []int64 // token count of each input
	}{
		{`null`, nil},
		{`"two words"`, []int64{2}},
		{`["a", "b c"]`, []int64{1, 2}},
		{`[1, 2, 3]`, []int64{3}},
		{`[[1], [2, 3]]`, []int64{1, 2}},
		{`[]`, []int64{}},
	} {
		var in inputs
		if err := json.Unmarshal([]byte(tt.json), &in); err != nil {
			t.Errorf("%s: %v", tt.json, err)
			continue
		}
		var got []int64
		if in != nil {
			got = []int64{}
		}
		for _, i := range in {
			got = append(got, i.count())
		}
		if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("%s: counts %v, want %v", tt.json, got, tt.want)
		}
	}
	var in inputs
	if err := json.Unmarshal([]byte(`{"x":1}`), &in); err == nil {
		t.Error("an object decoded as inputs")
	}
}

func TestTextContent(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`"hi"`, "hi"},
		{`null`, ""},
		{`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]`, "a b"},
	} {
		var c textContent
		if err := json.Unmarshal([]byte(tt.json), &c); err != nil || string(c) != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.json, c, err, tt.want)
		}
	}
}
