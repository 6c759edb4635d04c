package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

func TestAdaptorRequest(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		config  string
		model   string
		op      relay.Op
		stream  bool
		want    string
		errCode string
	}{
		{"generate", DefaultBaseURL, "", "gemini-2.5-flash", relay.OpGenerate, false, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", ""},
		{"stream", DefaultBaseURL, "", "gemini-2.5-flash", relay.OpGenerate, true, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", ""},
		{"count", DefaultBaseURL, "", "gemini-2.5-flash", relay.OpCountTokens, true, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:countTokens", ""},
		{"v1", "http://x/", `{"apiVersion":"v1"}`, "gemini-2.5-pro", relay.OpGenerate, false, "http://x/v1/models/gemini-2.5-pro:generateContent", ""},
		{"base with version", "http://x/v1beta", "", "gemini-2.5-pro", relay.OpGenerate, false, "http://x/v1beta/models/gemini-2.5-pro:generateContent", ""},
		{"models prefix", "http://x", "", "models/gemini-2.5-pro", relay.OpGenerate, false, "http://x/v1beta/models/gemini-2.5-pro:generateContent", ""},
		{"tuned model", "http://x", "", "tunedModels/my-model-7", relay.OpGenerate, false, "http://x/v1beta/tunedModels/my-model-7:generateContent", ""},
		{"slash kept, rest escaped", "http://x", "", "org/model with space?", relay.OpGenerate, false, "http://x/v1beta/models/org/model%20with%20space%3F:generateContent", ""},
		{"empty model", "http://x", "", "models/", relay.OpGenerate, false, "", aiproxy.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := &aiproxy.Channel{Type: Type, Key: "AIza-channel", Config: json.RawMessage(tt.config)}
			call := &relay.Call{Op: tt.op, Mode: aiproxy.ModeChat, Channel: ch, BaseURL: tt.base, UpstreamModel: tt.model, Stream: tt.stream && tt.op == relay.OpGenerate, Body: []byte(`{}`)}
			req, err := NewAdaptor().Request(context.Background(), call)
			if aiproxy.ErrorCode(err) != tt.errCode {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if req.Method != http.MethodPost || req.URL.String() != tt.want {
				t.Errorf("%s %s, want %s", req.Method, req.URL, tt.want)
			}
			if req.Header.Get("X-Goog-Api-Key") != "AIza-channel" || req.Header.Get("Content-Type") != "application/json" || req.Header.Get("Authorization") != "" {
				t.Errorf("headers = %v", req.Header)
			}
		})
	}
	if _, err := NewAdaptor().Request(context.Background(), &relay.Call{Mode: aiproxy.ModeEmbeddings, UpstreamModel: "m"}); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("embeddings: err = %v", err)
	}
	a := NewAdaptor()
	if !a.Supports(aiproxy.ModeChat, relay.OpGenerate) || !a.Supports(aiproxy.ModeChat, relay.OpCountTokens) || a.Supports(aiproxy.ModeEmbeddings, relay.OpGenerate) {
		t.Error("Supports")
	}
}

// upstream is a fake Gemini API replaying fixtures: the answer of each
// model is the fixture named after it.
func upstream(t *testing.T) (*httptest.Server, *[]*http.Request) {
	t.Helper()
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r)
		if r.Header.Get("X-Goog-Api-Key") != "AIza-channel" || r.URL.Query().Has("key") {
			w.WriteHeader(http.StatusBadRequest)
			w.Write(readFile(t, "error_400_key.json"))
			return
		}
		path, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1beta/models/"), ":")
		switch {
		case method == "countTokens":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"totalTokens": 31, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}`)
		case strings.HasPrefix(path, "error_"):
			st := map[string]int{"error_400": 400, "error_403": 403, "error_429": 429, "error_500": 500, "error_503": 503, "error_array": 404, "error_502": 502}[path]
			if path == "error_429" {
				w.Header().Set("Retry-After", "12")
			}
			ext := ".json"
			if path == "error_502" {
				ext = ".html"
			}
			w.WriteHeader(st)
			w.Write(readFile(t, path+ext))
		case method == "streamGenerateContent":
			if r.URL.Query().Get("alt") != "sse" {
				t.Errorf("stream without alt=sse: %s", r.URL)
			}
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(readFile(t, path+".sse"))
		default:
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.Write(readFile(t, path+".json"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

// roundTrip sends call to srv through the adaptor.
func roundTrip(t *testing.T, srv *httptest.Server, call *relay.Call) *http.Response {
	t.Helper()
	call.Channel = &aiproxy.Channel{Type: Type, Key: "AIza-channel"}
	call.BaseURL = srv.URL
	call.Mode = aiproxy.ModeChat
	call.Request = request("/v1beta/models/"+call.Model+":generateContent", "key=client-key", call.Body)
	call.Request.Header = http.Header{"X-Goog-Api-Key": {"client-key"}}
	req, err := NewAdaptor().Request(context.Background(), call)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestAdaptorAgainstServer(t *testing.T) {
	srv, seen := upstream(t)
	a := NewAdaptor()

	resp := roundTrip(t, srv, &relay.Call{Model: "flash", UpstreamModel: "answer_calls", Body: []byte(`{"contents":[]}`)})
	res, err := a.Response(&relay.Call{}, resp)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if u := res.Usage; u == nil || u.PromptTokens != 182 || u.CompletionTokens != 189 || u.CachedTokens != 64 || u.ReasoningTokens != 148 || u.TotalTokens != 371 {
		t.Errorf("usage = %+v", res.Usage)
	}
	if gjson.GetBytes(res.Body, "responseId").Str != "mnTdaJzHLsaVz7IPtN2wmQ4" {
		t.Errorf("body not kept: %s", res.Body)
	}

	resp = roundTrip(t, srv, &relay.Call{Op: relay.OpCountTokens, Model: "flash", UpstreamModel: "gemini-2.5-flash", Body: []byte(`{"contents":[]}`)})
	res, err = a.Response(&relay.Call{Op: relay.OpCountTokens}, resp)
	if err != nil || res.TokenCount != 31 || res.Usage == nil || *res.Usage != (aiproxy.Usage{}) {
		t.Errorf("count = %+v %v", res, err)
	}

	resp = roundTrip(t, srv, &relay.Call{Model: "flash", UpstreamModel: "stream_thoughts", Stream: true, Body: []byte(`{"contents":[]}`)})
	st, err := a.Stream(&relay.Call{Stream: true}, resp)
	if err != nil {
		t.Fatal(err)
	}
	var last *aiproxy.Usage
	var text string
	n := 0
	for {
		c, err := st.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		text += string(c.Text)
		if c.Usage != nil {
			u := *c.Usage
			last = &u
		}
	}
	st.Close()
	if n != 5 || last == nil || last.CompletionTokens != 95 || last.ReasoningTokens != 90 || !strings.Contains(text, "Paris is the capital.") {
		t.Errorf("%d chunks, usage %+v, text %q", n, last, text)
	}

	for _, r := range *seen {
		if r.URL.Query().Has("key") || r.Header.Get("X-Goog-Api-Key") != "AIza-channel" || strings.Contains(r.URL.String(), "client-key") {
			t.Errorf("the client's key reached the provider: %s %v", r.URL, r.Header)
		}
	}
}

func TestAdaptorError(t *testing.T) {
	srv, _ := upstream(t)
	tests := []struct {
		fixture     string
		status      int
		typ         string
		message     string
		retry       time.Duration
		clientFault bool
	}{
		{"error_400", 400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n", 0, true},
		{"error_403", 403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers", 0, false},
		{"error_429", 429, "RESOURCE_EXHAUSTED", "You exceeded your current quota", 12 * time.Second, false},
		{"error_500", 500, "INTERNAL", "An internal error has occurred.", 0, false},
		{"error_503", 503, "UNAVAILABLE", "The model is overloaded.", 0, false},
		{"error_array", 404, "NOT_FOUND", "models/gemini-9 is not found", 0, false}, // a model the channel lists but its provider lacks: the channel's fault,
		{"error_502", 502, "UNAVAILABLE", "<html><head><title>502 Bad Gateway</title>", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			resp := roundTrip(t, srv, &relay.Call{Model: "m", UpstreamModel: tt.fixture, Body: []byte(`{}`)})
			ue := NewAdaptor().Error(&relay.Call{}, resp)
			if ue.Status != tt.status || ue.Type != tt.typ || !strings.HasPrefix(ue.Message, tt.message) || ue.RetryAfter != tt.retry || ue.ClientFault() != tt.clientFault || ue.Protocol != aiproxy.ProtocolGemini {
				t.Fatalf("got %+v (client fault %v)", ue, ue.ClientFault())
			}
			var v apiError
			if err := json.Unmarshal(ue.Body, &v); err != nil || v.Error.Code != tt.status || !strings.HasPrefix(v.Error.Message, tt.message) {
				t.Fatalf("body for Gemini clients = %s (%v)", ue.Body, err)
			}
		})
	}
}

func TestAdaptorErrorChannelFaults(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		retry      time.Duration
	}{
		{"channel key refused", string(readFile(t, "error_400_key.json")), 401, 0},
		{"billing or region", `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`, 403, 0},
		{"retry info", string(readFile(t, "error_429.json")), 429, 38 * time.Second},
		{"empty", "", 500, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := 400
			if tt.status == 429 || tt.status == 500 {
				st = tt.status
			}
			resp := &http.Response{StatusCode: st, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body))}
			ue := NewAdaptor().Error(&relay.Call{}, resp)
			if ue.Status != tt.status || ue.RetryAfter != tt.retry || ue.ClientFault() || ue.Message == "" {
				t.Errorf("got %+v", ue)
			}
		})
	}
}

func TestStreamReadError(t *testing.T) {
	boom := errors.New("connection reset")
	body := io.MultiReader(strings.NewReader("data: {\"candidates\":[]}\r\n\r\n"), errReader{boom})
	st, _ := NewAdaptor().Stream(&relay.Call{}, &http.Response{Body: io.NopCloser(body)})
	if _, err := st.Next(); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	if _, err := st.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next after a broken connection = %v, want %v", err, boom)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
