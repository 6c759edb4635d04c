package genaitest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/gemini"
)

// The Google SDK reads everything the encoders write: answers, every
// stream chunk, requests (for Gemini channels), errors and models.

// quiet silences the log for the test: genai's Text() warns about
// non-text parts.
func quiet(tb testing.TB) {
	w := log.Writer()
	log.SetOutput(io.Discard)
	tb.Cleanup(func() { log.SetOutput(w) })
}

func clientRequest(path string) *relay.Request {
	return &relay.Request{ID: "req_sdk", Ingress: gemini.Codec{}, Protocol: aiproxy.ProtocolGemini, Mode: aiproxy.ModeChat, Path: path,
		Query: map[string][]string{"alt": {"sse"}}}
}

func TestSDKReadsAnswers(t *testing.T) {
	for _, name := range []string{"answer_calls.json", "answer_text.json", "answer_blocked.json"} {
		t.Run(name, func(t *testing.T) {
			r, err := gemini.Codec{}.DecodeResponse(fixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			b, err := gemini.Codec{}.EncodeResponse(r, clientRequest("/v1beta/models/m:generateContent"))
			if err != nil {
				t.Fatal(err)
			}
			var sdk genai.GenerateContentResponse
			if err := json.Unmarshal(b, &sdk); err != nil {
				t.Fatalf("genai cannot read %s: %v", b, err)
			}
			if len(sdk.Candidates) != 1 || sdk.Candidates[0].Content.Role != genai.RoleModel || sdk.ResponseID == "" {
				t.Errorf("answer = %s", b)
			}
		})
	}
	r, _ := gemini.Codec{}.DecodeResponse(fixture(t, "answer_calls.json"))
	b, _ := gemini.Codec{}.EncodeResponse(r, nil)
	var sdk genai.GenerateContentResponse
	json.Unmarshal(b, &sdk)
	want, _ := base64.StdEncoding.DecodeString(sigWeather)
	calls := sdk.FunctionCalls()
	if len(calls) != 2 || calls[0].ID != "call_mnTdaJzHLsaVz7IPtN2wmQ4_0" || !bytes.Equal(sdk.Candidates[0].Content.Parts[2].ThoughtSignature, want) {
		t.Errorf("calls = %+v", calls)
	}
}

func TestSDKReadsAnswerOfAnotherProtocol(t *testing.T) {
	quiet(t)
	r := &chat.Response{
		Model: "claude-sonnet",
		Parts: []chat.Part{
			{Kind: chat.KindThinking, Text: "Let me think.", Signature: "EqQBCkYIBxgCKkDanthropicSig0"},
			{Kind: chat.KindRedactedThinking, Signature: "EncryptedBlob=="},
			{Kind: chat.KindText, Text: "Calling."},
			{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "toolu_01", Name: "get_weather", Arguments: `{"city":"Paris"}`, Signature: "not base64 at all"}},
		},
		Finish: chat.FinishRefusal,
		Usage:  &aiproxy.Usage{PromptTokens: 100, CompletionTokens: 50, ReasoningTokens: 20, CachedTokens: 30, TotalTokens: 150},
	}
	b, err := gemini.Codec{}.EncodeResponse(r, clientRequest("/v1beta/models/claude:generateContent"))
	if err != nil {
		t.Fatal(err)
	}
	var sdk genai.GenerateContentResponse
	if err := json.Unmarshal(b, &sdk); err != nil {
		t.Fatalf("genai cannot read %s: %v", b, err)
	}
	cand := sdk.Candidates[0]
	if sdk.ResponseID != "req_sdk" || sdk.ModelVersion != "claude-sonnet" || cand.FinishReason != genai.FinishReasonSafety {
		t.Errorf("answer = %s", b)
	}
	ps := cand.Content.Parts
	if len(ps) != 4 || !ps[0].Thought || !ps[1].Thought || ps[3].FunctionCall.Args["city"] != "Paris" || sdk.Text() != "Calling." {
		t.Errorf("parts = %s (Text %q)", b, sdk.Text())
	}
	if u := sdk.UsageMetadata; u.PromptTokenCount != 100 || u.CandidatesTokenCount != 30 || u.ThoughtsTokenCount != 20 || u.CachedContentTokenCount != 30 {
		t.Errorf("usage = %+v", u)
	}
}

func TestSDKReadsStreams(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*.sse"))
	for _, file := range files {
		name := filepath.Base(file)
		if name == "stream_error.sse" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			quiet(t)
			st, _ := gemini.NewAdaptor().Stream(&relay.Call{Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(fixture(t, name)))})
			defer st.Close()
			dec := gemini.Codec{}.NewStreamDecoder()
			enc := gemini.Codec{}.NewStreamEncoder(clientRequest("/v1beta/models/m:streamGenerateContent"))
			// As the relay converts: each chunk's events are encoded at once.
			var evs []chat.Event
			var chunks []relay.Chunk
			for done := false; !done; {
				c, err := st.Next()
				switch {
				case err == io.EOF:
					evs, _ = dec.End(evs[:0])
					done = true
				case err != nil:
					t.Fatal(err)
				default:
					if evs, err = dec.Decode(c, evs[:0]); err != nil {
						t.Fatal(err)
					}
				}
				for i := range evs {
					if chunks, err = enc.Encode(&evs[i], chunks); err != nil {
						t.Fatal(err)
					}
				}
			}
			var text strings.Builder
			for i, c := range chunks {
				var sdk genai.GenerateContentResponse
				if err := json.Unmarshal(c.Data, &sdk); err != nil {
					t.Fatalf("genai cannot read chunk %d: %v\n%s", i, err, c.Data)
				}
				if len(sdk.Candidates) != 1 || sdk.Candidates[0].Content == nil || len(sdk.Candidates[0].Content.Parts) != 1 || sdk.ResponseID == "" {
					t.Fatalf("chunk %d = %s", i, c.Data)
				}
				text.WriteString(sdk.Text())
				if i == len(chunks)-1 && (sdk.Candidates[0].FinishReason == "" || sdk.UsageMetadata == nil) {
					t.Errorf("last chunk without finishReason and usage: %s", c.Data)
				}
			}
			if text.Len() == 0 && name != "stream_calls.sse" {
				t.Error("no text")
			}
		})
	}
}

func TestSDKReadsRequest(t *testing.T) {
	c := &chat.Request{
		System: []chat.Part{{Kind: chat.KindText, Text: "Be kind."}},
		Messages: []chat.Message{
			{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindText, Text: "Look:"}, {Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/png", Data: "iVBORw0KGgo="}}}},
			{Role: chat.RoleAssistant, Parts: []chat.Part{
				{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: chat.JoinCallID("call_a", sigWeather), Name: "get_weather", Arguments: `{"city":"Paris"}`}},
			}},
			{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "call_a", Parts: []chat.Part{{Kind: chat.KindText, Text: `{"temperature":18}`}}}}}},
		},
		Tools:      []chat.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
		ToolChoice: &chat.ToolChoice{Mode: chat.ToolRequired},
		MaxTokens:  300,
		Reasoning:  &chat.Reasoning{Effort: "high"},
		Format:     &chat.Format{Type: chat.FormatJSON},
	}
	b, err := gemini.Codec{}.EncodeRequest(c, &relay.Call{UpstreamModel: "gemini-2.5-pro"})
	if err != nil {
		t.Fatal(err)
	}
	var sdk struct {
		Contents          []*genai.Content        `json:"contents"`
		SystemInstruction *genai.Content          `json:"systemInstruction"`
		Tools             []*genai.Tool           `json:"tools"`
		ToolConfig        *genai.ToolConfig       `json:"toolConfig"`
		GenerationConfig  *genai.GenerationConfig `json:"generationConfig"`
	}
	if err := json.Unmarshal(b, &sdk); err != nil {
		t.Fatalf("genai cannot read the request: %v\n%s", err, b)
	}
	want, _ := base64.StdEncoding.DecodeString(sigWeather)
	if p := sdk.Contents[1].Parts[0]; p.FunctionCall.ID != "call_a" || p.FunctionCall.Args["city"] != "Paris" || !bytes.Equal(p.ThoughtSignature, want) {
		t.Errorf("call = %+v, signature %x", p.FunctionCall, p.ThoughtSignature)
	}
	if r := sdk.Contents[2].Parts[0].FunctionResponse; r.Name != "get_weather" || r.ID != "call_a" || r.Response["output"].(map[string]any)["temperature"] != 18.0 {
		t.Errorf("response = %+v", r)
	}
	if img := sdk.Contents[0].Parts[1].InlineData; img.MIMEType != "image/png" || len(img.Data) != 8 {
		t.Errorf("image = %+v", img)
	}
	g := sdk.GenerationConfig
	if g.MaxOutputTokens != 300 || g.ResponseMIMEType != "application/json" || *g.ThinkingConfig.ThinkingBudget != int32(chat.BudgetFor("high")) || !g.ThinkingConfig.IncludeThoughts {
		t.Errorf("generationConfig = %+v", g)
	}
	if sdk.ToolConfig.FunctionCallingConfig.Mode != genai.FunctionCallingConfigModeAny || sdk.Tools[0].FunctionDeclarations[0].ParametersJsonSchema == nil || sdk.SystemInstruction.Parts[0].Text != "Be kind." {
		t.Errorf("tools = %+v, system %+v", sdk.Tools[0].FunctionDeclarations[0], sdk.SystemInstruction)
	}
}

func TestSDKReadsErrors(t *testing.T) {
	for _, code := range []string{aiproxy.EINVALID, aiproxy.EUNAUTHORIZED, aiproxy.EFORBIDDEN, aiproxy.ENOTFOUND, aiproxy.ERATELIMITED, aiproxy.EUPSTREAM, aiproxy.EUNAVAILABLE, aiproxy.ETIMEOUT, aiproxy.EINTERNAL} {
		st, b := gemini.Codec{}.Error(&relay.Failure{Code: code, Message: "m", Reason: "some_reason", Field: "contents"})
		var v struct {
			Error genai.APIError `json:"error"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.Error.Code != st || v.Error.Message != "m" || v.Error.Status == "" || len(v.Error.Details) != 2 {
			t.Errorf("%s: %s (%v)", code, b, err)
		}
	}
}
