package openai

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// NewStreamDecoder returns a decoder of one stream of chat.completion.chunk
// events into events of the neutral form (chat.Event's grammar). The
// first chunk yields EventStart (its id, model and created), whether or
// not it is the role chunk. In the first choice's delta, reasoning_content
// (DeepSeek) or reasoning (OpenRouter, vLLM) is thinking, LiteLLM's
// thinking_blocks carry thinking signatures and redacted thinking,
// content and refusal are text, and tool_calls are tool call blocks by
// their index: a new index closes the open block and starts a call (with
// its id, split with chat.SplitCallID, and name), and argument fragments
// are its deltas. A thinking block that got its signature (LiteLLM sends
// each whole) is closed by more thinking text or another signature,
// which start a new one, as Anthropic numbers its blocks.
//
// OpenAI streams one tool call after another. Some providers interleave
// them (all the calls' names first, then the arguments of each, the
// index going back). A call that starts while the open call's arguments
// are not yet a complete JSON value is therefore held back: its fragments
// are buffered, and it is emitted whole (start, all its arguments in one
// delta, stop) when the calls end, after the open one; calls that start
// after one was held back are held back too, so the order is kept. The
// event stream stays valid, only the calls held back arrive later.
//
// finish_reason closes the open block and yields EventFinish (a refusal
// ended by "stop" is FinishRefusal); deltas after it are ignored. A
// chunk's usage yields EventUsage, normalised as aiproxy.Usage says.
// "data: [DONE]" (Chunk.Done), or End at the end of a stream without
// it, closes what is open and yields EventEnd; nothing follows. A chunk
// with an "error" object returns a *relay.UpstreamError whose Status
// comes from the error's code or type (502 when neither tells), Type is
// the code (else the type) and Body the chunk. Decode returns EINVALID
// for a chunk that is not a JSON object, and for arguments of a call
// that had ended (which no order of events could carry). Choices other
// than the first (index 0) are left out: only one is asked for. The
// decoder reads each chunk in one pass; the fields before "choices"
// that every chunk of a stream repeats are read once.
//
// Text and Arguments of the events share memory with the chunk's Data:
// they are valid until the next call of Decode, so an encoder that keeps
// them copies them; the other strings of the events are copies.
func (Codec) NewStreamDecoder() relay.StreamDecoder {
	return &streamDecoder{cur: -1}
}

// Kinds of the open block.
const (
	openNone uint8 = iota
	openText
	openThinking
	openTool
)

// Tool call states.
const (
	callLive    uint8 = iota // its block is open
	callPending              // held back, its arguments buffered
	callDone                 // its block was closed
)

type streamDecoder struct {
	started, finished, ended bool
	open                     uint8 // kind of the open block
	next                     int   // number of the next block
	signed                   bool  // the open thinking block has a signature
	refused                  bool  // the answer has refusal text
	pending                  bool  // some tool calls are held back
	cur                      int   // the open tool call in calls, -1 none
	calls                    []streamCall
	head                     string // the first chunk's fields before "choices"
	headMembers              int    // how many they are
}

// streamCall is a tool call of the stream, by OpenAI's index.
type streamCall struct {
	index    int64
	id, name string
	sig      string
	state    uint8
	args     []byte   // the arguments of a held back call
	scan     jsonScan // the arguments of the open call
}

var _ relay.StreamDecoder = (*streamDecoder)(nil)

// chunkFields is what the decoder reads of a chunk, in one pass.
type chunkFields struct {
	id, model string
	created   int64
	usage     string // the usage object
	err       string // the error object or string
	choice    bool   // the first choice was read
	finish    string
	delta     deltaFields
}

// deltaFields is what the decoder reads of a choice's delta. The lists
// are kept as JSON text and read when used.
type deltaFields struct {
	content, reasoningContent, reasoning, refusal string
	toolCalls, blocks, functionCall               string
}

// read reads a chunk. Its fields before "choices" (id, object, created,
// model, system_fingerprint...) are the same bytes in every chunk of
// most streams: the first chunk's are kept in d.head, and a chunk that
// starts with them is read from where they end (the scanner's state
// there is the same), unless they held usage or an error.
func (f *chunkFields) read(s *jsontext.Scanner, d *streamDecoder) {
	n := 0
	switch {
	case d.head != "" && strings.HasPrefix(s.Input(), d.head):
		s.Open('{')
		s.Seek(len(d.head))
		n = d.headMembers
	case !s.Expect('{'):
		return
	}
	keep := d.head == ""
	for {
		mark := s.Offset()
		if !s.More('}', &n) {
			return
		}
		switch s.Key() {
		case "id":
			f.id = s.Text()
		case "model":
			f.model = s.Text()
		case "created":
			f.created, _ = s.Int()
		case "choices":
			if keep && n > 1 {
				d.head, d.headMembers = strings.Clone(s.Input()[:mark]), n-1
			}
			keep = false
			f.readChoices(s)
		case "usage":
			keep = false
			if s.Peek() == '{' {
				f.usage = s.Raw()
			} else {
				s.Skip()
			}
		case "error":
			keep = false
			if p := s.Peek(); p == '{' || p == '"' {
				f.err = s.Raw()
			} else {
				s.Skip()
			}
		default:
			s.Skip()
		}
	}
}

// readChoices reads the first choice (index 0; only one is asked for).
func (f *chunkFields) readChoices(s *jsontext.Scanner) {
	if !s.Enter('[') {
		return
	}
	for n := 0; s.More(']', &n); {
		if !s.Enter('{') {
			continue
		}
		var index int64
		var finish string
		var d deltaFields
		for m := 0; s.More('}', &m); {
			switch s.Key() {
			case "index":
				index, _ = s.Int()
			case "finish_reason":
				finish = s.Text()
			case "delta":
				d.read(s)
			default:
				s.Skip()
			}
		}
		if index == 0 && !f.choice {
			f.choice, f.finish, f.delta = true, finish, d
		}
	}
}

func (d *deltaFields) read(s *jsontext.Scanner) {
	if !s.Enter('{') {
		return
	}
	for n := 0; s.More('}', &n); {
		switch s.Key() {
		case "content":
			d.content = s.Text()
		case "reasoning_content":
			d.reasoningContent = s.Text()
		case "reasoning":
			d.reasoning = s.Text()
		case "refusal":
			d.refusal = s.Text()
		case "tool_calls":
			d.toolCalls = s.Raw()
		case "thinking_blocks":
			d.blocks = s.Raw()
		case "function_call":
			d.functionCall = s.Raw()
		default:
			s.Skip()
		}
	}
}

// Decode appends the events of one chunk.
func (d *streamDecoder) Decode(c *relay.Chunk, out []chat.Event) ([]chat.Event, error) {
	if d.ended {
		return out, nil
	}
	if c.Done {
		return d.end(out), nil
	}
	data := bytes.TrimSpace(c.Data)
	if len(data) == 0 {
		return out, nil
	}
	var f chunkFields
	var s jsontext.Scanner
	s.Reset(data)
	if f.read(&s, d); !s.End() {
		return out, aiproxy.Errorf(aiproxy.EINVALID, "The provider sent a stream chunk that is not a valid JSON object.")
	}
	if f.err != "" {
		return out, streamError(gjson.Parse(f.err), data)
	}
	if !d.started {
		out = d.start(out, f.id, f.model, f.created)
	}
	if f.choice && !d.finished {
		var err error
		if out, err = d.delta(out, &f.delta); err != nil {
			return out, err
		}
		if f.finish != "" {
			out = d.closeOpen(out)
			fin := finishOf(f.finish)
			if d.refused && fin == chat.FinishStop {
				fin = chat.FinishRefusal
			}
			out = append(out, chat.Event{Type: chat.EventFinish, Finish: fin})
			d.finished = true
		}
	}
	if f.usage != "" {
		out = append(out, chat.Event{Type: chat.EventUsage, Usage: usage(f.usage)})
	}
	return out, nil
}

// End closes what is open at the end of a stream without [DONE].
func (d *streamDecoder) End(out []chat.Event) ([]chat.Event, error) {
	if d.ended {
		return out, nil
	}
	return d.end(out), nil
}

func (d *streamDecoder) end(out []chat.Event) []chat.Event {
	if !d.started {
		out = d.start(out, "", "", 0)
	}
	out = d.closeOpen(out)
	d.ended = true
	return append(out, chat.Event{Type: chat.EventEnd})
}

func (d *streamDecoder) start(out []chat.Event, id, model string, created int64) []chat.Event {
	d.started = true
	return append(out, chat.Event{Type: chat.EventStart, ID: strings.Clone(id), Model: strings.Clone(model), Created: created})
}

// delta appends the events of a choice's delta: thinking, then text,
// then tool calls.
func (d *streamDecoder) delta(out []chat.Event, f *deltaFields) ([]chat.Event, error) {
	text := f.reasoningContent
	if text == "" {
		text = f.reasoning
	}
	if text != "" {
		out = d.thinking(out, text)
	}
	if f.blocks != "" {
		var s jsontext.Scanner
		s.ResetString(f.blocks)
		if s.Open('[') {
			for n := 0; s.More(']', &n); {
				var typ, thinking, sig, data string
				if !s.Enter('{') {
					continue
				}
				for m := 0; s.More('}', &m); {
					switch s.Key() {
					case "type":
						typ = s.Text()
					case "thinking":
						thinking = s.Text()
					case "signature":
						sig = s.Text()
					case "data":
						data = s.Text()
					default:
						s.Skip()
					}
				}
				switch typ {
				case "thinking":
					if thinking != "" && text == "" {
						out = d.thinking(out, thinking) // the text came only here
					}
					if sig != "" {
						out = d.signature(out, sig)
					}
				case "redacted_thinking":
					out = d.closeOpen(out)
					out = append(out,
						chat.Event{Type: chat.EventBlockStart, Index: d.next, Block: chat.KindRedactedThinking, Signature: strings.Clone(data)},
						chat.Event{Type: chat.EventBlockStop, Index: d.next})
					d.next++
				}
			}
		}
	}
	if f.content != "" {
		out = d.text(out, f.content)
	}
	if f.refusal != "" {
		d.refused = true
		out = d.text(out, f.refusal)
	}
	if f.toolCalls != "" {
		var s jsontext.Scanner
		s.ResetString(f.toolCalls)
		if s.Open('[') {
			for n := 0; s.More(']', &n); {
				var index int64
				var hasIndex bool
				var id, name, args string
				if !s.Enter('{') {
					continue
				}
				for m := 0; s.More('}', &m); {
					switch s.Key() {
					case "index":
						index, hasIndex = s.Int()
					case "id":
						id = s.Text()
					case "function":
						name, args = readFunction(&s)
					default:
						s.Skip()
					}
				}
				var err error
				if out, err = d.toolDelta(out, d.callIndex(index, hasIndex, id), id, name, args); err != nil {
					return out, err
				}
			}
		}
	}
	if f.functionCall != "" { // the legacy function_call: one call, index -1
		var s jsontext.Scanner
		s.ResetString(f.functionCall)
		if name, args := readFunction(&s); name != "" || args != "" {
			return d.toolDelta(out, -1, "", name, args)
		}
	}
	return out, nil
}

// readFunction reads a call's function: {name, arguments}.
func readFunction(s *jsontext.Scanner) (name, args string) {
	if !s.Enter('{') {
		return "", ""
	}
	for n := 0; s.More('}', &n); {
		switch s.Key() {
		case "name":
			name = s.Text()
		case "arguments":
			args = s.Text()
		default:
			s.Skip()
		}
	}
	return name, args
}

// callIndex returns the OpenAI index of a tool call delta. Providers that
// leave the index out are read by id: a new id is a new call, no id
// continues the last one.
func (d *streamDecoder) callIndex(index int64, hasIndex bool, id string) int64 {
	if hasIndex {
		return index
	}
	if id != "" {
		for i := range d.calls {
			if d.calls[i].id == id {
				return d.calls[i].index
			}
		}
		return int64(len(d.calls))
	}
	if n := len(d.calls); n > 0 {
		return d.calls[n-1].index
	}
	return 0
}

func (d *streamDecoder) text(out []chat.Event, s string) []chat.Event {
	if d.open != openText {
		out = d.closeOpen(out)
		out = d.startBlock(out, openText, chat.KindText)
	}
	return append(out, chat.Event{Type: chat.EventDelta, Index: d.next - 1, Text: s})
}

func (d *streamDecoder) thinking(out []chat.Event, s string) []chat.Event {
	if d.open != openThinking || d.signed {
		out = d.closeOpen(out)
		out = d.startBlock(out, openThinking, chat.KindThinking)
	}
	return append(out, chat.Event{Type: chat.EventDelta, Index: d.next - 1, Text: s})
}

// signature adds a signature to the open thinking block. LiteLLM sends
// a block's signature whole, in one thinking_blocks entry: a second one
// is another block's.
func (d *streamDecoder) signature(out []chat.Event, sig string) []chat.Event {
	if d.open != openThinking || d.signed {
		out = d.closeOpen(out)
		out = d.startBlock(out, openThinking, chat.KindThinking)
	}
	d.signed = true
	return append(out, chat.Event{Type: chat.EventDelta, Index: d.next - 1, Signature: strings.Clone(sig)})
}

func (d *streamDecoder) startBlock(out []chat.Event, open uint8, k chat.Kind) []chat.Event {
	d.open, d.signed = open, false
	out = append(out, chat.Event{Type: chat.EventBlockStart, Index: d.next, Block: k})
	d.next++
	return out
}

// toolDelta appends the events of a fragment of the tool call at OpenAI
// index k.
func (d *streamDecoder) toolDelta(out []chat.Event, k int64, id, name, args string) ([]chat.Event, error) {
	i := -1
	for j := range d.calls {
		if d.calls[j].index == k {
			i = j
			break
		}
	}
	if i < 0 {
		call := streamCall{index: k, name: strings.Clone(name)}
		call.id, call.sig = chat.SplitCallID(id)
		if call.id == "" {
			call.id = newID("call_")
		} else {
			call.id, call.sig = strings.Clone(call.id), strings.Clone(call.sig)
		}
		if d.open == openTool && (d.pending || !d.calls[d.cur].scan.complete()) {
			call.state = callPending
			call.args = append(call.args, args...)
			d.pending = true
			d.calls = append(d.calls, call)
			return out, nil
		}
		out = d.closeOpen(out)
		d.calls = append(d.calls, call)
		d.cur = len(d.calls) - 1
		d.open = openTool
		out = append(out, chat.Event{Type: chat.EventBlockStart, Index: d.next, Block: chat.KindToolCall, Call: &chat.ToolCall{ID: call.id, Name: call.name, Signature: call.sig}})
		d.next++
		i = d.cur
	}
	c := &d.calls[i]
	switch c.state {
	case callLive:
		if args != "" {
			c.scan.feed(args)
			out = append(out, chat.Event{Type: chat.EventDelta, Index: d.next - 1, Arguments: args})
		}
	case callPending:
		c.args = append(c.args, args...)
		if c.name == "" {
			c.name = strings.Clone(name)
		}
	case callDone:
		if strings.TrimSpace(args) != "" {
			return out, aiproxy.Errorf(aiproxy.EINVALID, "The provider sent arguments for tool call %q after the call had ended.", c.id)
		}
	}
	return out, nil
}

// closeOpen closes the open block, then emits the tool calls held back,
// each whole.
func (d *streamDecoder) closeOpen(out []chat.Event) []chat.Event {
	if d.open != openNone {
		out = append(out, chat.Event{Type: chat.EventBlockStop, Index: d.next - 1})
		if d.open == openTool {
			d.calls[d.cur].state = callDone
			d.cur = -1
		}
		d.open, d.signed = openNone, false
	}
	if !d.pending {
		return out
	}
	for i := range d.calls {
		c := &d.calls[i]
		if c.state != callPending {
			continue
		}
		out = append(out, chat.Event{Type: chat.EventBlockStart, Index: d.next, Block: chat.KindToolCall, Call: &chat.ToolCall{ID: c.id, Name: c.name, Signature: c.sig}})
		if len(c.args) > 0 {
			out = append(out, chat.Event{Type: chat.EventDelta, Index: d.next, Arguments: string(c.args)})
		}
		out = append(out, chat.Event{Type: chat.EventBlockStop, Index: d.next})
		d.next++
		c.state, c.args = callDone, nil
	}
	d.pending = false
	return out
}

// jsonScan follows the nesting of JSON text fed in fragments, to tell
// when a value is complete.
type jsonScan struct {
	depth           int
	began, str, esc bool
}

func (s *jsonScan) feed(frag string) {
	for i := 0; i < len(frag); i++ {
		c := frag[i]
		if s.str {
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				s.str = false
			}
			continue
		}
		switch c {
		case '"':
			s.str = true
		case '{', '[':
			s.depth++
			s.began = true
		case '}', ']':
			s.depth--
		}
	}
}

// complete reports whether the text fed is a complete object or array.
func (s *jsonScan) complete() bool { return s.began && s.depth <= 0 && !s.str }

// streamError returns the provider's error inside a stream.
func streamError(e gjson.Result, data []byte) *relay.UpstreamError {
	ue := &relay.UpstreamError{Status: http.StatusBadGateway, Protocol: aiproxy.ProtocolOpenAI, Body: bytes.Clone(data)}
	if e.Type == gjson.String {
		ue.Message = e.Str
		return ue
	}
	code, typ := e.Get("code"), e.Get("type").Str
	ue.Message = e.Get("message").Str
	if ue.Message == "" {
		ue.Message = e.Raw
	}
	ue.Type = code.Str
	if ue.Type == "" {
		ue.Type = typ
	}
	if code.Type == gjson.Number {
		if n := int(code.Int()); n >= 400 && n < 600 {
			ue.Status = n
			return ue
		}
	}
	if st := statusOf(code.Str); st != 0 {
		ue.Status = st
	} else if st := statusOf(typ); st != 0 {
		ue.Status = st
	}
	return ue
}

// statusOf returns the HTTP status an OpenAI error type or code stands
// for, 0 when it does not tell.
func statusOf(s string) int {
	switch s {
	case "invalid_request_error", "invalid_request", "invalid_value", "context_length_exceeded", "bad_request":
		return http.StatusBadRequest
	case "authentication_error", "invalid_api_key":
		return http.StatusUnauthorized
	case "permission_error", "permission_denied":
		return http.StatusForbidden
	case "not_found_error", "model_not_found":
		return http.StatusNotFound
	case "rate_limit_error", "rate_limit_exceeded", "insufficient_quota", "tokens", "requests":
		return http.StatusTooManyRequests
	case "server_error", "internal_error", "api_error":
		return http.StatusInternalServerError
	case "overloaded_error", "service_unavailable":
		return http.StatusServiceUnavailable
	}
	return 0
}
