package relaytest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// TestWithToolCall checks that WithToolCall replaces the tool calls of
// ModelTools on every fake, that a call is made only for a declared tool,
// and that the tool results are answered as usual.
func TestWithToolCall(t *testing.T) {
	const shellArgs = `{"command":"echo ok","description":"print"}`
	opts := []relaytest.Option{relaytest.WithToolCall("Bash", shellArgs), relaytest.WithToolCall("run_shell_command", `{"command":"ls"}`)}
	for _, tt := range []struct {
		name  string
		start func(tb testing.TB) *httptest.Server
		// post sends a ModelTools request declaring the tools, or answering
		// a Bash call with result when result is not "".
		post func(tb testing.TB, srv *httptest.Server, tools []string, result string) []byte
		// calls returns the name and arguments of each tool call.
		calls func(answer gjson.Result) [][2]string
		// text returns the answer's text.
		text func(answer gjson.Result) string
	}{
		{"openai", func(tb testing.TB) *httptest.Server {
			_, srv := relaytest.Start(tb, opts...)
			return srv
		}, func(tb testing.TB, srv *httptest.Server, tools []string, result string) []byte {
			body := map[string]any{"model": relaytest.ModelTools, "messages": []any{map[string]any{"role": "user", "content": "run it"}}}
			var decl []any
			for _, name := range tools {
				decl = append(decl, map[string]any{"type": "function", "function": map[string]any{"name": name, "parameters": map[string]any{"type": "object"}}})
			}
			body["tools"] = decl
			if result != "" {
				body["messages"] = append(body["messages"].([]any),
					map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "Bash", "arguments": shellArgs}}}},
					map[string]any{"role": "tool", "tool_call_id": "call_1", "content": result})
			}
			return postJSON(tb, srv.URL+"/v1/chat/completions", body)
		}, func(a gjson.Result) (out [][2]string) {
			for _, c := range a.Get("choices.0.message.tool_calls").Array() {
				out = append(out, [2]string{c.Get("function.name").String(), c.Get("function.arguments").String()})
			}
			return out
		}, func(a gjson.Result) string { return a.Get("choices.0.message.content").String() }},
		{"anthropic", func(tb testing.TB) *httptest.Server {
			_, srv := relaytest.StartAnthropic(tb, opts...)
			return srv
		}, func(tb testing.TB, srv *httptest.Server, tools []string, result string) []byte {
			body := map[string]any{"model": relaytest.ModelTools, "max_tokens": 100, "messages": []any{map[string]any{"role": "user", "content": "run it"}}}
			var decl []any
			for _, name := range tools {
				decl = append(decl, map[string]any{"name": name, "input_schema": map[string]any{"type": "object"}})
			}
			body["tools"] = decl
			if result != "" {
				body["messages"] = append(body["messages"].([]any),
					map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": json.RawMessage(shellArgs)}}},
					map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_1", "content": result}}})
			}
			return postJSON(tb, srv.URL+"/v1/messages", body, "Anthropic-Version", "2023-06-01")
		}, func(a gjson.Result) (out [][2]string) {
			for _, b := range a.Get("content").Array() {
				if b.Get("type").String() == "tool_use" {
					out = append(out, [2]string{b.Get("name").String(), b.Get("input").Raw})
				}
			}
			return out
		}, func(a gjson.Result) string { return a.Get(`content.#(type=="text").text`).String() }},
		{"gemini", func(tb testing.TB) *httptest.Server {
			_, srv := relaytest.StartGemini(tb, opts...)
			return srv
		}, func(tb testing.TB, srv *httptest.Server, tools []string, result string) []byte {
			body := map[string]any{"contents": []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": "run it"}}}}}
			var decl []any
			for _, name := range tools {
				decl = append(decl, map[string]any{"name": name})
			}
			body["tools"] = []any{map[string]any{"functionDeclarations": decl}}
			if result != "" {
				body["contents"] = append(body["contents"].([]any),
					map[string]any{"role": "model", "parts": []any{map[string]any{"functionCall": map[string]any{"name": "Bash", "args": json.RawMessage(shellArgs)},
						"thoughtSignature": relaytest.CallSignature("Bash", []byte(shellArgs))}}},
					map[string]any{"role": "user", "parts": []any{map[string]any{"functionResponse": map[string]any{"name": "Bash", "response": map[string]any{"output": result}}}}})
			}
			return postJSON(tb, srv.URL+"/v1beta/models/"+relaytest.ModelTools+":generateContent", body)
		}, func(a gjson.Result) (out [][2]string) {
			for _, p := range a.Get("candidates.0.content.parts").Array() {
				if c := p.Get("functionCall"); c.Exists() {
					out = append(out, [2]string{c.Get("name").String(), c.Get("args").Raw})
				}
			}
			return out
		}, func(a gjson.Result) string { return a.Get("candidates.0.content.parts.0.text").String() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.start(t)
			for _, c := range []struct {
				name  string
				tools []string
				want  [][2]string
			}{
				{"one declared", []string{relaytest.WeatherTool, "Bash"}, [][2]string{{"Bash", shellArgs}}},
				{"both declared", []string{"run_shell_command", "Bash"}, [][2]string{{"Bash", shellArgs}, {"run_shell_command", `{"command":"ls"}`}}},
				{"none declared", []string{relaytest.WeatherTool, relaytest.TimeTool}, nil},
			} {
				t.Run(c.name, func(t *testing.T) {
					got := tt.calls(gjson.ParseBytes(tt.post(t, srv, c.tools, "")))
					if len(got) != len(c.want) {
						t.Fatalf("calls %q, want %q", got, c.want)
					}
					for i := range got {
						if got[i][0] != c.want[i][0] || !sameJSON(t, got[i][1], c.want[i][1]) {
							t.Errorf("call %d is %q, want %q", i, got[i], c.want[i])
						}
					}
				})
			}
			t.Run("results", func(t *testing.T) {
				if got := tt.text(gjson.ParseBytes(tt.post(t, srv, []string{"Bash"}, "ok"))); got != "Results: ok" {
					t.Errorf("answer to the tool result %q, want %q", got, "Results: ok")
				}
			})
		})
	}
}

// postJSON posts body as JSON with the header pairs and returns the answer,
// which must be 200.
func postJSON(tb testing.TB, url string, body any, header ...string) []byte {
	tb.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(newRequest(tb.Context(), url, string(b), header...))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("POST %s: %d %v %s", url, resp.StatusCode, err, out)
	}
	return out
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(tb testing.TB, a, b string) bool {
	tb.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		tb.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		tb.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
