package openai

import (
	"encoding/base64"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
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
	s := &scanner{b: body}
	if !s.open('{') {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer is not a JSON object.")
	}
	r := &chat.Response{}
	var m message
	var finish string
	var errObj []byte
	choice := false
	for n := 0; s.more('}', &n); {
		switch s.key() {
		case "id":
			r.ID = s.text()
		case "model":
			r.Model = s.text()
		case "created":
			r.Created, _ = s.integer()
		case "choices":
			if !s.enter('[') {
				continue
			}
			for c := 0; s.more(']', &c); {
				if choice || !s.open('{') { // the first choice only: one is asked for
					s.skip()
					continue
				}
				choice = true
				for k := 0; s.more('}', &k); {
					switch s.key() {
					case "message":
						if err := m.read(s, false); err != nil {
							return nil, within("message", err)
						}
					case "finish_reason":
						finish = s.text()
					default:
						s.skip()
					}
				}
			}
		case "usage":
			if s.peek() == '{' {
				r.Usage = usage(gjson.Parse(unsafeString(s.raw())))
			} else {
				s.skip()
			}
		case "error":
			if s.peek() != 'n' {
				errObj = s.raw()
			} else {
				s.skip()
			}
		default:
			s.skip()
		}
	}
	if !s.end() {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer is not valid JSON.")
	}
	if errObj != nil {
		e := gjson.ParseBytes(errObj)
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
		b = appendJSONString(b, r.ID)
	} else {
		b = appendJSONString(b, newID("chatcmpl-"))
	}
	b = append(b, `,"object":"chat.completion","created":`...)
	created := r.Created
	if created == 0 {
		created = time.Now().Unix()
	}
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, r.Model)
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
	b = appendJSONString(b, finishReason(r.Finish, calls))
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
		b = appendJSONString(b, id)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendJSONString(b, p.Call.Name)
		b = append(b, `,"arguments":`...)
		b = appendJSONString(b, arguments(p.Call.Arguments))
		b = append(b, "}}"...)
	}
	return append(b, ']')
}

// appendThinkingBlock appends a thinking entry of LiteLLM's
// thinking_blocks.
func appendThinkingBlock(b []byte, text, sig string) []byte {
	b = append(b, `{"type":"thinking","thinking":`...)
	b = appendJSONString(b, text)
	b = append(b, `,"signature":`...)
	b = appendJSONString(b, sig)
	return append(b, '}')
}

// appendRedactedBlock appends a redacted_thinking entry of LiteLLM's
// thinking_blocks.
func appendRedactedBlock(b []byte, data string) []byte {
	b = append(b, `{"type":"redacted_thinking","data":`...)
	b = appendJSONString(b, data)
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
				b = appendEscaped(b, sep)
			}
			first = false
			b = appendEscaped(b, p.Text)
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

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends s escaped for the inside of a JSON string:
// quotes, backslashes and control characters escaped, invalid UTF-8
// replaced by U+FFFD (as encoding/json does), and U+2028 and U+2029
// escaped so that the output is also valid JavaScript.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
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
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
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
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// appendFloat appends f as a JSON number.
func appendFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'g', -1, 64)
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
	b = appendEscaped(b, mediaType)
	b = append(b, ";base64,"...)
	b = appendEscaped(b, data)
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

// maxDepth bounds the nesting of JSON the scanner reads.
const maxDepth = 512

// scanner reads JSON text in one pass, checking it as it goes, for the
// converters' hot paths (gjson scans a nested value again at each level
// it is read at). After the first error it reads nothing more: every
// method returns a zero value, and ok reports false. Strings without
// escapes share memory with the text.
type scanner struct {
	b     []byte
	i     int
	depth int
	bad   bool
}

func (s *scanner) fail() {
	s.bad = true
	s.i = len(s.b)
}

// ok reports whether everything read so far was valid.
func (s *scanner) ok() bool { return !s.bad }

// end checks that only white space is left.
func (s *scanner) end() bool {
	s.ws()
	if s.i != len(s.b) {
		s.fail()
	}
	return !s.bad
}

func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	b, i := s.b, s.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	s.i = i
}

// peek returns the first byte of the next value, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// open consumes c, '{' or '[', and reports whether it was there; it
// reads nothing when it was not.
func (s *scanner) open(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	if s.depth++; s.depth > maxDepth {
		s.fail()
		return false
	}
	return true
}

// enter opens the object or array c starts, like open; when the value
// is not one, it reads it whatever it is and reports false.
func (s *scanner) enter(c byte) bool {
	if s.open(c) {
		return true
	}
	s.skip()
	return false
}

// more reports whether a member follows in the object or array that c
// closes, reading the comma before it or the closing c; n counts the
// members read so far.
func (s *scanner) more(c byte, n *int) bool {
	if s.bad {
		return false
	}
	p := s.peek()
	if p == c {
		s.i++
		s.depth--
		return false
	}
	if *n > 0 {
		if p != ',' {
			s.fail()
			return false
		}
		s.i++
	}
	*n++
	return true
}

// key reads an object member's name and its colon.
func (s *scanner) key() string {
	k := s.str()
	if s.peek() != ':' {
		s.fail()
		return ""
	}
	s.i++
	return k
}

// str reads a string.
func (s *scanner) str() string {
	if s.peek() != '"' {
		s.fail()
		return ""
	}
	b, start := s.b, s.i+1
	for i := start; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return unsafeString(b[start:i])
		case c == '\\':
			s.i = i
			return s.unescape(start)
		case c < 0x20:
			s.fail()
			return ""
		}
	}
	s.fail()
	return ""
}

// unescape reads the rest of a string with escapes, from start (s.i is
// at the first backslash). The string is checked first, which gives its
// end, so that it is built in one buffer of the right size.
func (s *scanner) unescape(start int) string {
	s.i = start - 1
	if s.skipStr(); s.bad {
		return ""
	}
	b, stop := s.b, s.i-1 // the closing quote
	buf := make([]byte, 0, stop-start)
	for i := start; i < stop; {
		if b[i] != '\\' {
			j := i + 1
			for j < stop && b[j] != '\\' {
				j++
			}
			buf = append(buf, b[i:j]...)
			i = j
			continue
		}
		e := b[i+1]
		i += 2
		switch e {
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, _ := hex4(b[i:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= stop && b[i] == '\\' && b[i+1] == 'u' {
					low, _ := hex4(b[i+2:])
					if r2 = utf16.DecodeRune(r, low); r2 != utf8.RuneError {
						i += 6 // a pair; else the second escape is read on its own
					}
				}
				r = r2
			}
			buf = utf8.AppendRune(buf, r)
		default: // '"', '\\', '/'
			buf = append(buf, e)
		}
	}
	return unsafe.String(unsafe.SliceData(buf), len(buf)) // buf is not changed again
}

// hex4 reads the 4 hex digits of a \u escape at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipStr reads a string without keeping it.
func (s *scanner) skipStr() {
	b := s.b
	for i := s.i + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return
		case c == '\\':
			if i+1 >= len(b) {
				s.fail()
				return
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if _, ok := hex4(b[i+2:]); !ok {
					s.fail()
					return
				}
				i += 5
			default:
				s.fail()
				return
			}
		case c < 0x20:
			s.fail()
			return
		}
	}
	s.fail()
}

// number reads a number and returns its text.
func (s *scanner) number() string {
	s.ws()
	start := s.i
	digits := func() bool {
		n := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		return s.i > n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case !digits():
		s.fail()
		return ""
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !digits() {
			s.fail()
			return ""
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !digits() {
			s.fail()
			return ""
		}
	}
	return unsafeString(s.b[start:s.i])
}

// literal reads true, false or null.
func (s *scanner) literal(lit string) {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		s.fail()
		return
	}
	s.i += len(lit)
}

// skip reads a value without keeping it.
func (s *scanner) skip() {
	switch s.peek() {
	case '{':
		s.open('{')
		for n := 0; s.more('}', &n); {
			s.key()
			s.skip()
		}
	case '[':
		s.open('[')
		for n := 0; s.more(']', &n); {
			s.skip()
		}
	case '"':
		s.skipStr()
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		s.number()
	default:
		s.fail()
	}
}

// raw reads a value and returns its text.
func (s *scanner) raw() []byte {
	s.ws()
	start := s.i
	s.skip()
	if s.bad {
		return nil
	}
	return s.b[start:s.i]
}

// text reads a string, or any other value as "" (as gjson's Str does).
func (s *scanner) text() string {
	if s.peek() == '"' {
		return s.str()
	}
	s.skip()
	return ""
}

// integer reads a number as an integer (a fraction is cut), or any
// other value as 0; ok reports whether it was a number.
func (s *scanner) integer() (n int64, ok bool) {
	switch s.peek() {
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
	default:
		s.skip()
		return 0, false
	}
	t := s.number()
	if s.bad {
		return 0, false
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, true
	}
	switch f, _ := strconv.ParseFloat(t, 64); {
	case f >= math.MaxInt64:
		return math.MaxInt64, true
	case f <= math.MinInt64:
		return math.MinInt64, true
	default:
		return int64(f), true
	}
}
