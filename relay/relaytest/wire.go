package relaytest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds OpenAI's wire format: the request fields the provider
// reads and the bytes it writes. Writers append to a byte slice, so a reply
// costs no reflection and, with pooled buffers, almost no allocation.

// request holds the fields of a chat, completions or embeddings request body
// that the provider acts on; everything else is ignored.
type request struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages            []message `json:"messages"`
	Prompt              inputs    `json:"prompt"`
	Input               inputs    `json:"input"`
	EncodingFormat      string    `json:"encoding_format"`
	Dimensions          int       `json:"dimensions"`
	MaxTokens           int       `json:"max_tokens"`
	MaxCompletionTokens int       `json:"max_completion_tokens"`
	Tools               []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

// maxTokens returns the completion token limit the request asks for, or 0.
func (r *request) maxTokens() int {
	if r.MaxCompletionTokens > 0 {
		return r.MaxCompletionTokens
	}
	return r.MaxTokens
}

// message is one chat message: its text, and what ties tool calls to their
// results.
type message struct {
	Role      string      `json:"role"`
	Content   textContent `json:"content"`
	ToolCalls []struct {
		ID string `json:"id"`
	} `json:"tool_calls"`
	ToolCallID string `json:"tool_call_id"`
}

// textContent is a message content: a string, or an array of content parts
// whose text parts are joined with a space and whose media parts
// (image_url, input_audio, file) are counted. Other shapes decode to
// nothing.
type textContent struct {
	text  string
	media int
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *textContent) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '"':
		return json.Unmarshal(b, &t.text)
	case b[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		var sb strings.Builder
		for _, part := range parts {
			switch part.Type {
			case "image_url", "input_audio", "file":
				t.media++
			}
			if part.Text == "" {
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(part.Text)
		}
		t.text = sb.String()
	}
	return nil
}

// input is one prompt or embedding input: a text or an array of token ids.
type input struct {
	text   string
	tokens []int64
	isIDs  bool
}

// inputs decodes OpenAI's prompt and input union: a string, an array of
// strings, an array of token ids or an array of token id arrays.
type inputs []input

// UnmarshalJSON implements json.Unmarshaler.
func (in *inputs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == 'n' {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*in = inputs{{text: s}}
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) > 0 && len(raw[0]) > 0 && raw[0][0] != '"' && raw[0][0] != '[' {
		var ids []int64
		if err := json.Unmarshal(b, &ids); err != nil {
			return err
		}
		*in = inputs{{tokens: ids, isIDs: true}}
		return nil
	}
	list := make(inputs, 0, len(raw))
	for _, r := range raw {
		if len(r) > 0 && r[0] == '[' {
			var ids []int64
			if err := json.Unmarshal(r, &ids); err != nil {
				return err
			}
			list = append(list, input{tokens: ids, isIDs: true})
			continue
		}
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			return err
		}
		list = append(list, input{text: s})
	}
	*in = list
	return nil
}

// count returns the token count of the input.
func (in input) count() int64 {
	if in.isIDs {
		return int64(len(in.tokens))
	}
	return int64(Tokens(in.text))
}

// Tokens returns the number of tokens the provider counts for text: the
// number of its whitespace-separated words. Every usage object the provider
// sends is made of such counts (token-id inputs count one token per id), so a
// test can compute the usage it expects.
func Tokens(text string) int {
	n, inWord := 0, false
	for _, r := range text {
		if unicode.IsSpace(r) {
			inWord = false
		} else if !inWord {
			inWord = true
			n++
		}
	}
	return n
}

// truncateWords returns text cut after its first n words.
func truncateWords(text string, n int) string {
	words, inWord := 0, false
	for i, r := range text {
		if unicode.IsSpace(r) {
			if inWord && words == n {
				return text[:i]
			}
			inWord = false
		} else if !inWord {
			inWord = true
			words++
		}
	}
	return text
}

// truncateRunes returns s cut to at most n runes.
func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// split cuts text into the pieces a stream sends as content chunks. With
// n <= 0 every word is one piece, carrying the whitespace before it (as
// OpenAI's tokens carry their leading space). With n > 0 there are exactly n
// pieces: words grouped evenly, or runes when there are fewer words than n,
// padded with empty pieces when there are fewer runes than n. The pieces
// always join to text.
func split(text string, n int) []string {
	if text == "" && n <= 0 {
		return nil
	}
	// cuts holds the byte offsets where a piece may end: after each word
	// but the last.
	var cuts []int
	inWord := false
	for i, r := range text {
		if unicode.IsSpace(r) {
			if inWord {
				cuts = append(cuts, i)
			}
			inWord = false
		} else {
			inWord = true
		}
	}
	if inWord || len(cuts) == 0 {
		cuts = append(cuts, len(text))
	} else {
		cuts[len(cuts)-1] = len(text) // trailing space joins the last word
	}
	if n > 0 && len(cuts) < n {
		cuts = cuts[:0]
		for i := range text {
			if i > 0 {
				cuts = append(cuts, i)
			}
		}
		if text != "" {
			cuts = append(cuts, len(text))
		}
	}
	units := len(cuts)
	if n <= 0 {
		n = units
	}
	pieces := make([]string, n)
	start := 0
	for j := range n {
		if units < n {
			if j < units {
				pieces[j] = text[start:cuts[j]]
				start = cuts[j]
			}
			continue
		}
		end := cuts[(j+1)*units/n-1]
		pieces[j] = text[start:end]
		start = end
	}
	return pieces
}

// appendString appends s to b as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// usage is the token accounting of one reply; completion includes
// reasoning.
type usage struct {
	prompt, completion, cached, reasoning int64
}

// appendUsage appends a chat or completions usage object.
func appendUsage(b []byte, u usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.prompt, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.completion, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, u.prompt+u.completion, 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, u.cached, 10)
	b = append(b, `,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, u.reasoning, 10)
	return append(b, `,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

// fingerprint is the system_fingerprint of every reply.
const fingerprint = "fp_5e1a7c0d2b"

// Pieces of chat completion chunks. A chunk is head + one choice (or none)
// + tail, where head carries the id, created and model of the request.
var (
	chatRoleChoice  = []byte(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`)
	chatDeltaOpen   = []byte(`{"index":0,"delta":{"content":`)
	chatDeltaClose  = []byte(`},"logprobs":null,"finish_reason":null}`)
	chatStopChoice  = []byte(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`)
	chatLimitChoice = []byte(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}`)
	textDeltaOpen   = []byte(`{"text":`)
	textDeltaClose  = []byte(`,"index":0,"logprobs":null,"finish_reason":null}`)
	textStopChoice  = []byte(`{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}`)
	textLimitChoice = []byte(`{"text":"","index":0,"logprobs":null,"finish_reason":"length"}`)
	tailNullUsage   = []byte("],\"usage\":null}\n\n")
	tailNoUsage     = []byte("]}\n\n")
	eventDone       = []byte("data: [DONE]\n\n")
)

// appendHead appends the start of a chat completion (object
// "chat.completion" or "chat.completion.chunk") or a legacy completion
// (object "text_completion") up to the opening bracket of its choices.
func appendHead(b []byte, id, object string, created int64, model string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, model)
	if object != "text_completion" {
		b = append(b, `,"service_tier":"default"`...)
	}
	return append(b, `,"system_fingerprint":"`+fingerprint+`","choices":[`...)
}

// appendChatCompletion appends a whole non-streaming chat completion.
func appendChatCompletion(b []byte, id string, created int64, model string, rep *reply, u *usage) []byte {
	b = appendHead(b, id, "chat.completion", created, model)
	b = append(b, `{"index":0,"message":{"role":"assistant","content":`...)
	b = appendString(b, rep.text)
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"`...)
	b = append(b, rep.finish...)
	b = append(b, `"}]`...)
	if u != nil {
		b = append(b, `,"usage":`...)
		b = appendUsage(b, *u)
	}
	return append(b, '}')
}

// appendTextCompletion appends a whole non-streaming legacy completion.
func appendTextCompletion(b []byte, id string, created int64, model string, rep *reply, u *usage) []byte {
	b = appendHead(b, id, "text_completion", created, model)
	b = append(b, `{"text":`...)
	b = appendString(b, rep.text)
	b = append(b, `,"index":0,"logprobs":null,"finish_reason":"`...)
	b = append(b, rep.finish...)
	b = append(b, `"}]`...)
	if u != nil {
		b = append(b, `,"usage":`...)
		b = appendUsage(b, *u)
	}
	return append(b, '}')
}

// appendChatPlan appends a whole non-streaming chat completion for a
// scenario plan: reasoning as DeepSeek's reasoning_content, text as content
// (null when there is none and there are tool calls), tool calls with
// callIDs.
func appendChatPlan(b []byte, id string, created int64, model string, pl *plan, callIDs []string, u *usage) []byte {
	b = appendHead(b, id, "chat.completion", created, model)
	b = append(b, `{"index":0,"message":{"role":"assistant","content":`...)
	if pl.text == "" && len(pl.calls) > 0 {
		b = append(b, "null"...)
	} else {
		b = appendString(b, pl.text)
	}
	if pl.reasoning != "" {
		b = append(b, `,"reasoning_content":`...)
		b = appendString(b, pl.reasoning)
	}
	if len(pl.calls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, call := range pl.calls {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = appendString(b, callIDs[i])
			b = append(b, `,"type":"function","function":{"name":`...)
			b = appendString(b, call.name)
			b = append(b, `,"arguments":`...)
			b = appendString(b, call.args)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"`...)
	b = append(b, openAIFinish[pl.finish]...)
	b = append(b, `"}]`...)
	if u != nil {
		b = append(b, `,"usage":`...)
		b = appendUsage(b, *u)
	}
	return append(b, '}')
}

// appendReasoningChoice appends a stream choice whose delta carries a piece
// of reasoning, as DeepSeek streams it.
func appendReasoningChoice(b []byte, piece string) []byte {
	b = append(b, `{"index":0,"delta":{"content":null,"reasoning_content":`...)
	b = appendString(b, piece)
	return append(b, `},"logprobs":null,"finish_reason":null}`...)
}

// appendToolCallChoice appends a stream choice whose delta carries the tool
// call at index i: its id, name and empty arguments when id is set (the
// call's first chunk), else a fragment of its arguments.
func appendToolCallChoice(b []byte, i int, id, name, args string) []byte {
	b = append(b, `{"index":0,"delta":{"tool_calls":[{"index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	if id != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, id)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendString(b, name)
		b = append(b, `,"arguments":`...)
	} else {
		b = append(b, `,"function":{"arguments":`...)
	}
	b = appendString(b, args)
	return append(b, `}}]},"logprobs":null,"finish_reason":null}`...)
}

// appendFinishChoice appends a stream's finish choice.
func appendFinishChoice(b []byte, reason string) []byte {
	b = append(b, `{"index":0,"delta":{},"logprobs":null,"finish_reason":`...)
	b = appendString(b, reason)
	return append(b, '}')
}

// embeddingDims is the vector length when the request names no dimensions.
const embeddingDims = 8

// maxEmbeddingDims is the largest dimensions value accepted, the size of
// OpenAI's largest embedding model.
const maxEmbeddingDims = 3072

// appendEmbeddings appends an embeddings list: one deterministic unit vector
// per input, derived from the input's text or token ids, as JSON floats or as
// base64 of little-endian float32 values.
func appendEmbeddings(b []byte, model string, in inputs, dims int, b64 bool, u *usage) []byte {
	b = append(b, `{"object":"list","data":[`...)
	vec := make([]float32, dims)
	raw := make([]byte, 4*dims)
	for i, item := range in {
		if i > 0 {
			b = append(b, ',')
		}
		embed(vec, item)
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		if b64 {
			for j, f := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for j, f := range vec {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(f), 'f', -1, 32)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendString(b, model)
	if u != nil {
		b = append(b, `,"usage":{"prompt_tokens":`...)
		b = strconv.AppendInt(b, u.prompt, 10)
		b = append(b, `,"total_tokens":`...)
		b = strconv.AppendInt(b, u.prompt, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// embed fills vec with a unit vector seeded by the input.
func embed(vec []float32, in input) {
	h := fnv.New64a()
	if in.isIDs {
		var n [8]byte
		for _, id := range in.tokens {
			binary.LittleEndian.PutUint64(n[:], uint64(id))
			h.Write(n[:])
		}
	} else {
		h.Write([]byte(in.text))
	}
	x := h.Sum64()
	var norm float64
	for i := range vec {
		// splitmix64
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		f := float64(z>>11)/float64(1<<53)*2 - 1
		vec[i] = float32(f)
		norm += f * f
	}
	if norm == 0 {
		return
	}
	scale := 1 / math.Sqrt(norm)
	for i := range vec {
		vec[i] = float32(float64(vec[i]) * scale)
	}
}

// modelCreated is the created time every listed model reports.
const modelCreated = 1715367049

// appendModels appends a models list.
func appendModels(b []byte, ids []string) []byte {
	b = append(b, `{"object":"list","data":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, id)
		b = append(b, `,"object":"model","created":`...)
		b = strconv.AppendInt(b, modelCreated, 10)
		b = append(b, `,"owned_by":"system"}`...)
	}
	return append(b, "]}"...)
}

// apiError is an OpenAI error object; empty param and code are sent as null.
type apiError struct {
	status  int
	message string
	typ     string
	param   string
	code    string
}

// appendError appends {"error":{...}} in OpenAI's shape.
func appendError(b []byte, e apiError) []byte {
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, e.message)
	b = append(b, `,"type":`...)
	b = appendString(b, e.typ)
	b = append(b, `,"param":`...)
	b = appendNullable(b, e.param)
	b = append(b, `,"code":`...)
	b = appendNullable(b, e.code)
	return append(b, "}}"...)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}
