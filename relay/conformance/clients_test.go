package conformance_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/providers"
)

// The requests real clients send, recorded from Claude Code 2.1.332 and
// Gemini CLI 0.61.0 (their texts replaced by filler of the same length,
// their structure kept: a dozen tools, cache_control, adaptive thinking,
// context_management, system-role messages; topK, thinkingLevel,
// upper-case schema types), convert for every other channel type without
// losing their tools, instructions or settings.
func TestRealClientRequests(t *testing.T) {
	ps := providers.Providers()
	for _, tt := range []struct {
		file     string
		client   aiproxy.Protocol
		path     string
		tools    int
		schema   bool // the request constrains its output with a JSON schema
		thinking bool
	}{
		{"claude_code_request.json", aiproxy.ProtocolAnthropic, "/v1/messages", 12, false, true},
		{"gemini_cli_request.json", aiproxy.ProtocolGemini, "/v1beta/models/gemini-3.1-pro-preview:streamGenerateContent", 8, false, true},
		{"gemini_cli_classifier_request.json", aiproxy.ProtocolGemini, "/v1beta/models/gemini-3.5-flash-lite:generateContent", 0, true, true},
	} {
		body, err := os.ReadFile("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		in := providers.Ingress(tt.client)
		for _, channel := range []aiproxy.Protocol{aiproxy.ProtocolOpenAI, aiproxy.ProtocolAnthropic, aiproxy.ProtocolGemini} {
			if channel == tt.client {
				continue
			}
			t.Run(tt.file+"→"+string(channel), func(t *testing.T) {
				req := &relay.Request{Ingress: in, Protocol: tt.client, Mode: aiproxy.ModeChat, Path: tt.path, Header: http.Header{}, Body: body}
				if err := in.Parse(req); err != nil {
					t.Fatalf("parse: %v", err)
				}
				c, err := in.DecodeRequest(req)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if len(c.Tools) != tt.tools || len(c.System) == 0 || len(c.Messages) == 0 {
					t.Fatalf("decoded %d tools, %d system parts, %d messages", len(c.Tools), len(c.System), len(c.Messages))
				}
				if tt.thinking && c.Reasoning == nil {
					t.Error("the reasoning settings were lost")
				}
				for _, tool := range c.Tools {
					if !json.Valid(tool.Parameters) || strings.Contains(string(tool.Parameters), `"OBJECT"`) || strings.Contains(string(tool.Parameters), `"STRING"`) {
						t.Errorf("tool %s parameters are not lower-case JSON Schema: %.200s", tool.Name, tool.Parameters)
					}
				}
				if tt.schema && (c.Format == nil || gjson.GetBytes(c.Format.Schema, "type").Str != "object" || gjson.GetBytes(c.Format.Schema, "properties.complexity_score.type").Str != "integer") {
					t.Errorf("output schema %+v", c.Format)
				}
				ad := ps[aiproxy.ChannelType(channel)].Adaptor
				call := &relay.Call{Request: req, Mode: aiproxy.ModeChat, Channel: &aiproxy.Channel{Type: aiproxy.ChannelType(channel)},
					BaseURL: "https://upstream.example", Model: req.Model, UpstreamModel: "m", Stream: req.Stream, Converted: true}
				out, err := ad.Format().EncodeRequest(c, call)
				if err != nil {
					t.Fatalf("encode for %s: %v", channel, err)
				}
				if !json.Valid(out) {
					t.Fatalf("encoded body is not JSON: %.300s", out)
				}
				var tools int
				switch channel {
				case aiproxy.ProtocolOpenAI:
					tools = len(gjson.GetBytes(out, "tools").Array())
				case aiproxy.ProtocolAnthropic:
					tools = len(gjson.GetBytes(out, "tools").Array())
					if gjson.GetBytes(out, "max_tokens").Int() <= 0 {
						t.Error("no max_tokens for Anthropic")
					}
				case aiproxy.ProtocolGemini:
					tools = len(gjson.GetBytes(out, "tools.0.functionDeclarations").Array())
				}
				if tools != tt.tools {
					t.Errorf("%d tools sent to %s, want %d", tools, channel, tt.tools)
				}
			})
		}
	}
}
