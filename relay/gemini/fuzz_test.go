package gemini

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// seed adds every testdata file matching pattern to f's corpus.
func seed(f *testing.F, pattern string, add func(b []byte)) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	if len(files) == 0 {
		f.Fatalf("no seeds for %s", pattern)
	}
	for _, file := range files {
		add(readFile(f, filepath.Base(file)))
	}
}

// checkRaw fails when a JSON value the neutral form carries is not JSON.
func checkRaw(t *testing.T, c *chat.Request) {
	for _, tool := range c.Tools {
		if len(tool.Parameters) > 0 && !json.Valid(tool.Parameters) {
			t.Fatalf("tool %q parameters are not JSON: %s", tool.Name, tool.Parameters)
		}
	}
	if c.Format != nil && len(c.Format.Schema) > 0 && !json.Valid(c.Format.Schema) {
		t.Fatalf("format schema is not JSON: %s", c.Format.Schema)
	}
	for _, m := range c.Messages {
		for _, p := range m.Parts {
			if p.Kind == chat.KindToolCall && !json.Valid([]byte(p.Call.Arguments)) {
				t.Fatalf("arguments are not JSON: %s", p.Call.Arguments)
			}
		}
	}
}

// pieces returns the members of a JSON object as objects of their own,
// and each content of its contents: small seeds, because the fuzzer's
// minimization of an input takes time quadratic in its size.
func pieces(b []byte) [][]byte {
	var out [][]byte
	gjson.ParseBytes(b).ForEach(func(k, v gjson.Result) bool {
		if k.Str == "contents" {
			v.ForEach(func(_, c gjson.Result) bool {
				out = append(out, []byte(`{"contents":[`+c.Raw+`]}`))
				return true
			})
			return true
		}
		out = append(out, []byte("{"+k.Raw+":"+v.Raw+"}"))
		return true
	})
	return out
}

func FuzzDecodeRequest(f *testing.F) {
	seed(f, "request_*.json", func(b []byte) {
		for _, p := range pieces(b) {
			f.Add(p, false)
		}
	})
	seed(f, "count_tokens*.json", func(b []byte) { f.Add(b, true) })
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		path := "/v1beta/models/m:generateContent"
		if count {
			path = "/v1beta/models/m:countTokens"
		}
		req := request(path, "", body)
		perr := Codec{}.Parse(req)
		req.Op = relay.OpGenerate
		if count {
			req.Op = relay.OpCountTokens
		}
		c, err := Codec{}.DecodeRequest(req)
		if err == nil && (perr != nil || !json.Valid(body)) {
			t.Fatalf("DecodeRequest accepted a body Parse refused (%v) or that is not JSON", perr)
		}
		if err != nil {
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		checkRaw(t, c)
		out, err := Codec{}.EncodeRequest(c, &relay.Call{Op: req.Op, UpstreamModel: "gemini-2.5-flash"})
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("EncodeRequest wrote invalid JSON: %s", out)
		}
	})
}

func FuzzStreamDecoder(f *testing.F) {
	seed(f, "*.sse", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, wire []byte) {
		st, _ := NewAdaptor().Stream(&relay.Call{Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
		defer st.Close()
		dec := Codec{}.NewStreamDecoder()
		enc := Codec{}.NewStreamEncoder(nil)
		var evs []chat.Event
		for {
			c, err := st.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				return
			}
			if evs, err = dec.Decode(c, evs); err != nil {
				return
			}
		}
		evs, _ = dec.End(evs)
		if err := checkGrammar(evs); err != nil {
			t.Fatalf("grammar: %v", err)
		}
		var chunks []relay.Chunk
		var err error
		for i := range evs {
			if chunks, err = enc.Encode(&evs[i], chunks); err != nil {
				return
			}
		}
		for _, c := range chunks {
			if !json.Valid(c.Data) {
				t.Fatalf("encoded chunk is not JSON: %s", c.Data)
			}
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	seed(f, "answer_*.json", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Codec{}.DecodeResponse(body)
		if err != nil {
			return
		}
		out, err := Codec{}.EncodeResponse(r, nil)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("EncodeResponse wrote invalid JSON: %s", out)
		}
	})
}

func FuzzSchema(f *testing.F) {
	seed(f, "request_*.json", func(b []byte) {
		for _, path := range []string{"tools.0.functionDeclarations.0.parameters", "tools.0.function_declarations.1.parameters", "generation_config.response_schema"} {
			if s := gjson.GetBytes(b, path); s.Exists() {
				f.Add([]byte(s.Raw))
			}
		}
	})
	f.Add([]byte(`{"type":"STRING","nullable":true,"enum":["a",null]}`))
	f.Add([]byte(`{"nullable":true,"anyOf":[]}`))
	f.Fuzz(func(t *testing.T, s []byte) {
		out, err := SchemaToJSONSchema(s)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("SchemaToJSONSchema(%s) = %s, not JSON", s, out)
		}
	})
}
