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

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// seed adds the files matching patterns to f's corpus.
func seed(f *testing.F, patterns ...string) {
	n := 0
	for _, p := range patterns {
		files, _ := filepath.Glob(p)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seeds in %v", patterns)
	}
}

// FuzzDecodeRequest decodes arbitrary bodies: no panic, only EINVALID
// errors, and what decodes encodes into valid JSON that decodes again.
func FuzzDecodeRequest(f *testing.F) {
	seed(f, "testdata/convert/request_*.json")
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a__sig_eA","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a__sig_eA","content":"r"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,x"}},{"type":"file","file":{"file_data":"QUJD"}}]}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := Codec{}.DecodeRequest(&relay.Request{Mode: aiproxy.ModeChat, Body: body})
		if err != nil {
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
				t.Fatalf("error %v, want EINVALID", err)
			}
			return
		}
		for _, call := range []*relay.Call{compatible, official} {
			out, err := Codec{}.EncodeRequest(c, call)
			if err != nil {
				if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
					t.Fatalf("EncodeRequest: %v", err)
				}
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("EncodeRequest made invalid JSON: %s", out)
			}
			if _, err := decodeBody(string(out)); err != nil {
				t.Fatalf("the encoded request does not decode: %v\n%s", err, out)
			}
		}
	})
}

// chunksLenient reads a transcript like chunksOf, stopping at a read
// error (a line too long, say).
func chunksLenient(wire []byte) []relay.Chunk {
	st, _ := NewAdaptor().Stream(&relay.Call{Mode: aiproxy.ModeChat, Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
	defer st.Close()
	var out []relay.Chunk
	for {
		c, err := st.Next()
		if err != nil {
			return out
		}
		out = append(out, relay.Chunk{Data: bytes.Clone(c.Data), Comment: bytes.Clone(c.Comment), Done: c.Done})
	}
}

// FuzzStreamDecoder decodes arbitrary transcripts: no panic, events that
// follow the grammar, errors that are the provider's (with a JSON body)
// or EINVALID, and events that encode into valid chunks.
func FuzzStreamDecoder(f *testing.F) {
	seed(f, "testdata/convert/stream_*.sse", "testdata/chat_*.sse")
	f.Fuzz(func(t *testing.T, wire []byte) {
		evs, err := decodeChunks(chunksLenient(wire))
		checkGrammar(t, evs, err == nil)
		if err != nil {
			var ue *relay.UpstreamError
			switch {
			case errors.As(err, &ue):
				if !json.Valid(ue.Body) || ue.Status < 400 || ue.Protocol != aiproxy.ProtocolOpenAI {
					t.Fatalf("upstream error %+v", ue)
				}
			case aiproxy.ErrorCode(err) != aiproxy.EINVALID:
				t.Fatalf("error %v", err)
			}
		}
		encodeEvents(t, evs, &relay.Request{WantsUsage: true})
	})
}

// gen makes a well-formed event stream out of arbitrary bytes.
type gen struct {
	b     []byte
	calls int
}

func (g *gen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

// str returns up to 11 bytes as valid UTF-8 (what protocols carry).
func (g *gen) str() string {
	n := min(int(g.byte()%12), len(g.b))
	s := strings.ToValidUTF8(string(g.b[:n]), "\uFFFD")
	g.b = g.b[n:]
	return s
}

func (g *gen) text() string {
	if s := g.str(); s != "" {
		return s
	}
	return "x"
}

func (g *gen) usage() *aiproxy.Usage {
	u := &aiproxy.Usage{PromptTokens: int64(g.byte()), CompletionTokens: int64(g.byte()), CachedTokens: int64(g.byte() % 8), CacheCreationTokens: int64(g.byte() % 4), ReasoningTokens: int64(g.byte() % 8)}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

var finishes = []chat.Finish{chat.FinishStop, chat.FinishLength, chat.FinishToolCalls, chat.FinishContentFilter, chat.FinishRefusal, chat.FinishPause, chat.FinishError}

func genEvents(prog []byte) []chat.Event {
	g := &gen{b: prog}
	evs := []chat.Event{{Type: chat.EventStart, ID: "chatcmpl-gen", Model: "m", Created: 1}}
	block := 0
	add := func(k chat.Kind, call *chat.ToolCall, sig string, deltas func() []chat.Event) {
		evs = append(evs, chat.Event{Type: chat.EventBlockStart, Index: block, Block: k, Call: call, Signature: sig})
		for _, d := range deltas() {
			d.Type, d.Index = chat.EventDelta, block
			evs = append(evs, d)
		}
		evs = append(evs, chat.Event{Type: chat.EventBlockStop, Index: block})
		block++
	}
	some := func(f func() chat.Event) func() []chat.Event {
		return func() []chat.Event {
			var out []chat.Event
			for range g.byte() % 4 {
				out = append(out, f())
			}
			return out
		}
	}
	for i := 0; i < 64 && len(g.b) > 0; i++ {
		switch g.byte() % 7 {
		case 0, 5, 6:
			add(chat.KindText, nil, "", some(func() chat.Event { return chat.Event{Text: g.text()} }))
		case 1:
			add(chat.KindThinking, nil, "", func() []chat.Event {
				out := some(func() chat.Event { return chat.Event{Text: g.text()} })()
				for range g.byte() % 3 { // signatures come after the text
					out = append(out, chat.Event{Signature: g.text()})
				}
				return out
			})
		case 2:
			add(chat.KindRedactedThinking, nil, g.str(), func() []chat.Event { return nil })
		case 3:
			g.calls++
			add(chat.KindToolCall, &chat.ToolCall{ID: fmt.Sprintf("call_%d", g.calls), Name: g.str(), Signature: g.str()}, "",
				some(func() chat.Event { return chat.Event{Arguments: g.text()} }))
		case 4:
			evs = append(evs, chat.Event{Type: chat.EventUsage, Usage: g.usage()})
		}
	}
	if c := g.byte(); c%8 < 7 {
		evs = append(evs, chat.Event{Type: chat.EventFinish, Finish: finishes[c%8]})
	}
	if g.byte()%2 == 0 {
		evs = append(evs, chat.Event{Type: chat.EventUsage, Usage: g.usage()})
	}
	return append(evs, chat.Event{Type: chat.EventEnd})
}

// FuzzStreamEncoder encodes well-formed event streams made of arbitrary
// bytes: every chunk is valid JSON that the official SDK reads, and the
// chunks decode into a stream that says the same.
func FuzzStreamEncoder(f *testing.F) {
	seed(f, "testdata/convert/stream_*.sse")
	f.Add([]byte{3, 5, 'n', 'a', 'm', 'e', '1', 0, 2, 3, 'a', 'b', 'c', 3, 0, 0, 1, 'z', 1, 2, 4, 's', 'i', 'g', 'n'})
	f.Fuzz(func(t *testing.T, prog []byte) {
		evs := genEvents(prog)
		checkGrammar(t, evs, true)
		out := encodeEvents(t, evs, &relay.Request{WantsUsage: true})
		back, err := decodeChunks(out)
		if err != nil {
			t.Fatalf("decoding the encoded stream: %v", err)
		}
		checkGrammar(t, back, true)
		want, got := viaOpenAI(collect(evs)), collect(back)
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("the encoded stream says\n%+v\nnot\n%+v\nevents:\n%s", got, want, strings.Join(summaries(evs), "\n"))
		}
		sdk := sdkAnswer(t, out).Choices[0].Message
		if sdk.Content != want.Text || len(sdk.ToolCalls) != len(want.Calls) {
			t.Fatalf("the SDK read %q and %d calls, want %q and %d", sdk.Content, len(sdk.ToolCalls), want.Text, len(want.Calls))
		}
		for i, c := range sdk.ToolCalls {
			if c.Function.Arguments != want.Calls[i].Arguments || c.Function.Name != want.Calls[i].Name {
				t.Fatalf("the SDK read call %d as %+v, want %+v", i, c.Function, want.Calls[i])
			}
		}
	})
}
