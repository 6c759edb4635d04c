package relay

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/tiktoken-go/tokenizer"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// codecs holds the tokenizers, each loaded on first use: parsing a
// vocabulary takes a while and memory, and most providers report usage.
var codecs sync.Map // tokenizer.Encoding -> func() tokenizer.Codec

// codec returns the tokenizer for model: o200k for current OpenAI models
// and as the default, cl100k for the GPT-3.5/4 family.
func codec(model string) tokenizer.Codec {
	enc := tokenizer.O200kBase
	if strings.HasPrefix(model, "gpt-4-") || model == "gpt-4" || strings.HasPrefix(model, "gpt-3.5") || strings.HasPrefix(model, "text-embedding") {
		enc = tokenizer.Cl100kBase
	}
	if f, ok := codecs.Load(enc); ok { // no closure allocated on the way every request takes
		return f.(func() tokenizer.Codec)()
	}
	f, _ := codecs.LoadOrStore(enc, sync.OnceValue(func() tokenizer.Codec {
		c, err := tokenizer.Get(enc)
		if err != nil {
			panic(err) // only known encodings are asked for
		}
		return c
	}))
	return f.(func() tokenizer.Codec)()
}

// Bounds on exact counting. BPE merging is superlinear in the length of
// one piece, and a piece is a run of text the pre-tokenizer cannot split,
// so a megabyte of one letter would cost seconds: text is counted in
// pieces of at most maxPiece bytes (cut at a space where there is one),
// and text beyond maxExact bytes is estimated at 4 bytes a token.
const (
	maxPiece = 4 << 10
	maxExact = 1 << 20
)

// countTokens returns the number of tokens of s; with a nil c, the
// estimate of estimateTokens.
func countTokens(c tokenizer.Codec, s string) int64 {
	if c == nil {
		return estimateTokens(s)
	}
	var n int64
	if len(s) > maxExact {
		n = int64(len(s)-maxExact) / 4
		s = s[:maxExact]
	}
	for len(s) > 0 {
		piece := s
		if len(piece) > maxPiece {
			cut := strings.LastIndexByte(piece[:maxPiece], ' ')
			if cut <= 0 {
				cut = maxPiece
				for cut > 0 && !utf8.RuneStart(piece[cut]) {
					cut--
				}
			}
			piece = piece[:cut]
		}
		s = s[len(piece):]
		k, err := c.Count(piece)
		if err != nil {
			k = len(piece) / 4
		}
		n += int64(k)
	}
	return n
}

// countUsage estimates the usage of a request whose provider reported
// none: the prompt from the request body, the completion from the text
// generated so far.
func countUsage(mode aiproxy.Mode, model string, body, text []byte) aiproxy.Usage {
	return countUsageWith(codec(model), mode, body, text)
}

// countUsageWith counts with c; a nil c estimates instead (estimateTokens).
func countUsageWith(c tokenizer.Codec, mode aiproxy.Mode, body, text []byte) aiproxy.Usage {
	var u aiproxy.Usage
	switch mode {
	case aiproxy.ModeChat:
		// Each message costs its content plus a few tokens of framing, and
		// the reply is primed with 3 more (OpenAI's counting recipe).
		msgs := gjson.GetBytes(body, "messages")
		msgs.ForEach(func(_, m gjson.Result) bool {
			u.PromptTokens += 3 + countTokens(c, m.Get("role").Str) + countContent(c, m.Get("content"))
			if n := m.Get("name"); n.Exists() {
				u.PromptTokens += 1 + countTokens(c, n.Str)
			}
			return true
		})
		u.PromptTokens += 3
	case aiproxy.ModeCompletions:
		u.PromptTokens = countContent(c, gjson.GetBytes(body, "prompt"))
	case aiproxy.ModeEmbeddings:
		u.PromptTokens = countContent(c, gjson.GetBytes(body, "input"))
	}
	u.CompletionTokens = countTokens(c, string(text))
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// countText counts the tokens of generated text.
func countText(model string, text []byte) int64 {
	if len(text) == 0 {
		return 0
	}
	return countTokens(codec(model), string(text))
}

// countChat estimates the input tokens of a chat request in the neutral
// form, with the same recipe as OpenAI chat: each message costs its text
// plus a few tokens of framing. For models of other providers, whose
// tokenizers are not public, it is an approximation (their counts run
// some 10-20% above o200k's on English text). Images count a flat 1,000
// tokens each, about what providers charge a mid-sized image; tool
// definitions count their names, descriptions and schemas as text.
func countChat(model string, c *chat.Request) int64 {
	cd := codec(model)
	n := int64(3)
	parts := func(ps []chat.Part) {
		for i := range ps {
			p := &ps[i]
			switch p.Kind {
			case chat.KindText, chat.KindThinking:
				n += countTokens(cd, p.Text)
			case chat.KindMedia:
				n += 1000
			case chat.KindToolCall:
				n += 3 + countTokens(cd, p.Call.Name) + countTokens(cd, p.Call.Arguments)
			case chat.KindToolResult:
				n += 3
				for j := range p.Result.Parts {
					if rp := &p.Result.Parts[j]; rp.Kind == chat.KindText {
						n += countTokens(cd, rp.Text)
					} else if rp.Kind == chat.KindMedia {
						n += 1000
					}
				}
			}
		}
	}
	if len(c.System) > 0 {
		n += 4
		parts(c.System)
	}
	for i := range c.Messages {
		n += 4
		parts(c.Messages[i].Parts)
	}
	for i := range c.Tools {
		t := &c.Tools[i]
		n += 8 + countTokens(cd, t.Name) + countTokens(cd, t.Description) + countTokens(cd, string(t.Parameters))
	}
	return n
}

// countContent counts a string, an array of strings, an array of token
// ids, or an array of content parts with text.
func countContent(c tokenizer.Codec, v gjson.Result) int64 {
	switch {
	case v.Type == gjson.String:
		return countTokens(c, v.Str)
	case v.IsArray():
		var n int64
		v.ForEach(func(_, e gjson.Result) bool {
			switch {
			case e.Type == gjson.Number:
				n++
			case e.IsObject():
				n += countTokens(c, e.Get("text").Str)
			default:
				n += countContent(c, e)
			}
			return true
		})
		return n
	}
	return 0
}

// estimateTokens estimates the tokens of s without a tokenizer: a token
// for every 3 bytes of UTF-8, rounded up. BPE vocabularies average about
// 4 bytes a token for English and 3 for CJK (a character of 3 bytes is
// about a token), so this errs on the high side, as an estimate made to
// reserve against a limit should; the settlement corrects it.
func estimateTokens(s string) int64 { return int64(len(s)+2) / 3 }
