package relaytest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const testKey = "sk-relaytest-0123456789"

// newClient returns an SDK client for srv that never retries, so every
// error reaches the test as the provider sent it.
func newClient(tb testing.TB, srv *httptest.Server, key string) openai.Client {
	tb.Helper()
	return openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
		option.WithHTTPClient(srv.Client()),
	)
}

func userChat(model, text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

func TestChatCompletion(t *testing.T) {
	p, srv := relaytest.Start(t, relaytest.WithKey(testKey), relaytest.WithCachedTokens(1))
	c := newClient(t, srv, testKey)

	var res *http.Response
	got, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("be brief"),
			openai.UserMessage("hi there"),
		},
	}, option.WithResponseInto(&res))
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "gpt-4o-mini" || got.Object != "chat.completion" || !strings.HasPrefix(got.ID, "chatcmpl-") {
		t.Errorf("model, object, id = %q, %q, %q", got.Model, got.Object, got.ID)
	}
	if len(got.Choices) != 1 {
		t.Fatalf("%d choices, want 1", len(got.Choices))
	}
	ch := got.Choices[0]
	if want := "Hello! You said: hi there"; ch.Message.Content != want {
		t.Errorf("content = %q, want %q", ch.Message.Content, want)
	}
	if ch.FinishReason != "stop" || ch.Message.Role != "assistant" {
		t.Errorf("finish reason, role = %q, %q", ch.FinishReason, ch.Message.Role)
	}
	u := got.Usage
	if u.PromptTokens != 4 || u.CompletionTokens != 5 || u.TotalTokens != 9 || u.PromptTokensDetails.CachedTokens != 1 {
		t.Errorf("usage = %s", u.RawJSON())
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if id := res.Header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") || len(id) != 36 {
		t.Errorf("X-Request-Id = %q", id)
	}

	reqs := p.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("recorded %s %s, Authorization %q", r.Method, r.Path, r.Header.Get("Authorization"))
	}
	if r.JSON["model"] != "gpt-4o-mini" || len(r.JSON["messages"].([]any)) != 2 {
		t.Errorf("recorded body %s", r.Body)
	}
}

func TestChatCompletionMaxTokens(t *testing.T) {
	_, srv := relaytest.Start(t)
	c := newClient(t, srv, testKey)
	params := userChat("gpt-4o", "one two three")
	params.MaxCompletionTokens = openai.Int(3)
	got, err := c.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if ch := got.Choices[0]; ch.Message.Content != "Hello! You said:" || ch.FinishReason != "length" || got.Usage.CompletionTokens != 3 {
		t.Errorf("content %q, finish reason %q, usage %s", ch.Message.Content, ch.FinishReason, got.Usage.RawJSON())
	}
}

func TestChatCompletionStream(t *testing.T) {
	const said = "a b c"
	const reply = "Hello! You said: a b c"
	for _, tt := range []struct {
		name         string
		opts         []relaytest.Option
		model        string
		includeUsage bool
		wantContent  []string // content chunks
		wantUsage    bool
	}{
		{"words with usage", nil, "gpt-4o", true, []string{"Hello!", " You", " said:", " a", " b", " c"}, true},
		{"words without usage", nil, "gpt-4o", false, []string{"Hello!", " You", " said:", " a", " b", " c"}, false},
		{"three chunks", []relaytest.Option{relaytest.WithChunks(3)}, "gpt-4o", true, []string{"Hello! You", " said: a", " b c"}, true},
		{"no usage model", nil, relaytest.ModelNoUsage, true, []string{"Hello!", " You", " said:", " a", " b", " c"}, false},
		{"no usage option", []relaytest.Option{relaytest.WithoutUsage()}, "gpt-4o", true, []string{"Hello!", " You", " said:", " a", " b", " c"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := relaytest.Start(t, tt.opts...)
			c := newClient(t, srv, testKey)
			params := userChat(tt.model, said)
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(tt.includeUsage)}
			var res *http.Response
			stream := c.Chat.Completions.NewStreaming(t.Context(), params, option.WithResponseInto(&res))
			var acc openai.ChatCompletionAccumulator
			var chunks []openai.ChatCompletionChunk
			for stream.Next() {
				chunk := stream.Current()
				if !acc.AddChunk(chunk) {
					t.Fatalf("accumulator rejected chunk %d: %s", len(chunks), chunk.RawJSON())
				}
				chunks = append(chunks, chunk)
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type = %q", ct)
			}

			// role chunk, content chunks, finish chunk, then maybe usage.
			want := len(tt.wantContent) + 2
			if tt.wantUsage {
				want++
			}
			if len(chunks) != want {
				for _, chunk := range chunks {
					t.Log(chunk.RawJSON())
				}
				t.Fatalf("%d chunks, want %d", len(chunks), want)
			}
			for i, chunk := range chunks {
				if chunk.ID != chunks[0].ID || chunk.Model != tt.model || chunk.Object != "chat.completion.chunk" {
					t.Errorf("chunk %d: id %q, model %q, object %q", i, chunk.ID, chunk.Model, chunk.Object)
				}
				switch raw := chunk.JSON.Usage.Raw(); {
				case tt.wantUsage && i == len(chunks)-1:
				case tt.includeUsage && tt.wantUsage && raw != "null":
					t.Errorf("chunk %d: usage %q, want null", i, raw)
				case !tt.wantUsage && raw != "":
					t.Errorf("chunk %d: usage %q, want none", i, raw)
				}
			}
			if d := chunks[0].Choices[0].Delta; d.Role != "assistant" || d.Content != "" {
				t.Errorf("first delta = %s", d.RawJSON())
			}
			var got []string
			for _, chunk := range chunks[1 : 1+len(tt.wantContent)] {
				if len(chunk.Choices) != 1 || chunk.Choices[0].FinishReason != "" {
					t.Fatalf("content chunk %s", chunk.RawJSON())
				}
				got = append(got, chunk.Choices[0].Delta.Content)
			}
			if !slices.Equal(got, tt.wantContent) {
				t.Errorf("content chunks %q, want %q", got, tt.wantContent)
			}
			if fin := chunks[1+len(tt.wantContent)]; len(fin.Choices) != 1 || fin.Choices[0].FinishReason != "stop" || fin.Choices[0].Delta.Content != "" {
				t.Errorf("finish chunk %s", fin.RawJSON())
			}
			if acc.Choices[0].Message.Content != reply {
				t.Errorf("accumulated %q, want %q", acc.Choices[0].Message.Content, reply)
			}
			if tt.wantUsage {
				last := chunks[len(chunks)-1]
				if len(last.Choices) != 0 || last.JSON.Choices.Raw() != "[]" {
					t.Errorf("usage chunk choices %q, want []", last.JSON.Choices.Raw())
				}
				if u := acc.Usage; u.PromptTokens != 3 || u.CompletionTokens != 6 || u.TotalTokens != 9 {
					t.Errorf("usage %s", u.RawJSON())
				}
			}
		})
	}
}

func TestCompletions(t *testing.T) {
	_, srv := relaytest.Start(t, relaytest.WithKey(testKey))
	c := newClient(t, srv, testKey)
	params := openai.CompletionNewParams{
		Model:  "gpt-3.5-turbo-instruct",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("say this")},
	}
	const reply = "Hello! You said: say this"

	t.Run("plain", func(t *testing.T) {
		got, err := c.Completions.New(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		if got.Object != "text_completion" || got.Model != "gpt-3.5-turbo-instruct" || !strings.HasPrefix(got.ID, "cmpl-") {
			t.Errorf("object, model, id = %q, %q, %q", got.Object, got.Model, got.ID)
		}
		if ch := got.Choices[0]; ch.Text != reply || ch.FinishReason != "stop" {
			t.Errorf("text %q, finish reason %q", ch.Text, ch.FinishReason)
		}
		if u := got.Usage; u.PromptTokens != 2 || u.CompletionTokens != 5 || u.TotalTokens != 7 {
			t.Errorf("usage %s", u.RawJSON())
		}
	})

	t.Run("stream", func(t *testing.T) {
		params := params
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := c.Completions.NewStreaming(t.Context(), params)
		var text strings.Builder
		var chunks []openai.Completion
		for stream.Next() {
			chunk := stream.Current()
			chunks = append(chunks, chunk)
			for _, ch := range chunk.Choices {
				text.WriteString(ch.Text)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != reply {
			t.Errorf("streamed %q, want %q", text.String(), reply)
		}
		// 5 words, the finish chunk and the usage chunk.
		if len(chunks) != 7 {
			t.Fatalf("%d chunks, want 7", len(chunks))
		}
		if fin := chunks[5].Choices; len(fin) != 1 || fin[0].FinishReason != "stop" {
			t.Errorf("finish chunk %s", chunks[5].RawJSON())
		}
		if last := chunks[6]; len(last.Choices) != 0 || last.Usage.TotalTokens != 7 {
			t.Errorf("usage chunk %s", last.RawJSON())
		}
	})
}

func TestEmbeddings(t *testing.T) {
	_, srv := relaytest.Start(t)
	c := newClient(t, srv, testKey)
	embed := func(t *testing.T, in openai.EmbeddingNewParamsInputUnion, format openai.EmbeddingNewParamsEncodingFormat, dims int64) *openai.CreateEmbeddingResponse {
		t.Helper()
		params := openai.EmbeddingNewParams{Model: "text-embedding-3-small", Input: in, EncodingFormat: format}
		if dims > 0 {
			params.Dimensions = openai.Int(dims)
		}
		res, err := c.Embeddings.New(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, tt := range []struct {
		name       string
		in         openai.EmbeddingNewParamsInputUnion
		dims       int64
		wantN      int
		wantDims   int
		wantTokens int64
	}{
		{"string", openai.EmbeddingNewParamsInputUnion{OfString: openai.String("the quick fox")}, 0, 1, 8, 3},
		{"strings", openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one", "two words", "three more words"}}, 0, 3, 8, 6},
		{"tokens", openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2, 3, 4}}, 0, 1, 8, 4},
		{"token arrays", openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{{1}, {2, 3}}}, 0, 2, 8, 3},
		{"dimensions", openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}, 256, 1, 256, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			floats := embed(t, tt.in, openai.EmbeddingNewParamsEncodingFormatFloat, tt.dims)
			b64 := embed(t, tt.in, openai.EmbeddingNewParamsEncodingFormatBase64, tt.dims)
			if floats.Object != "list" || floats.Model != "text-embedding-3-small" || floats.Usage.PromptTokens != tt.wantTokens || floats.Usage.TotalTokens != tt.wantTokens {
				t.Errorf("object %q, model %q, usage %s", floats.Object, floats.Model, floats.Usage.RawJSON())
			}
			if len(floats.Data) != tt.wantN || len(b64.Data) != tt.wantN {
				t.Fatalf("%d float and %d base64 embeddings, want %d", len(floats.Data), len(b64.Data), tt.wantN)
			}
			for i, e := range floats.Data {
				if e.Index != int64(i) || e.Object != "embedding" || len(e.Embedding) != tt.wantDims {
					t.Errorf("embedding %d: index %d, object %q, %d dims", i, e.Index, e.Object, len(e.Embedding))
				}
				if raw := b64.Data[i].JSON.Embedding.Raw(); !strings.HasPrefix(raw, `"`) {
					t.Errorf("base64 embedding %d sent as %.20s", i, raw)
				}
				// Floats are sent as the shortest decimal of a float32, base64 as
				// its bits: both are the same float32.
				if !slices.Equal(float32s(e.Embedding), float32s(b64.Data[i].Embedding)) {
					t.Errorf("embedding %d: float %v != base64 %v", i, e.Embedding, b64.Data[i].Embedding)
				}
				var norm float64
				for _, f := range e.Embedding {
					norm += f * f
				}
				if math.Abs(norm-1) > 1e-5 {
					t.Errorf("embedding %d: norm² %v, want 1", i, norm)
				}
			}
			if tt.wantN > 1 && slices.Equal(floats.Data[0].Embedding, floats.Data[1].Embedding) {
				t.Error("different inputs got the same vector")
			}
		})
	}
}

func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(f)
	}
	return out
}

func TestModels(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []relaytest.Option
		want []string
	}{
		{"default", nil, relaytest.DefaultModels},
		{"configured", []relaytest.Option{relaytest.WithModels("a", "b")}, []string{"a", "b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := relaytest.Start(t, tt.opts...)
			c := newClient(t, srv, testKey)
			page, err := c.Models.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range page.Data {
				if m.Object != "model" || m.OwnedBy == "" || m.Created == 0 {
					t.Errorf("model %s", m.RawJSON())
				}
				ids = append(ids, m.ID)
			}
			if page.Object != "list" || !slices.Equal(ids, tt.want) {
				t.Errorf("object %q, ids %q, want %q", page.Object, ids, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	_, srv := relaytest.Start(t, relaytest.WithKey(testKey))
	for _, tt := range []struct {
		model      string
		key        string
		wantStatus int
		wantType   string
		wantCode   string
	}{
		{relaytest.ModelBadRequest, testKey, 400, "invalid_request_error", "invalid_value"},
		{relaytest.ModelUnauthorized, testKey, 401, "invalid_request_error", "invalid_api_key"},
		{relaytest.ModelNotFound + "-gpt-9", testKey, 404, "invalid_request_error", "model_not_found"},
		{relaytest.ModelRateLimited, testKey, 429, "requests", "rate_limit_exceeded"},
		{relaytest.ModelServerError, testKey, 500, "server_error", ""},
		{relaytest.ModelUnavailable, testKey, 503, "server_error", ""},
		{relaytest.ModelForbidden, testKey, 403, "request_forbidden", "unsupported_country_region_territory"},
		{relaytest.ModelOverloaded, testKey, 503, "server_error", ""},
		{"gpt-4o", "sk-wrong-key-0000", 401, "invalid_request_error", "invalid_api_key"},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/key=%s/stream=%v", tt.model, tt.key, stream), func(t *testing.T) {
				c := newClient(t, srv, tt.key)
				var err error
				if stream {
					s := c.Chat.Completions.NewStreaming(t.Context(), userChat(tt.model, "hi"))
					for s.Next() {
						t.Error("got a chunk")
					}
					err = s.Err()
				} else {
					_, err = c.Chat.Completions.New(t.Context(), userChat(tt.model, "hi"))
				}
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("error %v, want *openai.Error", err)
				}
				if apiErr.StatusCode != tt.wantStatus || apiErr.Type != tt.wantType || apiErr.Code != tt.wantCode || apiErr.Message == "" {
					t.Errorf("status %d, type %q, code %q, message %q; want %d, %q, %q", apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Message, tt.wantStatus, tt.wantType, tt.wantCode)
				}
				if apiErr.JSON.Param.Raw() == "" || apiErr.JSON.Code.Raw() == "" {
					t.Errorf("param %q, code %q: want both present, null or not", apiErr.JSON.Param.Raw(), apiErr.JSON.Code.Raw())
				}
				if tt.wantStatus == 429 && apiErr.Response.Header.Get("Retry-After") != "1" {
					t.Errorf("Retry-After = %q", apiErr.Response.Header.Get("Retry-After"))
				}
				if strings.Contains(apiErr.Message, tt.key) {
					t.Errorf("message %q leaks the key", apiErr.Message)
				}
			})
		}
	}
}

func TestMalformedRequests(t *testing.T) {
	_, srv := relaytest.Start(t, relaytest.WithKey(testKey))
	for _, tt := range []struct {
		name, method, path, auth, body string
		wantStatus                     int
		wantCode, wantParam            string
	}{
		{"no key", "POST", "/v1/chat/completions", "", `{"model":"m","messages":[]}`, 401, "", ""},
		{"not bearer", "POST", "/v1/chat/completions", "Basic " + testKey, `{}`, 401, "invalid_api_key", ""},
		{"unknown path", "POST", "/v1/nope", "Bearer " + testKey, `{}`, 404, "", ""},
		{"wrong method", "GET", "/v1/chat/completions", "Bearer " + testKey, ``, 404, "", ""},
		{"not json", "POST", "/v1/chat/completions", "Bearer " + testKey, `{"model":`, 400, "", ""},
		{"no model", "POST", "/v1/chat/completions", "Bearer " + testKey, `{"messages":[{"role":"user","content":"hi"}]}`, 400, "", ""},
		{"no messages", "POST", "/v1/chat/completions", "Bearer " + testKey, `{"model":"m"}`, 400, "missing_required_parameter", "messages"},
		{"empty messages", "POST", "/v1/chat/completions", "Bearer " + testKey, `{"model":"m","messages":[]}`, 400, "empty_array", "messages"},
		{"no input", "POST", "/v1/embeddings", "Bearer " + testKey, `{"model":"m"}`, 400, "missing_required_parameter", "input"},
		{"bad format", "POST", "/v1/embeddings", "Bearer " + testKey, `{"model":"m","input":"x","encoding_format":"hex"}`, 400, "invalid_value", "encoding_format"},
		{"unanswered call", "POST", "/v1/chat/completions", "Bearer " + testKey, `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"call_a","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"call_b","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_a","content":"x"},{"role":"user","content":"and?"}]}`, 400, "", "messages.[1].role"},
		{"orphan tool message", "POST", "/v1/chat/completions", "Bearer " + testKey, `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_a","content":"x"}]}`, 400, "", "messages.[1].role"},
		{"unknown call id", "POST", "/v1/chat/completions", "Bearer " + testKey, `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"call_a","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_z","content":"x"}]}`, 400, "", "messages.[2].tool_call_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			e := body.Error
			deref := func(s *string) string {
				if s == nil {
					return ""
				}
				return *s
			}
			if res.StatusCode != tt.wantStatus || e.Message == "" || e.Type != "invalid_request_error" || deref(e.Code) != tt.wantCode || deref(e.Param) != tt.wantParam {
				t.Errorf("%d %+v (code %q, param %q); want %d, code %q, param %q", res.StatusCode, e, deref(e.Code), deref(e.Param), tt.wantStatus, tt.wantCode, tt.wantParam)
			}
			if res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", res.Header.Get("Content-Type"))
			}
		})
	}
}

func TestHang(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			p, srv := relaytest.Start(t)
			c := newClient(t, srv, testKey)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			var err error
			if stream {
				s := c.Chat.Completions.NewStreaming(ctx, userChat(relaytest.ModelHang, "hi"))
				for s.Next() {
					t.Error("got a chunk")
				}
				err = s.Err()
			} else {
				_, err = c.Chat.Completions.New(ctx, userChat(relaytest.ModelHang, "hi"))
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want the deadline", err)
			}
			p.WaitActive(t, 0)
			if n := p.Cancelled(); n != 1 {
				t.Errorf("Cancelled() = %d, want 1", n)
			}
		})
	}
}

func TestCut(t *testing.T) {
	p, srv := relaytest.Start(t)
	c := newClient(t, srv, testKey)

	t.Run("stream", func(t *testing.T) {
		s := c.Chat.Completions.NewStreaming(t.Context(), userChat(relaytest.ModelCut, "one two"))
		var content strings.Builder
		n := 0
		for s.Next() {
			n++
			for _, ch := range s.Current().Choices {
				content.WriteString(ch.Delta.Content)
			}
		}
		if n != 2 || content.String() != "Hello!" {
			t.Errorf("%d chunks, content %q; want the role chunk and %q", n, content.String(), "Hello!")
		}
		if err := s.Err(); err == nil || errors.As(err, new(*openai.Error)) {
			t.Errorf("error %v, want a broken connection", err)
		}
	})

	t.Run("plain", func(t *testing.T) {
		_, err := c.Chat.Completions.New(t.Context(), userChat(relaytest.ModelCut, "hi"))
		if err == nil || errors.As(err, new(*openai.Error)) {
			t.Errorf("error %v, want a broken connection", err)
		}
	})

	p.WaitActive(t, 0)
	if n := p.Cancelled(); n != 0 {
		t.Errorf("Cancelled() = %d, want 0: the provider cut, not the client", n)
	}
}

func TestHoldActiveCancelled(t *testing.T) {
	const n = 20
	p, srv := relaytest.Start(t)
	c := newClient(t, srv, testKey)

	type open struct {
		stream interface {
			Next() bool
			Close() error
			Err() error
		}
		cancel context.CancelFunc
	}
	var streams []open
	for i := range n {
		ctx, cancel := context.WithCancel(t.Context())
		s := c.Chat.Completions.NewStreaming(ctx, userChat(relaytest.ModelHold+"-"+fmt.Sprint(i), "hi"))
		if !s.Next() {
			t.Fatalf("stream %d: no first chunk: %v", i, s.Err())
		}
		if role := s.Current().Choices[0].Delta.Role; role != "assistant" {
			t.Fatalf("stream %d: first chunk role %q", i, role)
		}
		streams = append(streams, open{s, cancel})
	}
	p.WaitActive(t, n)
	if got := p.Cancelled(); got != 0 {
		t.Errorf("Cancelled() = %d while streams are open", got)
	}

	for _, s := range streams[:n/2] {
		s.cancel()
		s.stream.Close()
	}
	p.WaitActive(t, n-n/2)
	if got := p.Cancelled(); got != n/2 {
		t.Errorf("Cancelled() = %d after closing %d streams", got, n/2)
	}

	for _, s := range streams[n/2:] {
		s.cancel()
		s.stream.Close()
	}
	p.WaitActive(t, 0)
	if got := p.Cancelled(); got != n {
		t.Errorf("Cancelled() = %d, want %d", got, n)
	}
}

func TestChunkDelay(t *testing.T) {
	const delay = 30 * time.Millisecond
	p, srv := relaytest.Start(t, relaytest.WithChunkDelay(delay))
	c := newClient(t, srv, testKey)

	t.Run("complete", func(t *testing.T) {
		start := time.Now()
		s := c.Chat.Completions.NewStreaming(t.Context(), userChat("gpt-4o", "x"))
		if !s.Next() {
			t.Fatal(s.Err())
		}
		if first := time.Since(start); first < delay {
			t.Errorf("first chunk after %v, want at least %v", first, delay)
		}
		for s.Next() {
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		// role, 4 words, finish and [DONE]: 7 events.
		if total := time.Since(start); total < 7*delay {
			t.Errorf("stream took %v, want at least %v", total, 7*delay)
		}
	})

	t.Run("client leaves", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s := c.Chat.Completions.NewStreaming(ctx, userChat("gpt-4o", "x"))
		if !s.Next() || !s.Next() {
			t.Fatal(s.Err())
		}
		cancel()
		s.Close()
		p.WaitActive(t, 0)
		if n := p.Cancelled(); n != 1 {
			t.Errorf("Cancelled() = %d, want 1", n)
		}
	})
}

// earlyRequest posts a chat completion whose body the test writes through
// the returned pipe.
func earlyRequest(t *testing.T, srv *httptest.Server) (*io.PipeWriter, *http.Response, *bufio.Reader) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/v1/chat/completions", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	type result struct {
		res *http.Response
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := srv.Client().Do(req)
		done <- result{res, err}
	}()
	// Not one byte of the body is written yet: the answer must come anyway.
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.res.Body.Close() })
		return pw, r.res, bufio.NewReader(r.res.Body)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer before the body was sent")
	}
	return nil, nil, nil
}

// readEvent reads one "data: ..." event.
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if blank, err := r.ReadString('\n'); err != nil || blank != "\n" {
		t.Fatalf("event %q not followed by a blank line: %q, %v", line, blank, err)
	}
	data, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "data: ")
	if !ok {
		t.Fatalf("event %q", line)
	}
	return data
}

// readRest reads events up to [DONE] and returns the streamed content and
// the usage chunk's total, or -1.
func readRest(t *testing.T, r *bufio.Reader) (string, int64) {
	t.Helper()
	var content strings.Builder
	total := int64(-1)
	for {
		data := readEvent(t, r)
		if data == "[DONE]" {
			return content.String(), total
		}
		var chunk openai.ChatCompletionChunk
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatal(err)
		}
		if chunk.Model != relaytest.EarlyModel {
			t.Errorf("chunk model %q, want %q", chunk.Model, relaytest.EarlyModel)
		}
		for _, ch := range chunk.Choices {
			content.WriteString(ch.Delta.Content)
		}
		if len(chunk.Choices) == 0 {
			total = chunk.Usage.TotalTokens
		}
	}
}

func TestEarlyAnswer(t *testing.T) {
	const words = 1 << 18
	big := strings.Repeat("word ", words) // 1.25 MiB, far over net/http's 256 KiB
	body := `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"` + big + `"}]}`

	t.Run("drain", func(t *testing.T) {
		p, srv := relaytest.Start(t, relaytest.WithKey(testKey), relaytest.WithEarlyAnswer(relaytest.EarlyDrain))
		pw, res, r := earlyRequest(t, srv)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%s, Content-Type %q", res.Status, res.Header.Get("Content-Type"))
		}
		if first := readEvent(t, r); !strings.Contains(first, `"role":"assistant"`) {
			t.Fatalf("first event %s", first)
		}
		if _, err := io.WriteString(pw, body); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		content, total := readRest(t, r)
		if !strings.HasPrefix(content, "Hello! You said: word word") {
			t.Errorf("content %.40q", content)
		}
		if want := int64(words + relaytest.Tokens(content)); total != want {
			t.Errorf("usage total %d, want %d", total, want)
		}
		if reqs := p.Requests(); len(reqs) != 1 || len(reqs[0].Body) != len(body) || reqs[0].JSON["model"] != "gpt-4o" {
			t.Errorf("recorded %d requests, body of %d bytes, want %d", len(reqs), len(reqs[0].Body), len(body))
		}
	})

	t.Run("ignore", func(t *testing.T) {
		p, srv := relaytest.Start(t, relaytest.WithEarlyAnswer(relaytest.EarlyIgnore), relaytest.WithReply("early bird"))
		pw, _, r := earlyRequest(t, srv)
		readEvent(t, r)
		content, total := readRest(t, r)
		if content != "early bird" || total != -1 {
			t.Errorf("content %q, usage total %d", content, total)
		}
		pw.CloseWithError(errors.New("test done"))
		p.WaitActive(t, 0)
		if reqs := p.Requests(); len(reqs) != 1 || reqs[0].Body != nil {
			t.Errorf("recorded %d requests, body %q", len(reqs), reqs[0].Body)
		}
	})
}

func TestConcurrent(t *testing.T) {
	const workers, each = 8, 20
	p, srv := relaytest.Start(t, relaytest.WithKey(testKey))
	c := newClient(t, srv, testKey)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				text := fmt.Sprintf("worker %d request %d", w, i)
				want := "Hello! You said: " + text
				if i%2 == 0 {
					got, err := c.Chat.Completions.New(t.Context(), userChat("gpt-4o", text))
					if err != nil {
						errs <- err
						return
					}
					if got.Choices[0].Message.Content != want {
						errs <- fmt.Errorf("got %q, want %q", got.Choices[0].Message.Content, want)
						return
					}
					continue
				}
				s := c.Chat.Completions.NewStreaming(t.Context(), userChat("gpt-4o", text))
				var acc openai.ChatCompletionAccumulator
				for s.Next() {
					acc.AddChunk(s.Current())
				}
				if err := s.Err(); err != nil {
					errs <- err
					return
				}
				if acc.Choices[0].Message.Content != want {
					errs <- fmt.Errorf("streamed %q, want %q", acc.Choices[0].Message.Content, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(p.Requests()); n != workers*each {
		t.Errorf("%d requests recorded, want %d", n, workers*each)
	}
	p.WaitActive(t, 0)
	if n := p.Cancelled(); n != 0 {
		t.Errorf("Cancelled() = %d, want 0", n)
	}
}

func TestWithoutRecording(t *testing.T) {
	p, srv := relaytest.Start(t, relaytest.WithoutRecording())
	c := newClient(t, srv, testKey)
	if _, err := c.Chat.Completions.New(t.Context(), userChat("gpt-4o", "hi")); err != nil {
		t.Fatal(err)
	}
	if reqs := p.Requests(); reqs != nil {
		t.Errorf("recorded %d requests", len(reqs))
	}
}

func TestClose(t *testing.T) {
	p, srv := relaytest.Start(t)
	c := newClient(t, srv, testKey)
	done := make(chan error, 1)
	go func() {
		_, err := c.Chat.Completions.New(t.Context(), userChat(relaytest.ModelHang, "hi"))
		done <- err
	}()
	p.WaitActive(t, 1)
	p.Close()
	p.WaitActive(t, 0)
	if err := <-done; err == nil || errors.As(err, new(*openai.Error)) {
		t.Errorf("error %v, want a dropped connection", err)
	}
	if n := p.Cancelled(); n != 0 {
		t.Errorf("Cancelled() = %d, want 0 for a released request", n)
	}
}

// TestChatScenarioWire checks the wire shape of the scenario models'
// answers beyond what the SDK shows: DeepSeek's reasoning_content, the tool
// call deltas, the reasoning tokens.
func TestChatScenarioWire(t *testing.T) {
	_, srv := relaytest.Start(t)
	const tools = `"tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"function","function":{"name":"get_time"}}]`
	post := func(body string) []byte {
		t.Helper()
		res, out := do(t, srv, newRequest(t.Context(), srv.URL+"/v1/chat/completions", body))
		if res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, out)
		}
		return out
	}

	var whole struct {
		Choices []struct {
			Message struct {
				Content          *string `json:"content"`
				ReasoningContent string  `json:"reasoning_content"`
				ToolCalls        []struct {
					ID       string `json:"id"`
					Type     string `json:"type"`
					Function struct {
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			CompletionTokens        int `json:"completion_tokens"`
			CompletionTokensDetails struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			} `json:"completion_tokens_details"`
		} `json:"usage"`
	}
	out := post(`{"model":"fake-reasoning-tools",` + tools + `,"messages":[{"role":"user","content":"weather?"}]}`)
	if err := json.Unmarshal(out, &whole); err != nil {
		t.Fatal(err)
	}
	m := whole.Choices[0].Message
	if m.Content != nil || m.ReasoningContent != "Thinking about: weather?" || len(m.ToolCalls) != 2 || whole.Choices[0].FinishReason != "tool_calls" ||
		whole.Usage.CompletionTokens != 7 || whole.Usage.CompletionTokensDetails.ReasoningTokens != 3 {
		t.Errorf("answer %s", out)
	}
	for i, want := range [][2]string{{relaytest.WeatherTool, relaytest.WeatherArgs}, {relaytest.TimeTool, relaytest.TimeArgs}} {
		c := m.ToolCalls[i]
		if !strings.HasPrefix(c.ID, "call_") || len(c.ID) != 29 || c.Type != "function" || c.Function.Name != want[0] || c.Function.Arguments != want[1] {
			t.Errorf("call %d: %+v", i, c)
		}
	}

	out = post(`{"model":"fake-reasoning-tools","stream":true,` + tools + `,"messages":[{"role":"user","content":"weather?"}]}`)
	var reasoning string
	args := map[int]string{}
	fragments := map[int]int{}
	ids := map[int]string{}
	var finish string
	for _, data := range readEvents(out) {
		if data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content          *string `json:"content"`
					ReasoningContent *string `json:"reasoning_content"`
					ToolCalls        []struct {
						Index    int    `json:"index"`
						ID       string `json:"id"`
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil || len(chunk.Choices) != 1 {
			t.Fatalf("chunk %s", data)
		}
		ch := chunk.Choices[0]
		if ch.Delta.ReasoningContent != nil {
			reasoning += *ch.Delta.ReasoningContent
		}
		for _, tc := range ch.Delta.ToolCalls {
			if tc.ID != "" {
				ids[tc.Index] = tc.ID
				if tc.Function.Arguments != "" {
					t.Errorf("first delta of call %d has arguments %q", tc.Index, tc.Function.Arguments)
				}
				continue
			}
			args[tc.Index] += tc.Function.Arguments
			fragments[tc.Index]++
		}
		if ch.FinishReason != nil {
			finish = *ch.FinishReason
		}
	}
	if reasoning != "Thinking about: weather?" || finish != "tool_calls" || len(ids) != 2 || args[0] != relaytest.WeatherArgs || args[1] != relaytest.TimeArgs || fragments[0] < 3 || fragments[1] < 3 {
		t.Errorf("reasoning %q, finish %q, ids %v, arguments %v in %v fragments", reasoning, finish, ids, args, fragments)
	}
}

// BenchmarkServeHTTP measures the provider alone, without a network.
func BenchmarkServeHTTP(b *testing.B) {
	for _, bb := range []struct {
		name, path, body string
	}{
		{"chat", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hello there, how are you today?"}]}`},
		{"chat stream", "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello there, how are you today?"}]}`},
		{"embeddings", "/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b"]}`},
	} {
		b.Run(bb.name, func(b *testing.B) {
			p := relaytest.NewProvider(relaytest.WithoutRecording())
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", bb.path, strings.NewReader(bb.body))
				w := httptest.NewRecorder()
				p.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body)
				}
			}
		})
	}
}
