package conformance_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/providers"
	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// BenchmarkConvert measures what converting one request costs the
// gateway: decoding a 2 KiB chat request of the client's protocol,
// encoding it for the channel, then reading the channel's streamed answer
// (40 content chunks, as its fake sends them) through the adaptor, the
// channel's stream decoder, the client's stream encoder and its framer.
// The HTTP round trips are left out: they are the same as for a request
// that passes through.
func BenchmarkConvert(b *testing.B) {
	ps := providers.Providers()
	for _, pair := range [][2]aiproxy.Protocol{
		{aiproxy.ProtocolOpenAI, aiproxy.ProtocolAnthropic},
		{aiproxy.ProtocolAnthropic, aiproxy.ProtocolOpenAI},
		{aiproxy.ProtocolOpenAI, aiproxy.ProtocolGemini},
		{aiproxy.ProtocolGemini, aiproxy.ProtocolOpenAI},
		{aiproxy.ProtocolAnthropic, aiproxy.ProtocolGemini},
		{aiproxy.ProtocolGemini, aiproxy.ProtocolAnthropic},
	} {
		client, channel := pair[0], pair[1]
		in := providers.Ingress(client)
		ad := ps[aiproxy.ChannelType(channel)].Adaptor
		body := benchRequest(b, client)
		answer := recordStream(b, channel)
		b.Run(string(client)+"→"+string(channel), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body) + len(answer)))
			for b.Loop() {
				req := &relay.Request{Ingress: in, Protocol: client, Mode: aiproxy.ModeChat, Model: "m", Stream: true, Body: body,
					Path: "/v1beta/models/m:streamGenerateContent", Query: url.Values{"alt": {"sse"}}, Header: http.Header{}}
				c, err := in.DecodeRequest(req)
				if err != nil {
					b.Fatal(err)
				}
				call := &relay.Call{Request: req, Mode: aiproxy.ModeChat, Channel: &aiproxy.Channel{Type: aiproxy.ChannelType(channel)},
					BaseURL: "http://upstream", Model: "m", UpstreamModel: "m", Stream: true, Converted: true}
				if call.Body, err = ad.Format().EncodeRequest(c, call); err != nil {
					b.Fatal(err)
				}
				st, err := ad.Stream(call, &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(answer))})
				if err != nil {
					b.Fatal(err)
				}
				dec, enc, fr := ad.Format().NewStreamDecoder(), in.NewStreamEncoder(req), in.NewFramer(req)
				var events []chat.Event
				var out []relay.Chunk
				frame := make([]byte, 0, 1024)
				text := make([]byte, 0, 256)
				n := 0
				for {
					ch, err := st.Next()
					events = events[:0]
					if err == io.EOF {
						if events, err = dec.End(events); err != nil {
							b.Fatal(err)
						}
					} else if err != nil {
						b.Fatal(err)
					} else if ch.Comment == nil {
						if events, err = dec.Decode(ch, events); err != nil {
							b.Fatal(err)
						}
					}
					for i := range events {
						if ev := &events[i]; ev.Type == chat.EventDelta { // what the relay meters
							text = append(append(text, ev.Text...), ev.Arguments...)
						}
						out = out[:0]
						if out, err = enc.Encode(&events[i], out); err != nil {
							b.Fatal(err)
						}
						for j := range out {
							frame = fr.Frame(frame[:0], &out[j])
							n += len(frame)
						}
					}
					if ch == nil {
						break
					}
				}
				st.Close()
				if n == 0 {
					b.Fatal("nothing written")
				}
			}
		})
	}
}

// BenchmarkPassThrough is BenchmarkConvert's counterpart for a request
// whose protocol matches its channel's: the same answer read by the
// adaptor (usage and text metered) and framed for the client, with no
// conversion. BenchmarkConvert minus this is what conversion adds.
func BenchmarkPassThrough(b *testing.B) {
	ps := providers.Providers()
	for _, p := range []aiproxy.Protocol{aiproxy.ProtocolOpenAI, aiproxy.ProtocolAnthropic, aiproxy.ProtocolGemini} {
		in := providers.Ingress(p)
		ad := ps[aiproxy.ChannelType(p)].Adaptor
		body := benchRequest(b, p)
		answer := recordStream(b, p)
		b.Run(string(p), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body) + len(answer)))
			for b.Loop() {
				req := &relay.Request{Ingress: in, Protocol: p, Mode: aiproxy.ModeChat, Model: "m", Stream: true, Body: body,
					Path: "/v1beta/models/m:streamGenerateContent", Query: url.Values{"alt": {"sse"}}, Header: http.Header{}}
				if err := in.Parse(req); err != nil {
					b.Fatal(err)
				}
				call := &relay.Call{Request: req, Mode: aiproxy.ModeChat, Channel: &aiproxy.Channel{Type: aiproxy.ChannelType(p)},
					BaseURL: "http://upstream", Model: "m", UpstreamModel: "m", Stream: true, Body: body}
				st, err := ad.Stream(call, &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(answer))})
				if err != nil {
					b.Fatal(err)
				}
				fr := in.NewFramer(req)
				frame := make([]byte, 0, 1024)
				for {
					ch, err := st.Next()
					if err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
					frame = fr.Frame(frame[:0], ch)
				}
				st.Close()
			}
		})
	}
}

// benchRequest returns a chat request of about 2 KiB in protocol p: a
// system prompt, three turns and a tool.
func benchRequest(tb testing.TB, p aiproxy.Protocol) []byte {
	tb.Helper()
	long := strings.Repeat("The gateway relays every token faithfully. ", 10)
	q := strconv.Quote
	var b string
	switch p {
	case aiproxy.ProtocolOpenAI:
		b = `{"model":"m","stream":true,"max_tokens":512,"temperature":0.7,"messages":[{"role":"system","content":` + q(long) + `},` +
			`{"role":"user","content":` + q(long) + `},{"role":"assistant","content":` + q(long) + `},{"role":"user","content":` + q(long) + `}],` +
			`"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}}]}`
	case aiproxy.ProtocolAnthropic:
		b = `{"model":"m","stream":true,"max_tokens":512,"temperature":0.7,"system":` + q(long) + `,"messages":[` +
			`{"role":"user","content":` + q(long) + `},{"role":"assistant","content":` + q(long) + `},{"role":"user","content":[{"type":"text","text":` + q(long) + `}]}],` +
			`"tools":[{"name":"get_weather","description":"Weather of a city","input_schema":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}]}`
	case aiproxy.ProtocolGemini:
		b = `{"systemInstruction":{"parts":[{"text":` + q(long) + `}]},"contents":[` +
			`{"role":"user","parts":[{"text":` + q(long) + `}]},{"role":"model","parts":[{"text":` + q(long) + `}]},{"role":"user","parts":[{"text":` + q(long) + `}]}],` +
			`"generationConfig":{"maxOutputTokens":512,"temperature":0.7},` +
			`"tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather of a city","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"},"unit":{"type":"STRING","enum":["celsius","fahrenheit"]}},"required":["city"]}}]}]}`
	}
	if n := len(b); n < 1800 || n > 2600 {
		tb.Fatalf("bench request of %d bytes", n)
	}
	return []byte(b)
}

// recordStream returns the bytes of a streamed answer of 40 content
// chunks as the fake provider of protocol p sends it.
func recordStream(tb testing.TB, p aiproxy.Protocol) []byte {
	tb.Helper()
	reply := relaytest.WithReply(strings.TrimSpace(strings.Repeat("word ", 40)))
	var srv *httptest.Server
	var req *http.Request
	switch p {
	case aiproxy.ProtocolOpenAI:
		_, srv = relaytest.Start(tb, reply)
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
	case aiproxy.ProtocolAnthropic:
		_, srv = relaytest.StartAnthropic(tb, reply)
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(`{"model":"m","max_tokens":512,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("anthropic-version", "2023-06-01")
	case aiproxy.ProtocolGemini:
		_, srv = relaytest.StartGemini(tb, reply)
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/m:streamGenerateContent?alt=sse", strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req.WithContext(context.Background()))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		tb.Fatalf("record %s stream: %d %v", p, resp.StatusCode, err)
	}
	return b
}
