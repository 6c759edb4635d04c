package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// benchRequest is request_full.json compacted: about 2 KiB.
func benchRequest(tb testing.TB) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, readFile(tb, "request_full.json")); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// benchStream is a Gemini stream of a 40-chunk answer, usage on every
// chunk, as Google sends it.
func benchStream() []byte {
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fin := ""
		if i == 39 {
			fin = `,"finishReason":"STOP"`
		}
		fmt.Fprintf(&b, `data: {"candidates":[{"content":{"parts":[{"text":"word %d of the answer, with \"quotes\" and more "}],"role":"model"}%s,"index":0}],"usageMetadata":{"promptTokenCount":512,"candidatesTokenCount":%d,"totalTokenCount":%d,"promptTokensDetails":[{"modality":"TEXT","tokenCount":512}]},"modelVersion":"gemini-2.5-flash","responseId":"pHTdaOrXAYqsvdIPrs2R-Ao"}`+"\r\n\r\n", i, fin, 10*i+10, 522+10*i)
	}
	return []byte(b.String())
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := benchRequest(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := request("/v1beta/models/gemini-2.5-flash:generateContent", "", body)
		if err := (Codec{}).Parse(req); err != nil {
			b.Fatal(err)
		}
		if _, err := (Codec{}).DecodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req := parsed(b, "/v1beta/models/gemini-2.5-flash:generateContent", benchRequest(b))
	c, err := Codec{}.DecodeRequest(req)
	if err != nil {
		b.Fatal(err)
	}
	call := &relay.Call{Op: relay.OpGenerate, Mode: aiproxy.ModeChat, UpstreamModel: "gemini-2.5-flash"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).EncodeRequest(c, call); err != nil {
			b.Fatal(err)
		}
	}
}

// decodeAll reads wire through the adaptor and the stream decoder.
func decodeAll(tb testing.TB, wire []byte, evs []chat.Event) []chat.Event {
	st, _ := NewAdaptor().Stream(&relay.Call{Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
	dec := Codec{}.NewStreamDecoder()
	for {
		c, err := st.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			tb.Fatal(err)
		}
		if evs, err = dec.Decode(c, evs); err != nil {
			tb.Fatal(err)
		}
	}
	evs, _ = dec.End(evs)
	return evs
}

// encodeAll encodes events as a framed Gemini stream into wire.
func encodeAll(tb testing.TB, req *relay.Request, evs []chat.Event, chunks []relay.Chunk, wire []byte) ([]relay.Chunk, []byte) {
	enc := Codec{}.NewStreamEncoder(req)
	fr := Codec{}.NewFramer(req)
	for i := range evs {
		var err error
		if chunks, err = enc.Encode(&evs[i], chunks[:0]); err != nil {
			tb.Fatal(err)
		}
		for j := range chunks {
			wire = fr.Frame(wire[:0], &chunks[j])
		}
	}
	return chunks, fr.End(wire[:0])
}

func BenchmarkStreamDecode(b *testing.B) {
	wire := benchStream()
	var evs []chat.Event
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		evs = decodeAll(b, wire, evs[:0])
	}
}

func BenchmarkStreamEncode(b *testing.B) {
	evs := decodeAll(b, benchStream(), nil)
	req := request("/v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse", nil)
	var chunks []relay.Chunk
	wire := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		chunks, wire = encodeAll(b, req, evs, chunks, wire)
	}
}

// BenchmarkClientSide is the Gemini half of serving a Gemini client from
// a channel of another protocol: decoding its 2 KiB request and encoding
// a 40-chunk answer.
func BenchmarkClientSide(b *testing.B) {
	body := benchRequest(b)
	evs := decodeAll(b, benchStream(), nil)
	var chunks []relay.Chunk
	wire := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		req := request("/v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse", body)
		if err := (Codec{}).Parse(req); err != nil {
			b.Fatal(err)
		}
		if _, err := (Codec{}).DecodeRequest(req); err != nil {
			b.Fatal(err)
		}
		chunks, wire = encodeAll(b, req, evs, chunks, wire)
	}
}

// BenchmarkChannelSide is the Gemini half of serving a client of another
// protocol from a Gemini channel: encoding the request and decoding the
// 40-chunk stream.
func BenchmarkChannelSide(b *testing.B) {
	c, err := Codec{}.DecodeRequest(parsed(b, "/v1beta/models/gemini-2.5-flash:generateContent", benchRequest(b)))
	if err != nil {
		b.Fatal(err)
	}
	wire := benchStream()
	call := &relay.Call{Op: relay.OpGenerate, Mode: aiproxy.ModeChat, UpstreamModel: "gemini-2.5-flash", Stream: true}
	var evs []chat.Event
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).EncodeRequest(c, call); err != nil {
			b.Fatal(err)
		}
		evs = decodeAll(b, wire, evs[:0])
	}
}
