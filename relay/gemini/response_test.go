package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay/chat"
)

var answerFixtures = []string{"answer_calls.json", "answer_text.json", "answer_blocked.json"}

// TestResponseGolden decodes every answer fixture (testdata/*.chat.golden)
// and encodes the result again for a Gemini client
// (testdata/*.gemini.golden); package genaitest has the Google SDK read
// them.
func TestResponseGolden(t *testing.T) {
	for _, name := range answerFixtures {
		t.Run(name, func(t *testing.T) {
			r, err := Codec{}.DecodeResponse(readFile(t, name))
			if err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(name, filepath.Ext(name))
			golden(t, base+".chat.golden", marshal(t, viewResponse(r)))
			b, err := Codec{}.EncodeResponse(r, request("/v1beta/models/m:generateContent", "", nil))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, base+".gemini.golden", indent(t, b))
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	r, err := Codec{}.DecodeResponse(readFile(t, "answer_calls.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "mnTdaJzHLsaVz7IPtN2wmQ4" || r.Model != "gemini-2.5-flash" || r.Finish != chat.FinishToolCalls {
		t.Errorf("id %q model %q finish %q", r.ID, r.Model, r.Finish)
	}
	if len(r.Parts) != 4 || r.Parts[0].Kind != chat.KindThinking || r.Parts[0].Signature != "" || r.Parts[1].Text != "Let me check both." {
		t.Fatalf("parts = %+v", viewParts(r.Parts))
	}
	c1, c2 := r.Parts[2].Call, r.Parts[3].Call
	if c1.ID != "call_mnTdaJzHLsaVz7IPtN2wmQ4_0" || c1.Name != "get_weather" || c1.Signature != sigWeather || c2.ID != "call_mnTdaJzHLsaVz7IPtN2wmQ4_1" || c2.Signature != sigTime {
		t.Errorf("calls = %+v %+v", c1, c2)
	}
	want := aiproxy.Usage{PromptTokens: 182, CompletionTokens: 189, CachedTokens: 64, ReasoningTokens: 148, TotalTokens: 371}
	if *r.Usage != want {
		t.Errorf("usage = %+v, want %+v", *r.Usage, want)
	}

	r, _ = Codec{}.DecodeResponse(readFile(t, "answer_text.json"))
	if len(r.Parts) != 2 || r.Parts[0].Kind != chat.KindThinking || r.Parts[0].Signature != sigText || r.Finish != chat.FinishLength || r.Usage.PromptTokens != 11 {
		t.Errorf("signed text answer = %+v", viewResponse(r))
	}
	r, _ = Codec{}.DecodeResponse(readFile(t, "answer_blocked.json"))
	if r.Finish != chat.FinishContentFilter || len(r.Parts) != 0 {
		t.Errorf("blocked prompt = %+v", viewResponse(r))
	}
}

func TestFinishReasons(t *testing.T) {
	for reason, want := range map[string]chat.Finish{
		"STOP": chat.FinishStop, "MAX_TOKENS": chat.FinishLength, "SAFETY": chat.FinishContentFilter, "RECITATION": chat.FinishContentFilter,
		"BLOCKLIST": chat.FinishContentFilter, "PROHIBITED_CONTENT": chat.FinishContentFilter, "SPII": chat.FinishContentFilter,
		"IMAGE_SAFETY": chat.FinishContentFilter, "LANGUAGE": chat.FinishContentFilter, "MALFORMED_FUNCTION_CALL": chat.FinishError,
		"OTHER": chat.FinishError, "UNEXPECTED_TOOL_CALL": chat.FinishError, "TOO_MANY_TOOL_CALLS": chat.FinishError, "CONTINUATION": chat.FinishPause,
	} {
		body := `{"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},"finishReason":"` + reason + `"}]}`
		r, err := Codec{}.DecodeResponse([]byte(body))
		if err != nil || r.Finish != want {
			t.Errorf("%s: %v %v, want %s", reason, r.Finish, err, want)
		}
	}
	for f, want := range map[chat.Finish]string{
		chat.FinishStop: "STOP", chat.FinishToolCalls: "STOP", chat.FinishLength: "MAX_TOKENS", chat.FinishContentFilter: "SAFETY",
		chat.FinishRefusal: "SAFETY", chat.FinishPause: "OTHER", chat.FinishError: "OTHER", "": "STOP",
	} {
		if got := finishReason(f); got != want {
			t.Errorf("finishReason(%q) = %s, want %s", f, got, want)
		}
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	for _, body := range []string{`{`, `[]`, `{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"executableCode":{"code":"1"}}]}}]}`} {
		if _, err := (Codec{}).DecodeResponse([]byte(body)); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", body, err)
		}
	}
}

func TestEncodeResponse(t *testing.T) {
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
	b, err := Codec{}.EncodeResponse(r, request("/v1beta/models/claude-sonnet:generateContent", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	a := gjson.ParseBytes(b)
	cand := a.Get("candidates.0")
	if a.Get("responseId").Str != "req_test1" || a.Get("modelVersion").Str != "claude-sonnet" || cand.Get("finishReason").Str != "SAFETY" || cand.Get("content.role").Str != "model" {
		t.Errorf("answer = %s", b)
	}
	ps := cand.Get("content.parts").Array()
	if len(ps) != 4 || !ps[0].Get("thought").Bool() || ps[0].Get("text").Str != "Let me think." || ps[0].Get("thoughtSignature").Str != "EqQBCkYIBxgCKkDanthropicSig0" ||
		!ps[1].Get("thought").Bool() || ps[1].Get("text").Str != "" || ps[2].Get("text").Str != "Calling." || ps[2].Get("thought").Exists() {
		t.Fatalf("parts = %s", b)
	}
	if fc := ps[3].Get("functionCall"); fc.Get("id").Str != "toolu_01" || fc.Get("name").Str != "get_weather" || fc.Get("args.city").Str != "Paris" {
		t.Errorf("function call = %s", fc.Raw)
	}
	u := a.Get("usageMetadata")
	if u.Get("promptTokenCount").Int() != 100 || u.Get("candidatesTokenCount").Int() != 30 || u.Get("thoughtsTokenCount").Int() != 20 ||
		u.Get("cachedContentTokenCount").Int() != 30 || u.Get("totalTokenCount").Int() != 150 {
		t.Errorf("usage = %s", u.Raw)
	}

	// A client sends the parts back as history: every signature (the
	// redacted thinking and the one that is not base64 included) comes
	// back as it was.
	var content struct {
		Candidates []struct {
			Content json.RawMessage `json:"content"`
		} `json:"candidates"`
	}
	json.Unmarshal(b, &content)
	body := []byte(`{"contents":[{"role":"user","parts":[{"text":"q"}]},` + string(content.Candidates[0].Content) + `]}`)
	c, err := Codec{}.DecodeRequest(request("/v1beta/models/m:generateContent", "", body))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Messages[1].Parts
	if len(got) != 4 || got[0].Signature != "EqQBCkYIBxgCKkDanthropicSig0" || got[1].Kind != chat.KindRedactedThinking || got[1].Signature != "EncryptedBlob==" ||
		got[3].Call.ID != "toolu_01" || got[3].Call.Signature != "not base64 at all" {
		t.Errorf("history = %+v", viewParts(got))
	}
	raw, _ := base64.StdEncoding.DecodeString(gjson.GetBytes(b, "candidates.0.content.parts.3.thoughtSignature").Str)
	if !bytes.HasPrefix(raw, []byte(sigMarker)) {
		t.Errorf("a signature that is not base64 is sent wrapped: %q", raw)
	}
}

func TestEncodeResponseEmpty(t *testing.T) {
	b, err := Codec{}.EncodeResponse(&chat.Response{ID: "x", Finish: chat.FinishContentFilter}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := gjson.ParseBytes(b); a.Get("candidates.0.finishReason").Str != "SAFETY" || a.Get("candidates.0.content.parts").Raw != `[{"text":""}]` {
		t.Errorf("empty answer = %s", b)
	}
	if _, err := (Codec{}).EncodeResponse(&chat.Response{Parts: []chat.Part{{Kind: chat.KindMedia, Media: &chat.Media{}}}}, nil); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("media in an answer: err = %v", err)
	}
}
