package openai

import (
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// NewStreamEncoder returns an encoder of events into chat.completion.chunk
// events, as OpenAI streams them: every chunk has the id of EventStart (a
// new "chatcmpl-" id when it has none), object "chat.completion.chunk",
// created (EventStart's, else now), model and one choice {index 0, delta,
// logprobs null, finish_reason}. EventStart is the role chunk
// ({"role":"assistant","content":"","refusal":null}); text deltas are
// content; thinking deltas are reasoning_content, and a thinking block's
// signature, gathered until the block ends, one LiteLLM thinking_blocks
// entry ([{"type":"thinking","thinking":"","signature"}]); a redacted
// thinking block is a thinking_blocks redacted_thinking entry; a tool
// call block is a tool_calls entry with its index (tool calls counted
// from 0), its id joined to its signature (chat.JoinCallID), type and
// name, then one entry per argument fragment; EventFinish is the chunk
// with an empty delta and the finish_reason (see finishReason);
// EventUsage is kept for EventEnd, which yields the usage chunk (no
// choices, Chunk.UsageOnly set: the framer drops it for clients that did
// not ask for it) when usage is known, then [DONE] (Chunk.Done). Nothing
// follows EventEnd. Each chunk's Data is its own: the encoder cuts them
// from buffers it never reuses. Encode returns EINVALID for a block of
// media, which chat completions cannot stream. req is not needed: the
// framer decides who gets the usage chunk.
func (Codec) NewStreamEncoder(req *relay.Request) relay.StreamEncoder {
	return &streamEncoder{}
}

type streamEncoder struct {
	head    []byte         // the chunks' fields before "choices"
	started bool           // the role chunk was sent
	ended   bool           // [DONE] was sent
	open    chat.Kind      // the open block's kind, 0 none
	call    int            // the open tool call's index
	calls   int            // the number of tool calls started
	usage   *aiproxy.Usage // &u once usage came
	u       aiproxy.Usage
	slab    relay.Slab // where the chunks' data are cut from
	sig     []byte     // the signature of the open thinking block
}

var _ relay.StreamEncoder = (*streamEncoder)(nil)

// Encode appends the chunks of one event.
func (e *streamEncoder) Encode(ev *chat.Event, out []relay.Chunk) ([]relay.Chunk, error) {
	if e.ended {
		return out, nil
	}
	if len(out) == 0 {
		e.slab.Reset() // a new batch: the chunks before are done with
	}
	if !e.started {
		if ev.Type == chat.EventStart {
			return e.start(ev.ID, ev.Model, ev.Created, out), nil
		}
		out = e.start("", "", 0, out)
	}
	switch ev.Type {
	case chat.EventBlockStart:
		out = e.closeBlock(out)
		e.open = ev.Block
		switch ev.Block {
		case chat.KindRedactedThinking:
			b := e.chunk(len(ev.Signature) + 64)
			b = append(b, `{"thinking_blocks":[`...)
			b = appendRedactedBlock(b, ev.Signature)
			out = e.emit(out, append(b, "]}"...))
		case chat.KindToolCall:
			if ev.Call == nil {
				return out, aiproxy.Errorf(aiproxy.EINTERNAL, "openai: tool call block without a call")
			}
			e.call = e.calls
			e.calls++
			b := e.chunk(len(ev.Call.ID) + len(ev.Call.Signature)*2 + len(ev.Call.Name) + 96)
			b = append(b, `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(e.call), 10)
			b = append(b, `,"id":`...)
			b = jsontext.AppendString(b, chat.JoinCallID(ev.Call.ID, ev.Call.Signature))
			b = append(b, `,"type":"function","function":{"name":`...)
			b = jsontext.AppendString(b, ev.Call.Name)
			out = e.emit(out, append(b, `,"arguments":""}}]}`...))
		case chat.KindText, chat.KindThinking:
		default:
			return out, aiproxy.Errorf(aiproxy.EINVALID, "The answer streams %s, which chat completions cannot carry.", ev.Block)
		}
	case chat.EventDelta:
		out = e.delta(ev, out)
	case chat.EventBlockStop:
		out = e.closeBlock(out)
	case chat.EventFinish:
		out = e.closeBlock(out)
		out = append(out, relay.Chunk{Data: e.chunkFinish(finishReason(ev.Finish, e.calls > 0))})
	case chat.EventUsage:
		if ev.Usage != nil {
			e.u, e.usage = *ev.Usage, &e.u
		}
	case chat.EventEnd:
		out = e.closeBlock(out)
		e.ended = true
		if e.usage != nil {
			b := e.alloc(200)
			b = append(b, e.head...)
			b = append(b, `"choices":[],"usage":`...)
			b = appendUsage(b, e.usage)
			out = append(out, relay.Chunk{Data: e.cut(append(b, '}')), UsageOnly: true, Usage: e.usage})
		}
		out = append(out, relay.Chunk{Done: true})
	}
	return out, nil
}

// delta appends the chunk of a delta to the open block.
func (e *streamEncoder) delta(ev *chat.Event, out []relay.Chunk) []relay.Chunk {
	switch e.open {
	case chat.KindText:
		return e.text(out, `{"content":`, ev.Text)
	case chat.KindThinking:
		e.sig = append(e.sig, ev.Signature...)
		return e.text(out, `{"reasoning_content":`, ev.Text)
	case chat.KindToolCall:
		if ev.Arguments == "" {
			return out
		}
		b := e.chunk(len(ev.Arguments) + len(ev.Arguments)/4 + 64)
		b = append(b, `{"tool_calls":[{"index":`...)
		b = strconv.AppendInt(b, int64(e.call), 10)
		b = append(b, `,"function":{"arguments":`...)
		b = jsontext.AppendString(b, ev.Arguments)
		return e.emit(out, append(b, "}}]}"...))
	}
	return out
}

// closeBlock ends the open block: a thinking block's signature, whose
// fragments were gathered, goes out whole, as LiteLLM streams it (one
// thinking_blocks entry per signature, so that two signed blocks in a
// row stay apart).
func (e *streamEncoder) closeBlock(out []relay.Chunk) []relay.Chunk {
	if e.open == chat.KindThinking && len(e.sig) > 0 {
		b := e.chunk(len(e.sig) + 80)
		b = append(b, `{"thinking_blocks":[`...)
		b = appendThinkingBlock(b, "", unsafeString(e.sig))
		out = e.emit(out, append(b, "]}"...))
		e.sig = e.sig[:0]
	}
	e.open = 0
	return out
}

// text appends the chunk of a delta {key: text}, none for "". key is
// the delta's opening: `{"content":`.
func (e *streamEncoder) text(out []relay.Chunk, key, text string) []relay.Chunk {
	if text == "" {
		return out
	}
	b := e.chunk(len(key) + len(text) + len(text)/8 + 4)
	b = append(b, key...)
	b = jsontext.AppendString(b, text)
	return e.emit(out, append(b, '}'))
}

// start sets the chunks' header and appends the role chunk.
func (e *streamEncoder) start(id, model string, created int64, out []relay.Chunk) []relay.Chunk {
	e.started = true
	if id == "" {
		id = newID("chatcmpl-")
	}
	if created == 0 {
		created = time.Now().Unix()
	}
	h := make([]byte, 0, len(id)+len(model)+80)
	h = append(h, `{"id":`...)
	h = jsontext.AppendString(h, id)
	h = append(h, `,"object":"chat.completion.chunk","created":`...)
	h = strconv.AppendInt(h, created, 10)
	h = append(h, `,"model":`...)
	h = jsontext.AppendString(h, model)
	e.head = append(h, ',')
	b := e.chunk(48)
	return e.emit(out, append(b, `{"role":"assistant","content":"","refusal":null}`...))
}

// choiceHead opens the one choice, before its delta.
const choiceHead = `"choices":[{"index":0,"delta":`

// alloc returns an empty buffer for a chunk of about n bytes (plus the
// head), to be ended with cut.
func (e *streamEncoder) alloc(n int) []byte {
	return e.slab.Buf(n + len(e.head) + len(choiceHead) + 48)
}

func (e *streamEncoder) cut(b []byte) []byte { return e.slab.Cut(b) }

// chunk returns a buffer holding the chunk's head up to its delta, with
// room for n more bytes.
func (e *streamEncoder) chunk(n int) []byte {
	b := e.alloc(n)
	b = append(b, e.head...)
	return append(b, choiceHead...)
}

// emit appends the chunk whose delta ends b.
func (e *streamEncoder) emit(out []relay.Chunk, b []byte) []relay.Chunk {
	return append(out, relay.Chunk{Data: e.cut(append(b, `,"logprobs":null,"finish_reason":null}]}`...))})
}

// chunkFinish returns the finish chunk.
func (e *streamEncoder) chunkFinish(reason string) []byte {
	b := e.chunk(len(reason) + 2)
	b = append(b, `{},"logprobs":null,"finish_reason":"`...)
	b = append(b, reason...)
	return e.cut(append(b, `"}]}`...))
}
