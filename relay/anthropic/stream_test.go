package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// eventView shows a chat.Event in golden files.
type eventView struct {
	Type         string         `json:"type"`
	Index        *int           `json:"index,omitempty"`
	ID           string         `json:"id,omitempty"`
	Model        string         `json:"model,omitempty"`
	Block        string         `json:"block,omitempty"`
	Call         *chat.ToolCall `json:"call,omitempty"`
	Text         string         `json:"text,omitempty"`
	Arguments    string         `json:"arguments,omitempty"`
	Signature    string         `json:"signature,omitempty"`
	Finish       chat.Finish    `json:"finish,omitempty"`
	StopSequence string         `json:"stop_sequence,omitempty"`
	Usage        *aiproxy.Usage `json:"usage,omitempty"`
	Error        string         `json:"error,omitempty"`
}

var eventNames = map[chat.EventType]string{
	chat.EventStart: "start", chat.EventBlockStart: "block_start", chat.EventDelta: "delta", chat.EventBlockStop: "block_stop",
	chat.EventFinish: "finish", chat.EventUsage: "usage", chat.EventEnd: "end",
}

func viewEvent(ev chat.Event) eventView {
	v := eventView{Type: eventNames[ev.Type], ID: ev.ID, Model: ev.Model, Call: ev.Call, Text: ev.Text, Arguments: ev.Arguments,
		Signature: ev.Signature, Finish: ev.Finish, StopSequence: ev.StopSequence, Usage: ev.Usage}
	switch ev.Type {
	case chat.EventBlockStart, chat.EventDelta, chat.EventBlockStop:
		i := ev.Index
		v.Index = &i
	}
	if ev.Type == chat.EventBlockStart {
		v.Block = ev.Block.String()
	}
	return v
}

// decodeStream runs chunks through a stream decoder, End included, and
// returns the events and the error that stopped it.
func decodeStream(tb testing.TB, chunks []relay.Chunk) ([]chat.Event, error) {
	tb.Helper()
	dec := Codec{}.NewStreamDecoder()
	var evs []chat.Event
	var err error
	for i := range chunks {
		if evs, err = dec.Decode(&chunks[i], evs); err != nil {
			return evs, err
		}
	}
	return dec.End(evs)
}

// checkGrammar checks that evs follow the neutral form's stream grammar.
func checkGrammar(tb testing.TB, evs []chat.Event) {
	tb.Helper()
	open, next := -1, 0
	for i, ev := range evs {
		switch {
		case i == 0 && ev.Type != chat.EventStart:
			tb.Fatalf("event 0 is %v, not Start", ev.Type)
		case ev.Type == chat.EventBlockStart:
			if open >= 0 || ev.Index != next {
				tb.Fatalf("event %d starts block %d with %d open, %d next", i, ev.Index, open, next)
			}
			open = ev.Index
			next++
		case ev.Type == chat.EventDelta:
			if ev.Index != open {
				tb.Fatalf("event %d: delta of block %d, %d open", i, ev.Index, open)
			}
		case ev.Type == chat.EventBlockStop:
			if ev.Index != open {
				tb.Fatalf("event %d: stop of block %d, %d open", i, ev.Index, open)
			}
			open = -1
		case ev.Type == chat.EventFinish || ev.Type == chat.EventEnd:
			if open >= 0 {
				tb.Fatalf("event %d: %v with block %d open", i, ev.Type, open)
			}
		}
		if ev.Type == chat.EventEnd && i != len(evs)-1 {
			tb.Fatalf("events after End")
		}
	}
}

// TestStreamDecoderGolden decodes every transcript into neutral events.
func TestStreamDecoderGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sse")
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".sse")
		t.Run(name, func(t *testing.T) {
			chunks, err := readChunks(t, readFixture(t, filepath.Base(file)))
			if err != nil {
				t.Fatal(err)
			}
			evs, err := decodeStream(t, chunks)
			views := make([]eventView, 0, len(evs)+1)
			for _, ev := range evs {
				views = append(views, viewEvent(ev))
			}
			if err != nil {
				views = append(views, eventView{Type: "error", Error: err.Error()})
			} else {
				checkGrammar(t, evs)
			}
			out, _ := json.MarshalIndent(views, "", "  ")
			golden(t, name+".events.golden", out)
		})
	}
}

func TestStreamDecoder(t *testing.T) {
	t.Run("text", func(t *testing.T) {
		chunks, _ := readChunks(t, readFixture(t, "stream_text.sse"))
		evs, err := decodeStream(t, chunks)
		if err != nil {
			t.Fatal(err)
		}
		want := []chat.EventType{chat.EventStart, chat.EventUsage, chat.EventBlockStart, chat.EventDelta, chat.EventDelta, chat.EventBlockStop, chat.EventFinish, chat.EventUsage, chat.EventEnd}
		if len(evs) != len(want) {
			t.Fatalf("%d events: %+v", len(evs), evs)
		}
		for i, ev := range evs {
			if ev.Type != want[i] {
				t.Fatalf("event %d is %v, want %v", i, ev.Type, want[i])
			}
		}
		if evs[0].ID != "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY" || evs[0].Model != "claude-sonnet-4-6" {
			t.Errorf("start %+v", evs[0])
		}
		if evs[2].Block != chat.KindText || evs[3].Text != "Hello" || evs[4].Text != "! \"Nice\" to meet you.\n" {
			t.Errorf("text %+v %+v", evs[3], evs[4])
		}
		if evs[6].Finish != chat.FinishStop {
			t.Errorf("finish %+v", evs[6])
		}
		if u := evs[7].Usage; u.PromptTokens != 25 || u.CompletionTokens != 15 || u.TotalTokens != 40 {
			t.Errorf("usage %+v", u)
		}
	})
	t.Run("thinking", func(t *testing.T) {
		chunks, _ := readChunks(t, readFixture(t, "stream_thinking.sse"))
		evs, err := decodeStream(t, chunks)
		if err != nil {
			t.Fatal(err)
		}
		var thinking, sig, txt string
		for _, ev := range evs {
			if ev.Type == chat.EventDelta && ev.Index == 0 {
				thinking += ev.Text
				sig += ev.Signature
			}
			if ev.Type == chat.EventDelta && ev.Index == 1 {
				txt += ev.Text
			}
		}
		if !strings.HasSuffix(thinking, "453 = 400 + 50 + 3") || !strings.HasPrefix(sig, "EqQB") || txt != "27 * 453 = 12,231" {
			t.Errorf("thinking %q sig %q text %q", thinking, sig, txt)
		}
		last := evs[len(evs)-2].Usage
		if last == nil || last.PromptTokens != 36+2048 || last.CachedTokens != 2048 || last.CompletionTokens != 166 || last.ReasoningTokens != 120 {
			t.Errorf("usage %+v", last)
		}
	})
	t.Run("tools", func(t *testing.T) {
		chunks, _ := readChunks(t, readFixture(t, "stream_tools.sse"))
		evs, err := decodeStream(t, chunks)
		if err != nil {
			t.Fatal(err)
		}
		args := map[int]string{}
		calls := map[int]*chat.ToolCall{}
		var finish chat.Finish
		for _, ev := range evs {
			switch ev.Type {
			case chat.EventBlockStart:
				if ev.Block == chat.KindToolCall {
					calls[ev.Index] = ev.Call
				}
			case chat.EventDelta:
				args[ev.Index] += ev.Arguments
			case chat.EventFinish:
				finish = ev.Finish
			}
		}
		if len(calls) != 2 || calls[1].ID != "toolu_01T1x1fJ34qAmk2tNTrN7Up6" || calls[2].Name != "get_weather" || finish != chat.FinishToolCalls {
			t.Fatalf("calls %+v finish %s", calls, finish)
		}
		if gjson.Get(args[1], "location").Str != "San Francisco, CA" || gjson.Get(args[2], "unit").Str != "celsius" || !gjson.Valid(args[2]) {
			t.Errorf("arguments %v", args)
		}
	})
	t.Run("error event", func(t *testing.T) {
		chunks, _ := readChunks(t, readFixture(t, "stream_error.sse"))
		evs, err := decodeStream(t, chunks)
		var ue *relay.UpstreamError
		if !errors.As(err, &ue) || ue.Status != 529 || ue.Type != "overloaded_error" || ue.Message != "Overloaded" || ue.Protocol != aiproxy.ProtocolAnthropic || !json.Valid(ue.Body) {
			t.Fatalf("err = %#v", err)
		}
		if len(evs) != 4 || evs[3].Text != "Once upon" {
			t.Errorf("events before the error %+v", evs)
		}
	})
	t.Run("broken", func(t *testing.T) {
		chunks, _ := readChunks(t, readFixture(t, "stream_broken.sse"))
		_, err := decodeStream(t, chunks)
		var ue *relay.UpstreamError
		if !errors.As(err, &ue) || ue.Status != 0 {
			t.Fatalf("a stream without message_delta must fail: %v", err)
		}
	})
	t.Run("no message_stop after message_delta", func(t *testing.T) {
		wire := readFixture(t, "stream_text.sse")
		wire = wire[:bytes.Index(wire, []byte("event: message_stop"))]
		chunks, _ := readChunks(t, wire)
		evs, err := decodeStream(t, chunks)
		if err != nil || evs[len(evs)-1].Type != chat.EventEnd {
			t.Fatalf("%v %+v", err, evs)
		}
		checkGrammar(t, evs)
	})
}

func TestStreamDecoderErrorTypes(t *testing.T) {
	for typ, st := range map[string]int{"overloaded_error": 529, "api_error": 500, "rate_limit_error": 429, "invalid_request_error": 400,
		"authentication_error": 401, "permission_error": 403, "not_found_error": 404, "request_too_large": 413, "timeout_error": 504, "billing_error": 402, "new_error": 500} {
		c := relay.Chunk{Name: []byte("error"), Data: []byte(`{"type":"error","error":{"type":"` + typ + `","message":"m"}}`)}
		_, err := Codec{}.NewStreamDecoder().Decode(&c, nil)
		var ue *relay.UpstreamError
		if !errors.As(err, &ue) || ue.Status != st || ue.Type != typ || ue.Message != "m" {
			t.Errorf("%s: %+v, want status %d", typ, err, st)
		}
	}
}

// sse builds chunks from event names and data.
func sse(pairs ...string) []relay.Chunk {
	var out []relay.Chunk
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, relay.Chunk{Name: []byte(pairs[i]), Data: []byte(pairs[i+1])})
	}
	return out
}

func TestStreamDecoderInterleaved(t *testing.T) {
	chunks := sse(
		"message_start", `{"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":3,"output_tokens":1}}}`,
		"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"a","name":"f","input":{}}}`,
		"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"b","name":"g","input":{}}}`,
		"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"y\":"}}`,
		"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"x\":1}"}}`,
		"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"text","text":"t"}}`,
		"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"2}"}}`,
		"content_block_stop", `{"type":"content_block_stop","index":1}`,
		"content_block_stop", `{"type":"content_block_stop","index":0}`,
		"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"citations_delta","citation":{"type":"char_location"}}}`,
		"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9,"input_tokens":4}}`,
		"message_stop", `{"type":"message_stop"}`,
	)
	evs, err := decodeStream(t, chunks)
	if err != nil {
		t.Fatal(err)
	}
	checkGrammar(t, evs)
	args := map[string]string{}
	names := map[int]string{}
	for _, ev := range evs {
		if ev.Type == chat.EventBlockStart && ev.Call != nil {
			names[ev.Index] = ev.Call.Name
		}
		if ev.Type == chat.EventDelta {
			args[names[ev.Index]] += ev.Arguments + ev.Text
		}
	}
	if args["f"] != `{"x":1}` || args["g"] != `{"y":2}` || args[""] != "t" || names[0] != "f" || names[1] != "g" {
		t.Errorf("args %q names %v", args, names)
	}
	if u := evs[len(evs)-2].Usage; u.PromptTokens != 4 || u.CompletionTokens != 9 {
		t.Errorf("usage: message_delta's counts replace message_start's: %+v", u)
	}
	// A delta of a block that never started is an error.
	if _, err := decodeStream(t, sse("content_block_delta", `{"type":"content_block_delta","index":5,"delta":{"type":"text_delta","text":"x"}}`)); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("stray delta: %v", err)
	}
	if _, err := decodeStream(t, sse("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"s","name":"web_search","input":{}}}`)); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("server tool block: %v", err)
	}
	if _, err := decodeStream(t, []relay.Chunk{{Data: []byte(`{"type":`)}}); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("bad JSON: %v", err)
	}
	// Unknown events and pings are nothing.
	evs, _ = Codec{}.NewStreamDecoder().Decode(&relay.Chunk{Data: []byte(`{"type":"ping"}`)}, nil)
	evs, _ = Codec{}.NewStreamDecoder().Decode(&relay.Chunk{Name: []byte("future_event"), Data: []byte(`{"type":"future_event"}`)}, evs)
	if len(evs) != 0 {
		t.Errorf("ping gave %+v", evs)
	}
}

// encodeEvents runs events through a stream encoder.
func encodeEvents(tb testing.TB, evs []chat.Event) []relay.Chunk {
	tb.Helper()
	enc := Codec{}.NewStreamEncoder(&relay.Request{})
	var out []relay.Chunk
	var err error
	for i := range evs {
		if out, err = enc.Encode(&evs[i], out); err != nil {
			tb.Fatal(err)
		}
	}
	for i, c := range out {
		if !json.Valid(c.Data) || gjson.GetBytes(c.Data, "type").Str != string(c.Name) {
			tb.Fatalf("chunk %d: %s %s", i, c.Name, c.Data)
		}
	}
	return out
}

// frame writes chunks as the Anthropic framer does.
func frame(chunks []relay.Chunk) []byte {
	fr := Codec{}.NewFramer(&relay.Request{})
	var b []byte
	for i := range chunks {
		b = fr.Frame(b, &chunks[i])
	}
	return fr.End(b)
}

// foreign is a stream as another protocol's decoder would give it: a start
// with no usage, unsigned reasoning, text, two tool calls with their
// arguments in fragments, a finish and the usage at the end.
func foreign() []chat.Event {
	u := &aiproxy.Usage{PromptTokens: 120, CachedTokens: 20, CompletionTokens: 45, ReasoningTokens: 10, TotalTokens: 165}
	return []chat.Event{
		{Type: chat.EventStart, ID: "chatcmpl-1", Model: "gpt-4o"},
		{Type: chat.EventBlockStart, Index: 0, Block: chat.KindThinking},
		{Type: chat.EventDelta, Index: 0, Text: "Think "},
		{Type: chat.EventDelta, Index: 0, Text: "twice."},
		{Type: chat.EventBlockStop, Index: 0},
		{Type: chat.EventBlockStart, Index: 1, Block: chat.KindText},
		{Type: chat.EventDelta, Index: 1, Text: "Checking <both> & \"quoting\"."},
		{Type: chat.EventBlockStop, Index: 1},
		{Type: chat.EventBlockStart, Index: 2, Block: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_a", Name: "get_weather", Signature: "sig-a"}},
		{Type: chat.EventDelta, Index: 2, Arguments: `{"location":`},
		{Type: chat.EventDelta, Index: 2, Arguments: ` "Paris"}`},
		{Type: chat.EventBlockStop, Index: 2},
		{Type: chat.EventBlockStart, Index: 3, Block: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_b", Name: "get_time"}},
		{Type: chat.EventDelta, Index: 3, Arguments: `{}`},
		{Type: chat.EventFinish, Finish: chat.FinishToolCalls},
		{Type: chat.EventUsage, Usage: u},
		{Type: chat.EventEnd},
	}
}

func TestStreamEncoder(t *testing.T) {
	chunks := encodeEvents(t, foreign())
	names := make([]string, len(chunks))
	for i, c := range chunks {
		names[i] = string(c.Name)
	}
	want := "message_start ping " +
		"content_block_start content_block_delta content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_stop " +
		"message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("order:\n%s\nwant\n%s", got, want)
	}
	data := func(i int, path string) gjson.Result { return gjson.GetBytes(chunks[i].Data, path) }
	if data(0, "message.id").Str != "chatcmpl-1" || data(0, "message.model").Str != "gpt-4o" || data(0, "message.content").Raw != "[]" ||
		data(0, "message.stop_reason").Type != gjson.Null || data(0, "message.usage.input_tokens").Int() != 0 || data(0, "message.usage.output_tokens").Int() != 0 {
		t.Errorf("message_start %s", chunks[0].Data)
	}
	if data(2, "content_block").Raw != `{"type":"thinking","thinking":"","signature":""}` || data(3, "delta").Raw != `{"type":"thinking_delta","thinking":"Think "}` {
		t.Errorf("thinking %s %s", chunks[2].Data, chunks[3].Data)
	}
	if data(6, "index").Int() != 1 || data(6, "content_block").Raw != `{"type":"text","text":""}` || data(7, "delta.text").Str != `Checking <both> & "quoting".` {
		t.Errorf("text %s %s", chunks[6].Data, chunks[7].Data)
	}
	if id, sig := chat.SplitCallID(data(9, "content_block.id").Str); id != "call_a" || sig != "sig-a" || data(9, "content_block.input").Raw != "{}" || data(9, "content_block.name").Str != "get_weather" {
		t.Errorf("tool start %s", chunks[9].Data)
	}
	if data(10, "delta").Raw != `{"type":"input_json_delta","partial_json":"{\"location\":"}` || data(10, "index").Int() != 2 {
		t.Errorf("tool delta %s", chunks[10].Data)
	}
	if data(15, "index").Int() != 3 {
		t.Errorf("the open block is closed at the end with its index: %s", chunks[15].Data)
	}
	md := chunks[16]
	if gjson.GetBytes(md.Data, "delta").Raw != `{"stop_reason":"tool_use","stop_sequence":null}` ||
		gjson.GetBytes(md.Data, "usage").Raw != `{"input_tokens":100,"cache_creation_input_tokens":0,"cache_read_input_tokens":20,"output_tokens":45,"output_tokens_details":{"thinking_tokens":10}}` {
		t.Errorf("message_delta %s", md.Data)
	}
	// Every chunk's data is its own.
	for i := range chunks {
		for j := i + 1; j < len(chunks); j++ {
			if len(chunks[i].Data) > 0 && len(chunks[j].Data) > 0 && &chunks[i].Data[:1][0] == &chunks[j].Data[:1][0] {
				t.Fatalf("chunks %d and %d share data", i, j)
			}
		}
	}
}

func TestStreamEncoderEdges(t *testing.T) {
	t.Run("usage with the first chunk is in message_start", func(t *testing.T) {
		chunks := encodeEvents(t, []chat.Event{
			{Type: chat.EventStart},
			{Type: chat.EventUsage, Usage: &aiproxy.Usage{PromptTokens: 50, CacheCreationTokens: 10}},
			{Type: chat.EventBlockStart, Block: chat.KindText},
			{Type: chat.EventDelta, Text: "x"},
			{Type: chat.EventEnd},
		})
		if len(chunks) != 7 || gjson.GetBytes(chunks[0].Data, "message.usage.input_tokens").Int() != 40 || !strings.HasPrefix(gjson.GetBytes(chunks[0].Data, "message.id").Str, "msg_") {
			t.Fatalf("%s", frame(chunks))
		}
		if gjson.GetBytes(chunks[5].Data, "delta.stop_reason").Str != "end_turn" {
			t.Errorf("no finish is end_turn: %s", chunks[5].Data)
		}
	})
	t.Run("stop sequence, redacted thinking, signature", func(t *testing.T) {
		chunks := encodeEvents(t, []chat.Event{
			{Type: chat.EventStart, ID: "x"},
			{Type: chat.EventBlockStart, Block: chat.KindRedactedThinking, Signature: "enc"},
			{Type: chat.EventBlockStop},
			{Type: chat.EventBlockStart, Index: 1, Block: chat.KindThinking},
			{Type: chat.EventDelta, Index: 1, Text: "t", Signature: "s"},
			{Type: chat.EventBlockStart, Index: 2, Block: chat.KindText},
			{Type: chat.EventDelta, Index: 2, Text: "a", Signature: "dropped"},
			{Type: chat.EventFinish, Finish: chat.FinishStop, StopSequence: "END"},
			{Type: chat.EventEnd},
			{Type: chat.EventDelta, Text: "after the end"},
		})
		var names []string
		for _, c := range chunks {
			names = append(names, string(c.Name)+":"+gjson.GetBytes(c.Data, "delta.type").Str+gjson.GetBytes(c.Data, "content_block.type").Str)
		}
		want := "message_start: ping: content_block_start:redacted_thinking content_block_stop: content_block_start:thinking content_block_delta:thinking_delta content_block_delta:signature_delta content_block_stop: content_block_start:text content_block_delta:text_delta content_block_stop: message_delta: message_stop:"
		if strings.Join(names, " ") != want {
			t.Fatalf("%s", strings.Join(names, " "))
		}
		if gjson.GetBytes(chunks[2].Data, "content_block.data").Str != "enc" {
			t.Errorf("redacted %s", chunks[2].Data)
		}
		if d := gjson.GetBytes(chunks[11].Data, "delta"); d.Get("stop_reason").Str != "stop_sequence" || d.Get("stop_sequence").Str != "END" {
			t.Errorf("stop sequence %s", chunks[11].Data)
		}
	})
	t.Run("delta without a block opens a text block", func(t *testing.T) {
		chunks := encodeEvents(t, []chat.Event{{Type: chat.EventStart}, {Type: chat.EventDelta, Text: "x"}, {Type: chat.EventDelta, Arguments: "{}"}, {Type: chat.EventEnd}})
		if string(chunks[2].Name) != "content_block_start" || gjson.GetBytes(chunks[3].Data, "delta.text").Str != "x" || len(chunks) != 7 {
			t.Errorf("%s", frame(chunks))
		}
	})
}

// accumulate reads a framed Anthropic stream with the official SDK's SSE
// decoder and accumulator.
func accumulate(tb testing.TB, wire []byte) (anthropic.Message, error) {
	tb.Helper()
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(wire))}
	st := ssestream.NewStream[anthropic.MessageStreamEventUnion](ssestream.NewDecoder(resp), nil)
	var m anthropic.Message
	for st.Next() {
		if err := m.Accumulate(st.Current()); err != nil {
			tb.Fatalf("Accumulate: %v", err)
		}
	}
	return m, st.Err()
}

// TestStreamEncoderAccumulates feeds the encoder's output to the official
// SDK's accumulator, chunk by chunk as the SDK parses each event.
func TestStreamEncoderAccumulates(t *testing.T) {
	chunks := encodeEvents(t, foreign())
	var m anthropic.Message
	for i, c := range chunks {
		if string(c.Name) == "ping" {
			continue
		}
		var ev anthropic.MessageStreamEventUnion
		if err := json.Unmarshal(c.Data, &ev); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if err := m.Accumulate(ev); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	checkForeign(t, m)

	// The same through the SDK's SSE reader, from the framed bytes.
	m2, err := accumulate(t, frame(chunks))
	if err != nil {
		t.Fatal(err)
	}
	checkForeign(t, m2)
}

func checkForeign(t *testing.T, m anthropic.Message) {
	t.Helper()
	if m.ID != "chatcmpl-1" || m.Model != "gpt-4o" || m.Role != "assistant" || len(m.Content) != 4 {
		t.Fatalf("message %+v", m)
	}
	if c := m.Content[0]; c.Type != "thinking" || c.Thinking != "Think twice." || c.Signature != "" {
		t.Errorf("thinking %+v", c)
	}
	if c := m.Content[1]; c.Type != "text" || c.Text != `Checking <both> & "quoting".` {
		t.Errorf("text %+v", c)
	}
	var in struct{ Location string }
	if c := m.Content[2]; c.Type != "tool_use" || c.Name != "get_weather" || json.Unmarshal(c.Input, &in) != nil || in.Location != "Paris" {
		t.Errorf("tool 1 %+v %s", c, c.Input)
	}
	if id, sig := chat.SplitCallID(m.Content[2].ID); id != "call_a" || sig != "sig-a" {
		t.Errorf("tool 1 id %s", m.Content[2].ID)
	}
	if c := m.Content[3]; c.ID != "call_b" || string(c.Input) != "{}" {
		t.Errorf("tool 2 %+v %s", c, c.Input)
	}
	if m.StopReason != anthropic.StopReasonToolUse || m.StopSequence != "" {
		t.Errorf("stop %s %q", m.StopReason, m.StopSequence)
	}
	if u := m.Usage; u.InputTokens != 100 || u.CacheReadInputTokens != 20 || u.CacheCreationInputTokens != 0 || u.OutputTokens != 45 {
		t.Errorf("usage %+v", u)
	}
}

// TestStreamReencode decodes every transcript and encodes it again: the
// result, read by the SDK's accumulator, is the message the transcript
// itself accumulates to.
func TestStreamReencode(t *testing.T) {
	for _, name := range []string{"stream_text", "stream_thinking", "stream_tools"} {
		t.Run(name, func(t *testing.T) {
			wire := readFixture(t, name+".sse")
			chunks, err := readChunks(t, wire)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := decodeStream(t, chunks)
			if err != nil {
				t.Fatal(err)
			}
			out := frame(encodeEvents(t, evs))
			golden(t, name+".reencoded.golden", out)
			want, err := accumulate(t, wire)
			if err != nil {
				t.Fatal(err)
			}
			got, err := accumulate(t, out)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != want.ID || got.Model != want.Model || got.StopReason != want.StopReason || len(got.Content) != len(want.Content) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
			for i := range want.Content {
				a, b := want.Content[i], got.Content[i]
				if a.Type != b.Type || a.Text != b.Text || a.Thinking != b.Thinking || a.Signature != b.Signature || a.ID != b.ID || a.Name != b.Name || compact(string(a.Input)) != compact(string(b.Input)) {
					t.Errorf("block %d: %+v, want %+v", i, b, a)
				}
			}
			wu, gu := want.Usage, got.Usage
			if wu.InputTokens != gu.InputTokens || wu.OutputTokens != gu.OutputTokens || wu.CacheReadInputTokens != gu.CacheReadInputTokens || wu.CacheCreationInputTokens != gu.CacheCreationInputTokens {
				t.Errorf("usage %+v, want %+v", gu, wu)
			}
		})
	}
	// The error transcript: the SDK raises the error.
	wire := readFixture(t, "stream_error.sse")
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(wire))}
	st := ssestream.NewStream[anthropic.MessageStreamEventUnion](ssestream.NewDecoder(resp), nil)
	for st.Next() {
	}
	if st.Err() == nil || !strings.Contains(st.Err().Error(), "overloaded_error") {
		t.Errorf("SDK error %v", st.Err())
	}
}
