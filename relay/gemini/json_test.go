package gemini

import (
	"encoding/json"
	"testing"
)

var jsonStrings = []string{
	"", "plain", "quote \" backslash \\ slash /", "lines\nand\ttabs\r\n", "\x00\x01\x1f control",
	"é ü 中文 🎉", "\u2028\u2029", "bad utf8 \xff\xfe", "<html>&amp;</html>",
}

func TestAppendString(t *testing.T) {
	for _, s := range jsonStrings {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, b, err)
		}
		want := s
		if s == "bad utf8 \xff\xfe" {
			want = "bad utf8 \ufffd\ufffd"
		}
		if got != want {
			t.Errorf("appendString(%q) reads back as %q", s, got)
		}
	}
}
