package anthropic

import (
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// This file converts complete messages, and the stop reasons and usage
// that streams share with them.

// DecodeResponse decodes a message: text (its citations left out),
// thinking, redacted thinking and tool use blocks, the stop reason and the
// usage. It returns EINVALID for a body that is not a message or holds a
// block of another kind (server tool blocks, which converted requests
// never ask for).
func (Codec) DecodeResponse(body []byte) (*chat.Response, error) {
	o, ok := checkedObject(body)
	if !ok {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer is not a message.")
	}
	r := &chat.Response{}
	for k, v, ok := o.next(); ok; k, v, ok = o.next() {
		switch k {
		case "id":
			r.ID = jsontext.Unquote(v)
		case "model":
			r.Model = jsontext.Unquote(v)
		case "stop_reason":
			r.Finish = finishOf(jsontext.Unquote(v))
		case "stop_sequence":
			r.StopSequence = jsontext.Unquote(v)
		case "usage":
			if isObj(v) {
				var ru rawUsage
				ru.merge(v)
				u := ru.normal()
				r.Usage = &u
			}
		case "content":
			a, _ := newArray(v)
			for b, ok := a.next(); ok; b, ok = a.next() {
				p, err := responseBlock(b)
				if err != nil {
					return nil, err
				}
				r.Parts = append(r.Parts, p)
			}
		}
	}
	if !o.end() {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer is not valid JSON.")
	}
	return r, nil
}

// responseBlock decodes one content block of a message.
func responseBlock(b string) (chat.Part, error) {
	var bl rfields
	bl.read(b)
	switch t := jsontext.Unquote(bl.typ); t {
	case "text":
		return chat.Part{Kind: chat.KindText, Text: jsontext.Unquote(bl.text)}, nil
	case "thinking":
		return chat.Part{Kind: chat.KindThinking, Text: jsontext.Unquote(bl.thinking), Signature: jsontext.Unquote(bl.signature)}, nil
	case "redacted_thinking":
		return chat.Part{Kind: chat.KindRedactedThinking, Signature: jsontext.Unquote(bl.data)}, nil
	case "tool_use":
		args := "{}"
		if isObj(bl.input) {
			args = bl.input
		}
		return chat.Part{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: jsontext.Unquote(bl.id), Name: jsontext.Unquote(bl.name), Arguments: args}}, nil
	default:
		return chat.Part{}, aiproxy.Errorf(aiproxy.EINVALID, "The answer holds a %s block, which cannot be converted to another protocol.", t)
	}
}

// finishOf maps a stop reason.
func finishOf(reason string) chat.Finish {
	switch reason {
	case "end_turn", "stop_sequence":
		return chat.FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return chat.FinishLength
	case "tool_use":
		return chat.FinishToolCalls
	case "refusal":
		return chat.FinishRefusal
	case "pause_turn":
		return chat.FinishPause
	case "":
		return ""
	}
	return chat.FinishStop
}

// stopReason maps a finish reason back: a stop with a stop sequence is
// stop_sequence, a content filter is a refusal, an error (which Anthropic
// has no reason for) is end_turn; a stop of an answer that called tools is
// tool_use, as Anthropic clients run tools on it.
func stopReason(f chat.Finish, stopSeq string, calledTools bool) string {
	switch f {
	case chat.FinishLength:
		return "max_tokens"
	case chat.FinishToolCalls:
		return "tool_use"
	case chat.FinishContentFilter, chat.FinishRefusal:
		return "refusal"
	case chat.FinishPause:
		return "pause_turn"
	}
	if calledTools && f != chat.FinishError {
		return "tool_use"
	}
	if f == chat.FinishStop && stopSeq != "" {
		return "stop_sequence"
	}
	return "end_turn"
}

// EncodeResponse encodes r as a message: id (r.ID, else a new "msg_" id),
// model, content blocks (tool use ids joined with their signatures by
// chat.JoinCallID; arguments that are not a JSON object, as a call cut
// short leaves them, become {} as the Anthropic SDKs do), stop reason,
// stop sequence and usage. It returns EINVALID for a part a message cannot
// hold (media).
func (Codec) EncodeResponse(r *chat.Response, _ *relay.Request) ([]byte, error) {
	size := 256
	for i := range r.Parts {
		p := &r.Parts[i]
		size += len(p.Text) + len(p.Signature) + 64
		if p.Call != nil {
			size += len(p.Call.Arguments) + len(p.Call.ID) + len(p.Call.Name) + len(p.Call.Signature)*2
		}
	}
	b := make([]byte, 0, size)
	b = append(b, `{"id":`...)
	id := r.ID
	if id == "" {
		id = newID()
	}
	b = jsontext.AppendString(b, id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = jsontext.AppendString(b, r.Model)
	b = append(b, `,"content":[`...)
	tools := false
	n := 0
	for i := range r.Parts {
		p := &r.Parts[i]
		if p.Kind == chat.KindText && p.Text == "" {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		switch p.Kind {
		case chat.KindText:
			b = append(b, `{"type":"text","text":`...)
			b = jsontext.AppendString(b, p.Text)
			b = append(b, '}')
		case chat.KindThinking:
			b = append(b, `{"type":"thinking","thinking":`...)
			b = jsontext.AppendString(b, p.Text)
			b = append(b, `,"signature":`...)
			b = jsontext.AppendString(b, p.Signature)
			b = append(b, '}')
		case chat.KindRedactedThinking:
			b = append(b, `{"type":"redacted_thinking","data":`...)
			b = jsontext.AppendString(b, p.Signature)
			b = append(b, '}')
		case chat.KindToolCall:
			tc := p.Call
			if tc == nil {
				return nil, aiproxy.Errorf(aiproxy.EINVALID, "A tool call part carries no call.")
			}
			tools = true
			b = append(b, `{"type":"tool_use","id":`...)
			b = jsontext.AppendString(b, chat.JoinCallID(tc.ID, tc.Signature))
			b = append(b, `,"name":`...)
			b = jsontext.AppendString(b, tc.Name)
			b = append(b, `,"input":`...)
			if args := strings.TrimSpace(tc.Arguments); args != "" && isObject(args) {
				b = append(b, args...)
			} else {
				b = append(b, "{}"...)
			}
			b = append(b, '}')
		default:
			return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer holds %s, which an Anthropic message cannot carry.", p.Kind)
		}
	}
	b = append(b, `],"stop_reason":`...)
	b = jsontext.AppendString(b, stopReason(r.Finish, r.StopSequence, tools))
	b = append(b, `,"stop_sequence":`...)
	if r.StopSequence != "" {
		b = jsontext.AppendString(b, r.StopSequence)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"usage":`...)
	var u aiproxy.Usage
	if r.Usage != nil {
		u = *r.Usage
	}
	b = appendUsage(b, &u, true)
	return append(b, '}'), nil
}

// appendUsage appends an Anthropic usage object of u: input_tokens without
// the cache reads and writes, which Anthropic counts apart, and
// output_tokens (0 unless output is set).
func appendUsage(b []byte, u *aiproxy.Usage, output bool) []byte {
	in := u.PromptTokens - u.CachedTokens - u.CacheCreationTokens
	if in < 0 {
		in = 0
	}
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, in)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = appendInt(b, u.CacheCreationTokens)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = appendInt(b, u.CachedTokens)
	b = append(b, `,"output_tokens":`...)
	if !output {
		return append(b, "0}"...)
	}
	b = appendInt(b, u.CompletionTokens)
	if u.ReasoningTokens > 0 {
		// Claude Code reads the thinking count from here (the
		// thinking-token-count beta); other protocols report it apart.
		b = append(b, `,"output_tokens_details":{"thinking_tokens":`...)
		b = appendInt(b, u.ReasoningTokens)
		b = append(b, '}')
	}
	return append(b, '}')
}

// newID returns a new message id.
func newID() string {
	var r [12]byte
	rand.Read(r[:])
	return "msg_" + hex.EncodeToString(r[:])
}
