package gemini

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

const (
	sigWeather = "IpHYzcMQQR5+wnN4pmHJNRh8B+TVY26bw8QAsnJEuM06l/Ea5lEHBQamigLw4WGvN/hsuQeHOMNw8H6NO1g7rTjCdfNK7QVq1uqO7KQZL6H+udxLHr5V5bj5toDv92yB"
	sigText    = "1OmrME1Ilvnhf9jwgWSW2gh6Pr7MZ2qqLF2M4bPGrLxfFnCpghvHKYXXZF59uwd4C0602fudl5RkpSsrgDr7A8UziuvcjDtn"
	sigTime    = "g1jz2JNadehEqIyb9boBYsjb0vTi8L2DzyGEx480bfMOe95dkY0z8IFpfNBbalgAiYqfyZxUdZkHzTqi"
)

// requestFixtures maps each request fixture to the path it is sent on.
var requestFixtures = map[string]string{
	"request_full.json":          "/v1beta/models/gemini-2.5-flash:generateContent",
	"request_snake.json":         "/v1/models/models/gemini-2.5-flash:streamGenerateContent",
	"count_tokens.json":          "/v1beta/models/gemini-2.5-flash:countTokens",
	"count_tokens_contents.json": "/v1beta/models/gemini-2.5-flash:countTokens",
}

func decodeFixture(tb testing.TB, name string) (*relay.Request, *chat.Request) {
	tb.Helper()
	req := parsed(tb, requestFixtures[name], readFile(tb, name))
	c, err := Codec{}.DecodeRequest(req)
	if err != nil {
		tb.Fatalf("DecodeRequest(%s): %v", name, err)
	}
	return req, c
}

// TestRequestGolden decodes every request fixture into the neutral form
// (testdata/*.chat.golden) and encodes that again as a Gemini request
// (testdata/*.gemini.golden).
func TestRequestGolden(t *testing.T) {
	for name := range requestFixtures {
		t.Run(name, func(t *testing.T) {
			req, c := decodeFixture(t, name)
			base := strings.TrimSuffix(name, filepath.Ext(name))
			golden(t, base+".chat.golden", marshal(t, viewRequest(c)))
			b, err := Codec{}.EncodeRequest(c, &relay.Call{Request: req, Op: req.Op, Mode: aiproxy.ModeChat, Model: req.Model, UpstreamModel: "gemini-2.5-pro"})
			if err != nil {
				t.Fatalf("EncodeRequest: %v", err)
			}
			golden(t, base+".gemini.golden", indent(t, b))
		})
	}
}

func TestDecodeRequestFull(t *testing.T) {
	req, c := decodeFixture(t, "request_full.json")
	if req.Model != "gemini-2.5-flash" || req.Op != relay.OpGenerate || req.Stream {
		t.Fatalf("Parse: model %q op %d stream %v", req.Model, req.Op, req.Stream)
	}
	if len(c.System) != 1 || c.System[0].Text != "You are a terse travel assistant." {
		t.Errorf("System = %+v", c.System)
	}
	roles := []chat.Role{chat.RoleUser, chat.RoleAssistant, chat.RoleUser, chat.RoleAssistant, chat.RoleUser}
	if len(c.Messages) != len(roles) {
		t.Fatalf("%d messages, want %d", len(c.Messages), len(roles))
	}
	for i, r := range roles {
		if c.Messages[i].Role != r {
			t.Errorf("message %d role %s, want %s", i, c.Messages[i].Role, r)
		}
	}
	img := c.Messages[0].Parts[1]
	if img.Kind != chat.KindMedia || img.Media.MediaType != "image/png" || !strings.HasPrefix(img.Media.Data, "iVBORw0KGgo") {
		t.Errorf("image part = %+v", img)
	}
	calls := c.Messages[1].Parts
	if len(calls) != 2 || calls[0].Call.ID != "call_0" || calls[0].Call.Name != "get_weather" || calls[0].Call.Signature != sigWeather ||
		calls[1].Call.ID != "call_1" || calls[1].Call.Signature != "" {
		t.Fatalf("calls = %+v %+v", calls[0].Call, calls[1].Call)
	}
	if a := gjson.Parse(calls[0].Call.Arguments); a.Get("city").Str != "Paris" || a.Get("unit").Str != "celsius" {
		t.Errorf("arguments = %s", calls[0].Call.Arguments)
	}
	results := c.Messages[2].Parts
	if r := results[0].Result; r.CallID != "call_0" || r.Name != "get_weather" || r.IsError || gjson.Get(r.Parts[0].Text, "temperature").Int() != 18 {
		t.Errorf("first result = %+v", r)
	}
	if r := results[1].Result; r.CallID != "call_1" || r.Parts[0].Text != "14:05" {
		t.Errorf("second result = %+v", r)
	}
	if p := c.Messages[3].Parts; len(p) != 2 || p[0].Kind != chat.KindThinking || p[0].Text != "" || p[0].Signature != sigText || p[1].Kind != chat.KindText {
		t.Errorf("signed text = %+v", p)
	}
	weather := gjson.ParseBytes(c.Tools[0].Parameters)
	if weather.Get("type").Str != "object" || weather.Get("properties.city.type").Str != "string" ||
		weather.Get("properties.unit.type").Raw != `["string","null"]` || weather.Get("properties.unit.enum").Raw != `["celsius","fahrenheit",null]` ||
		weather.Get("properties.unit.format").Exists() || weather.Get("properties.days.type").Str != "integer" ||
		weather.Get("properties.tags.maxItems").Raw != "3" || weather.Get("propertyOrdering").Exists() {
		t.Errorf("converted schema = %s", c.Tools[0].Parameters)
	}
	want := gjson.GetBytes(readFile(t, "request_full.json"), "tools.0.functionDeclarations.1.parametersJsonSchema").Raw
	if string(c.Tools[1].Parameters) != want {
		t.Errorf("parametersJsonSchema = %s, want it byte for byte: %s", c.Tools[1].Parameters, want)
	}
	if c.ToolChoice == nil || c.ToolChoice.Mode != chat.ToolAuto {
		t.Errorf("ToolChoice = %+v", c.ToolChoice)
	}
	if *c.Temperature != 0.4 || *c.TopP != 0.95 || *c.TopK != 40 || c.MaxTokens != 1024 || *c.Seed != 7 || len(c.Stop) != 1 || c.Stop[0] != "END" {
		t.Errorf("sampling = %v %v %v %d %v %v", *c.Temperature, *c.TopP, *c.TopK, c.MaxTokens, *c.Seed, c.Stop)
	}
	if r := c.Reasoning; r == nil || r.Budget != 2048 || r.Hide || r.Off || r.Effort != "" {
		t.Errorf("Reasoning = %+v", r)
	}
}

func TestDecodeRequestSnakeCase(t *testing.T) {
	req, c := decodeFixture(t, "request_snake.json")
	if req.Model != "gemini-2.5-flash" || !req.Stream {
		t.Fatalf("Parse of a /v1 path with models/: model %q stream %v", req.Model, req.Stream)
	}
	if len(c.System) != 2 || c.System[1].Text != "Be brief." {
		t.Errorf("System = %+v", c.System)
	}
	p := c.Messages[0].Parts
	if p[1].Media.URL != "https://generativelanguage.googleapis.com/v1beta/files/abc123" || p[1].Media.MediaType != "application/pdf" || p[1].Media.Detail != "low" {
		t.Errorf("file part = %+v", p[1].Media)
	}
	if p[2].Media.Data != "/9j/4AAQSkZJRg==" || p[2].Media.MediaType != "image/jpeg" {
		t.Errorf("URL-safe unpadded base64 not normalized: %+v", p[2].Media)
	}
	a := c.Messages[1].Parts
	if len(a) != 2 || a[0].Kind != chat.KindThinking || a[0].Text != "I should look up the report's author first." || a[0].Signature != sigTime {
		t.Fatalf("thought parts not merged with their signature: %+v", a)
	}
	if a[1].Call.ID != "fc-7Hq2" || a[1].Call.Signature != sigText {
		t.Errorf("call = %+v", a[1].Call)
	}
	r := c.Messages[2]
	if r.Role != chat.RoleUser || r.Parts[0].Result.CallID != "fc-7Hq2" || !r.Parts[0].Result.IsError || r.Parts[0].Result.Parts[0].Text != "author database unavailable" {
		t.Errorf("function turn = %+v %+v", r, r.Parts[0].Result)
	}
	if c.ToolChoice.Mode != chat.ToolNamed || c.ToolChoice.Name != "lookup_author" || len(c.Tools) != 2 {
		t.Errorf("ToolChoice = %+v with %d tools", c.ToolChoice, len(c.Tools))
	}
	if c.Format == nil || c.Format.Type != chat.FormatJSONSchema {
		t.Fatalf("Format = %+v", c.Format)
	}
	s := gjson.ParseBytes(c.Format.Schema)
	if s.Get("properties.author.type").Raw != `["string","null"]` || s.Get("properties.pages.anyOf.#").Int() != 3 ||
		s.Get("properties.pages.anyOf.2.type").Str != "null" || s.Get("properties.keywords.minItems").Int() != 1 ||
		s.Get("properties.keywords.maxItems").Raw != "5" || s.Get("properties.keywords.examples.0.0").Str != "ai" ||
		s.Get("property_ordering").Exists() || s.Get("propertyOrdering").Exists() {
		t.Errorf("response schema = %s", c.Format.Schema)
	}
	if r := c.Reasoning; r == nil || r.Effort != "low" || !r.Hide {
		t.Errorf("Reasoning = %+v", r)
	}
	if c.MaxTokens != 512 || *c.PresencePenalty != 0.5 || *c.FrequencyPenalty != -0.25 {
		t.Errorf("generation config = %d %v %v", c.MaxTokens, *c.PresencePenalty, *c.FrequencyPenalty)
	}
}

func TestDecodeCountTokens(t *testing.T) {
	req, c := decodeFixture(t, "count_tokens.json")
	if req.Op != relay.OpCountTokens || len(c.Messages) != 1 || len(c.System) != 1 || len(c.Tools) != 1 {
		t.Errorf("generateContentRequest form: op %d, %d messages, %d system, %d tools", req.Op, len(c.Messages), len(c.System), len(c.Tools))
	}
	_, c = decodeFixture(t, "count_tokens_contents.json")
	if len(c.Messages) != 1 || c.Messages[0].Parts[0].Text != "The quick brown fox jumps over the lazy dog." {
		t.Errorf("contents form: %+v", c.Messages)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"cached content", `{"cachedContent":"cachedContents/x","contents":[]}`, "cachedContent"},
		{"google search", `{"tools":[{"googleSearch":{}}]}`, "tools[0].googleSearch"},
		{"google search snake", `{"tools":[{"google_search":{}}]}`, "tools[0].googleSearch"},
		{"search retrieval", `{"tools":[{"googleSearchRetrieval":{}}]}`, "tools[0].googleSearchRetrieval"},
		{"code execution", `{"tools":[{"codeExecution":{}}]}`, "tools[0].codeExecution"},
		{"url context", `{"tools":[{"urlContext":{}}]}`, "tools[0].urlContext"},
		{"file search", `{"tools":[{"fileSearch":{}}]}`, "tools[0].fileSearch"},
		{"computer use", `{"tools":[{"computerUse":{"environment":"ENVIRONMENT_BROWSER"}}]}`, "tools[0].computerUse"},
		{"executable code", `{"contents":[{"parts":[{"executableCode":{"language":"PYTHON","code":"1"}}]}]}`, "contents[0].parts[0].executableCode"},
		{"code result", `{"contents":[{"parts":[{"code_execution_result":{"outcome":"OUTCOME_OK"}}]}]}`, "contents[0].parts[0].codeExecutionResult"},
		{"video metadata", `{"contents":[{"parts":[{"fileData":{"fileUri":"gs://v"},"videoMetadata":{"fps":2}}]}]}`, "contents[0].parts[0].videoMetadata"},
		{"candidates", `{"generationConfig":{"candidateCount":2}}`, "generationConfig.candidateCount"},
		{"image output", `{"generationConfig":{"responseModalities":["TEXT","IMAGE"]}}`, "generationConfig.responseModalities"},
		{"logprobs", `{"generationConfig":{"responseLogprobs":true}}`, "generationConfig.responseLogprobs"},
		{"speech", `{"generationConfig":{"speechConfig":{"voiceConfig":{}}}}`, "generationConfig.speechConfig"},
		{"enum mime", `{"generationConfig":{"responseMimeType":"text/x.enum"}}`, "generationConfig.responseMimeType"},
		{"schema without JSON", `{"generationConfig":{"responseSchema":{"type":"STRING"}}}`, "generationConfig.responseMimeType"},
		{"unknown field", `{"contents":[],"fooBar":1}`, "fooBar"},
		{"unknown part field", `{"contents":[{"parts":[{"text":"x","bogus":1}]}]}`, "contents[0].parts[0].bogus"},
		{"system role", `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, "contents[0].role"},
		{"two data fields", `{"contents":[{"parts":[{"text":"x","inlineData":{"mimeType":"image/png","data":"AA=="}}]}]}`, "contents[0].parts[0]"},
		{"inline without type", `{"contents":[{"parts":[{"inlineData":{"data":"AA=="}}]}]}`, "contents[0].parts[0].inlineData.mimeType"},
		{"inline not base64", `{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"!!"}}]}]}`, "contents[0].parts[0].inlineData.data"},
		{"response without name", `{"contents":[{"parts":[{"functionResponse":{"response":{}}}]}]}`, "contents[0].parts[0].functionResponse.name"},
		{"args not object", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}}]}]}`, "contents[0].parts[0].functionCall.args"},
		{"both schemas", `{"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT"},"parametersJsonSchema":{"type":"object"}}]}]}`, "tools[0].functionDeclarations[0].parametersJsonSchema"},
		{"budget and level", `{"generationConfig":{"thinkingConfig":{"thinkingBudget":10,"thinkingLevel":"HIGH"}}}`, "generationConfig.thinkingConfig.thinkingLevel"},
		{"bad level", `{"generationConfig":{"thinkingConfig":{"thinkingLevel":"EXTREME"}}}`, "generationConfig.thinkingConfig.thinkingLevel"},
		{"bad mode", `{"toolConfig":{"functionCallingConfig":{"mode":"SOMETIMES"}}}`, "toolConfig.functionCallingConfig.mode"},
		{"system media", `{"systemInstruction":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}`, "systemInstruction.parts[0]"},
		{"deep schema", `{"tools":[{"functionDeclarations":[{"name":"f","parameters":` + strings.Repeat(`{"type":"ARRAY","items":`, 70) + `{}` + strings.Repeat(`}`, 70) + `}]}]}`, ""},
		{"not JSON", `{"contents":`, ""},
		{"not an object", `[1]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("/v1beta/models/m:generateContent", "", []byte(tt.body))
			_, err := Codec{}.DecodeRequest(req)
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			if tt.field != "" && aiproxy.ErrorField(err) != tt.field {
				t.Fatalf("field = %q, want %q (%v)", aiproxy.ErrorField(err), tt.field, aiproxy.ErrorMessage(err))
			}
		})
	}
}

func TestDecodeRequestIgnored(t *testing.T) {
	body := `{"contents":[{"parts":[{"text":"hi","partMetadata":{"k":"v"}}]}],"safetySettings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}],
	"labels":{"team":"a"},"generationConfig":{"candidateCount":1,"responseModalities":["TEXT"],"enableEnhancedCivicAnswers":true,"logprobs":3,"responseMimeType":"text/plain"},
	"toolConfig":{"functionCallingConfig":{"mode":"VALIDATED"}}}`
	c, err := Codec{}.DecodeRequest(request("/v1beta/models/m:generateContent", "", []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 1 || c.Format != nil || c.ToolChoice.Mode != chat.ToolAuto {
		t.Fatalf("decoded %+v", viewRequest(c))
	}
}

// Responses without ids are matched with the calls of their name in
// order; several allowed functions narrow the tools.
func TestFunctionResponseMatching(t *testing.T) {
	body := `{"contents":[
	{"role":"user","parts":[{"text":"weather in Paris and Rome?"}]},
	{"role":"model","parts":[{"functionCall":{"name":"weather","args":{"city":"Paris"}}},{"functionCall":{"name":"weather","args":{"city":"Rome"}}}]},
	{"role":"user","parts":[{"functionResponse":{"name":"weather","response":{"t":1}}},{"functionResponse":{"name":"weather","response":{"t":2}}},{"functionResponse":{"name":"weather","response":{"t":3}}},{"functionResponse":{"name":"other","response":{}}}]}],
	"tools":[{"functionDeclarations":[{"name":"weather"},{"name":"time"},{"name":"other"}]}],
	"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["weather","other"]}}}`
	c, err := Codec{}.DecodeRequest(request("/v1beta/models/m:generateContent", "", []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	rs := c.Messages[2].Parts
	for i, want := range []string{"call_0", "call_1", "call_1", "call_2"} {
		if rs[i].Result.CallID != want {
			t.Errorf("response %d answers %q, want %q", i, rs[i].Result.CallID, want)
		}
	}
	if rs[0].Result.Parts[0].Text != `{"t":1}` {
		t.Errorf("whole response as content = %q", rs[0].Result.Parts[0].Text)
	}
	if c.ToolChoice.Mode != chat.ToolRequired || len(c.Tools) != 2 || c.Tools[0].Name != "weather" || c.Tools[1].Name != "other" {
		t.Errorf("ANY with two names: %+v, tools %+v", c.ToolChoice, c.Tools)
	}
}

// encodeChat encodes c for a Gemini channel and parses the result.
func encodeChat(tb testing.TB, c *chat.Request, op relay.Op, model string) gjson.Result {
	tb.Helper()
	b, err := Codec{}.EncodeRequest(c, &relay.Call{Op: op, Mode: aiproxy.ModeChat, Model: "alias", UpstreamModel: model})
	if err != nil {
		tb.Fatalf("EncodeRequest: %v", err)
	}
	if !json.Valid(b) {
		tb.Fatalf("EncodeRequest wrote invalid JSON: %s", b)
	}
	return gjson.ParseBytes(b)
}

func ptr[T any](v T) *T { return &v }

func TestEncodeRequest(t *testing.T) {
	c := &chat.Request{
		System: []chat.Part{{Kind: chat.KindText, Text: "Be kind."}},
		Messages: []chat.Message{
			{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindText, Text: "Look:"}, {Kind: chat.KindMedia, Media: &chat.Media{URL: "data:image/gif;base64,R0lGODlhAQABAAAAACw="}}}},
			{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindMedia, Media: &chat.Media{URL: "https://example.com/a/photo.JPG?x=1"}}, {Kind: chat.KindMedia, Media: &chat.Media{URL: "https://example.com/file"}}}},
			{Role: chat.RoleSystem, Parts: []chat.Part{{Kind: chat.KindText, Text: "Answer in French."}}},
			{Role: chat.RoleAssistant, Parts: []chat.Part{
				{Kind: chat.KindThinking, Text: "unsigned thoughts"},
				{Kind: chat.KindRedactedThinking, Signature: "EncryptedByAnthropic"},
				{Kind: chat.KindThinking, Text: "signed thoughts", Signature: sigTime},
				{Kind: chat.KindThinking, Signature: sigText},
				{Kind: chat.KindText, Text: "Let me call."},
				{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: chat.JoinCallID("call_a", sigWeather), Name: "get_weather", Arguments: `{"city":"Paris"}`}},
				{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_b", Name: "get_time", Signature: "not base64!"}},
			}},
			{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: chat.JoinCallID("call_a", sigWeather), Parts: []chat.Part{{Kind: chat.KindText, Text: `{"temperature":18}`}}}}}},
			{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "call_b", Name: "get_time", IsError: true, Parts: []chat.Part{{Kind: chat.KindText, Text: "clock broken"}, {Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/png", Data: "AA=="}}}}}}},
			{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindText, Text: ""}}},
		},
		Tools:             []chat.Tool{{Name: "get_weather", Description: "Weather.", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}, {Name: "get_time"}},
		ToolChoice:        &chat.ToolChoice{Mode: chat.ToolNamed, Name: "get_weather"},
		ParallelToolCalls: ptr(false),
		MaxTokens:         300, Temperature: ptr(0.2), TopP: ptr(0.9), TopK: ptr[int64](20), Seed: ptr[int64](42),
		PresencePenalty: ptr(0.1), FrequencyPenalty: ptr(0.3), Stop: []string{"\n\n", "END"},
		Format:    &chat.Format{Type: chat.FormatJSONSchema, Name: "weather", Schema: json.RawMessage(`{"type":"object"}`)},
		Reasoning: &chat.Reasoning{Effort: "high"},
		User:      "u-1",
	}
	r := encodeChat(t, c, relay.OpGenerate, "gemini-2.5-pro")
	if r.Get("systemInstruction.parts.#").Int() != 2 || r.Get("systemInstruction.parts.1.text").Str != "Answer in French." {
		t.Errorf("systemInstruction = %s", r.Get("systemInstruction").Raw)
	}
	contents := r.Get("contents").Array()
	if len(contents) != 3 || contents[0].Get("role").Str != "user" || contents[1].Get("role").Str != "model" || contents[2].Get("role").Str != "user" {
		t.Fatalf("contents (consecutive roles merged, empty dropped) = %s", r.Get("contents").Raw)
	}
	u := contents[0].Get("parts").Array()
	if len(u) != 4 || u[1].Get("inlineData.mimeType").Str != "image/gif" || u[1].Get("inlineData.data").Str != "R0lGODlhAQABAAAAACw=" ||
		u[2].Get("fileData.mimeType").Str != "image/jpeg" || u[3].Get("fileData.mimeType").Exists() || u[3].Get("fileData.fileUri").Str != "https://example.com/file" {
		t.Errorf("user parts = %s", contents[0].Raw)
	}
	m := contents[1].Get("parts").Array()
	if len(m) != 4 {
		t.Fatalf("model parts (unsigned and redacted thinking dropped) = %s", contents[1].Raw)
	}
	if m[0].Get("text").Str != "signed thoughts" || !m[0].Get("thought").Bool() || m[0].Get("thoughtSignature").Str != sigTime {
		t.Errorf("signed thinking = %s", m[0].Raw)
	}
	if m[1].Get("text").Str != "Let me call." || m[1].Get("thoughtSignature").Str != sigText || m[1].Get("thought").Exists() {
		t.Errorf("the empty thinking's signature should go on the next part: %s", m[1].Raw)
	}
	if m[2].Get("functionCall.id").Str != "call_a" || m[2].Get("thoughtSignature").Str != sigWeather || m[2].Get("functionCall.args.city").Str != "Paris" {
		t.Errorf("call with a joined id = %s", m[2].Raw)
	}
	if m[3].Get("thoughtSignature").Exists() || m[3].Get("functionCall.args").Raw != "{}" {
		t.Errorf("a signature that is not base64 is not Gemini's: %s", m[3].Raw)
	}
	res := contents[2].Get("parts").Array()
	if res[0].Get("functionResponse.id").Str != "call_a" || res[0].Get("functionResponse.name").Str != "get_weather" || res[0].Get("functionResponse.response.output.temperature").Int() != 18 {
		t.Errorf("result named from its call = %s", res[0].Raw)
	}
	if res[1].Get("functionResponse.response.error").Str != "clock broken" || res[1].Get("functionResponse.parts.0.inlineData.mimeType").Str != "image/png" {
		t.Errorf("error result with media = %s", res[1].Raw)
	}
	tools := r.Get("tools.0.functionDeclarations").Array()
	if len(tools) != 2 || tools[0].Get("parametersJsonSchema").Raw != `{"type":"object","properties":{"city":{"type":"string"}}}` || tools[1].Get("parametersJsonSchema").Exists() {
		t.Errorf("tools = %s", r.Get("tools").Raw)
	}
	if tc := r.Get("toolConfig.functionCallingConfig"); tc.Get("mode").Str != "ANY" || tc.Get("allowedFunctionNames.0").Str != "get_weather" {
		t.Errorf("toolConfig = %s", tc.Raw)
	}
	g := r.Get("generationConfig")
	if g.Get("maxOutputTokens").Int() != 300 || g.Get("temperature").Float() != 0.2 || g.Get("topP").Float() != 0.9 || g.Get("topK").Int() != 20 ||
		g.Get("seed").Int() != 42 || g.Get("presencePenalty").Float() != 0.1 || g.Get("frequencyPenalty").Float() != 0.3 ||
		g.Get("stopSequences.0").Str != "\n\n" || g.Get("responseMimeType").Str != "application/json" || g.Get("responseJsonSchema").Raw != `{"type":"object"}` ||
		g.Get("thinkingConfig.thinkingBudget").Int() != chat.BudgetFor("high") || !g.Get("thinkingConfig.includeThoughts").Bool() {
		t.Errorf("generationConfig = %s", g.Raw)
	}
	for _, absent := range []string{"user", "parallelToolCalls", "model"} {
		if r.Get(absent).Exists() {
			t.Errorf("%s has no Gemini equivalent but was written", absent)
		}
	}

}

func TestEncodeRequestThinking(t *testing.T) {
	tests := []struct {
		name    string
		r       *chat.Reasoning
		budget  string // "" absent
		include bool
	}{
		{"off", &chat.Reasoning{Off: true}, "0", false},
		{"budget", &chat.Reasoning{Budget: 5000}, "5000", true},
		{"dynamic", &chat.Reasoning{Budget: -1, Hide: true}, "-1", false},
		{"effort", &chat.Reasoning{Effort: "minimal"}, "512", true},
		{"unknown effort", &chat.Reasoning{Effort: "extreme"}, "-1", true},
		{"adaptive", &chat.Reasoning{Adaptive: true}, "-1", true},
		{"only shown", &chat.Reasoning{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindText, Text: "hi"}}}}, Reasoning: tt.r}
			tc := encodeChat(t, c, relay.OpGenerate, "m").Get("generationConfig.thinkingConfig")
			if tc.Get("thinkingBudget").Raw != tt.budget || tc.Get("includeThoughts").Bool() != tt.include {
				t.Errorf("thinkingConfig = %s", tc.Raw)
			}
		})
	}
}

func TestEncodeRequestToolChoice(t *testing.T) {
	for mode, want := range map[chat.ToolChoiceMode]string{chat.ToolAuto: "AUTO", chat.ToolNone: "NONE", chat.ToolRequired: "ANY"} {
		c := &chat.Request{Tools: []chat.Tool{{Name: "f"}}, ToolChoice: &chat.ToolChoice{Mode: mode}}
		if got := encodeChat(t, c, relay.OpGenerate, "m").Get("toolConfig.functionCallingConfig.mode").Str; got != want {
			t.Errorf("%s: mode %q, want %q", mode, got, want)
		}
	}
	c := &chat.Request{ToolChoice: &chat.ToolChoice{Mode: chat.ToolRequired}}
	if r := encodeChat(t, c, relay.OpGenerate, "m"); r.Get("toolConfig").Exists() || r.Get("tools").Exists() {
		t.Errorf("a tool choice without tools: %s", r.Raw)
	}
}

func TestEncodeCountTokens(t *testing.T) {
	c := &chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindText, Text: "count me"}}}}, MaxTokens: 5}
	for model, want := range map[string]string{"gemini-2.5-flash": "models/gemini-2.5-flash", "models/x": "models/x", "tunedModels/t-1": "tunedModels/t-1"} {
		r := encodeChat(t, c, relay.OpCountTokens, model)
		g := r.Get("generateContentRequest")
		if g.Get("model").Str != want || g.Get("contents.0.parts.0.text").Str != "count me" || r.Get("contents").Exists() {
			t.Errorf("%s: %s", model, r.Raw)
		}
	}
}

func TestEncodeRequestErrors(t *testing.T) {
	tests := []struct {
		name  string
		msg   chat.Message
		field string
	}{
		{"result without a name", chat.Message{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "nope"}}}}, "messages[0].parts[0].name"},
		{"arguments not an object", chat.Message{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "c", Name: "f", Arguments: "[1]"}}}}, "messages[0].parts[0].arguments"},
		{"inline media without a type", chat.Message{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindMedia, Media: &chat.Media{Data: "AA=="}}}}, "messages[0].parts[0].media_type"},
		{"system media", chat.Message{Role: chat.RoleSystem, Parts: []chat.Part{{Kind: chat.KindMedia, Media: &chat.Media{URL: "https://x/y.png"}}}}, "messages[0].parts[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Codec{}.EncodeRequest(&chat.Request{Messages: []chat.Message{tt.msg}}, &relay.Call{UpstreamModel: "m"})
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != tt.field {
				t.Fatalf("err = %v (field %q), want EINVALID on %q", err, aiproxy.ErrorField(err), tt.field)
			}
		})
	}
}

// A thought signature Gemini gave survives a trip through a client of
// another protocol: the answer is decoded, its call id joined with the
// signature as another protocol's encoder shows it, split again by that
// protocol's decoder, and encoded as the next Gemini request.
func TestThoughtSignatureRoundTrip(t *testing.T) {
	ans, err := Codec{}.DecodeResponse(readFile(t, "answer_calls.json"))
	if err != nil {
		t.Fatal(err)
	}
	var history []chat.Part
	var results []chat.Part
	for _, p := range ans.Parts {
		if p.Kind != chat.KindToolCall {
			continue
		}
		wire := chat.JoinCallID(p.Call.ID, p.Call.Signature) // what the other client sees
		id, sig := chat.SplitCallID(wire)                    // what it sends back
		history = append(history, chat.Part{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: id, Name: p.Call.Name, Arguments: p.Call.Arguments, Signature: sig}})
		results = append(results, chat.Part{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: wire, Parts: []chat.Part{{Kind: chat.KindText, Text: "ok"}}}})
	}
	c := &chat.Request{Messages: []chat.Message{
		{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindText, Text: "weather and time in Paris?"}}},
		{Role: chat.RoleAssistant, Parts: history},
		{Role: chat.RoleUser, Parts: results},
	}}
	r := encodeChat(t, c, relay.OpGenerate, "gemini-2.5-flash")
	parts := r.Get("contents.1.parts").Array()
	if len(parts) != 2 || parts[0].Get("thoughtSignature").Str != sigWeather || parts[1].Get("thoughtSignature").Str != sigTime {
		t.Fatalf("signatures did not come back byte for byte: %s", r.Get("contents.1").Raw)
	}
	resp := r.Get("contents.2.parts").Array()
	if resp[0].Get("functionResponse.name").Str != "get_weather" || resp[1].Get("functionResponse.name").Str != "get_time" ||
		resp[0].Get("functionResponse.id").Str != parts[0].Get("functionCall.id").Str {
		t.Errorf("results = %s", r.Get("contents.2").Raw)
	}
}

// A Gemini client's own request survives decoding and encoding for a
// Gemini channel (which the relay never does, but which shows that
// nothing is lost): the same contents come out.
func TestRequestReencodes(t *testing.T) {
	req, c := decodeFixture(t, "request_full.json")
	b, err := Codec{}.EncodeRequest(c, &relay.Call{Op: req.Op, UpstreamModel: "m"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Codec{}.DecodeRequest(request(req.Path, "", b))
	if err != nil {
		t.Fatalf("the encoded request does not decode: %v\n%s", err, b)
	}
	v1, v2 := marshal(t, viewRequest(c)), marshal(t, viewRequest(c2))
	v2 = bytes.Replace(v2, []byte(`"model": ""`), []byte(`"model": "gemini-2.5-flash"`), 1)
	if !bytes.Equal(v1, v2) {
		t.Errorf("decode(encode(decode(x))) differs:\n%s\n---\n%s", v1, v2)
	}
}

func TestFunctionResponseContent(t *testing.T) {
	tests := []struct {
		response string
		want     []string
		isError  bool
	}{
		{`{"output":"14:05"}`, []string{"14:05"}, false},
		{`{"output":{"t":18}}`, []string{`{"t":18}`}, false},
		{`{"error":"broken"}`, []string{"broken"}, true},
		{`{"output":"partial","error":{"code":3}}`, []string{"partial", `{"code":3}`}, true},
		{`{"result":"18C"}`, []string{"18C"}, false},
		{`{"result":[1,2]}`, []string{"[1,2]"}, false},
		{`{"result":"x","unit":"C"}`, []string{`{"result":"x","unit":"C"}`}, false},
		{`{"temperature": 18}`, []string{`{"temperature": 18}`}, false},
		{`{}`, []string{`{}`}, false},
	}
	for _, tt := range tests {
		body := `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"parts":[{"functionResponse":{"name":"f","response":` + tt.response + `}}]}]}`
		c, err := Codec{}.DecodeRequest(request("/v1beta/models/m:generateContent", "", []byte(body)))
		if err != nil {
			t.Fatalf("%s: %v", tt.response, err)
		}
		r := c.Messages[1].Parts[0].Result
		var got []string
		for _, p := range r.Parts {
			got = append(got, p.Text)
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || r.IsError != tt.isError || r.CallID != "call_0" {
			t.Errorf("%s: content %q error %v call %q, want %q %v", tt.response, got, r.IsError, r.CallID, tt.want, tt.isError)
		}
	}
}
