package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// decoded is what a test sees of one chunk.
type decoded struct {
	Data      json.RawMessage `json:"data,omitempty"`
	Comment   string          `json:"comment,omitempty"`
	Done      bool            `json:"done,omitempty"`
	Usage     *aiproxy.Usage  `json:"usage,omitempty"`
	UsageOnly bool            `json:"usage_only,omitempty"`
	Text      string          `json:"text,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// TestStreamGolden decodes recorded OpenAI streams (testdata/*.sse) and
// compares every chunk with testdata/*.golden; -update rewrites them.
func TestStreamGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sse")
	if len(files) == 0 {
		t.Fatal("no testdata/*.sse transcripts")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".sse")
		t.Run(name, func(t *testing.T) {
			wire, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			mode := aiproxy.ModeChat
			if strings.HasPrefix(name, "completions") {
				mode = aiproxy.ModeCompletions
			}
			call := &relay.Call{Mode: mode, Channel: &aiproxy.Channel{}, Model: "mini", UpstreamModel: "gpt-4o-mini-2024-07-18", Stream: true}
			st, err := NewAdaptor().Stream(call, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var got []decoded
			for {
				c, err := st.Next()
				if err == io.EOF {
					break
				} else if err != nil {
					t.Fatalf("Next: %v", err)
				}
				got = append(got, decoded{Data: bytes.Clone(c.Data), Comment: string(c.Comment), Done: c.Done, Usage: c.Usage, UsageOnly: c.UsageOnly, Text: string(c.Text), Error: c.Error})
			}
			out, _ := json.MarshalIndent(got, "", "  ")
			golden := strings.TrimSuffix(file, ".sse") + ".golden"
			if *update {
				if err := os.WriteFile(golden, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(out)) {
				t.Fatalf("decoded stream differs from %s:\n%s", golden, out)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	ch := &aiproxy.Channel{Type: Type, BaseURL: "http://127.0.0.1:9/v1", Key: "sk-up"}
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	call := &relay.Call{Mode: aiproxy.ModeChat, Channel: ch, BaseURL: ch.BaseURL, Model: "mini", UpstreamModel: "gpt-4o-mini", Stream: true, Body: body}
	req, err := NewAdaptor().Request(context.Background(), call)
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.String() != "http://127.0.0.1:9/v1/chat/completions" {
		t.Errorf("URL = %s", req.URL)
	}
	if req.Header.Get("Authorization") != "Bearer sk-up" {
		t.Errorf("Authorization = %q", req.Header.Get("Authorization"))
	}
	sent, _ := io.ReadAll(req.Body)
	if m := gjson.GetBytes(sent, "model").Str; m != "gpt-4o-mini" {
		t.Errorf("upstream model = %q, want the mapped name", m)
	}
	if !gjson.GetBytes(sent, "stream_options.include_usage").Bool() {
		t.Errorf("include_usage not injected: %s", sent)
	}
	if !bytes.Equal(call.Body, []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`)) {
		t.Errorf("the client's body was modified in place: %s", call.Body)
	}
	req, _ = NewAdaptor().Request(context.Background(), &relay.Call{Mode: aiproxy.ModeEmbeddings, Channel: ch, BaseURL: DefaultBaseURL, Model: "e", UpstreamModel: "e", Body: []byte(`{"model":"e","input":"x"}`)})
	if req.URL.String() != "https://api.openai.com/v1/embeddings" {
		t.Errorf("default URL = %s", req.URL)
	}
}

func TestError(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		header      http.Header
		body        string
		message     string
		code        string
		retry       time.Duration
		clientFault bool
	}{
		{"openai 400", 400, nil, `{"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`, "Invalid value for 'temperature'", "invalid_value", 0, true},
		{"rate limit", 429, http.Header{"Retry-After": {"7"}}, `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`, "Rate limit reached", "rate_limit_exceeded", 7 * time.Second, false},
		{"html from a proxy", 502, nil, "<html>Bad Gateway</html>", "<html>Bad Gateway</html>", "", 0, false},
		{"channel key rejected", 401, nil, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`, "Incorrect API key provided", "invalid_api_key", 0, false},
		{"empty body", 404, nil, "", "Not Found", "", 0, false}, // 404: the channel cannot serve
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: tt.header, Body: io.NopCloser(strings.NewReader(tt.body))}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			ue := NewAdaptor().Error(&relay.Call{Channel: &aiproxy.Channel{}}, resp)
			if ue.Status != tt.status || ue.Message != tt.message || ue.Type != tt.code || ue.RetryAfter != tt.retry || ue.ClientFault() != tt.clientFault {
				t.Fatalf("got %+v (client fault %v)", ue, ue.ClientFault())
			}
			if m := gjson.GetBytes(ue.Body, "error.message").Str; m != tt.message {
				t.Fatalf("body for the client has message %q, want %q: %s", m, tt.message, ue.Body)
			}
		})
	}
}

func TestStreamReadError(t *testing.T) {
	boom := errors.New("connection reset")
	body := io.MultiReader(strings.NewReader("data: {\"choices\":[]}\n\n"), errReader{boom})
	st, _ := NewAdaptor().Stream(&relay.Call{Model: "m", UpstreamModel: "m"}, &http.Response{Body: io.NopCloser(body)})
	if _, err := st.Next(); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	if _, err := st.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next after a broken connection = %v, want %v", err, boom)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
