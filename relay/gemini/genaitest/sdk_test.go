package genaitest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"google.golang.org/genai"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/gemini"
	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// These tests use the official Google Gen AI SDK as the client: through
// the relay to a Gemini channel (pass-through), and against the Codec's
// conversions (what a Gemini client gets from a channel of another
// protocol).

const (
	clientKey  = "sk-client-key"
	channelKey = "AIza-channel-key"
	sigWeather = "IpHYzcMQQR5+wnN4pmHJNRh8B+TVY26bw8QAsnJEuM06l/Ea5lEHBQamigLw4WGvN/hsuQeHOMNw8H6NO1g7rTjCdfNK7QVq1uqO7KQZL6H+udxLHr5V5bj5toDv92yB"
)

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fakeGemini replays fixtures as Google would: the upstream model names
// the fixture. It records the requests it got.
type fakeGemini struct {
	tb   testing.TB
	mu   sync.Mutex
	seen []*http.Request
}

func (f *fakeGemini) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r)
	f.mu.Unlock()
	if r.Header.Get("X-Goog-Api-Key") != channelKey {
		w.WriteHeader(http.StatusBadRequest)
		w.Write(fixture(f.tb, "error_400_key.json"))
		return
	}
	model, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1beta/models/"), ":")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case method == "countTokens":
		io.WriteString(w, `{"totalTokens": 31}`)
	case strings.HasPrefix(model, "error_"):
		st := map[string]int{"error_400": 400, "error_429": 429, "error_503": 503}[model]
		w.WriteHeader(st)
		w.Write(fixture(f.tb, model+".json"))
	case method == "streamGenerateContent":
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write(fixture(f.tb, model+".sse"))
	default:
		w.Write(fixture(f.tb, model+".json"))
	}
}

// newRelay starts a relay serving Gemini clients in front of one Gemini
// channel, and returns a Google SDK client of it for apiVersion.
func newRelay(t *testing.T) (*fakeGemini, *httptest.Server) {
	t.Helper()
	fake := &fakeGemini{tb: t}
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	mem := relaytest.NewMemory()
	mem.AddToken(clientKey, &aiproxy.Token{ID: 1, GroupID: "g", Name: "t", Enabled: true}, &aiproxy.Group{ID: "g", Enabled: true})
	mem.SetChannels(&aiproxy.Channel{
		ID: 1, Type: gemini.Type, BaseURL: up.URL, Key: channelKey, Enabled: true,
		Models: []string{"flash", "thoughts", "calls", "quota", "bad", "overloaded"},
		ModelMapping: []aiproxy.ModelMapping{
			{From: "flash", To: "answer_calls"}, {From: "thoughts", To: "stream_thoughts"}, {From: "calls", To: "stream_calls"},
			{From: "quota", To: "error_429"}, {From: "bad", To: "error_400"}, {From: "overloaded", To: "error_503"},
		},
	})
	s := &relay.Server{Keys: mem, Catalog: mem, Logs: mem, Providers: relay.NewProviders(gemini.Provider()), MaxAttempts: 1,
		Ingresses: []relay.RoutedIngress{{Ingress: gemini.Codec{}, Routes: gemini.Routes()}}}
	r := chi.NewRouter()
	s.Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return fake, srv
}

func sdkClient(t *testing.T, baseURL, key, version string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: baseURL, APIVersion: version},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSDKThroughRelay(t *testing.T) {
	fake, srv := newRelay(t)
	ctx := context.Background()
	client := sdkClient(t, srv.URL, clientKey, "v1beta")

	t.Run("generate", func(t *testing.T) {
		resp, err := client.Models.GenerateContent(ctx, "flash", genai.Text("weather and time in Paris?"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ModelVersion != "flash" || resp.ResponseID != "mnTdaJzHLsaVz7IPtN2wmQ4" {
			t.Errorf("model %q id %q: the model is named as the client asked", resp.ModelVersion, resp.ResponseID)
		}
		calls := resp.FunctionCalls()
		want, _ := base64.StdEncoding.DecodeString(sigWeather)
		if len(calls) != 2 || calls[0].Name != "get_weather" || calls[0].Args["city"] != "Paris" ||
			!bytes.Equal(resp.Candidates[0].Content.Parts[2].ThoughtSignature, want) {
			t.Errorf("calls = %+v", calls)
		}
		if u := resp.UsageMetadata; u.PromptTokenCount != 182 || u.ThoughtsTokenCount != 148 {
			t.Errorf("usage = %+v", u)
		}
	})

	t.Run("stream", func(t *testing.T) {
		var text, thoughts strings.Builder
		var last *genai.GenerateContentResponse
		for resp, err := range client.Models.GenerateContentStream(ctx, "thoughts", genai.Text("capital of France?"), &genai.GenerateContentConfig{ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true}}) {
			if err != nil {
				t.Fatal(err)
			}
			if resp.ModelVersion != "thoughts" {
				t.Errorf("chunk model %q", resp.ModelVersion)
			}
			for _, p := range resp.Candidates[0].Content.Parts {
				if p.Thought {
					thoughts.WriteString(p.Text)
				} else {
					text.WriteString(p.Text)
				}
			}
			last = resp
		}
		if text.String() != "Paris is the capital." || !strings.Contains(thoughts.String(), "Recalling the facts") || last.Candidates[0].FinishReason != genai.FinishReasonStop {
			t.Errorf("text %q thoughts %q", text.String(), thoughts.String())
		}
	})

	t.Run("count tokens", func(t *testing.T) {
		n, err := client.Models.CountTokens(ctx, "flash", genai.Text("count me"), nil)
		if err != nil || n.TotalTokens != 31 {
			t.Fatalf("%+v %v", n, err)
		}
	})

	t.Run("models", func(t *testing.T) {
		m, err := client.Models.Get(ctx, "flash", nil)
		if err != nil || m.Name != "models/flash" || len(m.SupportedActions) != 3 {
			t.Fatalf("%+v %v", m, err)
		}
		var names []string
		for m, err := range client.Models.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, m.Name)
		}
		if len(names) != 6 || names[0] != "models/bad" {
			t.Errorf("models = %v", names)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			model   string
			client  *genai.Client
			code    int
			status  string
			message string
		}{
			{"bad", client, 400, "INVALID_ARGUMENT", "contents is not specified"},
			{"quota", client, 429, "RESOURCE_EXHAUSTED", "rate limiting"},
			{"overloaded", client, 503, "UNAVAILABLE", "overloaded"},
			{"nope", client, 404, "NOT_FOUND", "nope"},
			{"flash", sdkClient(t, srv.URL, "sk-wrong", "v1beta"), 401, "UNAUTHENTICATED", ""},
		}
		for _, tt := range tests {
			_, err := tt.client.Models.GenerateContent(ctx, tt.model, genai.Text("hi"), nil)
			var ae genai.APIError
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.Status != tt.status || !strings.Contains(ae.Message, tt.message) {
				t.Errorf("%s: %v, want %d %s", tt.model, err, tt.code, tt.status)
			}
		}
	})

	t.Run("v1", func(t *testing.T) {
		v1 := sdkClient(t, srv.URL, clientKey, "v1")
		if _, err := v1.Models.GenerateContent(ctx, "flash", genai.Text("hi"), nil); err != nil {
			t.Fatal(err)
		}
		if m, err := v1.Models.Get(ctx, "flash", nil); err != nil || m.Name != "models/flash" {
			t.Fatalf("%+v %v", m, err)
		}
	})

	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, r := range fake.seen {
		if r.Header.Get("X-Goog-Api-Key") != channelKey || strings.Contains(r.URL.String(), clientKey) {
			t.Errorf("the provider got %s with key %q", r.URL, r.Header.Get("X-Goog-Api-Key"))
		}
	}
}

// converter is a stand-in for the relay in front of a channel of another
// protocol: it decodes the SDK's requests with the Codec and answers with
// the Codec's encoders, from a canned answer.
type converter struct {
	tb     testing.TB
	mu     sync.Mutex
	got    []*chat.Request
	answer *chat.Response
	events []chat.Event
}

func (cv *converter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &relay.Request{ID: "req_conv", Ingress: gemini.Codec{}, Protocol: aiproxy.ProtocolGemini, Mode: aiproxy.ModeChat,
		Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header, Body: body}
	codec := gemini.Codec{}
	fail := func(err error) {
		st, b := codec.Error(&relay.Failure{Code: aiproxy.ErrorCode(err), Message: aiproxy.ErrorMessage(err), Field: aiproxy.ErrorField(err)})
		w.WriteHeader(st)
		w.Write(b)
	}
	if err := codec.Parse(req); err != nil {
		fail(err)
		return
	}
	c, err := codec.DecodeRequest(req)
	if err != nil {
		fail(err)
		return
	}
	cv.mu.Lock()
	cv.got = append(cv.got, c)
	cv.mu.Unlock()
	switch {
	case req.Op == relay.OpCountTokens:
		w.Write(codec.AppendTokenCount(nil, int64(len(c.Messages))))
	case req.Stream:
		enc, fr := codec.NewStreamEncoder(req), codec.NewFramer(req)
		w.Header().Set("Content-Type", fr.ContentType())
		var chunks []relay.Chunk
		for i := range cv.events {
			if chunks, err = enc.Encode(&cv.events[i], chunks[:0]); err != nil {
				cv.tb.Error(err)
				return
			}
			for j := range chunks {
				w.Write(fr.Frame(nil, &chunks[j]))
			}
		}
		w.Write(fr.End(nil))
	default:
		b, err := codec.EncodeResponse(cv.answer, req)
		if err != nil {
			fail(err)
			return
		}
		w.Write(b)
	}
}

func TestSDKConverted(t *testing.T) {
	quiet(t)
	cv := &converter{tb: t,
		answer: &chat.Response{
			ID: "msg_01", Model: "claude-sonnet",
			Parts: []chat.Part{
				{Kind: chat.KindThinking, Text: "Both tools.", Signature: "EqQBCkYIBxgCKkDanthropic"},
				{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
				{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_x", Name: "get_time", Arguments: `{"city":"Paris"}`, Signature: "opaque, not base64"}},
			},
			Finish: chat.FinishToolCalls,
			Usage:  &aiproxy.Usage{PromptTokens: 40, CompletionTokens: 25, ReasoningTokens: 5, TotalTokens: 65},
		},
		events: []chat.Event{
			{Type: chat.EventStart, ID: "chatcmpl-1", Model: "gpt-4o"},
			{Type: chat.EventBlockStart, Index: 0, Block: chat.KindText},
			{Type: chat.EventDelta, Index: 0, Text: "Hello"},
			{Type: chat.EventDelta, Index: 0, Text: ", world"},
			{Type: chat.EventBlockStop, Index: 0},
			{Type: chat.EventBlockStart, Index: 1, Block: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_9", Name: "get_time"}},
			{Type: chat.EventDelta, Index: 1, Arguments: `{"city":`},
			{Type: chat.EventDelta, Index: 1, Arguments: `"Rome"}`},
			{Type: chat.EventBlockStop, Index: 1},
			{Type: chat.EventFinish, Finish: chat.FinishToolCalls},
			{Type: chat.EventUsage, Usage: &aiproxy.Usage{PromptTokens: 10, CompletionTokens: 7, TotalTokens: 17}},
			{Type: chat.EventEnd},
		},
	}
	srv := httptest.NewServer(cv)
	defer srv.Close()
	client := sdkClient(t, srv.URL, clientKey, "v1beta")
	ctx := context.Background()
	config := &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText("Be terse.", genai.RoleUser),
		Temperature:       genai.Ptr[float32](0.5),
		MaxOutputTokens:   200,
		ThinkingConfig:    &genai.ThinkingConfig{IncludeThoughts: true, ThinkingBudget: genai.Ptr[int32](1024)},
		Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{
			{Name: "get_weather", Description: "Weather.", Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{
				"city": {Type: genai.TypeString}, "unit": {Type: genai.TypeString, Enum: []string{"c", "f"}, Nullable: genai.Ptr(true)}}, Required: []string{"city"}}},
			{Name: "get_time", ParametersJsonSchema: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}},
		}}},
		ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny}},
	}
	resp, err := client.Models.GenerateContent(ctx, "claude", genai.Text("weather and time in Paris?"), config)
	if err != nil {
		t.Fatal(err)
	}
	c := cv.got[0]
	if c.Model != "claude" || c.System[0].Text != "Be terse." || *c.Temperature != 0.5 || c.MaxTokens != 200 || c.Reasoning.Budget != 1024 || c.Reasoning.Hide ||
		c.ToolChoice.Mode != chat.ToolRequired || len(c.Tools) != 2 {
		t.Errorf("the SDK's request decoded as %+v", c)
	}
	if p := string(c.Tools[0].Parameters); !strings.Contains(p, `"type":"object"`) || !strings.Contains(p, `"type":["string","null"]`) {
		t.Errorf("the SDK's upper-case schema converted to %s", p)
	}
	calls := resp.FunctionCalls()
	if len(calls) != 2 || calls[0].ID != "toolu_1" || calls[1].Args["city"] != "Paris" || resp.Candidates[0].FinishReason != genai.FinishReasonStop ||
		resp.UsageMetadata.CandidatesTokenCount != 20 || !resp.Candidates[0].Content.Parts[0].Thought {
		t.Errorf("answer = %+v", resp.Candidates[0].Content.Parts)
	}

	// The SDK sends the answer back as history, with the tools' results:
	// every id and signature comes back as it was.
	history := append(genai.Text("weather and time in Paris?"), resp.Candidates[0].Content,
		&genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{
			{FunctionResponse: &genai.FunctionResponse{ID: "toolu_1", Name: "get_weather", Response: map[string]any{"output": "18C"}}},
			{FunctionResponse: &genai.FunctionResponse{ID: "call_x", Name: "get_time", Response: map[string]any{"output": "14:05"}}},
		}})
	if _, err := client.Models.GenerateContent(ctx, "claude", history, nil); err != nil {
		t.Fatal(err)
	}
	h := cv.got[1].Messages
	if len(h) != 3 || h[1].Parts[0].Signature != "EqQBCkYIBxgCKkDanthropic" || h[1].Parts[2].Call.Signature != "opaque, not base64" ||
		h[2].Parts[1].Result.CallID != "call_x" || h[2].Parts[0].Result.Parts[0].Text != "18C" {
		t.Errorf("history = %+v", h)
	}

	// A stream, as the SDK reads it.
	var text strings.Builder
	var fc *genai.FunctionCall
	var last *genai.GenerateContentResponse
	for r, err := range client.Models.GenerateContentStream(ctx, "gpt", genai.Text("hi"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(r.Text())
		if f := r.FunctionCalls(); len(f) > 0 {
			fc = f[0]
		}
		last = r
	}
	if text.String() != "Hello, world" || fc == nil || fc.ID != "call_9" || fc.Args["city"] != "Rome" ||
		last.UsageMetadata.TotalTokenCount != 17 || last.ModelVersion != "gpt-4o" || last.ResponseID != "chatcmpl-1" {
		t.Errorf("stream: text %q call %+v last %+v", text.String(), fc, last)
	}

	if n, err := client.Models.CountTokens(ctx, "claude", genai.Text("x"), nil); err != nil || n.TotalTokens != 1 {
		t.Errorf("count = %+v %v", n, err)
	}

	// What the conversion refuses, the SDK sees as INVALID_ARGUMENT.
	_, err = client.Models.GenerateContent(ctx, "claude", genai.Text("x"), &genai.GenerateContentConfig{Tools: []*genai.Tool{{GoogleSearch: &genai.GoogleSearch{}}}})
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 400 || ae.Status != "INVALID_ARGUMENT" || !strings.Contains(ae.Message, "googleSearch") {
		t.Errorf("refused feature: %v", err)
	}
}
