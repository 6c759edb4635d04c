package relaytest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

func TestGeminiGenerate(t *testing.T) {
	p, srv := relaytest.StartGemini(t, relaytest.WithKey(testKey), relaytest.WithCachedTokens(1))
	c := newGeminiClient(t, srv, testKey)
	got, err := c.Models.GenerateContent(t.Context(), "gemini-2.5-flash", genai.Text("hi there"), &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText("be brief", genai.RoleUser),
		Tools:             []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{Name: "lookup"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Text() != "Hello! You said: hi there" || got.ModelVersion != "gemini-2.5-flash" || len(got.ResponseID) != 23 {
		t.Errorf("text %q, model version %q, response id %q", got.Text(), got.ModelVersion, got.ResponseID)
	}
	cand := got.Candidates[0]
	if cand.FinishReason != genai.FinishReasonStop || cand.Content.Role != genai.RoleModel || len(cand.Content.Parts) != 1 {
		t.Errorf("candidate %+v", cand)
	}
	if u := got.UsageMetadata; u.PromptTokenCount != 4 || u.CandidatesTokenCount != 5 || u.TotalTokenCount != 9 || u.CachedContentTokenCount != 1 || u.ThoughtsTokenCount != 0 {
		t.Errorf("usage %+v", u)
	}
	r := p.Requests()[0]
	if r.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || r.Header.Get("X-Goog-Api-Key") != testKey {
		t.Errorf("recorded %s, key %q", r.Path, r.Header.Get("X-Goog-Api-Key"))
	}
	conv := r.Conversation
	if conv == nil || conv.Model != "gemini-2.5-flash" || conv.System != "be brief" || conv.Said != "hi there" || conv.Turns != 1 || !slices.Equal(conv.Tools, []string{"lookup"}) || conv.PromptTokens != 4 {
		t.Errorf("conversation %+v", conv)
	}
}

// TestGeminiSpellings sends the same request in camelCase and snake_case.
func TestGeminiSpellings(t *testing.T) {
	p, srv := relaytest.StartGemini(t)
	var convs []*relaytest.Conversation
	for _, body := range []string{
		`{"systemInstruction":{"parts":[{"text":"sys"}]},"contents":[{"role":"user","parts":[{"text":"look"},{"inlineData":{"mimeType":"image/png","data":"AA=="}},{"fileData":{"fileUri":"gs://x","mimeType":"image/png"}}]}],
		  "generationConfig":{"maxOutputTokens":5,"thinkingConfig":{"includeThoughts":true}},"tools":[{"functionDeclarations":[{"name":"get_weather"}]}],"toolConfig":{},"safetySettings":[]}`,
		`{"system_instruction":{"parts":[{"text":"sys"}]},"contents":[{"parts":[{"text":"look"},{"inline_data":{"mime_type":"image/png","data":"AA=="}},{"file_data":{"file_uri":"gs://x","mime_type":"image/png"}}]}],
		  "generation_config":{"max_output_tokens":5,"thinking_config":{"include_thoughts":true}},"tools":[{"function_declarations":[{"name":"get_weather"}]}],"tool_config":{},"safety_settings":[]}`,
	} {
		res, out := do(t, srv, newRequest(t.Context(), srv.URL+"/v1/models/"+relaytest.ModelReasoning+":generateContent", body))
		var answer struct {
			Candidates []struct {
				Content struct {
					Parts []struct {
						Text             string `json:"text"`
						Thought          bool   `json:"thought"`
						ThoughtSignature string `json:"thoughtSignature"`
					} `json:"parts"`
				} `json:"content"`
				FinishReason string `json:"finishReason"`
			} `json:"candidates"`
		}
		if err := json.Unmarshal(out, &answer); err != nil || res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, out)
		}
		parts := answer.Candidates[0].Content.Parts
		if len(parts) != 2 || !parts[0].Thought || parts[0].Text != "Thinking about: look" || parts[0].ThoughtSignature != relaytest.Signature(parts[0].Text) ||
			parts[1].Text != "Hello! You" || answer.Candidates[0].FinishReason != "MAX_TOKENS" {
			t.Errorf("answer %s", out)
		}
		convs = append(convs, p.Requests()[len(convs)].Conversation)
	}
	if a, b := *convs[0], *convs[1]; a.System != "sys" || a.Media != 2 || a.MaxTokens != 5 || !a.Thoughts || !slices.Equal(a.Tools, []string{"get_weather"}) ||
		a.System != b.System || a.Said != b.Said || a.Media != b.Media || a.MaxTokens != b.MaxTokens || a.Thoughts != b.Thoughts || !slices.Equal(a.Tools, b.Tools) {
		t.Errorf("camelCase %+v\nsnake_case %+v", a, b)
	}
}

func TestGeminiStreamFraming(t *testing.T) {
	_, srv := relaytest.StartGemini(t)
	const body = `{"contents":[{"parts":[{"text":"a b"}]}]}`

	res, sse := do(t, srv, newRequest(t.Context(), srv.URL+"/v1beta/models/m:streamGenerateContent?alt=sse", body))
	if res.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("Content-Type %q", res.Header.Get("Content-Type"))
	}
	events := strings.Split(strings.TrimSuffix(string(sse), "\r\n\r\n"), "\r\n\r\n")
	var text strings.Builder
	for i, e := range events {
		data, ok := strings.CutPrefix(e, "data: ")
		var chunk struct {
			Candidates []struct {
				Content struct {
					Parts []struct{ Text string } `json:"parts"`
				} `json:"content"`
				FinishReason string `json:"finishReason"`
			} `json:"candidates"`
			UsageMetadata struct {
				PromptTokenCount     int `json:"promptTokenCount"`
				CandidatesTokenCount int `json:"candidatesTokenCount"`
			} `json:"usageMetadata"`
		}
		if !ok || json.Unmarshal([]byte(data), &chunk) != nil {
			t.Fatalf("event %q", e)
		}
		text.WriteString(chunk.Candidates[0].Content.Parts[0].Text)
		wantFinish := ""
		if i == len(events)-1 {
			wantFinish = "STOP"
		}
		if chunk.Candidates[0].FinishReason != wantFinish || chunk.UsageMetadata.PromptTokenCount != 2 || chunk.UsageMetadata.CandidatesTokenCount != i+1 {
			t.Errorf("event %d: %s", i, data)
		}
	}
	if len(events) != 5 || text.String() != "Hello! You said: a b" {
		t.Errorf("%d events, text %q", len(events), text.String())
	}

	res, array := do(t, srv, newRequest(t.Context(), srv.URL+"/v1beta/models/m:streamGenerateContent", body))
	var chunks []map[string]any
	if err := json.Unmarshal(array, &chunks); err != nil || len(chunks) != 5 || res.Header.Get("Content-Type") != "application/json; charset=UTF-8" {
		t.Errorf("array stream (%v, %d chunks, %q): %s", err, len(chunks), res.Header.Get("Content-Type"), array)
	}

	res, errArray := do(t, srv, newRequest(t.Context(), srv.URL+"/v1beta/models/"+relaytest.ModelRateLimited+":streamGenerateContent", body))
	var errs []struct {
		Error struct {
			Code    int              `json:"code"`
			Status  string           `json:"status"`
			Details []map[string]any `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(errArray, &errs); err != nil || res.StatusCode != 429 || len(errs) != 1 || errs[0].Error.Status != "RESOURCE_EXHAUSTED" || errs[0].Error.Details[0]["retryDelay"] != "1s" {
		t.Errorf("%d %s (%v)", res.StatusCode, errArray, err)
	}
}

// modelTurn builds a Gemini history whose model turn calls get_weather and
// get_time, the first part carrying sig (none when empty), then answers
// both calls.
func modelTurn(sig string) string {
	sigField := ""
	if sig != "" {
		sigField = `,"thoughtSignature":` + fmt.Sprintf("%q", sig)
	}
	return `{"tools":[{"functionDeclarations":[{"name":"get_weather"},{"name":"get_time"}]}],"contents":[
		{"role":"user","parts":[{"text":"weather?"}]},
		{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"unit":"celsius", "city":"Paris"}}` + sigField + `},{"functionCall":{"name":"get_time","args":{"timezone":"Europe/Paris"}}}]},
		{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"18C"}}},{"functionResponse":{"name":"get_time","response":{"hour":14,"minute":0}}}]}]}`
}

func TestGeminiSignatures(t *testing.T) {
	p, srv := relaytest.StartGemini(t)
	valid := relaytest.CallSignature("get_weather", []byte(relaytest.WeatherArgs))
	for _, tt := range []struct {
		name, body, wantError string
	}{
		{"valid, keys in another order", modelTurn(valid), ""},
		{"skip value", modelTurn("skip_thought_signature_validator"), ""},
		{"missing", modelTurn(""), "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:get_weather` , position 2. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."},
		{"corrupted", modelTurn("x" + valid[1:]), "Corrupted thought signature."},
		{"other call's", modelTurn(relaytest.CallSignature("get_time", []byte(relaytest.TimeArgs))), "Corrupted thought signature."},
		{"thought tampered", `{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"Thinking about: hi!","thought":true,"thoughtSignature":"` + relaytest.Signature("Thinking about: hi") + `"},{"text":"Hello"}]},{"role":"user","parts":[{"text":"again"}]}]}`, "Corrupted thought signature."},
		{"thought intact", `{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"Thinking about: hi","thought":true,"thoughtSignature":"` + relaytest.Signature("Thinking about: hi") + `"},{"text":"Hello"}]},{"role":"user","parts":[{"text":"again"}]}]}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, srv, newRequest(t.Context(), srv.URL+"/v1beta/models/"+relaytest.ModelTools+":generateContent", tt.body))
			if tt.wantError == "" {
				if res.StatusCode != 200 {
					t.Fatalf("%d %s", res.StatusCode, body)
				}
				return
			}
			if status, msg, code := errorOf(t, "gemini", body); res.StatusCode != 400 || code != 400 || status != "INVALID_ARGUMENT" || msg != tt.wantError {
				t.Errorf("%d %s %q, want 400 INVALID_ARGUMENT %q", res.StatusCode, status, msg, tt.wantError)
			}
		})
	}
	// The tool results of the valid request.
	if conv := p.Requests()[0].Conversation; !slices.Equal(conv.ToolResults, []string{"18C", `{"hour":14,"minute":0}`}) || conv.Said != "weather?" {
		t.Errorf("conversation %+v", conv)
	}
}

// TestGeminiSignatureRoundTrip checks the signatures genai sends back, and
// that a tampered one makes genai raise the error.
func TestGeminiSignatureRoundTrip(t *testing.T) {
	_, srv := relaytest.StartGemini(t)
	c := newGeminiClient(t, srv, testKey)
	config := &genai.GenerateContentConfig{
		ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true},
		Tools:          []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{Name: relaytest.WeatherTool}, {Name: relaytest.TimeTool}}}},
	}
	history := genai.Text("weather?")
	first, err := c.Models.GenerateContent(t.Context(), relaytest.ModelReasoningTools, history, config)
	if err != nil {
		t.Fatal(err)
	}
	parts := first.Candidates[0].Content.Parts
	if len(parts) != 3 || !parts[0].Thought || string(parts[0].ThoughtSignature) == "" || parts[1].FunctionCall == nil || len(parts[1].ThoughtSignature) != 32 || parts[2].ThoughtSignature != nil {
		t.Fatalf("parts %+v", parts)
	}
	if first.UsageMetadata.ThoughtsTokenCount != 3 || first.UsageMetadata.CandidatesTokenCount != 4 || first.UsageMetadata.TotalTokenCount != 1+3+4 {
		t.Errorf("usage %+v", first.UsageMetadata)
	}
	answers := &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{
		{FunctionResponse: &genai.FunctionResponse{Name: relaytest.WeatherTool, Response: map[string]any{"output": "18C"}}},
		{FunctionResponse: &genai.FunctionResponse{Name: relaytest.TimeTool, Response: map[string]any{"output": "14:00"}}},
	}}
	for _, tamper := range []bool{false, true} {
		model := *first.Candidates[0].Content
		model.Parts = slices.Clone(model.Parts)
		if tamper {
			call := *model.Parts[1]
			call.ThoughtSignature = slices.Clone(call.ThoughtSignature)
			call.ThoughtSignature[0] ^= 1
			model.Parts[1] = &call
		}
		got, err := c.Models.GenerateContent(t.Context(), relaytest.ModelReasoningTools, append(slices.Clone(history), &model, answers), config)
		if !tamper {
			if err != nil {
				t.Fatal(err)
			}
			if got.Text() != "Results: 18C; 14:00" {
				t.Errorf("text %q", got.Text())
			}
			continue
		}
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 400 || apiErr.Status != "INVALID_ARGUMENT" || apiErr.Message != "Corrupted thought signature." {
			t.Errorf("tampered: error %v", err)
		}
	}
}

func TestGeminiErrors(t *testing.T) {
	_, srv := relaytest.StartGemini(t, relaytest.WithKey(testKey))
	for _, tt := range []struct {
		model, key string
		code       int
		status     string
	}{
		{relaytest.ModelBadRequest, testKey, 400, "INVALID_ARGUMENT"},
		{relaytest.ModelUnauthorized, testKey, 401, "UNAUTHENTICATED"},
		{relaytest.ModelForbidden, testKey, 403, "PERMISSION_DENIED"},
		{relaytest.ModelNotFound, testKey, 404, "NOT_FOUND"},
		{relaytest.ModelRateLimited, testKey, 429, "RESOURCE_EXHAUSTED"},
		{relaytest.ModelServerError, testKey, 500, "INTERNAL"},
		{relaytest.ModelUnavailable, testKey, 503, "UNAVAILABLE"},
		{relaytest.ModelOverloaded, testKey, 503, "UNAVAILABLE"},
		{"gemini-2.5-flash", "wrong-key", 400, "INVALID_ARGUMENT"},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/key=%s/stream=%v", tt.model, tt.key, stream), func(t *testing.T) {
				c := newGeminiClient(t, srv, tt.key)
				var err error
				if stream {
					for _, e := range c.Models.GenerateContentStream(t.Context(), tt.model, genai.Text("hi"), nil) {
						if err = e; err == nil {
							t.Error("got a chunk")
						}
					}
				} else {
					_, err = c.Models.GenerateContent(t.Context(), tt.model, genai.Text("hi"), nil)
				}
				var apiErr genai.APIError
				if !errors.As(err, &apiErr) || apiErr.Code != tt.code || apiErr.Status != tt.status || apiErr.Message == "" {
					t.Errorf("error %v, want %d %s", err, tt.code, tt.status)
				}
				if tt.key != testKey && (len(apiErr.Details) != 2 || apiErr.Details[0]["reason"] != "API_KEY_INVALID") {
					t.Errorf("details %v", apiErr.Details)
				}
			})
		}
	}
}

func TestGeminiStreamError(t *testing.T) {
	_, srv := relaytest.StartGemini(t)
	c := newGeminiClient(t, srv, testKey)
	var text string
	var err error
	for res, e := range c.Models.GenerateContentStream(t.Context(), relaytest.ModelStreamError, genai.Text("hi"), nil) {
		if e != nil {
			err = e
			break
		}
		text += res.Text()
	}
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 503 || apiErr.Status != "UNAVAILABLE" || text != "Hello!" {
		t.Errorf("text %q, error %v; want the first piece and 503 UNAVAILABLE", text, err)
	}
}

func TestGeminiMalformed(t *testing.T) {
	_, srv := relaytest.StartGemini(t, relaytest.WithKey(testKey))
	const ok = `{"contents":[{"parts":[{"text":"hi"}]}]}`
	for _, tt := range []struct {
		name, path, body string
		header           []string
		code             int
		status, message  string
	}{
		{"no key", "/v1beta/models/m:generateContent", ok, nil, 403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."},
		{"wrong key", "/v1beta/models/m:generateContent", ok, []string{"X-Goog-Api-Key", "nope"}, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."},
		{"query key", "/v1beta/models/m:generateContent?key=" + testKey, ok, nil, 200, "", ""},
		{"unknown method", "/v1beta/models/m:embedText", ok, []string{"X-Goog-Api-Key", testKey}, 404, "NOT_FOUND", "Method not found."},
		{"unknown version", "/v2/models/m:generateContent", ok, []string{"X-Goog-Api-Key", testKey}, 404, "NOT_FOUND", "Method not found."},
		{"not json", "/v1beta/models/m:generateContent", `{"contents":`, []string{"X-Goog-Api-Key", testKey}, 400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token."},
		{"unknown field", "/v1beta/models/m:generateContent", `{"contents":[],"messages":[]}`, []string{"X-Goog-Api-Key", testKey}, 400, "INVALID_ARGUMENT", `Invalid JSON payload received. Unknown name "messages": Cannot find field.`},
		{"no contents", "/v1beta/models/m:generateContent", `{}`, []string{"X-Goog-Api-Key", testKey}, 400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n"},
		{"bad role", "/v1beta/models/m:generateContent", `{"contents":[{"role":"assistant","parts":[{"text":"hi"}]}]}`, []string{"X-Goog-Api-Key", testKey}, 400, "INVALID_ARGUMENT", "Please use a valid role: user, model."},
		{"orphan response", "/v1beta/models/m:generateContent", `{"contents":[{"parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, []string{"X-Goog-Api-Key", testKey}, 400, "INVALID_ARGUMENT", "Please ensure that function response turn comes immediately after a function call turn."},
		{"missing response", "/v1beta/models/m:generateContent", strings.Replace(modelTurn("skip_thought_signature_validator"), `,{"functionResponse":{"name":"get_time","response":{"hour":14,"minute":0}}}`, "", 1), []string{"X-Goog-Api-Key", testKey}, 400, "INVALID_ARGUMENT", "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, srv, newRequest(t.Context(), srv.URL+tt.path, tt.body, tt.header...))
			if res.StatusCode != tt.code {
				t.Fatalf("%d %s, want %d", res.StatusCode, body, tt.code)
			}
			if tt.code == 200 {
				return
			}
			if status, msg, code := errorOf(t, "gemini", body); status != tt.status || msg != tt.message || code != tt.code {
				t.Errorf("%d %s %q, want %s %q", code, status, msg, tt.status, tt.message)
			}
			if !strings.Contains(string(body), "\n  \"error\": {\n    \"code\": ") {
				t.Errorf("error not indented as Google indents it:\n%s", body)
			}
		})
	}
}

func TestGeminiCountTokens(t *testing.T) {
	_, srv := relaytest.StartGemini(t)
	c := newGeminiClient(t, srv, testKey)
	got, err := c.Models.CountTokens(t.Context(), "gemini-2.5-flash", genai.Text("one two three"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.TotalTokens != 3 {
		t.Errorf("total tokens %d, want 3", got.TotalTokens)
	}
}

func TestGeminiModels(t *testing.T) {
	_, srv := relaytest.StartGemini(t)
	c := newGeminiClient(t, srv, testKey)
	page, err := c.Models.List(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range page.Items {
		if m.InputTokenLimit == 0 || !slices.Contains(m.SupportedActions, "generateContent") {
			t.Errorf("model %+v", m)
		}
		got = append(got, m.Name+"="+m.DisplayName)
	}
	if strings.Join(got, ",") != "models/gemini-2.5-flash=Gemini 2.5 Flash,models/gemini-2.5-pro=Gemini 2.5 Pro,models/gemini-2.0-flash=Gemini 2.0 Flash" {
		t.Errorf("listed %q", got)
	}
	m, err := c.Models.Get(t.Context(), "gemini-2.5-pro", nil)
	if err != nil || m.Name != "models/gemini-2.5-pro" || m.Version != "001" {
		t.Errorf("get: %+v, %v", m, err)
	}
	_, err = c.Models.Get(t.Context(), "gemini-9", nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 404 || apiErr.Status != "NOT_FOUND" {
		t.Errorf("unknown model: %v", err)
	}
	for _, path := range []string{"/v1/models", "/v1alpha/models/gemini-2.0-flash"} {
		req := newRequest(t.Context(), srv.URL+path, "")
		req.Method = "GET"
		if res, body := do(t, srv, req); res.StatusCode != 200 || !json.Valid(body) {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, body)
		}
	}
}

// BenchmarkGeminiServeHTTP measures the Gemini fake alone, without a
// network.
func BenchmarkGeminiServeHTTP(b *testing.B) {
	const body = `{"contents":[{"role":"user","parts":[{"text":"hello there, how are you today?"}]}]}`
	for _, bb := range []struct{ name, path string }{
		{"generate", "/v1beta/models/gemini-2.5-flash:generateContent"},
		{"stream", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			p := relaytest.NewGeminiProvider(relaytest.WithoutRecording())
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				p.ServeHTTP(w, httptest.NewRequest("POST", bb.path, strings.NewReader(body)))
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body)
				}
			}
		})
	}
}
