package openai

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// benchRequest is a chat request of about 2 KiB: a system prompt, two
// tools, and a tool round trip.
const benchRequest = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"temperature":0.2,"max_tokens":1024,` +
	`"messages":[` +
	`{"role":"system","content":"You are a careful assistant for a travel agency. Answer in the user's language, keep answers short, and always check the weather with the tool before recommending outdoor activities. Never invent prices: use the pricing tool. When a tool fails, say so and suggest what the user can do instead. Format lists with dashes and keep each line under eighty characters."},` +
	`{"role":"user","content":"I am going to Lisbon next weekend with two kids. What should we do on Saturday if the weather is good, and what if it rains? Also, how much would a family ticket for the aquarium cost?"},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_w1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Lisbon\",\"date\":\"2025-06-14\"}"}},{"id":"call_p1","type":"function","function":{"name":"get_price","arguments":"{\"venue\":\"Oceanario de Lisboa\",\"ticket\":\"family\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_w1","content":"{\"forecast\":\"sunny\",\"high_c\":27,\"low_c\":18,\"rain_probability\":0.1}"},` +
	`{"role":"tool","tool_call_id":"call_p1","content":"{\"venue\":\"Oceanario de Lisboa\",\"ticket\":\"family (2 adults + 2 children)\",\"price_eur\":59}"},` +
	`{"role":"assistant","content":"Saturday looks sunny (27°C): Belem in the morning, the tram 28 ride, and the aquarium (59 EUR for a family ticket) in the afternoon."},` +
	`{"role":"user","content":"Great. And if it does rain after all, which indoor places would you suggest near the aquarium?"}],` +
	`"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather forecast for a city on a date.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"date":{"type":"string","description":"ISO date"}},"required":["city","date"]}}},` +
	`{"type":"function","function":{"name":"get_price","description":"Ticket price of a venue.","parameters":{"type":"object","properties":{"venue":{"type":"string"},"ticket":{"type":"string","enum":["adult","child","family"]}},"required":["venue","ticket"]}}}]}`

// benchStream is a streamed answer of 40 chunks: the role chunk, text,
// a tool call with fragmented arguments, the finish and usage chunks.
func benchStream() []relay.Chunk {
	const head = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":`
	const tail = `,"logprobs":null,"finish_reason":null}],"usage":null}`
	var out []relay.Chunk
	add := func(delta string) { out = append(out, relay.Chunk{Data: []byte(head + delta + tail)}) }
	add(`{"role":"assistant","content":"","refusal":null}`)
	words := strings.Fields("If it rains, the Pavilion of Knowledge next to the aquarium is a hands-on science museum kids love, and the Vasco da Gama mall is a short walk away. Let me check")
	for _, w := range words[:25] {
		add(`{"content":"` + w + ` "}`)
	}
	add(`{"tool_calls":[{"index":0,"id":"call_k2","type":"function","function":{"name":"get_price","arguments":""}}]}`)
	for _, a := range []string{`{\"`, `venue`, `\":\"`, `Pavilion`, ` of`, ` Knowledge`, `\",\"`, `ticket`, `\":\"`, `family\"}`} {
		add(`{"tool_calls":[{"index":0,"function":{"arguments":"` + a + `"}}]}`)
	}
	out = append(out, relay.Chunk{Data: []byte(head + `{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}`)})
	out = append(out, relay.Chunk{Data: []byte(`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":412,"completion_tokens":58,"total_tokens":470,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`)})
	out = append(out, relay.Chunk{Done: true})
	return out
}

func TestBenchFixtures(t *testing.T) {
	if n := len(benchRequest); n < 1900 || n > 2300 {
		t.Errorf("benchRequest is %d bytes, want about 2 KiB", n)
	}
	if n := len(benchStream()); n != 40 {
		t.Errorf("benchStream has %d chunks, want 40", n)
	}
	evs, err := decodeChunks(benchStream())
	if err != nil {
		t.Fatal(err)
	}
	checkGrammar(t, evs, true)
	if _, err := decodeBody(benchRequest); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	req := &relay.Request{Mode: aiproxy.ModeChat, Body: []byte(benchRequest)}
	b.SetBytes(int64(len(benchRequest)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).DecodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	c, err := decodeBody(benchRequest)
	if err != nil {
		b.Fatal(err)
	}
	call := &relay.Call{UpstreamModel: "gpt-4o-mini", BaseURL: "https://api.openai.com/v1", Stream: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).EncodeRequest(c, call); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamDecode(b *testing.B) {
	chunks := benchStream()
	var evs []chat.Event
	b.ReportAllocs()
	for b.Loop() {
		d := Codec{}.NewStreamDecoder()
		var err error
		for i := range chunks {
			if evs, err = d.Decode(&chunks[i], evs[:0]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkStreamEncode(b *testing.B) {
	evs, err := decodeChunks(benchStream())
	if err != nil {
		b.Fatal(err)
	}
	req := &relay.Request{WantsUsage: true}
	var out []relay.Chunk
	b.ReportAllocs()
	for b.Loop() {
		e := Codec{}.NewStreamEncoder(req)
		for i := range evs {
			if out, err = e.Encode(&evs[i], out[:0]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkResponse decodes and encodes a complete answer with two tool
// calls.
func BenchmarkResponse(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Checking both.","tool_calls":[` +
		`{"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"}}]},"finish_reason":"tool_calls"}],` +
		`"usage":{"prompt_tokens":` + strconv.Itoa(120) + `,"completion_tokens":48,"total_tokens":168}}`)
	req := &relay.Request{}
	b.ReportAllocs()
	for b.Loop() {
		r, err := Codec{}.DecodeResponse(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := (Codec{}).EncodeResponse(r, req); err != nil {
			b.Fatal(err)
		}
	}
}
