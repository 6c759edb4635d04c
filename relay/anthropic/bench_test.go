package anthropic

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// benchRequest is a 2 KiB messages request: a system prompt with a cache
// breakpoint, two tools, a tool round trip and a question.
var benchRequest = []byte(`{"model":"claude-sonnet-4-6","max_tokens":4096,"stream":true,` +
	`"system":[{"type":"text","text":"You are a helpful assistant for a travel agency. Answer briefly, in the user's language, and use the tools when the answer depends on live data such as the weather or the local time.","cache_control":{"type":"ephemeral"}}],` +
	`"messages":[` +
	`{"role":"user","content":"I am flying to Paris tomorrow morning and coming back on Sunday evening. What should I pack, and what will the weather be like when I land?"},` +
	`{"role":"assistant","content":[{"type":"text","text":"Let me look up the forecast for Paris first."},{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{"location":"Paris, France","unit":"celsius","days":3}}]},` +
	`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","content":"Friday: 14°C, light rain in the morning, clearing later. Saturday: 17°C, sunny. Sunday: 12°C, windy with showers in the evening."}]},` +
	`{"role":"assistant","content":"Expect mild, changeable weather: around 14°C with light rain when you land, sunny on Saturday, showers on Sunday evening. Pack layers, a light waterproof jacket and comfortable shoes."},` +
	`{"role":"user","content":"Thanks! And what time is it there right now? I want to call my hotel before they close the front desk tonight."}],` +
	`"tools":[{"name":"get_weather","description":"Get the weather forecast for a location, for up to seven days.","input_schema":{"type":"object","properties":{"location":{"type":"string","description":"City and country"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["location"]}},` +
	`{"name":"get_time","description":"Get the current local time in a time zone.","input_schema":{"type":"object","properties":{"timezone":{"type":"string","description":"An IANA time zone such as Europe/Paris"}},"required":["timezone"]}}],` +
	`"tool_choice":{"type":"auto"},"thinking":{"type":"adaptive"},"output_config":{"effort":"medium"},"metadata":{"user_id":"user_8c1f"}}`)

func BenchmarkDecodeRequest(b *testing.B) {
	req := &relay.Request{Body: benchRequest}
	b.SetBytes(int64(len(benchRequest)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).DecodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req := &relay.Request{Protocol: aiproxy.ProtocolOpenAI, Body: benchRequest}
	c, err := Codec{}.DecodeRequest(req)
	if err != nil {
		b.Fatal(err)
	}
	call := &relay.Call{Request: req, Mode: aiproxy.ModeChat, Channel: channel(`{"thinking":"adaptive","maxTokens":4096}`), UpstreamModel: "claude-sonnet-4-6", Stream: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).EncodeRequest(c, call); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		req := &relay.Request{Body: benchRequest}
		if err := (Codec{}).Parse(req); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStream is an answer of 40 events: thinking, text in 30 deltas, a
// tool call in 4 fragments.
func benchStream() []byte {
	var b strings.Builder
	ev := func(name, data string) { fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, data) }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":512,"cache_creation_input_tokens":0,"cache_read_input_tokens":1024,"output_tokens":1}}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`)
	ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants the local time in Paris."}}`)
	ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}`)
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`)
	for i := 0; i < 24; i++ {
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"word `+fmt.Sprint(i)+` of the answer, "}}`)
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":1}`)
	ev("content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_time","input":{}}}`)
	for _, p := range []string{`{\"time`, `zone\": \"Eur`, `ope/Pa`, `ris\"}`} {
		ev("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"`+p+`"}}`)
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":2}`)
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":120}}`)
	ev("message_stop", `{"type":"message_stop"}`)
	return []byte(b.String())
}

// BenchmarkStreamDecode reads the 40-event answer through the adaptor's
// stream and the decoder.
func BenchmarkStreamDecode(b *testing.B) {
	wire := benchStream()
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	evs := make([]chat.Event, 0, 8)
	for b.Loop() {
		st, _ := NewAdaptor().Stream(&relay.Call{Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
		dec := Codec{}.NewStreamDecoder()
		for {
			c, err := st.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			if evs, err = dec.Decode(c, evs[:0]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := dec.End(evs[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEncode writes the 40-event answer's neutral events as an
// Anthropic stream, framed.
func BenchmarkStreamEncode(b *testing.B) {
	chunks, err := readChunks(b, benchStream())
	if err != nil {
		b.Fatal(err)
	}
	dec := Codec{}.NewStreamDecoder()
	var evs []chat.Event
	for i := range chunks {
		if evs, err = dec.Decode(&chunks[i], evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	out := make([]relay.Chunk, 0, 8)
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		enc := Codec{}.NewStreamEncoder(&relay.Request{})
		fr := Codec{}.NewFramer(&relay.Request{})
		for i := range evs {
			if out, err = enc.Encode(&evs[i], out[:0]); err != nil {
				b.Fatal(err)
			}
			for j := range out {
				buf = fr.Frame(buf[:0], &out[j])
			}
		}
	}
}

// BenchmarkStreamPassThrough reads the 40-event answer through the
// adaptor's stream and frames it again, as a request of an Anthropic
// client to an Anthropic channel does.
func BenchmarkStreamPassThrough(b *testing.B) {
	wire := benchStream()
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		st, _ := NewAdaptor().Stream(&relay.Call{Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
		fr := Codec{}.NewFramer(&relay.Request{})
		for {
			c, err := st.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			buf = fr.Frame(buf[:0], c)
		}
	}
}
