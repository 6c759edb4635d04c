package anthropic

import (
	"bytes"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// This file converts streams: Anthropic events to the neutral form's and
// back, in the order Anthropic streams them and its SDKs' accumulators
// expect.

// NewStreamDecoder returns a decoder of one Anthropic stream.
func (Codec) NewStreamDecoder() relay.StreamDecoder { return &streamDecoder{cur: -1} }

// streamDecoder turns Anthropic events into neutral ones: message_start
// into Start and Usage, content blocks into block events, message_delta
// into Finish and Usage (cumulative), message_stop into End; ping and
// unknown events into nothing, citations_delta is ignored (the cited text
// is in the text deltas). Blocks Anthropic interleaves (one starts before
// the one before it stopped) are passed on one after the other, so that at
// most one is open, as the neutral form requires. The Text and Arguments
// of deltas share memory with the chunk's Data, valid until the next
// call, as package chat allows; the other strings are copies.
type streamDecoder struct {
	usage   rawUsage
	delta   bool // message_delta came
	stopped bool // message_stop came
	next    int  // the neutral index of the next block
	cur     int  // Anthropic's index of the open block, -1 none
	curIdx  int  // its neutral index
	pending []pendingBlock
}

// pendingBlock is a block started while another was open, held until that
// one stops.
type pendingBlock struct {
	index   int // Anthropic's
	events  []chat.Event
	stopped bool
}

// Decode appends the events of one chunk.
func (d *streamDecoder) Decode(c *relay.Chunk, out []chat.Event) ([]chat.Event, error) {
	if c.Data == nil {
		return out, nil
	}
	var f fields
	if !f.check(unsafeString(c.Data)) {
		return out, aiproxy.Errorf(aiproxy.EINVALID, "The provider sent an event that is not a JSON object.")
	}
	typ := unsafeString(c.Name)
	if typ == "" {
		typ = word(f.typ)
	}
	switch typ {
	case "message_start":
		var m fields
		m.read(f.message)
		out = append(out, chat.Event{Type: chat.EventStart, ID: jsontext.UnquoteClone(m.id), Model: jsontext.UnquoteClone(m.model)})
		if isObj(m.usage) {
			d.usage.merge(m.usage)
			out = d.appendUsage(out)
		}
	case "content_block_start":
		return d.blockStart(&f, out)
	case "content_block_delta":
		return d.blockDelta(&f, out)
	case "content_block_stop":
		n, _ := jsontext.Int(f.index)
		return d.blockStop(int(n), out)
	case "message_delta":
		out = d.closeAll(out)
		var dl fields
		dl.read(f.delta)
		if isString(dl.stopReason) {
			out = append(out, chat.Event{Type: chat.EventFinish, Finish: finishOf(jsontext.UnquoteClone(dl.stopReason)), StopSequence: jsontext.UnquoteClone(dl.stopSequence)})
		}
		d.delta = true
		if isObj(f.usage) {
			d.usage.merge(f.usage)
			out = d.appendUsage(out)
		}
	case "message_stop":
		out = d.closeAll(out)
		d.stopped = true
		out = append(out, chat.Event{Type: chat.EventEnd})
	case "error":
		var e fields
		e.read(f.err)
		t := jsontext.UnquoteClone(e.typ)
		msg := jsontext.UnquoteClone(e.message)
		if msg == "" {
			msg = "The provider reported an error."
		}
		return out, &relay.UpstreamError{Status: statusForType(t), Message: msg, Type: t, Protocol: aiproxy.ProtocolAnthropic, Body: bytes.Clone(c.Data)}
	}
	// ping, and events newer than this package, carry nothing.
	return out, nil
}

// appendUsage appends the usage known so far.
func (d *streamDecoder) appendUsage(out []chat.Event) []chat.Event {
	u := d.usage.normal()
	return append(out, chat.Event{Type: chat.EventUsage, Usage: &u})
}

// blockStart decodes content_block_start.
func (d *streamDecoder) blockStart(f *fields, out []chat.Event) ([]chat.Event, error) {
	n, _ := jsontext.Int(f.index)
	index := int(n)
	var bl fields
	bl.read(f.contentBlock)
	var evs [2]chat.Event
	ev := &evs[0]
	k := 1
	ev.Type = chat.EventBlockStart
	switch t := word(bl.typ); t {
	case "text":
		ev.Block = chat.KindText
		if s := jsontext.UnquoteClone(bl.text); s != "" {
			evs[1], k = chat.Event{Type: chat.EventDelta, Text: s}, 2
		}
	case "thinking":
		ev.Block = chat.KindThinking
		if s, sig := jsontext.UnquoteClone(bl.thinking), jsontext.UnquoteClone(bl.signature); s != "" || sig != "" {
			evs[1], k = chat.Event{Type: chat.EventDelta, Text: s, Signature: sig}, 2
		}
	case "redacted_thinking":
		ev.Block = chat.KindRedactedThinking
		ev.Signature = jsontext.UnquoteClone(bl.data)
	case "tool_use":
		ev.Block = chat.KindToolCall
		ev.Call = &chat.ToolCall{ID: jsontext.UnquoteClone(bl.id), Name: jsontext.UnquoteClone(bl.name)}
		if o, ok := newObject(bl.input); ok {
			if _, _, full := o.next(); full {
				evs[1], k = chat.Event{Type: chat.EventDelta, Arguments: strings.Clone(bl.input)}, 2
			}
		}
	default:
		return out, aiproxy.Errorf(aiproxy.EINVALID, "The provider streamed a %s block, which cannot be converted to another protocol.", t)
	}
	if d.cur < 0 {
		d.cur, d.curIdx = index, d.next
		d.next++
		for i := range evs[:k] {
			evs[i].Index = d.curIdx
		}
		return append(out, evs[:k]...), nil
	}
	d.pending = append(d.pending, pendingBlock{index: index, events: append([]chat.Event(nil), evs[:k]...)})
	return out, nil
}

// blockDelta decodes content_block_delta.
func (d *streamDecoder) blockDelta(f *fields, out []chat.Event) ([]chat.Event, error) {
	n, _ := jsontext.Int(f.index)
	index := int(n)
	var dl fields
	dl.read(f.delta)
	ev := chat.Event{Type: chat.EventDelta}
	switch word(dl.typ) {
	case "text_delta":
		ev.Text = jsontext.Unquote(dl.text)
	case "thinking_delta":
		ev.Text = jsontext.Unquote(dl.thinking)
	case "signature_delta":
		ev.Signature = jsontext.UnquoteClone(dl.signature)
	case "input_json_delta":
		ev.Arguments = jsontext.Unquote(dl.partialJSON)
	default:
		// citations_delta, and deltas newer than this package: the text
		// they relate to comes in text deltas.
		return out, nil
	}
	if ev.Text == "" && ev.Signature == "" && ev.Arguments == "" {
		return out, nil
	}
	if d.cur == index {
		ev.Index = d.curIdx
		return append(out, ev), nil
	}
	for i := range d.pending {
		if p := &d.pending[i]; p.index == index && !p.stopped {
			ev.Text, ev.Arguments = strings.Clone(ev.Text), strings.Clone(ev.Arguments) // held past this call
			p.events = append(p.events, ev)
			return out, nil
		}
	}
	return out, aiproxy.Errorf(aiproxy.EINVALID, "The provider streamed a delta of block %d, which is not open.", index)
}

// blockStop decodes content_block_stop, then passes on the blocks held
// while this one was open.
func (d *streamDecoder) blockStop(index int, out []chat.Event) ([]chat.Event, error) {
	if d.cur != index {
		for i := range d.pending {
			if p := &d.pending[i]; p.index == index && !p.stopped {
				p.stopped = true
				p.events = append(p.events, chat.Event{Type: chat.EventBlockStop})
				return out, nil
			}
		}
		return out, aiproxy.Errorf(aiproxy.EINVALID, "The provider stopped block %d, which is not open.", index)
	}
	out = append(out, chat.Event{Type: chat.EventBlockStop, Index: d.curIdx})
	d.cur = -1
	return d.promote(out, false), nil
}

// promote passes on held blocks in order until one that is still open;
// with all set, that one is closed too.
func (d *streamDecoder) promote(out []chat.Event, all bool) []chat.Event {
	for len(d.pending) > 0 && d.cur < 0 {
		p := d.pending[0]
		d.pending = d.pending[1:]
		idx := d.next
		d.next++
		for i := range p.events {
			p.events[i].Index = idx
		}
		out = append(out, p.events...)
		if !p.stopped {
			if all {
				out = append(out, chat.Event{Type: chat.EventBlockStop, Index: idx})
				continue
			}
			d.cur, d.curIdx = p.index, idx
		}
	}
	if len(d.pending) == 0 {
		d.pending = d.pending[:0]
	}
	return out
}

// closeAll closes the open block and every held one.
func (d *streamDecoder) closeAll(out []chat.Event) []chat.Event {
	if d.cur >= 0 {
		out = append(out, chat.Event{Type: chat.EventBlockStop, Index: d.curIdx})
		d.cur = -1
	}
	return d.promote(out, true)
}

// End ends a stream that closed without message_stop: it ended normally
// when message_delta came (the stop reason is known), and broke off
// otherwise (an *relay.UpstreamError).
func (d *streamDecoder) End(out []chat.Event) ([]chat.Event, error) {
	if d.stopped {
		return out, nil
	}
	if !d.delta {
		return out, &relay.UpstreamError{Message: "the provider's stream ended before the message did", Protocol: aiproxy.ProtocolAnthropic}
	}
	out = d.closeAll(out)
	d.stopped = true
	return append(out, chat.Event{Type: chat.EventEnd}), nil
}

// NewStreamEncoder returns an encoder of one Anthropic stream for req.
func (Codec) NewStreamEncoder(*relay.Request) relay.StreamEncoder { return &streamEncoder{} }

// streamEncoder writes neutral events as Anthropic events: message_start
// (then a ping), per block content_block_start, content_block_delta* and
// content_block_stop with one index per block from 0, and at the end
// message_delta (stop reason and usage) and message_stop. Finish and Usage
// events are kept for message_delta; message_start waits for the event
// after Start, so that usage reported with the first chunk (as Gemini
// does) is in it.
type streamEncoder struct {
	id, model string
	slab      relay.Slab // where the chunks' data are cut from
	held      bool       // Start came, message_start not written
	started   bool       // message_start written
	ended     bool
	open      bool
	kind      chat.Kind
	index     int // the index of the open block, or of the next one
	finish    chat.Finish
	stopSeq   string
	usage     aiproxy.Usage
	tools     bool // a tool_use block was written
}

// Chunk names, shared read-only by every chunk.
var (
	nameMessageStart = []byte("message_start")
	nameMessageDelta = []byte("message_delta")
	nameMessageStop  = []byte("message_stop")
	nameBlockStart   = []byte("content_block_start")
	nameBlockDelta   = []byte("content_block_delta")
	nameBlockStop    = []byte("content_block_stop")
	namePing         = []byte("ping")
)

// Encode appends the chunks of one event.
func (e *streamEncoder) Encode(ev *chat.Event, out []relay.Chunk) ([]relay.Chunk, error) {
	if e.ended {
		return out, nil
	}
	if len(out) == 0 {
		e.slab.Reset() // a new batch: the chunks before are done with
	}
	switch ev.Type {
	case chat.EventStart:
		if !e.started {
			e.id, e.model, e.held = strings.Clone(ev.ID), strings.Clone(ev.Model), true
		}
		return out, nil
	case chat.EventUsage:
		if ev.Usage != nil {
			e.usage = *ev.Usage
		}
		if e.held {
			out = e.start(out)
		}
		return out, nil
	case chat.EventFinish:
		e.finish, e.stopSeq = ev.Finish, strings.Clone(ev.StopSequence)
		return e.start(out), nil
	}
	out = e.start(out)
	switch ev.Type {
	case chat.EventBlockStart:
		out = e.stop(out)
		out = e.blockStart(ev, out)
		if ev.Block == chat.KindThinking && ev.Signature != "" {
			out = e.appendDelta(out, "signature_delta", "signature", ev.Signature)
		}
	case chat.EventDelta:
		if !e.open {
			if ev.Text == "" {
				return out, nil
			}
			out = e.blockStart(&chat.Event{Block: chat.KindText}, out)
		}
		out = e.delta(ev, out)
	case chat.EventBlockStop:
		out = e.stop(out)
	case chat.EventEnd:
		out = e.stop(out)
		out = e.end(out)
	}
	return out, nil
}

// start writes message_start and a ping, once.
func (e *streamEncoder) start(out []relay.Chunk) []relay.Chunk {
	if e.started {
		return out
	}
	e.started, e.held = true, false
	if e.id == "" {
		e.id = newID()
	}
	b := e.slab.Buf(192 + len(e.id) + len(e.model))
	b = append(b, `{"type":"message_start","message":{"id":`...)
	b = jsontext.AppendString(b, e.id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = jsontext.AppendString(b, e.model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	b = appendUsage(b, &e.usage, false)
	b = append(b, "}}"...)
	out = append(out, relay.Chunk{Name: nameMessageStart, Data: e.slab.Cut(b)})
	return append(out, relay.Chunk{Name: namePing, Data: []byte(`{"type":"ping"}`)})
}

// blockStart writes content_block_start.
func (e *streamEncoder) blockStart(ev *chat.Event, out []relay.Chunk) []relay.Chunk {
	size := 96
	if ev.Call != nil {
		size += len(ev.Call.ID) + len(ev.Call.Name) + len(ev.Call.Signature)*2
	}
	size += len(ev.Signature)
	b := e.slab.Buf(size)
	b = append(b, `{"type":"content_block_start","index":`...)
	b = appendInt(b, int64(e.index))
	b = append(b, `,"content_block":`...)
	kind := ev.Block
	switch kind {
	case chat.KindThinking:
		b = append(b, `{"type":"thinking","thinking":"","signature":""}`...)
	case chat.KindRedactedThinking:
		b = append(b, `{"type":"redacted_thinking","data":`...)
		b = jsontext.AppendString(b, ev.Signature)
		b = append(b, '}')
	case chat.KindToolCall:
		var id, sig, name string
		if ev.Call != nil {
			id, sig, name = ev.Call.ID, ev.Call.Signature, ev.Call.Name
		}
		e.tools = true
		b = append(b, `{"type":"tool_use","id":`...)
		b = jsontext.AppendString(b, chat.JoinCallID(id, sig))
		b = append(b, `,"name":`...)
		b = jsontext.AppendString(b, name)
		b = append(b, `,"input":{}}`...)
	default:
		kind = chat.KindText
		b = append(b, `{"type":"text","text":""}`...)
	}
	b = append(b, '}')
	e.open, e.kind = true, kind
	return append(out, relay.Chunk{Name: nameBlockStart, Data: e.slab.Cut(b)})
}

// delta writes the content_block_delta events of ev for the open block.
func (e *streamEncoder) delta(ev *chat.Event, out []relay.Chunk) []relay.Chunk {
	switch e.kind {
	case chat.KindText:
		if ev.Text != "" {
			out = e.appendDelta(out, "text_delta", "text", ev.Text)
		}
	case chat.KindThinking:
		if ev.Text != "" {
			out = e.appendDelta(out, "thinking_delta", "thinking", ev.Text)
		}
		if ev.Signature != "" {
			out = e.appendDelta(out, "signature_delta", "signature", ev.Signature)
		}
	case chat.KindToolCall:
		if ev.Arguments != "" {
			out = e.appendDelta(out, "input_json_delta", "partial_json", ev.Arguments)
		}
	}
	return out
}

// appendDelta appends {"type":"content_block_delta","index",
// "delta":{"type":typ,key:s}}.
func (e *streamEncoder) appendDelta(out []relay.Chunk, typ, key, s string) []relay.Chunk {
	b := e.slab.Buf(80 + len(s) + len(s)/8)
	b = append(b, `{"type":"content_block_delta","index":`...)
	b = appendInt(b, int64(e.index))
	b = append(b, `,"delta":{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","`...)
	b = append(b, key...)
	b = append(b, `":`...)
	b = jsontext.AppendString(b, s)
	b = append(b, "}}"...)
	return append(out, relay.Chunk{Name: nameBlockDelta, Data: e.slab.Cut(b)})
}

// stop writes content_block_stop for the open block, if any.
func (e *streamEncoder) stop(out []relay.Chunk) []relay.Chunk {
	if !e.open {
		return out
	}
	e.open = false
	b := e.slab.Buf(48)
	b = append(b, `{"type":"content_block_stop","index":`...)
	b = appendInt(b, int64(e.index))
	b = append(b, '}')
	e.index++
	return append(out, relay.Chunk{Name: nameBlockStop, Data: e.slab.Cut(b)})
}

// end writes message_delta and message_stop.
func (e *streamEncoder) end(out []relay.Chunk) []relay.Chunk {
	e.ended = true
	b := e.slab.Buf(224 + len(e.stopSeq))
	b = append(b, `{"type":"message_delta","delta":{"stop_reason":`...)
	b = jsontext.AppendString(b, stopReason(e.finish, e.stopSeq, e.tools))
	b = append(b, `,"stop_sequence":`...)
	if e.stopSeq != "" {
		b = jsontext.AppendString(b, e.stopSeq)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `},"usage":`...)
	b = appendUsage(b, &e.usage, true)
	b = append(b, '}')
	out = append(out, relay.Chunk{Name: nameMessageDelta, Data: e.slab.Cut(b)})
	return append(out, relay.Chunk{Name: nameMessageStop, Data: []byte(`{"type":"message_stop"}`)})
}
