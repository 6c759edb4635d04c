package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// chunksOf reads an SSE transcript as the OpenAI adaptor does, each
// chunk copied.
func chunksOf(tb testing.TB, wire []byte) []relay.Chunk {
	tb.Helper()
	st, err := NewAdaptor().Stream(&relay.Call{Mode: aiproxy.ModeChat, Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	var out []relay.Chunk
	for {
		c, err := st.Next()
		if err == io.EOF {
			return out
		} else if err != nil {
			tb.Fatalf("Next: %v", err)
		}
		out = append(out, relay.Chunk{Data: bytes.Clone(c.Data), Comment: bytes.Clone(c.Comment), Done: c.Done})
	}
}

// decodeChunks runs a stream decoder over chunks, skipping comments as
// the relay's converter does, and ends it when they run out. It returns
// the events so far and the first error.
func decodeChunks(chunks []relay.Chunk) ([]chat.Event, error) {
	d := Codec{}.NewStreamDecoder()
	var evs []chat.Event
	var err error
	for i := range chunks {
		if chunks[i].Comment != nil {
			continue
		}
		if evs, err = d.Decode(&chunks[i], evs); err != nil {
			return evs, err
		}
	}
	return d.End(evs)
}

var eventNames = map[chat.EventType]string{
	chat.EventStart: "start", chat.EventBlockStart: "block_start", chat.EventDelta: "delta",
	chat.EventBlockStop: "block_stop", chat.EventFinish: "finish", chat.EventUsage: "usage", chat.EventEnd: "end",
}

// summary renders an event on one line.
func summary(ev *chat.Event) string {
	s := eventNames[ev.Type]
	switch ev.Type {
	case chat.EventStart:
		s += fmt.Sprintf(" id=%q model=%q created=%d", ev.ID, ev.Model, ev.Created)
	case chat.EventBlockStart:
		s += fmt.Sprintf(" %d %s", ev.Index, ev.Block)
		if ev.Call != nil {
			s += fmt.Sprintf(" id=%q name=%q", ev.Call.ID, ev.Call.Name)
			if ev.Call.Signature != "" {
				s += fmt.Sprintf(" sig=%q", ev.Call.Signature)
			}
		}
		if ev.Signature != "" {
			s += fmt.Sprintf(" sig=%q", ev.Signature)
		}
	case chat.EventDelta:
		s += fmt.Sprintf(" %d", ev.Index)
		if ev.Text != "" {
			s += fmt.Sprintf(" text=%q", ev.Text)
		}
		if ev.Arguments != "" {
			s += fmt.Sprintf(" args=%q", ev.Arguments)
		}
		if ev.Signature != "" {
			s += fmt.Sprintf(" sig=%q", ev.Signature)
		}
	case chat.EventBlockStop:
		s += fmt.Sprintf(" %d", ev.Index)
	case chat.EventFinish:
		s += " " + string(ev.Finish)
		if ev.StopSequence != "" {
			s += fmt.Sprintf(" %q", ev.StopSequence)
		}
	case chat.EventUsage:
		u := ev.Usage
		s += fmt.Sprintf(" prompt=%d completion=%d total=%d cached=%d creation=%d reasoning=%d", u.PromptTokens, u.CompletionTokens, u.TotalTokens, u.CachedTokens, u.CacheCreationTokens, u.ReasoningTokens)
	}
	return s
}

func summaries(evs []chat.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = summary(&evs[i])
	}
	return out
}

// checkGrammar checks that evs follow chat.Event's grammar:
// Start (BlockStart Delta* BlockStop)* Finish? Usage* End, Usage allowed
// anywhere after Start, blocks numbered from 0, deltas fitting their
// block. A stream cut by an error may stop anywhere.
func checkGrammar(tb testing.TB, evs []chat.Event, complete bool) {
	tb.Helper()
	fail := func(i int, msg string) {
		tb.Helper()
		tb.Fatalf("event %d (%s): %s\nall:\n%s", i, summary(&evs[i]), msg, strings.Join(summaries(evs), "\n"))
	}
	next, open, finished, ended := 0, -1, false, false
	var kind chat.Kind
	for i := range evs {
		ev := &evs[i]
		if ended {
			fail(i, "after End")
		}
		if i == 0 != (ev.Type == chat.EventStart) {
			fail(i, "Start must come first, once")
		}
		switch ev.Type {
		case chat.EventBlockStart:
			switch {
			case open >= 0:
				fail(i, "a block is already open")
			case finished:
				fail(i, "block after Finish")
			case ev.Index != next:
				fail(i, fmt.Sprintf("index %d, want %d", ev.Index, next))
			case ev.Block == chat.KindToolCall && (ev.Call == nil || ev.Call.ID == "" || ev.Call.Arguments != ""):
				fail(i, "a tool call block needs a Call with an id and no arguments")
			case ev.Block != chat.KindText && ev.Block != chat.KindThinking && ev.Block != chat.KindRedactedThinking && ev.Block != chat.KindToolCall:
				fail(i, "bad block kind")
			}
			open, kind = ev.Index, ev.Block
			next++
		case chat.EventDelta:
			if open < 0 || ev.Index != open {
				fail(i, "delta to a block that is not open")
			}
			switch {
			case ev.Text != "" && kind != chat.KindText && kind != chat.KindThinking,
				ev.Arguments != "" && kind != chat.KindToolCall,
				ev.Signature != "" && kind != chat.KindThinking:
				fail(i, "delta does not fit its "+kind.String()+" block")
			case ev.Text == "" && ev.Arguments == "" && ev.Signature == "":
				fail(i, "empty delta")
			}
		case chat.EventBlockStop:
			if open < 0 || ev.Index != open {
				fail(i, "stop of a block that is not open")
			}
			open = -1
		case chat.EventFinish:
			if open >= 0 || finished {
				fail(i, "Finish with a block open, or twice")
			}
			finished = true
		case chat.EventUsage:
			if ev.Usage == nil {
				fail(i, "usage without Usage")
			}
		case chat.EventEnd:
			if open >= 0 {
				fail(i, "End with a block open")
			}
			ended = true
		}
	}
	if complete && !ended {
		tb.Fatalf("no End:\n%s", strings.Join(summaries(evs), "\n"))
	}
}

// answer is what a stream says, whatever its blocks.
type answer struct {
	ID        string
	Text      string
	Thinking  string
	Sigs      []string
	Redacted  []string
	Calls     []chat.ToolCall
	Finish    chat.Finish
	Usage     *aiproxy.Usage
	Completed bool
}

// viaOpenAI is what a stream saying a says after a trip through OpenAI
// chunks: finish reasons as OpenAI can tell them.
func viaOpenAI(a answer) answer {
	if a.Finish != "" {
		a.Finish = finishOf(finishReason(a.Finish, len(a.Calls) > 0))
	}
	if u := a.Usage; u != nil && u.TotalTokens == 0 {
		v := *u
		v.TotalTokens = v.PromptTokens + v.CompletionTokens
		a.Usage = &v
	}
	return a
}

func collect(evs []chat.Event) answer {
	var a answer
	var kind chat.Kind
	sig := ""
	for _, ev := range evs {
		switch ev.Type {
		case chat.EventStart:
			a.ID = ev.ID
		case chat.EventBlockStart:
			kind = ev.Block
			switch ev.Block {
			case chat.KindToolCall:
				a.Calls = append(a.Calls, chat.ToolCall{ID: ev.Call.ID, Name: ev.Call.Name, Signature: ev.Call.Signature})
			case chat.KindRedactedThinking:
				a.Redacted = append(a.Redacted, ev.Signature)
			}
		case chat.EventDelta:
			switch kind {
			case chat.KindText:
				a.Text += ev.Text
			case chat.KindThinking:
				a.Thinking += ev.Text
				sig += ev.Signature
			case chat.KindToolCall:
				a.Calls[len(a.Calls)-1].Arguments += ev.Arguments
			}
		case chat.EventBlockStop:
			if sig != "" {
				a.Sigs = append(a.Sigs, sig)
			}
			sig, kind = "", 0
		case chat.EventFinish:
			a.Finish = ev.Finish
		case chat.EventUsage:
			u := *ev.Usage
			a.Usage = &u
		case chat.EventEnd:
			a.Completed = true
		}
	}
	return a
}

// encodeEvents runs a stream encoder over evs and checks every chunk:
// its data is JSON that the official SDK reads, with the stream's id,
// and the stream ends with [DONE].
func encodeEvents(tb testing.TB, evs []chat.Event, req *relay.Request) []relay.Chunk {
	tb.Helper()
	enc := Codec{}.NewStreamEncoder(req)
	var out []relay.Chunk
	var snap [][]byte // each chunk's data as it was made
	var err error
	for i := range evs {
		n := len(out)
		if out, err = enc.Encode(&evs[i], out); err != nil {
			tb.Fatalf("Encode(%s): %v", summary(&evs[i]), err)
		}
		for j := n; j < len(out); j++ {
			snap = append(snap, bytes.Clone(out[j].Data))
			if len(out[j].Data) != cap(out[j].Data) {
				tb.Fatalf("chunk %d has room after its data, where another may be", j)
			}
		}
	}
	for i := range out {
		if !bytes.Equal(out[i].Data, snap[i]) {
			tb.Fatalf("chunk %d was overwritten by a later one:\n%s\nwas\n%s", i, out[i].Data, snap[i])
		}
	}
	var id string
	for i, c := range out {
		if c.Done {
			if i != len(out)-1 {
				tb.Fatalf("[DONE] is chunk %d of %d", i, len(out))
			}
			continue
		}
		if !json.Valid(c.Data) {
			tb.Fatalf("chunk %d is not JSON: %s", i, c.Data)
		}
		var cc openai.ChatCompletionChunk
		if err := json.Unmarshal(c.Data, &cc); err != nil {
			tb.Fatalf("chunk %d: the SDK cannot read it: %v: %s", i, err, c.Data)
		}
		if cc.Object != "chat.completion.chunk" || cc.ID == "" || id != "" && cc.ID != id {
			tb.Fatalf("chunk %d: object %q id %q (first id %q)", i, cc.Object, cc.ID, id)
		}
		id = cc.ID
		if c.UsageOnly != (len(cc.Choices) == 0) || c.UsageOnly != (c.Usage != nil) {
			tb.Fatalf("chunk %d: UsageOnly %v, Usage %v, %d choices", i, c.UsageOnly, c.Usage, len(cc.Choices))
		}
	}
	if len(out) > 0 && !out[len(out)-1].Done && collect(evs).Completed {
		tb.Fatalf("no [DONE] at the end")
	}
	return out
}

// sdkAnswer accumulates encoded chunks with the official SDK's
// accumulator.
func sdkAnswer(tb testing.TB, chunks []relay.Chunk) openai.ChatCompletion {
	tb.Helper()
	var acc openai.ChatCompletionAccumulator
	for _, c := range chunks {
		if c.Done {
			continue
		}
		var cc openai.ChatCompletionChunk
		if err := json.Unmarshal(c.Data, &cc); err != nil {
			tb.Fatal(err)
		}
		if !acc.AddChunk(cc) {
			tb.Fatalf("the SDK's accumulator refused %s", c.Data)
		}
	}
	return acc.ChatCompletion
}

// frame writes chunks as an OpenAI client receives them.
func frame(chunks []relay.Chunk, wantsUsage bool) []byte {
	f := Codec{}.NewFramer(&relay.Request{WantsUsage: wantsUsage})
	var b []byte
	for i := range chunks {
		b = f.Frame(b, &chunks[i])
	}
	return f.End(b)
}

// TestStreamGoldenConvert decodes the streams of testdata/convert
// (stream_*.sse) and the recorded ones of testdata (chat_*.sse) into
// events, checked against .events.golden files, and encodes the events
// again as an OpenAI client gets them (.openai.golden). -update
// rewrites the golden files.
func TestStreamGoldenConvert(t *testing.T) {
	files, _ := filepath.Glob("testdata/convert/stream_*.sse")
	recorded, _ := filepath.Glob("testdata/chat_*.sse")
	if len(files) == 0 || len(recorded) == 0 {
		t.Fatal("no stream transcripts")
	}
	for _, file := range append(files, recorded...) {
		name := strings.TrimSuffix(filepath.Base(file), ".sse")
		base := filepath.Join("testdata/convert", name)
		if !strings.HasPrefix(name, "stream_") {
			base = filepath.Join("testdata/convert", "recorded_"+name)
		}
		t.Run(name, func(t *testing.T) {
			wire, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := decodeChunks(chunksOf(t, wire))
			checkGrammar(t, evs, err == nil)
			lines := summaries(evs)
			if err != nil {
				lines = append(lines, "error "+errorLine(err))
			}
			golden(t, base+".events.golden", []byte(strings.Join(lines, "\n")+"\n"))
			if err != nil {
				return
			}
			out := encodeEvents(t, evs, &relay.Request{WantsUsage: true})
			golden(t, base+".openai.golden", frame(out, true))
			back, err := decodeChunks(out)
			if err != nil {
				t.Fatalf("decoding the encoded stream: %v", err)
			}
			checkGrammar(t, back, true)
			if a, b := viaOpenAI(collect(evs)), collect(back); !reflect.DeepEqual(a, b) {
				t.Fatalf("encoded stream says something else:\n%+v\n%+v", a, b)
			}
			sdk := sdkAnswer(t, out)
			a := collect(evs)
			if m := sdk.Choices[0].Message; m.Content != a.Text || len(m.ToolCalls) != len(a.Calls) {
				t.Fatalf("the SDK read %q with %d calls, want %q with %d", m.Content, len(m.ToolCalls), a.Text, len(a.Calls))
			}
			for i, c := range sdk.Choices[0].Message.ToolCalls {
				if c.ID != chat.JoinCallID(a.Calls[i].ID, a.Calls[i].Signature) || c.Function.Name != a.Calls[i].Name || c.Function.Arguments != a.Calls[i].Arguments {
					t.Errorf("the SDK read call %d as %+v, want %+v", i, c, a.Calls[i])
				}
			}
			if a.Usage != nil && (sdk.Usage.PromptTokens != a.Usage.PromptTokens || sdk.Usage.CompletionTokens != a.Usage.CompletionTokens || sdk.Usage.PromptTokensDetails.CachedTokens != a.Usage.CachedTokens) {
				t.Errorf("the SDK read usage %+v, want %+v", sdk.Usage, a.Usage)
			}
		})
	}
}

func errorLine(err error) string {
	var ue *relay.UpstreamError
	if errors.As(err, &ue) {
		return fmt.Sprintf("upstream status=%d type=%q message=%q protocol=%s", ue.Status, ue.Type, ue.Message, ue.Protocol)
	}
	return fmt.Sprintf("%s %q", aiproxy.ErrorCode(err), aiproxy.ErrorMessage(err))
}

// sseOf makes a transcript of data payloads ("[DONE]" for the end).
func sseOf(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		b = append(b, "data: "+p+"\n\n"...)
	}
	return b
}

func TestStreamDecoder(t *testing.T) {
	const h = `"id":"c1","object":"chat.completion.chunk","created":5,"model":"m"`
	ch := func(delta string, finish string) string {
		f := "null"
		if finish != "" {
			f = `"` + finish + `"`
		}
		return `{` + h + `,"choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + f + `}]}`
	}
	start := `start id="c1" model="m" created=5`
	tests := []struct {
		name string
		wire []byte
		want []string
		err  string
	}{
		{"role chunk with content; no [DONE]", sseOf(ch(`{"role":"assistant","content":"Hi"}`, ""), ch(`{"content":" you"}`, "stop")),
			[]string{start, "block_start 0 text", `delta 0 text="Hi"`, `delta 0 text=" you"`, "block_stop 0", "finish stop", "end"}, ""},
		{"no role chunk, usage first", sseOf(`{`+h+`,"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":0}}`, ch(`{"content":"x"}`, ""), "[DONE]"),
			[]string{start, "usage prompt=3 completion=0 total=3 cached=0 creation=0 reasoning=0", "block_start 0 text", `delta 0 text="x"`, "block_stop 0", "end"}, ""},
		{"empty stream", nil, []string{`start id="" model="" created=0`, "end"}, ""},
		{"nothing after [DONE]", sseOf(ch(`{"content":"a"}`, ""), "[DONE]", ch(`{"content":"b"}`, "")),
			[]string{start, "block_start 0 text", `delta 0 text="a"`, "block_stop 0", "end"}, ""},
		{"deltas after the finish are ignored", sseOf(ch(`{"content":"a"}`, "length"), ch(`{"content":"b"}`, "stop"), "[DONE]"),
			[]string{start, "block_start 0 text", `delta 0 text="a"`, "block_stop 0", "finish length", "end"}, ""},
		{"refusal", sseOf(ch(`{"role":"assistant","content":null,"refusal":""}`, ""), ch(`{"refusal":"I can't"}`, ""), ch(`{}`, "stop")),
			[]string{start, "block_start 0 text", `delta 0 text="I can't"`, "block_stop 0", "finish refusal", "end"}, ""},
		{"thinking then text then thinking", sseOf(ch(`{"reasoning_content":"a"}`, ""), ch(`{"content":"b"}`, ""), ch(`{"reasoning":"c"}`, "")),
			[]string{start, "block_start 0 thinking", `delta 0 text="a"`, "block_stop 0", "block_start 1 text", `delta 1 text="b"`, "block_stop 1", "block_start 2 thinking", `delta 2 text="c"`, "block_stop 2", "end"}, ""},
		{"thinking after a signature is a new block", sseOf(ch(`{"reasoning_content":"a","thinking_blocks":[{"type":"thinking","thinking":"a","signature":"S"}]}`, ""), ch(`{"reasoning_content":"b"}`, "")),
			[]string{start, "block_start 0 thinking", `delta 0 text="a"`, `delta 0 sig="S"`, "block_stop 0", "block_start 1 thinking", `delta 1 text="b"`, "block_stop 1", "end"}, ""},
		{"text only in thinking_blocks", sseOf(ch(`{"thinking_blocks":[{"type":"thinking","thinking":"t"}]}`, "")),
			[]string{start, "block_start 0 thinking", `delta 0 text="t"`, "block_stop 0", "end"}, ""},
		{"calls in one chunk, joined id", sseOf(ch(`{"tool_calls":[{"index":0,"id":"a__sig_c2ln","type":"function","function":{"name":"f","arguments":"{}"}},{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":"{\"x\":1}"}}]}`, "tool_calls")),
			[]string{start, `block_start 0 tool_call id="a" name="f" sig="sig"`, `delta 0 args="{}"`, "block_stop 0", `block_start 1 tool_call id="b" name="g"`, `delta 1 args="{\"x\":1}"`, "block_stop 1", "finish tool_calls", "end"}, ""},
		{"text after calls", sseOf(ch(`{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}`, ""), ch(`{"content":"done"}`, "")),
			[]string{start, `block_start 0 tool_call id="a" name="f"`, `delta 0 args="{}"`, "block_stop 0", "block_start 1 text", `delta 1 text="done"`, "block_stop 1", "end"}, ""},
		{"calls without index, by id", sseOf(ch(`{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"p\":"}}]}`, ""), ch(`{"tool_calls":[{"function":{"arguments":"1}"}}]}`, ""), ch(`{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}`, "")),
			[]string{start, `block_start 0 tool_call id="a" name="f"`, `delta 0 args="{\"p\":"`, `delta 0 args="1}"`, "block_stop 0", `block_start 1 tool_call id="b" name="g"`, `delta 1 args="{}"`, "block_stop 1", "end"}, ""},
		{"a call without id gets one", sseOf(ch(`{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}]}`, "")),
			nil, ""},
		{"legacy function_call", sseOf(ch(`{"function_call":{"name":"f","arguments":""}}`, ""), ch(`{"function_call":{"arguments":"{}"}}`, "function_call")),
			nil, ""},
		{"arguments after the call ended", sseOf(ch(`{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}`, ""), ch(`{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}`, ""), ch(`{"tool_calls":[{"index":0,"function":{"arguments":"x"}}]}`, "")),
			nil, "EINVALID"},
		{"a chunk whose header differs is read whole", sseOf(ch(`{"content":"a"}`, ""), `{"id":"c2","model":"m","choices":[{"index":0,"delta":{"content":"b"}}]}`, `{`+h+`,"choices":[{"index":0,"delta":{"content":"c"},"finish_reason":"stop"}]}`),
			[]string{start, "block_start 0 text", `delta 0 text="a"`, `delta 0 text="b"`, `delta 0 text="c"`, "block_stop 0", "finish stop", "end"}, ""},
		{"usage before choices is read in every chunk", sseOf(`{"id":"x","usage":{"prompt_tokens":1},"choices":[{"delta":{"content":"a"}}]}`, `{"id":"x","usage":{"prompt_tokens":1},"choices":[{"delta":{"content":"b"}}]}`),
			[]string{`start id="x" model="" created=0`, "block_start 0 text", `delta 0 text="a"`, "usage prompt=1 completion=0 total=1 cached=0 creation=0 reasoning=0", `delta 0 text="b"`, "usage prompt=1 completion=0 total=1 cached=0 creation=0 reasoning=0", "block_stop 0", "end"}, ""},
		{"a broken chunk after a good header", sseOf(ch(`{"content":"a"}`, ""), `{`+h+`,"choices":[{"index":0,"delta":{"content":"b"}]}`), nil, "EINVALID"},
		{"other choices are left out", sseOf(`{"id":"x","choices":[{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes"}}]}`),
			[]string{`start id="x" model="" created=0`, "block_start 0 text", `delta 0 text="yes"`, "block_stop 0", "end"}, ""},
		{"not JSON", sseOf(`{"id":`), nil, "EINVALID"},
		{"error chunk", sseOf(ch(`{"content":"a"}`, ""), `{"error":{"message":"overloaded","type":"server_error","code":null}}`), nil, "500"},
		{"error with a numeric code", sseOf(`{"error":{"message":"Provider returned error","code":429}}`), nil, "429"},
		{"error nobody can map", sseOf(`{"error":{"message":"boom"}}`), nil, "502"},
		{"error string", sseOf(`{"error":"boom"}`), nil, "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := decodeChunks(chunksOf(t, tt.wire))
			checkGrammar(t, evs, err == nil)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("error %v after\n%s", err, strings.Join(summaries(evs), "\n"))
			case tt.err == "EINVALID":
				if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
					t.Fatalf("error %v, want EINVALID", err)
				}
			case tt.err != "":
				var ue *relay.UpstreamError
				if !errors.As(err, &ue) || fmt.Sprint(ue.Status) != tt.err || ue.Message == "" || ue.Protocol != aiproxy.ProtocolOpenAI || !json.Valid(ue.Body) {
					t.Fatalf("error %#v, want an upstream error with status %s", err, tt.err)
				}
			}
			if tt.want != nil && !reflect.DeepEqual(summaries(evs), tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(summaries(evs), "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// Providers that interleave the deltas of several calls still yield
// each call whole, in order, with its own arguments.
func TestStreamDecoderInterleaved(t *testing.T) {
	wire, err := os.ReadFile("testdata/convert/stream_interleaved_tools.sse")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := decodeChunks(chunksOf(t, wire))
	if err != nil {
		t.Fatal(err)
	}
	checkGrammar(t, evs, true)
	a := collect(evs)
	want := []chat.ToolCall{{ID: "call_a", Name: "read_file", Arguments: `{"path":"go.mod"}`}, {ID: "call_b", Name: "list_dir", Arguments: `{"dir":"."}`}, {ID: "call_c", Name: "read_file", Arguments: `{"path":"go.sum"}`}}
	if !reflect.DeepEqual(a.Calls, want) || a.Finish != chat.FinishToolCalls || a.Usage.TotalTokens != 80 || !a.Completed {
		t.Fatalf("got %+v", a)
	}
}

func TestStreamEncoder(t *testing.T) {
	u := &aiproxy.Usage{PromptTokens: 100, CompletionTokens: 20, CachedTokens: 60, CacheCreationTokens: 5, ReasoningTokens: 8}
	evs := []chat.Event{
		{Type: chat.EventStart, ID: "msg_1", Model: "claude-x", Created: 99},
		{Type: chat.EventBlockStart, Index: 0, Block: chat.KindThinking},
		{Type: chat.EventDelta, Index: 0, Text: "hmm"},
		{Type: chat.EventDelta, Index: 0, Signature: "SIG"},
		{Type: chat.EventBlockStop, Index: 0},
		{Type: chat.EventBlockStart, Index: 1, Block: chat.KindRedactedThinking, Signature: "RED"},
		{Type: chat.EventBlockStop, Index: 1},
		{Type: chat.EventBlockStart, Index: 2, Block: chat.KindText},
		{Type: chat.EventDelta, Index: 2, Text: "I'll \"check\"."},
		{Type: chat.EventDelta, Index: 2, Text: ""},
		{Type: chat.EventBlockStop, Index: 2},
		{Type: chat.EventUsage, Usage: &aiproxy.Usage{PromptTokens: 100}},
		{Type: chat.EventBlockStart, Index: 3, Block: chat.KindToolCall, Call: &chat.ToolCall{ID: "toolu_1", Name: "Read"}},
		{Type: chat.EventDelta, Index: 3, Arguments: `{"file_path":`},
		{Type: chat.EventDelta, Index: 3, Arguments: `"/a"}`},
		{Type: chat.EventBlockStop, Index: 3},
		{Type: chat.EventBlockStart, Index: 4, Block: chat.KindToolCall, Call: &chat.ToolCall{ID: "fc_2", Name: "Grep", Signature: "gemini-sig"}},
		{Type: chat.EventDelta, Index: 4, Arguments: `{}`},
		{Type: chat.EventBlockStop, Index: 4},
		{Type: chat.EventFinish, Finish: chat.FinishStop},
		{Type: chat.EventUsage, Usage: u},
		{Type: chat.EventEnd},
	}
	out := encodeEvents(t, evs, &relay.Request{})
	var deltas []string
	for _, c := range out[:len(out)-2] {
		var v struct {
			ID      string `json:"id"`
			Created int64  `json:"created"`
			Model   string `json:"model"`
			Choices []struct {
				Index        int             `json:"index"`
				Delta        json.RawMessage `json:"delta"`
				FinishReason *string         `json:"finish_reason"`
				Logprobs     *struct{}       `json:"logprobs"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(c.Data, &v); err != nil {
			t.Fatal(err)
		}
		if v.ID != "msg_1" || v.Created != 99 || v.Model != "claude-x" || len(v.Choices) != 1 || v.Choices[0].Index != 0 || v.Choices[0].Logprobs != nil {
			t.Fatalf("chunk %s", c.Data)
		}
		d := string(v.Choices[0].Delta)
		if fr := v.Choices[0].FinishReason; fr != nil {
			d += " finish=" + *fr
		}
		deltas = append(deltas, d)
	}
	want := []string{
		`{"role":"assistant","content":"","refusal":null}`,
		`{"reasoning_content":"hmm"}`,
		`{"thinking_blocks":[{"type":"thinking","thinking":"","signature":"SIG"}]}`,
		`{"thinking_blocks":[{"type":"redacted_thinking","data":"RED"}]}`,
		`{"content":"I'll \"check\"."}`,
		`{"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"Read","arguments":""}}]}`,
		`{"tool_calls":[{"index":0,"function":{"arguments":"{\"file_path\":"}}]}`,
		`{"tool_calls":[{"index":0,"function":{"arguments":"\"/a\"}"}}]}`,
		`{"tool_calls":[{"index":1,"id":"` + chat.JoinCallID("fc_2", "gemini-sig") + `","type":"function","function":{"name":"Grep","arguments":""}}]}`,
		`{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}`,
		`{} finish=tool_calls`,
	}
	if !reflect.DeepEqual(deltas, want) {
		t.Fatalf("deltas\n%s\nwant\n%s", strings.Join(deltas, "\n"), strings.Join(want, "\n"))
	}
	last := out[len(out)-2]
	if !last.UsageOnly || *last.Usage != *u || !out[len(out)-1].Done {
		t.Fatalf("usage chunk %+v %s", last, last.Data)
	}
	checkJSON(t, last.Data, map[string]string{"choices": `[]`, "usage": `{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":60,"cache_creation_tokens":5},"completion_tokens_details":{"reasoning_tokens":8}}`}, nil)

	sdk := sdkAnswer(t, out)
	m := sdk.Choices[0].Message
	if m.Content != `I'll "check".` || len(m.ToolCalls) != 2 || m.ToolCalls[1].Function.Name != "Grep" || sdk.Choices[0].FinishReason != "tool_calls" || sdk.Usage.TotalTokens != 120 {
		t.Fatalf("the SDK read %+v", sdk)
	}
	if without := frame(out, false); bytes.Contains(without, []byte(`"usage"`)) || !bytes.HasSuffix(without, []byte("data: [DONE]\n\n")) {
		t.Fatalf("a client that did not ask got the usage chunk:\n%s", without)
	}
	back, err := decodeChunks(out)
	if err != nil {
		t.Fatal(err)
	}
	checkGrammar(t, back, true)
	if a, b := viaOpenAI(collect(evs)), collect(back); !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip:\n%+v\n%+v", a, b)
	}
}

func TestStreamEncoderEdges(t *testing.T) {
	t.Run("no start, no usage", func(t *testing.T) {
		out := encodeEvents(t, []chat.Event{{Type: chat.EventBlockStart, Block: chat.KindText}, {Type: chat.EventDelta, Text: "x"}, {Type: chat.EventBlockStop}, {Type: chat.EventEnd}, {Type: chat.EventEnd}}, &relay.Request{})
		if len(out) != 3 || !bytes.Contains(out[0].Data, []byte(`"id":"chatcmpl-`)) || !out[2].Done {
			t.Fatalf("%d chunks: %s", len(out), out[0].Data)
		}
	})
	t.Run("finish reasons", func(t *testing.T) {
		for f, want := range map[chat.Finish]string{chat.FinishStop: "stop", chat.FinishLength: "length", chat.FinishToolCalls: "tool_calls", chat.FinishContentFilter: "content_filter", chat.FinishRefusal: "content_filter", chat.FinishPause: "stop", chat.FinishError: "stop", "": "stop"} {
			out := encodeEvents(t, []chat.Event{{Type: chat.EventStart, ID: "x"}, {Type: chat.EventFinish, Finish: f}, {Type: chat.EventEnd}}, &relay.Request{})
			if got := sdkAnswer(t, out).Choices[0].FinishReason; got != want {
				t.Errorf("%q: finish_reason %q, want %q", f, got, want)
			}
		}
	})
	t.Run("signed thinking blocks in a row stay apart", func(t *testing.T) {
		evs := []chat.Event{{Type: chat.EventStart, ID: "x"},
			{Type: chat.EventBlockStart, Index: 0, Block: chat.KindThinking}, {Type: chat.EventDelta, Index: 0, Signature: "s1"}, {Type: chat.EventDelta, Index: 0, Signature: "s2"}, {Type: chat.EventBlockStop, Index: 0},
			{Type: chat.EventBlockStart, Index: 1, Block: chat.KindThinking}, {Type: chat.EventDelta, Index: 1, Signature: "t"}, {Type: chat.EventBlockStop, Index: 1},
			{Type: chat.EventEnd}}
		back, err := decodeChunks(encodeEvents(t, evs, &relay.Request{}))
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(back).Sigs; !reflect.DeepEqual(got, []string{"s1s2", "t"}) {
			t.Fatalf("signatures %q\n%s", got, strings.Join(summaries(back), "\n"))
		}
	})
	t.Run("media", func(t *testing.T) {
		enc := Codec{}.NewStreamEncoder(&relay.Request{})
		out, _ := enc.Encode(&chat.Event{Type: chat.EventStart}, nil)
		if _, err := enc.Encode(&chat.Event{Type: chat.EventBlockStart, Block: chat.KindMedia}, out); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Fatalf("err = %v", err)
		}
	})
}
