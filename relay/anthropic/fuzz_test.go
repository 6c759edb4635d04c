package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// checkErr fails unless err is nil, an EINVALID *aiproxy.Error or an
// *relay.UpstreamError: a decoder's failures are the input's fault.
func checkErr(t *testing.T, err error) {
	t.Helper()
	var ue *relay.UpstreamError
	if err == nil || errors.As(err, &ue) {
		return
	}
	if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Fatalf("unexpected error %v", err)
	}
}

// FuzzDecodeRequest decodes arbitrary request bodies: no panic, only
// EINVALID errors, and whatever decodes encodes (for each config and op)
// to valid JSON.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(readFixture(f, "request_full.json"))
	f.Add([]byte(`{"model":"m","max_tokens":5,"system":"s","messages":[{"role":"system","content":"x"},{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":2000}}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a b","name":"f","input":{"q":"\u2028"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a b","content":[{"type":"document","source":{"type":"text","data":"t"}}]}]}],"output_format":{"type":"json_schema","schema":{"type":"object"}}}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"data:image/png;base64,AAA"}}]}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},"tools":[{"name":"t"}]}`))
	configs := []string{"", `{"thinking":"budget","maxTokens":1}`, `{"version":"2026-10-21"}`}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &relay.Request{Body: body}
		checkErr(t, Codec{}.Parse(req))
		c, err := Codec{}.DecodeRequest(req)
		checkErr(t, err)
		if err != nil {
			return
		}
		for _, cfg := range configs {
			for _, op := range []relay.Op{relay.OpGenerate, relay.OpCountTokens} {
				call := &relay.Call{Request: req, Op: op, Mode: aiproxy.ModeChat, Channel: channel(cfg), UpstreamModel: "m\"odel", Stream: true}
				out, err := Codec{}.EncodeRequest(c, call)
				checkErr(t, err)
				if err == nil && !json.Valid(out) {
					t.Fatalf("EncodeRequest gave invalid JSON for %s: %s", cfg, out)
				}
			}
		}
		if out, err := (Codec{}).SetModel(body, "renamed"); err == nil && json.Valid(body) && !json.Valid(out) {
			t.Fatalf("SetModel gave invalid JSON: %s", out)
		}
	})
}

// FuzzDecodeResponse decodes arbitrary answers: whatever decodes encodes
// to valid JSON.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(readFixture(f, "response_tools.json"))
	f.Add([]byte(`{"content":[{"type":"tool_use","id":"x","name":"n","input":[1]}],"stop_reason":"stop_sequence","stop_sequence":"\u0000"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Codec{}.DecodeResponse(body)
		checkErr(t, err)
		if err != nil {
			return
		}
		out, err := Codec{}.EncodeResponse(r, &relay.Request{})
		checkErr(t, err)
		if err == nil && !json.Valid(out) {
			t.Fatalf("EncodeResponse gave invalid JSON: %s", out)
		}
	})
}

// FuzzStreamDecoder reads arbitrary streams through the adaptor, the
// decoder and the encoder: no panic, only EINVALID or provider errors, and
// every chunk the encoder writes is valid JSON.
func FuzzStreamDecoder(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.sse")
	for _, file := range files {
		f.Add(readFixture(f, filepath.Base(file)))
	}
	f.Add([]byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"b\",\"input\":{\"x\":1}}}\n\nevent: content_block_start\ndata: {\"index\":2,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"t\"}}\n\n"))
	f.Fuzz(func(t *testing.T, wire []byte) {
		st, _ := NewAdaptor().Stream(&relay.Call{Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
		defer st.Close()
		dec := Codec{}.NewStreamDecoder()
		enc := Codec{}.NewStreamEncoder(&relay.Request{})
		fr := Codec{}.NewFramer(&relay.Request{})
		var evs []chat.Event
		var out []relay.Chunk
		emit := func() {
			for i := range evs {
				var err error
				if out, err = enc.Encode(&evs[i], out[:0]); err != nil {
					t.Fatal(err)
				}
				for j := range out {
					if !json.Valid(out[j].Data) {
						t.Fatalf("encoder wrote invalid JSON: %s", out[j].Data)
					}
					fr.Frame(nil, &out[j])
				}
			}
			evs = evs[:0]
		}
		for {
			c, err := st.Next()
			if err != nil {
				if err == io.EOF {
					evs, err = dec.End(evs)
					checkErr(t, err)
					emit()
				}
				return
			}
			if c.Data != nil && json.Valid(c.Data) {
				if renamed, err := (Codec{}).SetModel(c.Data, "x"); err == nil && !json.Valid(renamed) {
					t.Fatalf("SetModel gave invalid JSON: %s", renamed)
				}
			}
			fr.Frame(nil, c)
			evs, err = dec.Decode(c, evs)
			checkErr(t, err)
			if err != nil {
				return
			}
			emit()
		}
	})
}
