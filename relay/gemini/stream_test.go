package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// chunkView is what a test sees of one native chunk.
type chunkView struct {
	Data    json.RawMessage `json:"data,omitempty"`
	Comment string          `json:"comment,omitempty"`
	Usage   *aiproxy.Usage  `json:"usage,omitempty"`
	Text    string          `json:"text,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// readStream reads a recorded stream through the adaptor.
func readStream(tb testing.TB, wire []byte) []relay.Chunk {
	tb.Helper()
	st, err := NewAdaptor().Stream(&relay.Call{Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
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
		cc := *c
		cc.Data, cc.Text = bytes.Clone(c.Data), bytes.Clone(c.Text)
		if c.Usage != nil {
			u := *c.Usage
			cc.Usage = &u
		}
		out = append(out, cc)
	}
}

// decodeStream decodes chunks into events; the error is the decoder's.
// A decoder may reuse what its events point to in the next call, so the
// events of each call are copied.
func decodeStream(chunks []relay.Chunk) ([]chat.Event, error) {
	dec := Codec{}.NewStreamDecoder()
	var evs []chat.Event
	var err error
	for i := range chunks {
		n := len(evs)
		evs, err = dec.Decode(&chunks[i], evs)
		keep(evs[n:])
		if err != nil {
			return evs, err
		}
	}
	return dec.End(evs)
}

// keep copies what events point to.
func keep(evs []chat.Event) {
	for i := range evs {
		if u := evs[i].Usage; u != nil {
			c := *u
			evs[i].Usage = &c
		}
		if c := evs[i].Call; c != nil {
			cc := *c
			evs[i].Call = &cc
		}
	}
}

// encodeStream encodes events as a Gemini stream and frames it.
func encodeStream(tb testing.TB, evs []chat.Event, query string) ([]relay.Chunk, []byte) {
	tb.Helper()
	req := request("/v1beta/models/m:streamGenerateContent", query, nil)
	enc := Codec{}.NewStreamEncoder(req)
	fr := Codec{}.NewFramer(req)
	var chunks []relay.Chunk
	var wire []byte
	for i := range evs {
		var err error
		n := len(chunks)
		if chunks, err = enc.Encode(&evs[i], chunks); err != nil {
			tb.Fatalf("Encode(%s): %v", eventNames[evs[i].Type], err)
		}
		for j := n; j < len(chunks); j++ {
			wire = fr.Frame(wire, &chunks[j])
		}
	}
	return chunks, fr.End(wire)
}

// checkGrammar reports whether evs follow the grammar of package chat:
// Start (BlockStart Delta* BlockStop)* Finish? Usage* End, with Usage
// anywhere after Start.
func checkGrammar(evs []chat.Event) error {
	started, finished, ended := false, false, false
	open, blocks := -1, 0
	for i, e := range evs {
		if ended {
			return fmt.Errorf("event %d after End", i)
		}
		if !started && e.Type != chat.EventStart {
			return fmt.Errorf("event %d (%s) before Start", i, eventNames[e.Type])
		}
		switch e.Type {
		case chat.EventStart:
			if started {
				return fmt.Errorf("second Start at %d", i)
			}
			started = true
		case chat.EventBlockStart:
			if open >= 0 || finished || e.Index != blocks {
				return fmt.Errorf("BlockStart %d at %d (open %d, %d blocks, finished %v)", e.Index, i, open, blocks, finished)
			}
			if e.Block == chat.KindToolCall && (e.Call == nil || e.Call.ID == "") {
				return fmt.Errorf("tool call block %d without an id", e.Index)
			}
			open = e.Index
			blocks++
		case chat.EventDelta:
			if open < 0 || e.Index != open {
				return fmt.Errorf("Delta for %d at %d, open %d", e.Index, i, open)
			}
		case chat.EventBlockStop:
			if open < 0 || e.Index != open {
				return fmt.Errorf("BlockStop %d at %d, open %d", e.Index, i, open)
			}
			open = -1
		case chat.EventFinish:
			if open >= 0 || finished {
				return fmt.Errorf("Finish at %d with block %d open (finished %v)", i, open, finished)
			}
			finished = true
		case chat.EventUsage:
			if e.Usage == nil {
				return fmt.Errorf("Usage without usage at %d", i)
			}
		case chat.EventEnd:
			if open >= 0 {
				return fmt.Errorf("End with block %d open", open)
			}
			ended = true
		}
	}
	if !ended {
		return errors.New("no End")
	}
	return nil
}

// TestStreamGolden reads every recorded stream (testdata/*.sse) through
// the adaptor (*.chunks.golden), decodes it into events (*.events.golden)
// and encodes the events as a Gemini stream again (*.encoded.golden);
// package genaitest has the Google SDK read every chunk.
func TestStreamGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sse")
	if len(files) == 0 {
		t.Fatal("no testdata/*.sse transcripts")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".sse")
		t.Run(name, func(t *testing.T) {
			chunks := readStream(t, readFile(t, name+".sse"))
			var views []chunkView
			for _, c := range chunks {
				views = append(views, chunkView{Data: c.Data, Comment: string(c.Comment), Usage: c.Usage, Text: string(c.Text), Error: c.Error})
			}
			golden(t, name+".chunks.golden", marshal(t, views))

			evs, err := decodeStream(chunks)
			type decoded struct {
				Events []eventView `json:"events"`
				Error  string      `json:"error,omitempty"`
			}
			d := decoded{Events: viewEvents(evs)}
			if err != nil {
				d.Error = err.Error()
			} else if err := checkGrammar(evs); err != nil {
				t.Fatalf("events break the grammar: %v", err)
			}
			golden(t, name+".events.golden", marshal(t, d))
			if err != nil {
				return
			}

			out, wire := encodeStream(t, evs, "alt=sse")
			golden(t, name+".encoded.golden", wire)
			for i, c := range out {
				if r := gjson.ParseBytes(c.Data); !json.Valid(c.Data) || r.Get("candidates.#").Int() != 1 || r.Get("candidates.0.content.parts.#").Int() != 1 || r.Get("responseId").Str == "" {
					t.Fatalf("chunk %d = %s", i, c.Data)
				}
			}
		})
	}
}

func TestStreamDecoder(t *testing.T) {
	evs, err := decodeStream(readStream(t, readFile(t, "stream_calls.sse")))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ   chat.EventType
		block chat.Kind
	}{
		{chat.EventStart, 0}, {chat.EventBlockStart, chat.KindThinking}, {chat.EventDelta, 0}, {chat.EventUsage, 0},
		{chat.EventBlockStop, 0}, {chat.EventBlockStart, chat.KindToolCall}, {chat.EventDelta, 0}, {chat.EventBlockStop, 0},
		{chat.EventBlockStart, chat.KindToolCall}, {chat.EventDelta, 0}, {chat.EventBlockStop, 0},
		{chat.EventFinish, 0}, {chat.EventUsage, 0}, {chat.EventEnd, 0},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %s", len(evs), len(want), marshal(t, viewEvents(evs)))
	}
	for i, w := range want {
		if evs[i].Type != w.typ || evs[i].Block != w.block {
			t.Fatalf("event %d = %s %s, want %s %s", i, eventNames[evs[i].Type], evs[i].Block, eventNames[w.typ], w.block)
		}
	}
	if evs[0].ID != "c4llS" || evs[0].Model != "gemini-3-pro-preview" {
		t.Errorf("start = %+v", evs[0])
	}
	if c := evs[5].Call; c.ID != "call_c4llS_0" || c.Name != "get_weather" || c.Signature != sigWeather || evs[6].Arguments != `{"city": "Paris", "unit": "celsius"}` {
		t.Errorf("first call = %+v %q", c, evs[6].Arguments)
	}
	if c := evs[8].Call; c.ID != "fc-2" || c.Signature != "" || evs[9].Arguments != "{}" {
		t.Errorf("second call = %+v %q", c, evs[9].Arguments)
	}
	if evs[11].Finish != chat.FinishToolCalls {
		t.Errorf("finish = %s", evs[11].Finish)
	}
	if u := evs[12].Usage; u.PromptTokens != 120 || u.CompletionTokens != 84 || u.ReasoningTokens != 60 {
		t.Errorf("usage = %+v", u)
	}

	evs, _ = decodeStream(readStream(t, readFile(t, "stream_thoughts.sse")))
	var thinking, text, sig string
	for _, e := range evs {
		switch {
		case e.Type == chat.EventDelta && e.Index == 0:
			thinking += e.Text
		case e.Type == chat.EventDelta && e.Index == 1:
			text += e.Text
		case e.Type == chat.EventDelta && e.Signature != "":
			sig = e.Signature
		}
	}
	if thinking != "**Recalling the facts**\n\nThe user asks for the capital. France's capital is Paris." || text != "Paris is the capital." || sig != sigText {
		t.Errorf("thinking %q text %q signature %q", thinking, text, sig)
	}

	_, err = decodeStream(readStream(t, readFile(t, "stream_error.sse")))
	var ue *relay.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 503 || ue.Type != "UNAVAILABLE" || ue.Message != "The model is overloaded. Please try again later." || ue.Protocol != aiproxy.ProtocolGemini {
		t.Errorf("in-stream error = %#v", err)
	}
}

func TestStreamDecoderEdges(t *testing.T) {
	dec := Codec{}.NewStreamDecoder()
	evs, err := dec.End(nil)
	if err != nil || checkGrammar(evs) != nil || len(evs) != 2 {
		t.Errorf("empty stream: %v %v", viewEvents(evs), err)
	}
	dec = Codec{}.NewStreamDecoder()
	evs, _ = dec.Decode(&relay.Chunk{Data: []byte(`{"promptFeedback":{"blockReason":"SAFETY"},"responseId":"r"}`)}, nil)
	evs, _ = dec.End(evs)
	if checkGrammar(evs) != nil || evs[1].Type != chat.EventFinish || evs[1].Finish != chat.FinishContentFilter {
		t.Errorf("blocked prompt: %s", marshal(t, viewEvents(evs)))
	}
	dec = Codec{}.NewStreamDecoder()
	if _, err := dec.Decode(&relay.Chunk{Data: []byte(`{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}]}`)}, nil); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("generated image: err = %v", err)
	}
	// A chunk of the JSON-array framing, read whole.
	dec = Codec{}.NewStreamDecoder()
	evs, err = dec.Decode(&relay.Chunk{Data: []byte(`[{"candidates":[{"content":{"parts":[{"text":"a"}]}}]},{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP"}]}]`)}, nil)
	evs, _ = dec.End(evs)
	if err != nil || checkGrammar(evs) != nil || evs[2].Text != "a" || evs[3].Text != "b" {
		t.Errorf("array chunk: %s %v", marshal(t, viewEvents(evs)), err)
	}
}

// The encoder writes what another protocol's decoder produces (thinking
// with a signature delta, text, a tool call in argument fragments) as
// chunks the Google SDK reads and that decode back to the same answer.
func TestStreamEncoder(t *testing.T) {
	evs := []chat.Event{
		{Type: chat.EventStart, ID: "msg_01", Model: "claude-sonnet"},
		{Type: chat.EventUsage, Usage: &aiproxy.Usage{PromptTokens: 50}},
		{Type: chat.EventBlockStart, Index: 0, Block: chat.KindThinking},
		{Type: chat.EventDelta, Index: 0, Text: "Weather first."},
		{Type: chat.EventDelta, Index: 0, Signature: "EqQBCkYIBxgC"},
		{Type: chat.EventDelta, Index: 0, Signature: "KkDanthropic"},
		{Type: chat.EventBlockStop, Index: 0},
		{Type: chat.EventBlockStart, Index: 1, Block: chat.KindRedactedThinking, Signature: "opaque"},
		{Type: chat.EventBlockStop, Index: 1},
		{Type: chat.EventBlockStart, Index: 2, Block: chat.KindText},
		{Type: chat.EventDelta, Index: 2, Text: "Checking "},
		{Type: chat.EventDelta, Index: 2, Text: "\"Paris\"."},
		{Type: chat.EventBlockStop, Index: 2},
		{Type: chat.EventBlockStart, Index: 3, Block: chat.KindToolCall, Call: &chat.ToolCall{ID: "toolu_9", Name: "get_weather"}},
		{Type: chat.EventDelta, Index: 3, Arguments: `{"ci`},
		{Type: chat.EventDelta, Index: 3, Arguments: `ty": "Paris"}`},
		{Type: chat.EventBlockStop, Index: 3},
		{Type: chat.EventFinish, Finish: chat.FinishToolCalls},
		{Type: chat.EventUsage, Usage: &aiproxy.Usage{PromptTokens: 50, CompletionTokens: 30, ReasoningTokens: 10}},
		{Type: chat.EventEnd},
	}
	chunks, wire := encodeStream(t, evs, "alt=sse")
	if len(chunks) != 7 {
		t.Fatalf("%d chunks:\n%s", len(chunks), wire)
	}
	var sdk []gjson.Result
	for _, c := range chunks {
		r := gjson.ParseBytes(c.Data)
		if !json.Valid(c.Data) || r.Get("responseId").Str != "msg_01" || r.Get("modelVersion").Str != "claude-sonnet" {
			t.Errorf("chunk without its id and model: %s", c.Data)
		}
		sdk = append(sdk, r)
	}
	part := func(i int) gjson.Result { return sdk[i].Get("candidates.0.content.parts.0") }
	if p := part(0); !p.Get("thought").Bool() || p.Get("text").Str != "Weather first." {
		t.Errorf("thought delta = %s", p.Raw)
	}
	if p := part(1); !p.Get("thought").Bool() || p.Get("text").Str != "" || p.Get("thoughtSignature").Str != "EqQBCkYIBxgCKkDanthropic" {
		t.Errorf("signature part = %s", p.Raw)
	}
	if p := part(2); !p.Get("thought").Bool() || !strings.HasPrefix(p.Get("thoughtSignature").Str, redactedPrefix) {
		t.Errorf("redacted thinking = %s", p.Raw)
	}
	if part(3).Get("text").Str+part(4).Get("text").Str != `Checking "Paris".` {
		t.Errorf("text = %s %s", part(3).Raw, part(4).Raw)
	}
	if fc := part(5).Get("functionCall"); fc.Get("id").Str != "toolu_9" || fc.Get("name").Str != "get_weather" || fc.Get("args.city").Str != "Paris" {
		t.Errorf("function call = %s", part(5).Raw)
	}
	last := sdk[6]
	if last.Get("candidates.0.finishReason").Str != "STOP" || last.Get("usageMetadata.candidatesTokenCount").Int() != 20 ||
		last.Get("usageMetadata.thoughtsTokenCount").Int() != 10 || last.Get("usageMetadata.totalTokenCount").Int() != 80 {
		t.Errorf("last chunk = %s", chunks[6].Data)
	}

	// Decoded again, the stream says the same.
	back, err := decodeStream(chunks)
	if err != nil || checkGrammar(back) != nil {
		t.Fatalf("re-decoded: %v %v", err, checkGrammar(back))
	}
	var text, args, sig, redacted string
	for _, e := range back {
		text += e.Text
		args += e.Arguments
		if e.Type == chat.EventBlockStart && e.Call != nil && e.Call.ID != "toolu_9" {
			t.Errorf("call id %q", e.Call.ID)
		}
		if e.Type == chat.EventDelta && e.Index == 0 {
			sig += e.Signature
		}
		if e.Type == chat.EventBlockStart && e.Block == chat.KindRedactedThinking {
			redacted = e.Signature
		}
	}
	if text != `Weather first.Checking "Paris".` || args != `{"city": "Paris"}` || sig != "EqQBCkYIBxgCKkDanthropic" || redacted != "opaque" {
		t.Errorf("re-decoded text %q args %q sig %q redacted %q", text, args, sig, redacted)
	}
}

func TestStreamEncoderBadArguments(t *testing.T) {
	enc := Codec{}.NewStreamEncoder(nil)
	var out []relay.Chunk
	var err error
	for _, ev := range []chat.Event{
		{Type: chat.EventStart},
		{Type: chat.EventBlockStart, Block: chat.KindToolCall, Call: &chat.ToolCall{ID: "c", Name: "f"}},
		{Type: chat.EventDelta, Arguments: `{"broken`},
		{Type: chat.EventBlockStop},
	} {
		if out, err = enc.Encode(&ev, out); err != nil {
			break
		}
	}
	if aiproxy.ErrorCode(err) != aiproxy.EUPSTREAM {
		t.Errorf("err = %v, want EUPSTREAM", err)
	}
}
