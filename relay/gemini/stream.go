package gemini

import (
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// Streams. Gemini streams GenerateContentResponse chunks, each with the
// parts generated since the last one; a function call comes whole, in one
// part; finishReason comes with the last chunk, usageMetadata (cumulative)
// with every chunk; nothing marks the end.
//
// The decoder turns each chunk into events: the first chunk starts the
// answer (ID from responseId, Model from modelVersion); text continues
// the open text block or closes the open block and opens one; thought
// parts do the same with a thinking block, their signatures as Signature
// deltas (a thought part after a signed one opens a new block); a
// signature on a text part is a thinking block of its own, with no text,
// before it; a functionCall is a whole tool call block (BlockStart with ID,
// made up as "call_<responseId>_<n>" when absent, Name and Signature; one
// Delta with the arguments; BlockStop); usageMetadata an EventUsage when it
// changed; finishReason closes the open block and gives EventFinish
// (FinishToolCalls when the answer called functions). End closes what is
// open and ends the answer. A chunk {"error": {...}} is the provider's
// error: an *relay.UpstreamError with Status error.code. Chunks are read
// with a scanner in one pass; the Text and Arguments of the events share
// memory with the chunk's Data and the Usage of an EventUsage is memory
// the next call reuses, all valid until the next call (an encoder copies
// what it keeps, as package chat says); the other strings are copies.
//
// The encoder writes a chunk for each text or thinking delta (one part,
// {"text"} or {"text", "thought": true}); a thinking block's signature,
// gathered from its deltas, as a part of its own {"text": "", "thought":
// true, "thoughtSignature"} when the block closes; a tool call, gathered
// from BlockStart to BlockStop, as one functionCall part {id, name, args}
// with its thoughtSignature; and at the end a chunk with finishReason, the
// usage and an empty text part (Google's last chunks have one). Every chunk
// has responseId and modelVersion.

// NewStreamDecoder returns a decoder of one Gemini stream (see above). Its
// Decode returns an *relay.UpstreamError for an error chunk, and EINVALID
// for a chunk that is not a GenerateContentResponse or holds parts no other
// protocol can carry (generated media, code execution).
func (Codec) NewStreamDecoder() relay.StreamDecoder { return &streamDecoder{} }

type streamDecoder struct {
	sc, sub  jsontext.Scanner
	started  bool
	open     chat.Kind // the open block's kind, 0 none
	signed   bool      // the open thinking block has its signature
	index    int       // the next block's index
	calls    int
	finished bool
	id       string
	usage    aiproxy.Usage // the last usage reported
	event    aiproxy.Usage // the usage of the last EventUsage, which the next call reuses
	hasUsage bool
	// eventUsed is set once event is given out in the current call.
	eventUsed bool
}

var _ relay.StreamDecoder = (*streamDecoder)(nil)

// Decode appends the events of one chunk.
func (d *streamDecoder) Decode(c *relay.Chunk, out []chat.Event) ([]chat.Event, error) {
	d.eventUsed = false
	sc := &d.sc
	sc.Reset(c.Data)
	if sc.Peek() == '[' {
		// A chunk of the JSON-array framing that came whole.
		sc.Open('[')
		var err error
		for n := 0; err == nil && sc.More(']', &n); {
			out, err = d.chunk(sc.Raw(), out)
		}
		if err == nil && !sc.End() {
			err = errChunk()
		}
		return out, err
	}
	return d.chunk(sc.Input(), out)
}

func errChunk() error {
	return aiproxy.Errorf(aiproxy.EINVALID, "A chunk of the Gemini stream is not a JSON object.")
}

// chunk decodes one GenerateContentResponse in one pass; in the first
// chunk the candidates are read after the other members, because
// responseId, which the first events need, comes after them.
func (d *streamDecoder) chunk(js string, out []chat.Event) ([]chat.Event, error) {
	sc := &d.sub
	sc.ResetString(js)
	if !sc.Expect('{') {
		return out, errChunk()
	}
	var cands, model, reason string
	var blocked, hasUsage bool
	var u aiproxy.Usage
	var err error
	for n := 0; err == nil && sc.More('}', &n); {
		switch sc.Key() {
		case "error":
			return out, streamError(sc, js)
		case "responseId", "response_id":
			if id := sc.Text(); !d.started {
				d.id = strings.Clone(id)
			}
		case "modelVersion", "model_version":
			model = sc.Text()
		case "candidates":
			if !d.started {
				cands = sc.Raw()
				break
			}
			out, reason, err = d.candidates(sc, out)
		case "promptFeedback", "prompt_feedback":
			blocked = feedbackBlocked(sc)
		case "usageMetadata", "usage_metadata":
			if sc.Peek() == '{' {
				u, hasUsage = scanUsage(sc), true
			} else {
				sc.Skip()
			}
		default:
			sc.Skip()
		}
	}
	if err != nil {
		return out, err
	}
	if !sc.End() {
		return out, aiproxy.Errorf(aiproxy.EINVALID, "A chunk of the Gemini stream is not valid JSON.")
	}
	if !d.started {
		d.started = true
		out = append(out, chat.Event{Type: chat.EventStart, ID: d.id, Model: strings.Clone(model)})
		if cands != "" {
			var cs jsontext.Scanner
			cs.ResetString(cands)
			if out, reason, err = d.candidates(&cs, out); err != nil {
				return out, err
			}
		}
	}
	if !d.finished {
		switch {
		case reason != "":
			out = d.close(out)
			d.finished = true
			out = append(out, chat.Event{Type: chat.EventFinish, Finish: finish(reason, d.calls > 0)})
		case blocked:
			out = d.close(out)
			d.finished = true
			out = append(out, chat.Event{Type: chat.EventFinish, Finish: chat.FinishContentFilter})
		}
	}
	if hasUsage && (!d.hasUsage || u != d.usage) {
		d.usage, d.hasUsage = u, true
		p := &d.event
		if d.eventUsed {
			p = new(aiproxy.Usage) // a second usage in one call: an array chunk
		}
		*p, d.eventUsed = u, true
		out = append(out, chat.Event{Type: chat.EventUsage, Usage: p})
	}
	return out, nil
}

// streamError reads an {"error": {...}} chunk, the scanner at the error
// object.
func streamError(sc *jsontext.Scanner, js string) error {
	ue := &relay.UpstreamError{Protocol: aiproxy.ProtocolGemini, Body: []byte(js)}
	raw := sc.Raw()
	var e jsontext.Scanner
	e.ResetString(raw)
	if e.Expect('{') {
		for n := 0; e.More('}', &n); {
			switch e.Key() {
			case "code":
				ue.Status = int(count(&e))
			case "message":
				ue.Message = strings.Clone(e.Text())
			case "status":
				ue.Type = strings.Clone(e.Text())
			default:
				e.Skip()
			}
		}
	}
	if ue.Status < 400 || ue.Status > 599 {
		ue.Status = 500
	}
	if ue.Message == "" {
		ue.Message = raw
	}
	return ue
}

// feedbackBlocked reads promptFeedback: whether it has a blockReason.
func feedbackBlocked(sc *jsontext.Scanner) bool {
	if sc.Peek() != '{' {
		sc.Skip()
		return false
	}
	sc.Open('{')
	blocked := false
	for n := 0; sc.More('}', &n); {
		switch sc.Key() {
		case "blockReason", "block_reason":
			blocked = sc.Text() != ""
		default:
			sc.Skip()
		}
	}
	return blocked
}

// count reads a token count: a number, truncated; 0 for a value of
// another type.
func count(sc *jsontext.Scanner) int64 {
	n, _ := sc.Int()
	return n
}

// scanUsage reads a usageMetadata object, the scanner at it, into the
// gateway's usage: PromptTokens is promptTokenCount (which includes cached
// content) plus toolUsePromptTokenCount, CompletionTokens is
// candidatesTokenCount plus thoughtsTokenCount (Gemini reports thoughts
// apart), ReasoningTokens is thoughtsTokenCount and CachedTokens
// cachedContentTokenCount.
func scanUsage(sc *jsontext.Scanner) aiproxy.Usage {
	var out aiproxy.Usage
	var candidates, thoughts, toolUse int64
	sc.Open('{')
	for n := 0; sc.More('}', &n); {
		switch sc.Key() {
		case "promptTokenCount", "prompt_token_count":
			out.PromptTokens = count(sc)
		case "candidatesTokenCount", "candidates_token_count":
			candidates = count(sc)
		case "thoughtsTokenCount", "thoughts_token_count":
			thoughts = count(sc)
		case "toolUsePromptTokenCount", "tool_use_prompt_token_count":
			toolUse = count(sc)
		case "cachedContentTokenCount", "cached_content_token_count":
			out.CachedTokens = count(sc)
		case "totalTokenCount", "total_token_count":
			out.TotalTokens = count(sc)
		case "promptTokensDetails", "prompt_tokens_details":
			image, audio := modalities(sc)
			out.ImageInputTokens, out.AudioInputTokens = image, audio
		case "candidatesTokensDetails", "candidates_tokens_details":
			image, audio := modalities(sc)
			out.ImageOutputTokens, out.AudioOutputTokens = image, audio
		default:
			sc.Skip()
		}
	}
	out.PromptTokens += toolUse
	out.CompletionTokens = candidates + thoughts
	out.ReasoningTokens = thoughts
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return out
}

// modalities reads a list of ModalityTokenCount ({"modality": "IMAGE",
// "tokenCount": 258}), the scanner at it, and returns the image and audio
// counts (video counts as image).
func modalities(sc *jsontext.Scanner) (image, audio int64) {
	if !sc.Enter('[') {
		return 0, 0
	}
	for n := 0; sc.More(']', &n); {
		if !sc.Enter('{') {
			continue
		}
		var modality string
		var tokens int64
		for m := 0; sc.More('}', &m); {
			switch sc.Key() {
			case "modality":
				modality = sc.Str()
			case "tokenCount", "token_count":
				tokens = count(sc)
			default:
				sc.Skip()
			}
		}
		switch modality {
		case "IMAGE", "VIDEO":
			image += tokens
		case "AUDIO":
			audio += tokens
		}
	}
	return image, audio
}

// candidates decodes the first candidate's parts, the scanner at the
// candidates array, and returns its finishReason.
func (d *streamDecoder) candidates(sc *jsontext.Scanner, out []chat.Event) ([]chat.Event, string, error) {
	reason := ""
	if !sc.Expect('[') {
		return out, "", errChunk()
	}
	var err error
	for n := 0; err == nil && sc.More(']', &n); {
		if n > 1 || !sc.Expect('{') {
			sc.Skip()
			continue
		}
		for m := 0; err == nil && sc.More('}', &m); {
			switch sc.Key() {
			case "content":
				if d.finished || sc.Peek() != '{' {
					sc.Skip()
					break
				}
				sc.Open('{')
				for k := 0; err == nil && sc.More('}', &k); {
					if sc.Key() != "parts" || sc.Peek() != '[' {
						sc.Skip()
						continue
					}
					sc.Open('[')
					for p := 0; err == nil && sc.More(']', &p); {
						out, err = d.part(sc, out)
					}
				}
			case "finishReason", "finish_reason":
				reason = strings.Clone(sc.Text())
			default:
				sc.Skip()
			}
		}
	}
	if err == nil && !sc.OK() {
		err = errChunk()
	}
	return out, reason, err
}

// part appends the events of one part, the scanner at it.
func (d *streamDecoder) part(sc *jsontext.Scanner, out []chat.Event) ([]chat.Event, error) {
	if !sc.Expect('{') {
		return out, errChunk()
	}
	var text, sig, args string
	var thought, isCall bool
	var call chat.ToolCall // copied when the part is a call, so that it is allocated only then
	for n := 0; sc.More('}', &n); {
		switch k := sc.Key(); k {
		case "text":
			text = sc.Str()
		case "thought":
			thought = sc.Bool()
		case "thoughtSignature", "thought_signature":
			sig = sc.StrClone()
		case "functionCall", "function_call":
			isCall = true
			if !sc.Expect('{') {
				return out, errChunk()
			}
			for m := 0; sc.More('}', &m); {
				switch sc.Key() {
				case "id":
					call.ID = strings.Clone(sc.Text())
				case "name":
					call.Name = strings.Clone(sc.Text())
				case "args":
					if sc.Peek() == '{' {
						args = sc.Raw()
					} else {
						sc.Skip()
					}
				default:
					sc.Skip()
				}
			}
		case "inlineData", "inline_data", "fileData", "file_data", "executableCode", "executable_code",
			"codeExecutionResult", "code_execution_result", "toolCall", "tool_call", "toolResponse", "tool_response":
			return out, aiproxy.Errorf(aiproxy.EINVALID, "The stream holds a %s part, which no other protocol can carry.", camel(k))
		default:
			sc.Skip()
		}
	}
	if !sc.OK() {
		return out, errChunk()
	}
	sig, redacted := readSignature(sig)
	if redacted {
		out = d.close(out)
		i := d.index
		d.index++
		return append(out,
			chat.Event{Type: chat.EventBlockStart, Index: i, Block: chat.KindRedactedThinking, Signature: sig},
			chat.Event{Type: chat.EventBlockStop, Index: i},
		), nil
	}
	switch {
	case isCall:
		out = d.close(out)
		tc := new(chat.ToolCall)
		*tc = call
		tc.Signature = sig
		if tc.ID == "" {
			tc.ID = callID(d.id, d.calls)
		}
		d.calls++
		if args == "" {
			args = "{}"
		}
		i := d.index
		d.index++
		return append(out,
			chat.Event{Type: chat.EventBlockStart, Index: i, Block: chat.KindToolCall, Call: tc},
			chat.Event{Type: chat.EventDelta, Index: i, Arguments: args},
			chat.Event{Type: chat.EventBlockStop, Index: i},
		), nil
	case thought:
		if d.open != chat.KindThinking || d.signed {
			out = d.close(out)
			out = d.openBlock(chat.KindThinking, out)
		}
		if text != "" {
			out = append(out, chat.Event{Type: chat.EventDelta, Index: d.index - 1, Text: text})
		}
		if sig != "" {
			d.signed = true
			out = append(out, chat.Event{Type: chat.EventDelta, Index: d.index - 1, Signature: sig})
		}
		return out, nil
	}
	if sig != "" {
		out = d.close(out)
		out = d.openBlock(chat.KindThinking, out)
		out = append(out, chat.Event{Type: chat.EventDelta, Index: d.index - 1, Signature: sig})
		out = d.close(out)
	}
	if text != "" {
		if d.open != chat.KindText {
			out = d.close(out)
			out = d.openBlock(chat.KindText, out)
		}
		out = append(out, chat.Event{Type: chat.EventDelta, Index: d.index - 1, Text: text})
	}
	return out, nil
}

func (d *streamDecoder) openBlock(k chat.Kind, out []chat.Event) []chat.Event {
	d.open, d.signed = k, false
	out = append(out, chat.Event{Type: chat.EventBlockStart, Index: d.index, Block: k})
	d.index++
	return out
}

// close closes the open block.
func (d *streamDecoder) close(out []chat.Event) []chat.Event {
	if d.open == 0 {
		return out
	}
	d.open, d.signed = 0, false
	return append(out, chat.Event{Type: chat.EventBlockStop, Index: d.index - 1})
}

// End closes what is open and ends the answer: Gemini has no end marker.
func (d *streamDecoder) End(out []chat.Event) ([]chat.Event, error) {
	if !d.started {
		d.started = true
		out = append(out, chat.Event{Type: chat.EventStart})
	}
	out = d.close(out)
	return append(out, chat.Event{Type: chat.EventEnd}), nil
}

// NewStreamEncoder returns an encoder of one stream for req (see above);
// the answer's id, when the stream gives none, is req.ID (none for a nil
// req). Its Encode returns EUPSTREAM for tool arguments that are not a
// JSON object, which Gemini clients could not read.
func (Codec) NewStreamEncoder(req *relay.Request) relay.StreamEncoder {
	e := &streamEncoder{}
	if req != nil {
		e.reqID = req.ID
	}
	return e
}

type streamEncoder struct {
	reqID   string
	slab    relay.Slab // where the chunks' data are cut from
	id      string
	model   string
	block   chat.Kind
	sig     []byte // the open thinking block's signature
	call    chat.ToolCall
	args    []byte
	calls   bool
	finish  chat.Finish
	usage   aiproxy.Usage
	hasUse  bool
	started bool
}

var _ relay.StreamEncoder = (*streamEncoder)(nil)

// Encode appends the chunks of one event.
func (e *streamEncoder) Encode(ev *chat.Event, out []relay.Chunk) ([]relay.Chunk, error) {
	if len(out) == 0 {
		e.slab.Reset() // a new batch: the chunks before are done with
	}
	switch ev.Type {
	case chat.EventStart:
		e.started = true
		e.id, e.model = strings.Clone(ev.ID), strings.Clone(ev.Model)
		if e.id == "" {
			e.id = e.reqID
		}
	case chat.EventBlockStart:
		e.block = ev.Block
		switch ev.Block {
		case chat.KindThinking:
			e.sig = append(e.sig[:0], ev.Signature...)
		case chat.KindRedactedThinking:
			return append(out, e.part(func(b []byte) []byte {
				b = append(b, `"text":"","thought":true,"thoughtSignature":`...)
				return jsontext.AppendString(b, wireSignature(ev.Signature, true))
			})), nil
		case chat.KindToolCall:
			e.call = chat.ToolCall{}
			if c := ev.Call; c != nil {
				e.call = chat.ToolCall{ID: strings.Clone(c.ID), Name: strings.Clone(c.Name), Signature: strings.Clone(c.Signature)}
			}
			e.args = e.args[:0]
		}
	case chat.EventDelta:
		switch e.block {
		case chat.KindText:
			if ev.Text != "" {
				return append(out, e.part(func(b []byte) []byte {
					b = append(b, `"text":`...)
					return jsontext.AppendString(b, ev.Text)
				})), nil
			}
		case chat.KindThinking:
			e.sig = append(e.sig, ev.Signature...)
			if ev.Text != "" {
				return append(out, e.part(func(b []byte) []byte {
					b = append(b, `"text":`...)
					b = jsontext.AppendString(b, ev.Text)
					return append(b, `,"thought":true`...)
				})), nil
			}
		case chat.KindToolCall:
			e.args = append(e.args, ev.Arguments...)
		}
	case chat.EventBlockStop:
		k := e.block
		e.block = 0
		switch k {
		case chat.KindThinking:
			if len(e.sig) > 0 {
				sig := wireSignature(string(e.sig), false)
				return append(out, e.part(func(b []byte) []byte {
					b = append(b, `"text":"","thought":true,"thoughtSignature":`...)
					return jsontext.AppendString(b, sig)
				})), nil
			}
		case chat.KindToolCall:
			e.calls = true
			return e.toolCall(out)
		}
	case chat.EventFinish:
		e.finish = ev.Finish
	case chat.EventUsage:
		if ev.Usage != nil {
			e.usage, e.hasUse = *ev.Usage, true
		}
	case chat.EventEnd:
		return append(out, e.last()), nil
	}
	return out, nil
}

// toolCall writes the gathered call as one functionCall part.
func (e *streamEncoder) toolCall(out []relay.Chunk) ([]relay.Chunk, error) {
	args := e.args
	if len(trimSpace(args)) == 0 {
		args = []byte("{}")
	}
	e.call.Arguments = unsafeString(args)
	w := &partWriter{b: e.head(len(args) + len(e.call.Name) + len(e.call.ID) + len(e.call.Signature) + 64), toClient: true}
	if err := w.call(&e.call, "arguments"); err != nil {
		return out, aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider streamed the arguments of %q, which are not a JSON object.", e.call.Name)
	}
	e.call = chat.ToolCall{}
	return append(out, relay.Chunk{Data: e.tail(w.b)}), nil
}

// part returns a chunk of one part, written by body.
func (e *streamEncoder) part(body func([]byte) []byte) relay.Chunk {
	b := e.head(64)
	b = append(b, '{')
	b = body(b)
	b = append(b, '}')
	return relay.Chunk{Data: e.tail(b)}
}

// head starts a chunk whose parts take about n bytes.
func (e *streamEncoder) head(n int) []byte {
	b := e.slab.Buf(n + len(e.id) + len(e.model) + 128)
	return append(b, `{"candidates":[{"content":{"role":"model","parts":[`...)
}

// tail ends a chunk after its parts.
func (e *streamEncoder) tail(b []byte) []byte {
	b = append(b, `]},"index":0}],"modelVersion":`...)
	b = jsontext.AppendString(b, e.model)
	b = append(b, `,"responseId":`...)
	b = jsontext.AppendString(b, e.id)
	return e.slab.Cut(append(b, '}'))
}

// last returns the final chunk: finishReason, usage, an empty text part.
func (e *streamEncoder) last() relay.Chunk {
	b := e.head(160)
	fin := e.finish
	if fin == "" && e.calls {
		fin = chat.FinishToolCalls
	}
	b = append(b, `{"text":""}]},"finishReason":`...)
	b = jsontext.AppendString(b, finishReason(fin))
	b = append(b, `,"index":0}]`...)
	if e.hasUse {
		b = appendUsage(b, &e.usage)
	}
	b = append(b, `,"modelVersion":`...)
	b = jsontext.AppendString(b, e.model)
	b = append(b, `,"responseId":`...)
	b = jsontext.AppendString(b, e.id)
	return relay.Chunk{Data: e.slab.Cut(append(b, '}'))}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
