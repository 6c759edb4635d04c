package gemini

import (
	"strconv"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// Answers. A GenerateContentResponse decodes from its first candidate:
// its parts in order (text, thought parts as KindThinking with their
// signatures, a signature on a text part as a KindThinking part with no
// text before it, functionCall as KindToolCall with the part's signature;
// a call without an id gets "call_<responseId>_<n>"), its finishReason
// (STOP, or FinishToolCalls when the answer calls functions; MAX_TOKENS
// FinishLength; SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII,
// IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION and LANGUAGE
// FinishContentFilter; CONTINUATION FinishPause; MALFORMED_FUNCTION_CALL,
// UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS, OTHER and the rest
// FinishError), or FinishContentFilter for a prompt blocked with no
// candidate; responseId, modelVersion and usageMetadata (see usage).
//
// Encoding writes one candidate with role "model", index 0, the parts in
// order (tool calls with their ids, signatures as thoughtSignature),
// finishReason (FinishStop and FinishToolCalls STOP, FinishLength
// MAX_TOKENS, FinishContentFilter and FinishRefusal SAFETY, FinishPause,
// FinishError and the rest OTHER), usageMetadata (candidatesTokenCount
// without the reasoning tokens, which go in thoughtsTokenCount),
// modelVersion and responseId (the request's id when the answer has
// none).

// finish returns the finish reason of a Gemini finishReason.
func finish(reason string, calls bool) chat.Finish {
	switch reason {
	case "", "STOP", "FINISH_REASON_UNSPECIFIED":
		if calls {
			return chat.FinishToolCalls
		}
		return chat.FinishStop
	case "MAX_TOKENS":
		return chat.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "LANGUAGE":
		return chat.FinishContentFilter
	case "CONTINUATION":
		return chat.FinishPause
	}
	return chat.FinishError
}

// finishReason returns the Gemini finishReason of a finish reason.
func finishReason(f chat.Finish) string {
	switch f {
	case "", chat.FinishStop, chat.FinishToolCalls:
		return "STOP"
	case chat.FinishLength:
		return "MAX_TOKENS"
	case chat.FinishContentFilter, chat.FinishRefusal:
		return "SAFETY"
	}
	return "OTHER"
}

// callID returns the id made up for the n-th call of an answer that came
// without one: unique per answer, for the answer's id is in it.
func callID(respID string, n int) string {
	b := make([]byte, 0, len(respID)+16)
	b = append(b, "call_"...)
	for i := 0; i < len(respID); i++ {
		if c := respID[i]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b = append(b, c)
		}
	}
	if len(b) > len("call_") {
		b = append(b, '_')
	}
	return string(strconv.AppendInt(b, int64(n), 10))
}

// DecodeResponse decodes a GenerateContentResponse. It returns EINVALID
// for a body that is not one, and for parts no other protocol can carry
// (generated media, code execution).
func (Codec) DecodeResponse(body []byte) (*chat.Response, error) {
	js := unsafeString(body)
	if !gjson.Valid(js) {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer is not valid JSON.")
	}
	root := gjson.Parse(js)
	if !root.IsObject() {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The answer is not a JSON object.")
	}
	r := &chat.Response{}
	var cand, feedback gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "responseId", "response_id":
			r.ID = v.Str
		case "modelVersion", "model_version":
			r.Model = v.Str
		case "createTime", "create_time":
			if t, err := time.Parse(time.RFC3339Nano, v.Str); err == nil {
				r.Created = t.Unix()
			}
		case "candidates":
			cand = v.Get("0")
		case "promptFeedback", "prompt_feedback":
			feedback = v
		case "usageMetadata", "usage_metadata":
			if v.IsObject() {
				r.Usage = usage(v)
			}
		}
		return true
	})
	if !cand.Exists() {
		r.Finish = chat.FinishStop
		if feedback.Get("blockReason").Str != "" || feedback.Get("block_reason").Str != "" {
			r.Finish = chat.FinishContentFilter
		}
		return r, nil
	}
	var reason string
	var err error
	ncalls := 0
	cand.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "finishReason", "finish_reason":
			reason = v.Str
		case "content":
			content := v.Get("parts")
			i := 0
			content.ForEach(func(_, p gjson.Result) bool {
				r.Parts, err = answerPart(p, r.Parts, r.ID, &ncalls, "candidates[0].content.parts["+strconv.Itoa(i)+"]")
				i++
				return err == nil
			})
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	r.Finish = finish(reason, ncalls > 0)
	return r, nil
}

// answerPart decodes one part of an answer.
func answerPart(p gjson.Result, out []chat.Part, respID string, ncalls *int, f string) ([]chat.Part, error) {
	var text, call gjson.Result
	var thought bool
	var sig string
	var err error
	p.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "text":
			text = v
		case "thought":
			thought = v.Type == gjson.True
		case "thoughtSignature", "thought_signature":
			sig = v.Str
		case "functionCall", "function_call":
			call = v
		case "inlineData", "inline_data", "fileData", "file_data", "executableCode", "executable_code",
			"codeExecutionResult", "code_execution_result", "toolCall", "tool_call", "toolResponse", "tool_response":
			err = aiproxy.FieldErrorf(f+"."+camel(k.Str), "The answer holds a %s part, which no other protocol can carry.", camel(k.Str))
		}
		return err == nil
	})
	if err != nil {
		return out, err
	}
	sig, redacted := readSignature(sig)
	if redacted {
		return append(out, chat.Part{Kind: chat.KindRedactedThinking, Signature: sig}), nil
	}
	switch {
	case call.Exists():
		c := &chat.ToolCall{ID: call.Get("id").Str, Name: call.Get("name").Str, Arguments: "{}", Signature: sig}
		if a := call.Get("args"); a.IsObject() {
			c.Arguments = a.Raw
		}
		if c.ID == "" {
			c.ID = callID(respID, *ncalls)
		}
		*ncalls++
		return append(out, chat.Part{Kind: chat.KindToolCall, Call: c}), nil
	case thought:
		if n := len(out); n > 0 && out[n-1].Kind == chat.KindThinking && out[n-1].Signature == "" {
			out[n-1].Text += text.Str
			out[n-1].Signature = sig
			return out, nil
		}
		if text.Str == "" && sig == "" {
			return out, nil
		}
		return append(out, chat.Part{Kind: chat.KindThinking, Text: text.Str, Signature: sig}), nil
	}
	if sig != "" {
		out = append(out, chat.Part{Kind: chat.KindThinking, Signature: sig})
	}
	if text.Str != "" {
		if n := len(out); n > 0 && out[n-1].Kind == chat.KindText {
			out[n-1].Text += text.Str
		} else {
			out = append(out, chat.Part{Kind: chat.KindText, Text: text.Str})
		}
	}
	return out, nil
}

// EncodeResponse encodes r as a GenerateContentResponse for req. It
// returns EINVALID for a part an answer cannot hold (media, tool results).
func (Codec) EncodeResponse(r *chat.Response, req *relay.Request) ([]byte, error) {
	n := 256 + len(r.ID) + len(r.Model)
	for i := range r.Parts {
		n += partSize(&r.Parts[i])
	}
	w := &partWriter{b: make([]byte, 0, n), toClient: true}
	w.b = append(w.b, `{"candidates":[{"content":{"role":"model","parts":[`...)
	calls := false
	for i := range r.Parts {
		p := &r.Parts[i]
		field := "parts[" + strconv.Itoa(i) + "]"
		ok, err := w.common(p, field)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, aiproxy.FieldErrorf(field, "An answer cannot hold a %s part.", p.Kind)
		}
		calls = calls || p.Kind == chat.KindToolCall
	}
	w.finish()
	if w.n == 0 {
		w.b = append(w.b, `{"text":""}`...)
	}
	fin := r.Finish
	if fin == "" && calls {
		fin = chat.FinishToolCalls
	}
	b := append(w.b, `]},"finishReason":`...)
	b = jsontext.AppendString(b, finishReason(fin))
	b = append(b, `,"index":0}]`...)
	if r.Usage != nil {
		b = appendUsage(b, r.Usage)
	}
	b = append(b, `,"modelVersion":`...)
	b = jsontext.AppendString(b, r.Model)
	b = append(b, `,"responseId":`...)
	id := r.ID
	if id == "" && req != nil {
		id = req.ID
	}
	b = jsontext.AppendString(b, id)
	return append(b, '}'), nil
}

// appendUsage writes ,"usageMetadata":{...} for u.
func appendUsage(b []byte, u *aiproxy.Usage) []byte {
	b = append(b, `,"usageMetadata":{"promptTokenCount":`...)
	b = strconv.AppendInt(b, u.PromptTokens, 10)
	b = append(b, `,"candidatesTokenCount":`...)
	b = strconv.AppendInt(b, max(u.CompletionTokens-u.ReasoningTokens, 0), 10)
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	b = append(b, `,"totalTokenCount":`...)
	b = strconv.AppendInt(b, total, 10)
	if u.CachedTokens > 0 {
		b = append(b, `,"cachedContentTokenCount":`...)
		b = strconv.AppendInt(b, u.CachedTokens, 10)
	}
	if u.ReasoningTokens > 0 {
		b = append(b, `,"thoughtsTokenCount":`...)
		b = strconv.AppendInt(b, u.ReasoningTokens, 10)
	}
	return append(b, '}')
}
