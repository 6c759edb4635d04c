package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/go-chi/chi/v5"
	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/anthropic"
)

// This file runs the official Anthropic SDK against the relay serving the
// Anthropic ingress in front of an Anthropic channel (the pass-through
// path), the channel being a fake that replays the testdata fixtures.

const clientKey = "sk-aiproxy-client"

// memory is the relay's keys, catalog and log recorder for these tests.
type memory struct {
	mu      sync.Mutex
	channel *aiproxy.Channel
	logs    []*aiproxy.Log
}

func (m *memory) TokenByKey(_ context.Context, key string) (*aiproxy.Token, *aiproxy.Group, error) {
	if key != clientKey {
		return nil, nil, aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "invalid API key")
	}
	return &aiproxy.Token{ID: 1, Name: "t", Enabled: true}, nil, nil
}

func (m *memory) Channels(model string) []*aiproxy.Channel {
	if m.channel.HasModel(model) {
		return []*aiproxy.Channel{m.channel}
	}
	return nil
}

func (m *memory) Effective(g *aiproxy.Group, model string) aiproxy.EffectiveModel {
	return aiproxy.Effective(model, g, nil, nil, nil)
}

func (m *memory) Models() []string { return m.channel.Models }

func (m *memory) Record(l *aiproxy.Log) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logs = append(m.logs, l)
}

func (m *memory) last(tb testing.TB) *aiproxy.Log {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m.mu.Lock()
		n := len(m.logs)
		var l *aiproxy.Log
		if n > 0 {
			l = m.logs[n-1]
		}
		m.mu.Unlock()
		if l != nil {
			return l
		}
	}
	tb.Fatal("no log recorded")
	return nil
}

// replay is the fake Anthropic API: it answers with a fixture and records
// what it was sent.
type replay struct {
	mu     sync.Mutex
	status int
	ctype  string
	body   []byte
	header http.Header
	sent   []byte
	path   string
}

func (r *replay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.header, r.sent, r.path = req.Header.Clone(), b, req.URL.Path
	st, ct, body := r.status, r.ctype, r.body
	r.mu.Unlock()
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(st)
	w.Write(body)
}

func (r *replay) answer(tb testing.TB, status int, file string) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		tb.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.body, r.ctype = status, b, "application/json"
	if strings.HasSuffix(file, ".sse") {
		r.ctype = "text/event-stream"
	}
}

type e2e struct {
	up     *replay
	mem    *memory
	client sdk.Client
	url    string
}

func newE2E(tb testing.TB) *e2e {
	tb.Helper()
	up := &replay{}
	upSrv := httptest.NewServer(up)
	tb.Cleanup(upSrv.Close)
	mem := &memory{channel: &aiproxy.Channel{ID: 3, Name: "claude", Type: anthropic.Type, BaseURL: upSrv.URL, Key: "sk-ant-upstream",
		Config: []byte(`{"beta":["channel-beta-1"]}`), Models: []string{"claude"}, ModelMapping: []aiproxy.ModelMapping{{From: "claude", To: "claude-sonnet-4-6"}}, Enabled: true}}
	s := &relay.Server{Keys: mem, Catalog: mem, Logs: mem, Providers: relay.NewProviders(anthropic.Provider()), Logger: slog.New(slog.DiscardHandler),
		Ingresses: []relay.RoutedIngress{{Ingress: anthropic.Codec{}, Routes: anthropic.Routes()}}}
	r := chi.NewRouter()
	s.Mount(r)
	srv := httptest.NewServer(r)
	tb.Cleanup(srv.Close)
	client := sdk.NewClient(option.WithoutEnvironmentDefaults(), option.WithBaseURL(srv.URL), option.WithAPIKey(clientKey), option.WithMaxRetries(0),
		option.WithHeader("anthropic-beta", "interleaved-thinking-2025-05-14"))
	return &e2e{up: up, mem: mem, client: client, url: srv.URL}
}

func question() sdk.MessageNewParams {
	return sdk.MessageNewParams{Model: "claude", MaxTokens: 1024, Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("What is the weather in San Francisco and Paris?"))}}
}

func TestE2EMessage(t *testing.T) {
	f := newE2E(t)
	f.up.answer(t, 200, "response_tools.json")
	m, err := f.client.Messages.New(context.Background(), question())
	if err != nil {
		t.Fatal(err)
	}
	if m.Model != "claude" || m.StopReason != sdk.StopReasonToolUse || len(m.Content) != 4 || m.Content[3].Name != "get_weather" {
		t.Fatalf("message %+v", m)
	}
	var in struct{ Unit string }
	if json.Unmarshal(m.Content[3].Input, &in) != nil || in.Unit != "celsius" || m.Content[0].Signature == "" {
		t.Errorf("content %+v", m.Content)
	}
	h := f.up.header
	if h.Get("X-Api-Key") != "sk-ant-upstream" || h.Get("Authorization") != "" || h.Get("Anthropic-Version") != "2026-10-21" ||
		h.Get("Anthropic-Beta") != "interleaved-thinking-2025-05-14,channel-beta-1" {
		t.Errorf("upstream headers %v", h)
	}
	if gjson.GetBytes(f.up.sent, "model").Str != "claude-sonnet-4-6" || f.up.path != "/v1/messages" {
		t.Errorf("upstream got %s %s", f.up.path, f.up.sent)
	}
	l := f.mem.last(t)
	if l.Usage.PromptTokens != 1596 || l.Usage.CompletionTokens != 189 || l.Usage.CachedTokens != 1024 || l.ClientProtocol != aiproxy.ProtocolAnthropic || l.ChannelProtocol != aiproxy.ProtocolAnthropic {
		t.Errorf("log %+v", l)
	}
}

func TestE2EStream(t *testing.T) {
	for _, name := range []string{"stream_tools.sse", "stream_thinking.sse"} {
		t.Run(name, func(t *testing.T) {
			f := newE2E(t)
			f.up.answer(t, 200, name)
			st := f.client.Messages.NewStreaming(context.Background(), question())
			var m sdk.Message
			for st.Next() {
				if err := m.Accumulate(st.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			if m.Model != "claude" || len(m.Content) < 2 || m.StopReason == "" || m.Usage.OutputTokens == 0 {
				t.Fatalf("message %+v", m)
			}
			if !gjson.GetBytes(f.up.sent, "stream").Bool() || f.up.header.Get("Accept") != "text/event-stream" {
				t.Errorf("upstream got %s %v", f.up.sent, f.up.header)
			}
			if l := f.mem.last(t); l.Usage.CompletionTokens != m.Usage.OutputTokens || !l.Stream {
				t.Errorf("log usage %+v, message %+v", l.Usage, m.Usage)
			}
		})
	}
}

func TestE2EErrors(t *testing.T) {
	tests := []struct {
		file   string
		status int
		typ    string
	}{
		{"error_400.json", 400, "invalid_request_error"},
		{"error_529.json", 529, "overloaded_error"},
		{"error_429.json", 429, "rate_limit_error"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := newE2E(t)
			f.up.answer(t, tt.status, tt.file)
			_, err := f.client.Messages.New(context.Background(), question())
			var ae *sdk.Error
			if !errors.As(err, &ae) || ae.StatusCode != tt.status || !strings.Contains(ae.Error(), tt.typ) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	t.Run("in-stream error", func(t *testing.T) {
		f := newE2E(t)
		f.up.answer(t, 200, "stream_error.sse")
		st := f.client.Messages.NewStreaming(context.Background(), question())
		for st.Next() {
		}
		if err := st.Err(); err == nil || !strings.Contains(err.Error(), "overloaded_error") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad key", func(t *testing.T) {
		f := newE2E(t)
		c := sdk.NewClient(option.WithoutEnvironmentDefaults(), option.WithBaseURL(f.url), option.WithAPIKey("wrong"), option.WithMaxRetries(0))
		_, err := c.Messages.New(context.Background(), question())
		var ae *sdk.Error
		if !errors.As(err, &ae) || ae.StatusCode != 401 || !strings.Contains(ae.Error(), "authentication_error") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestE2ECountAndModels(t *testing.T) {
	f := newE2E(t)
	f.up.mu.Lock()
	f.up.status, f.up.ctype, f.up.body = 200, "application/json", []byte(`{"input_tokens":2095}`)
	f.up.mu.Unlock()
	n, err := f.client.Messages.CountTokens(context.Background(), sdk.MessageCountTokensParams{Model: "claude", Messages: question().Messages})
	if err != nil || n.InputTokens != 2095 || f.up.path != "/v1/messages/count_tokens" {
		t.Fatalf("count %+v %v (%s)", n, err, f.up.path)
	}
	page, err := f.client.Models.List(context.Background(), sdk.ModelListParams{})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != "claude" || page.Data[0].Type != "model" {
		t.Fatalf("models %+v %v", page, err)
	}
}
