package openai

import (
	"encoding/base64"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// This file converts complete answers (chat.completion objects) between
// OpenAI chat completions and the neutral form, and holds what the
// request and stream converters share: the JSON appenders, finish
// reasons, data URLs and ids. decode.go and encode.go convert requests,
// streamdec.go and streamenc.go streams.

// DecodeResponse decodes a chat.completion body: the first choice's
// message becomes Parts (thinking first, from thinking_blocks when the
// provider sent them, else reasoning_content or reasoning; then content
// and refusal as text; then tool_calls, whose ids are split with
// chat.SplitCallID), finish_reason becomes Finish (a refusal with a
// "stop" finish becomes FinishRefusal; unknown reasons FinishStop, and
// DeepSeek's insufficient_system_resource FinishError), usage is
// normalised. Strings of the result may share memory with body, which
// must not change while the result is in use. It returns EUPSTREAM for
// an error object and EINVALID for a body that is not a chat
// completion.
func (Codec) DecodeResponse(body []byte) (*chat.Response, error) {
	s := &jsontext.Scanner{}
	s.Reset(body)
	if !s.Open('{') {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer is not a JSON object.")
	}
	r := &chat.Response{}
	var m message
	var finish string
	var errObj string
	choice := false
	for n := 0; s.More('}', &n); {
		switch s.Key() {
		case "id":
			r.ID = s.Text()
		case "model":
			r.Model = s.Text()
		case "created":
			r.Created, _ = s.Int()
		case "choices":
			if !s.Enter('[') {
				continue
			}
			for c := 0; s.More(']', &c); {
				if choice || !s.Open('{') { // the first choice only: one is asked for
					s.Skip()
					continue
				}
				choice = true
				for k := 0; s.More('}', &k); {
					switch s.Key() {
					case "message":
						if err := m.read(s, false); err != nil {
							return nil, within("message", err)
						}
					case "finish_reason":
						finish = s.Text()
					default:
						s.Skip()
					}
				}
			}
		case "usage":
			if s.Peek() == '{' {
				r.Usage = readUsage(s)
			} else {
				s.Skip()
			}
		case "error":
			if s.Peek() != 'n' {
				errObj = s.Raw()
			} else {
				s.Skip()
			}
		default:
			s.Skip()
		}
	}
	if !s.End() {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer is not valid JSON.")
	}
	if errObj != "" {
		e := gjson.Parse(errObj)
		msg := e.Get("message").Str
		if msg == "" {
			msg = e.String()
		}
		return nil, aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider answered with an error: %s", msg)
	}
	if !choice {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer has no choices.")
	}
	r.Parts = m.parts()
	r.Finish = finishOf(finish)
	if m.refusal != "" && r.Finish == chat.FinishStop {
		r.Finish = chat.FinishRefusal
	}
	return r, nil
}

// finishOf maps an OpenAI finish_reason to a Finish. Reasons other
// providers add that mean a normal end ("eos", ...) are FinishStop.
func finishOf(s string) chat.Finish {
	switch s {
	case "length":
		return chat.FinishLength
	case "tool_calls", "function_call":
		return chat.FinishToolCalls
	case "content_filter":
		return chat.FinishContentFilter
	case "insufficient_system_resource": // DeepSeek: the answer was cut short
		return chat.FinishError
	}
	return chat.FinishStop
}

// finishReason maps a Finish to an OpenAI finish_reason. OpenAI has no
// refusal reason: a refusal is "content_filter", what a safety system
// does there. A paused turn (Anthropic's pause_turn) and a provider's
// failure to finish (Gemini's MALFORMED_FUNCTION_CALL, say) are "stop":
// the answer ended without being cut by a limit or a filter, and OpenAI
// clients know no other reason for that. A stop with tool calls is
// "tool_calls", as OpenAI reports every turn that calls tools.
func finishReason(f chat.Finish, calls bool) string {
	switch f {
	case chat.FinishLength:
		return "length"
	case chat.FinishToolCalls:
		return "tool_calls"
	case chat.FinishContentFilter, chat.FinishRefusal:
		return "content_filter"
	}
	if calls {
		return "tool_calls"
	}
	return "stop"
}

// EncodeResponse encodes r as a chat.completion: id r.ID (a new
// "chatcmpl-" id when empty), created r.Created (now when 0), model
// r.Model, one choice whose message has content (the text parts end to
// end, as pieces of one answer; null when the answer is only tool
// calls), reasoning_content (the thinking text) and, when a thinking
// part carries a signature or is redacted, LiteLLM's thinking_blocks
// carrying every thinking part with its signature; tool_calls with ids
// joined to their signatures (chat.JoinCallID) so that Gemini's thought
// signatures come back in the client's next request; refusal null;
// finish_reason as finishReason maps r.Finish; and usage when r.Usage is
// set. The text of a refused answer (FinishRefusal) stays in content,
// refusal null: the neutral form does not tell refusal text from the
// rest. req is not needed. It returns EINVALID for media in r, which
// chat completions cannot carry in an answer.
func (Codec) EncodeResponse(r *chat.Response, req *relay.Request) ([]byte, error) {
	size := 320
	calls, signed := false, false
	for i := range r.Parts {
		p := &r.Parts[i]
		size += len(p.Text) + len(p.Signature) + 16
		switch p.Kind {
		case chat.KindToolCall:
			calls = true
			size += len(p.Call.ID) + len(p.Call.Name) + len(p.Call.Arguments) + len(p.Call.Signature)*2 + 80
		case chat.KindThinking:
			signed = signed || p.Signature != ""
		case chat.KindRedactedThinking:
			signed = true
		case chat.KindMedia:
			return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer holds media, which chat completions cannot carry in an answer.")
		}
	}
	b := make([]byte, 0, size)
	b = append(b, `{"id":`...)
	if r.ID != "" {
		b = jsontext.AppendString(b, r.ID)
	} else {
		b = jsontext.AppendString(b, newID("chatcmpl-"))
	}
	b = append(b, `,"object":"chat.completion","created":`...)
	created := r.Created
	if created == 0 {
		created = time.Now().Unix()
	}
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = jsontext.AppendString(b, r.Model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	b = appendJoined(b, r.Parts, chat.KindText, "", !calls)
	if hasText(r.Parts, chat.KindThinking) {
		b = append(b, `,"reasoning_content":`...)
		b = appendJoined(b, r.Parts, chat.KindThinking, "", false)
	}
	if signed {
		b = append(b, `,"thinking_blocks":[`...)
		for i := range r.Parts {
			p := &r.Parts[i]
			switch p.Kind {
			case chat.KindThinking:
				b = appendComma(b)
				b = appendThinkingBlock(b, p.Text, p.Signature)
			case chat.KindRedactedThinking:
				b = appendComma(b)
				b = appendRedactedBlock(b, p.Signature)
			}
		}
		b = append(b, ']')
	}
	if calls {
		b = appendToolCalls(b, r.Parts, true)
	}
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":`...)
	b = jsontext.AppendString(b, finishReason(r.Finish, calls))
	b = append(b, "}]"...)
	if r.Usage != nil {
		b = append(b, `,"usage":`...)
		b = appendUsage(b, r.Usage)
	}
	return append(b, '}'), nil
}

// appendToolCalls appends the tool_calls member of a message holding
// the tool call parts of parts, with their ids joined to their
// signatures when join is set (for clients) or plain (for providers).
func appendToolCalls(b []byte, parts []chat.Part, join bool) []byte {
	b = append(b, `,"tool_calls":[`...)
	for i := range parts {
		p := &parts[i]
		if p.Kind != chat.KindToolCall {
			continue
		}
		id := p.Call.ID
		if join {
			id = chat.JoinCallID(id, p.Call.Signature)
		}
		b = appendComma(b)
		b = append(b, `{"id":`...)
		b = jsontext.AppendString(b, id)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = jsontext.AppendString(b, p.Call.Name)
		b = append(b, `,"arguments":`...)
		b = jsontext.AppendString(b, arguments(p.Call.Arguments))
		b = append(b, "}}"...)
	}
	return append(b, ']')
}

// appendThinkingBlock appends a thinking entry of LiteLLM's
// thinking_blocks.
func appendThinkingBlock(b []byte, text, sig string) []byte {
	b = append(b, `{"type":"thinking","thinking":`...)
	b = jsontext.AppendString(b, text)
	b = append(b, `,"signature":`...)
	b = jsontext.AppendString(b, sig)
	return append(b, '}')
}

// appendRedactedBlock appends a redacted_thinking entry of LiteLLM's
// thinking_blocks.
func appendRedactedBlock(b []byte, data string) []byte {
	b = append(b, `{"type":"redacted_thinking","data":`...)
	b = jsontext.AppendString(b, data)
	return append(b, '}')
}

// appendUsage appends an OpenAI usage object: prompt, completion and
// total tokens with their details (cached and reasoning tokens, and the
// cache creation tokens OpenAI does not report itself but some
// compatible servers do, when there are any).
func appendUsage(b []byte, u *aiproxy.Usage) []byte {
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.PromptTokens, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.CompletionTokens, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, total, 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, u.CachedTokens, 10)
	if u.CacheCreationTokens > 0 {
		b = append(b, `,"cache_creation_tokens":`...)
		b = strconv.AppendInt(b, u.CacheCreationTokens, 10)
	}
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, u.ReasoningTokens, 10)
	return append(b, "}}"...)
}

// hasText reports whether a part of kind k has text.
func hasText(parts []chat.Part, k chat.Kind) bool {
	for i := range parts {
		if parts[i].Kind == k && parts[i].Text != "" {
			return true
		}
	}
	return false
}

// appendJoined appends, as one JSON string, the text of the parts of
// kind k joined by sep. When they have no text it appends "" if
// emptyString is set, null otherwise.
func appendJoined(b []byte, parts []chat.Part, k chat.Kind, sep string, emptyString bool) []byte {
	if !hasText(parts, k) {
		if emptyString {
			return append(b, `""`...)
		}
		return append(b, "null"...)
	}
	b = append(b, '"')
	first := true
	for i := range parts {
		if p := &parts[i]; p.Kind == k && p.Text != "" {
			if !first {
				b = jsontext.AppendEscaped(b, sep)
			}
			first = false
			b = jsontext.AppendEscaped(b, p.Text)
		}
	}
	return append(b, '"')
}

// arguments returns a tool call's arguments, "{}" for none.
func arguments(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

// appendComma appends a comma unless b ends an opening bracket or brace,
// so that list items can be appended without counting them.
func appendComma(b []byte) []byte {
	if n := len(b); n > 0 && (b[n-1] == '[' || b[n-1] == '{') {
		return b
	}
	return append(b, ',')
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newID returns prefix followed by 29 random letters and digits, the
// shape of OpenAI's ids ("chatcmpl-...", "call_..."). They only need to
// be unique, not secret.
func newID(prefix string) string {
	b := make([]byte, len(prefix), len(prefix)+29)
	copy(b, prefix)
	for range 29 {
		b = append(b, idChars[rand.IntN(len(idChars))])
	}
	return string(b)
}

// dataURL splits a data: URL into its media type (lower case, without
// parameters) and its content in base64. Content that is not base64
// (percent-encoded text) is decoded and encoded in base64. It reports
// false for a string that is not a data: URL.
func dataURL(u string) (mediaType, data string, ok bool) {
	if !isDataURL(u) {
		return "", "", false
	}
	meta, payload, found := strings.Cut(u[5:], ",")
	if !found {
		return "", "", false
	}
	b64 := false
	if i := strings.LastIndexByte(meta, ';'); i >= 0 && strings.EqualFold(meta[i+1:], "base64") {
		b64 = true
		meta = meta[:i]
	}
	mediaType, _, _ = strings.Cut(meta, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	if b64 {
		return mediaType, payload, true
	}
	raw, err := unescapePercent(payload)
	if err != nil {
		return "", "", false
	}
	if mediaType == "" {
		mediaType = "text/plain"
	}
	return mediaType, base64.StdEncoding.EncodeToString(raw), true
}

// isDataURL reports whether u is a data: URL.
func isDataURL(u string) bool { return len(u) >= 5 && strings.EqualFold(u[:5], "data:") }

// unescapePercent decodes the %XX escapes of a data: URL's content.
func unescapePercent(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			return nil, strconv.ErrSyntax
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return nil, err
		}
		out = append(out, byte(v))
		i += 2
	}
	return out, nil
}

// appendDataURL appends the data: URL of base64 content.
func appendDataURL(b []byte, mediaType, data string) []byte {
	b = append(b, `"data:`...)
	b = jsontext.AppendEscaped(b, mediaType)
	b = append(b, ";base64,"...)
	b = jsontext.AppendEscaped(b, data)
	return append(b, '"')
}

// sniff guesses the media type of base64 content from its first bytes,
// for data given without one; "" when it cannot tell.
func sniff(data string) string {
	if strings.HasPrefix(data, "UklGR") && len(data) >= 16 { // RIFF: WebP or WAV
		var head [12]byte
		if _, err := base64.StdEncoding.Decode(head[:], []byte(data[:16])); err == nil {
			switch string(head[8:12]) {
			case "WEBP":
				return "image/webp"
			case "WAVE":
				return "audio/wav"
			}
		}
		return ""
	}
	for _, m := range []struct{ prefix, typ string }{
		{"iVBORw0KGgo", "image/png"},
		{"/9j/", "image/jpeg"},
		{"R0lGOD", "image/gif"},
		{"JVBERi0", "application/pdf"},
		{"SUQz", "audio/mpeg"}, // ID3
		{"//u", "audio/mpeg"},
		{"//s", "audio/mpeg"},
	} {
		if strings.HasPrefix(data, m.prefix) {
			return m.typ
		}
	}
	return ""
}
