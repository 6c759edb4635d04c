package gemini

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

func TestParse(t *testing.T) {
	tests := []struct {
		path   string
		model  string
		op     relay.Op
		stream bool
		code   string
	}{
		{"/v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash", relay.OpGenerate, false, ""},
		{"/v1beta/models/gemini-2.5-flash:streamGenerateContent", "gemini-2.5-flash", relay.OpGenerate, true, ""},
		{"/v1beta/models/gemini-2.5-flash:countTokens", "gemini-2.5-flash", relay.OpCountTokens, false, ""},
		{"/v1/models/gemini-2.5-pro:generateContent", "gemini-2.5-pro", relay.OpGenerate, false, ""},
		{"/v1beta/models/models/gemini-2.5-pro:generateContent", "gemini-2.5-pro", relay.OpGenerate, false, ""},
		{"/v1beta/models/google/gemini-2.5-pro:streamGenerateContent", "google/gemini-2.5-pro", relay.OpGenerate, true, ""},
		{"/v1beta/models/llama3:8b:generateContent", "llama3:8b", relay.OpGenerate, false, ""},
		{"/v1beta/models/gemini-2.5-flash:embedContent", "", 0, false, aiproxy.ENOTFOUND},
		{"/v1beta/models/gemini-2.5-flash:predict", "", 0, false, aiproxy.ENOTFOUND},
		{"/v1beta/models/gemini-2.5-flash", "", 0, false, aiproxy.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req := request(tt.path, "", []byte(`{"contents":[]}`))
			err := Codec{}.Parse(req)
			if aiproxy.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want code %q", err, tt.code)
			}
			if tt.code == "" && (req.Model != tt.model || req.Op != tt.op || req.Stream != tt.stream) {
				t.Errorf("model %q op %d stream %v", req.Model, req.Op, req.Stream)
			}
			if i := strings.LastIndexByte(tt.path, ':'); tt.code != "" && i >= 0 && !strings.Contains(aiproxy.ErrorMessage(err), tt.path[i+1:]) {
				t.Errorf("message %q does not name the method", aiproxy.ErrorMessage(err))
			}
		})
	}
	for _, body := range []string{``, `{`, `[]`, `"x"`} {
		if err := (Codec{}).Parse(request("/v1beta/models/m:generateContent", "", []byte(body))); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("body %q: err = %v, want EINVALID", body, err)
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		header http.Header
		want   string
	}{
		{"header", "/v1beta/models", http.Header{"X-Goog-Api-Key": {"k1"}, "Authorization": {"Bearer k3"}}, "k1"},
		{"query", "/v1beta/models?key=k2", http.Header{"Authorization": {"Bearer k3"}}, "k2"},
		{"bearer", "/v1beta/models", http.Header{"Authorization": {"Bearer k3"}}, "k3"},
		{"none", "/v1beta/models", http.Header{"Authorization": {"Basic x"}}, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, tt.url, nil)
		r.Header = tt.header
		if got := (Codec{}).Key(r); got != tt.want {
			t.Errorf("%s: key %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRoutesClaims(t *testing.T) {
	for _, rt := range Routes() {
		if !strings.HasPrefix(rt.Pattern, "/v1/models") || rt.Method != http.MethodGet {
			if rt.Claims != nil {
				t.Errorf("%s %s claims requests, but no other ingress shares it", rt.Method, rt.Pattern)
			}
			continue
		}
		for url, want := range map[string]bool{"/v1/models": false, "/v1/models?key=k": true} {
			r := httptest.NewRequest(http.MethodGet, url, nil)
			if got := rt.Claims(r); got != want {
				t.Errorf("%s claims %s: %v", rt.Pattern, url, got)
			}
		}
		r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		r.Header.Set("x-goog-api-key", "k")
		if !rt.Claims(r) {
			t.Errorf("%s does not claim a request with x-goog-api-key", rt.Pattern)
		}
	}
}

// apiError is Google's error body, with the fields the Google SDKs read
// (genai.APIError).
type apiError struct {
	Error struct {
		Code    int              `json:"code"`
		Message string           `json:"message"`
		Status  string           `json:"status"`
		Details []map[string]any `json:"details"`
	} `json:"error"`
}

func TestErrorTable(t *testing.T) {
	tests := []struct {
		f      relay.Failure
		status int
		name   string
	}{
		{relay.Failure{Code: aiproxy.EINVALID}, 400, "INVALID_ARGUMENT"},
		{relay.Failure{Code: aiproxy.EUNAUTHORIZED}, 401, "UNAUTHENTICATED"},
		{relay.Failure{Code: aiproxy.EFORBIDDEN}, 403, "PERMISSION_DENIED"},
		{relay.Failure{Code: aiproxy.ENOTFOUND}, 404, "NOT_FOUND"},
		{relay.Failure{Code: aiproxy.ECONFLICT}, 409, "ALREADY_EXISTS"},
		{relay.Failure{Code: aiproxy.ETOOLARGE}, 413, "INVALID_ARGUMENT"},
		{relay.Failure{Code: aiproxy.ERATELIMITED}, 429, "RESOURCE_EXHAUSTED"},
		{relay.Failure{Code: aiproxy.EUPSTREAM}, 502, "UNAVAILABLE"},
		{relay.Failure{Code: aiproxy.EUNAVAILABLE}, 503, "UNAVAILABLE"},
		{relay.Failure{Code: aiproxy.ETIMEOUT}, 504, "DEADLINE_EXCEEDED"},
		{relay.Failure{Code: aiproxy.EINTERNAL}, 500, "INTERNAL"},
		{relay.Failure{Code: "bogus"}, 500, "INTERNAL"},
		{relay.Failure{Code: aiproxy.EINVALID, Status: 405}, 405, "INVALID_ARGUMENT"},
		{relay.Failure{Code: aiproxy.EINVALID, Status: 422, Type: "invalid_request_error"}, 422, "INVALID_ARGUMENT"},
		{relay.Failure{Code: aiproxy.ENOTFOUND, Status: 404, Type: "not_found_error"}, 404, "NOT_FOUND"},
		{relay.Failure{Code: aiproxy.EINVALID, Status: 400, Type: "FAILED_PRECONDITION"}, 400, "FAILED_PRECONDITION"},
		{relay.Failure{Code: aiproxy.EINVALID, Status: 409}, 409, "ABORTED"},
	}
	for _, tt := range tests {
		tt.f.Message = "bad \"thing\"\n\u2028é"
		st, b := Codec{}.Error(&tt.f)
		var v apiError
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%+v: not JSON: %s", tt.f, b)
		}
		if st != tt.status || v.Error.Code != tt.status || v.Error.Status != tt.name || v.Error.Message != tt.f.Message {
			t.Errorf("%+v: %d %+v, want %d %s", tt.f, st, v.Error, tt.status, tt.name)
		}
	}
}

func TestErrorDetails(t *testing.T) {
	_, b := Codec{}.Error(&relay.Failure{Code: aiproxy.EFORBIDDEN, Reason: aiproxy.ReasonIPNotAllowed, Message: "no", Field: "model"})
	var v apiError
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Error.Details) != 2 || v.Error.Details[0]["reason"] != "IP_NOT_ALLOWED" || gjson.GetBytes(b, "error.details.1.fieldViolations.0.field").Str != "model" {
		t.Errorf("details = %s", b)
	}
	// A rate limit carries the delay the Google SDKs wait for.
	st, b := Codec{}.Error(&relay.Failure{Code: aiproxy.ERATELIMITED, Message: "slow down", RetryAfter: 1500 * time.Millisecond})
	if d := gjson.GetBytes(b, `error.details.#(@type=="type.googleapis.com/google.rpc.RetryInfo").retryDelay`); st != 429 || d.Str != "2s" || !json.Valid(b) {
		t.Errorf("rate limit: %d %s", st, b)
	}
	body := []byte(`{"error":{"code":400,"message":"x","status":"INVALID_ARGUMENT"}}`)
	if st, got := (Codec{}).Error(&relay.Failure{Code: aiproxy.EINVALID, Status: 400, Body: body}); st != 400 || string(got) != string(body) {
		t.Errorf("a provider's body is passed as it is: %d %s", st, got)
	}
}

func TestModels(t *testing.T) {
	b := Codec{}.AppendModels(nil, []relay.ModelInfo{{ID: "gemini-2.5-flash", OwnedBy: "gemini"}, {ID: "gpt-4o", OwnedBy: "openai"}})
	var list struct {
		Models []struct {
			Name                       string   `json:"name"`
			BaseModelID                string   `json:"baseModelId"`
			DisplayName                string   `json:"displayName"`
			Description                string   `json:"description"`
			SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if len(list.Models) != 2 || list.Models[1].Name != "models/gpt-4o" || list.Models[1].DisplayName != "gpt-4o" ||
		strings.Join(list.Models[0].SupportedGenerationMethods, ",") != "generateContent,streamGenerateContent,countTokens" {
		t.Errorf("models = %s", b)
	}
	if b := (Codec{}).AppendModels(nil, nil); string(b) != `{"models":[]}` {
		t.Errorf("no models = %s", b)
	}
	if m := (Codec{}).AppendModel(nil, relay.ModelInfo{ID: "x"}); gjson.GetBytes(m, "name").Str != "models/x" {
		t.Errorf("model = %s", m)
	}
	if n := (Codec{}).AppendTokenCount(nil, 31); string(n) != `{"totalTokens":31}` {
		t.Errorf("token count = %s", n)
	}
}

func TestSetModel(t *testing.T) {
	tests := []struct{ in, model, want string }{
		{`{"candidates":[],"modelVersion":"gemini-2.5-flash-001"}`, "flash", `{"candidates":[],"modelVersion":"flash"}`},
		{`{"generateContentRequest":{"model":"models/alias","contents":[]}}`, "gemini-2.5-pro", `{"generateContentRequest":{"model":"models/gemini-2.5-pro","contents":[]}}`},
		{`{"generate_content_request":{"model":"alias"}}`, "tunedModels/t", `{"generate_content_request":{"model":"tunedModels/t"}}`},
		{`{"contents":[{"parts":[{"text":"model"}]}]}`, "x", `{"contents":[{"parts":[{"text":"model"}]}]}`},
		{`{"x":{"modelVersion":"inner"}, "modelVersion" : "old\"v" ,"y":2}`, "a\"b", `{"x":{"modelVersion":"inner"}, "modelVersion" : "a\"b" ,"y":2}`},
		{`{"modelVersion":"same"}`, "same", `{"modelVersion":"same"}`},
		{`not json`, "x", `not json`},
	}
	for _, tt := range tests {
		got, err := Codec{}.SetModel([]byte(tt.in), tt.model)
		if err != nil || string(got) != tt.want {
			t.Errorf("SetModel(%s, %s) = %s %v, want %s", tt.in, tt.model, got, err, tt.want)
		}
	}
	in := []byte(`{"contents":[]}`)
	if got, _ := (Codec{}).SetModel(in, "x"); &got[0] != &in[0] {
		t.Error("a request without a model was copied")
	}
}

func TestFramer(t *testing.T) {
	chunks := []relay.Chunk{{Data: []byte(`{"a":1}`)}, {Comment: []byte(": ping")}, {Data: []byte(`{"a":2}`)}}
	frame := func(query string, fail *relay.Failure, cs []relay.Chunk) (relay.Framer, string) {
		fr := Codec{}.NewFramer(request("/v1beta/models/m:streamGenerateContent", query, nil))
		var b []byte
		for i := range cs {
			b = fr.Frame(b, &cs[i])
		}
		if fail != nil {
			return fr, string(fr.Error(b, fail))
		}
		return fr, string(fr.End(b))
	}

	fr, sse := frame("alt=sse", nil, chunks)
	if fr.ContentType() != "text/event-stream" || sse != "data: {\"a\":1}\r\n\r\ndata: {\"a\":2}\r\n\r\n" {
		t.Errorf("SSE (%s) = %q", fr.ContentType(), sse)
	}
	fr, arr := frame("", nil, chunks)
	var v []map[string]int
	if fr.ContentType() != "application/json" || json.Unmarshal([]byte(arr), &v) != nil || len(v) != 2 || v[1]["a"] != 2 || arr != "[{\"a\":1},\r\n{\"a\":2}]" {
		t.Errorf("array (%s) = %q", fr.ContentType(), arr)
	}
	if _, empty := frame("", nil, nil); empty != "[]" {
		t.Errorf("empty array = %q", empty)
	}
	fail := &relay.Failure{Code: aiproxy.EUPSTREAM, Message: "The provider's stream broke off."}
	_, arr = frame("", fail, chunks)
	var withErr []json.RawMessage
	if err := json.Unmarshal([]byte(arr), &withErr); err != nil || len(withErr) != 3 || gjson.GetBytes(withErr[2], "error.status").Str != "UNAVAILABLE" {
		t.Errorf("array with error = %q (%v)", arr, err)
	}
	_, arr = frame("", fail, nil)
	if err := json.Unmarshal([]byte(arr), &withErr); err != nil || len(withErr) != 1 {
		t.Errorf("array with only an error = %q", arr)
	}
	_, sse = frame("alt=sse", &relay.Failure{Code: aiproxy.ERATELIMITED, Status: 429, Message: "slow down",
		Body: []byte(`[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]`)}, chunks[:1])
	if !strings.HasSuffix(sse, "data: {\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}\r\n\r\n") {
		t.Errorf("SSE error event = %q", sse)
	}
}

// A channel's maxOutputTokens caps what a converted request asks for.
func TestEncodeCapsOutput(t *testing.T) {
	call := &relay.Call{UpstreamModel: "m", Channel: &aiproxy.Channel{Config: json.RawMessage(`{"maxOutputTokens":8192}`)}}
	for want, sent := range map[int64]int64{128000: 8192, 100: 100} {
		b, err := Codec{}.EncodeRequest(&chat.Request{MaxTokens: want, Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{{Kind: chat.KindText, Text: "hi"}}}}}, call)
		if got := gjson.GetBytes(b, "generationConfig.maxOutputTokens").Int(); err != nil || got != sent {
			t.Errorf("asked %d: sent %d (%v), want %d", want, got, err, sent)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		in, want, field string
	}{
		{``, ``, ""},
		{`null`, ``, ""},
		{`{}`, ``, ""},
		{`{"apiVersion":"v1"}`, `{"apiVersion":"v1"}`, ""},
		{` {"apiVersion" : "v1beta"} `, `{"apiVersion":"v1beta"}`, ""},
		{`{"apiVersion":"v2"}`, ``, "config.apiVersion"},
		{`{"apiVersion":1}`, ``, "config.apiVersion"},
		{`{"region":"eu"}`, ``, "config.region"},
		{`{"maxOutputTokens":8192,"apiVersion":"v1"}`, `{"apiVersion":"v1","maxOutputTokens":8192}`, ""},
		{`{"maxOutputTokens":8192}`, `{"maxOutputTokens":8192}`, ""},
		{`{"maxOutputTokens":-1}`, ``, "config.maxOutputTokens"},
		{`[1]`, ``, "config"},
		{`{`, ``, "config"},
	}
	for _, tt := range tests {
		got, err := CheckConfig([]byte(tt.in))
		if aiproxy.ErrorField(err) != tt.field || string(got) != tt.want {
			t.Errorf("CheckConfig(%s) = %s, %v; want %s, field %q", tt.in, got, err, tt.want, tt.field)
		}
		if tt.field != "" && aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("CheckConfig(%s): code %s", tt.in, aiproxy.ErrorCode(err))
		}
	}
	p := Provider()
	if p.Type != Type || p.DefaultBaseURL != DefaultBaseURL || p.CheckConfig == nil || len(p.Config) != 2 || p.Config[0].Name != "apiVersion" || p.Config[1].Name != "maxOutputTokens" {
		t.Errorf("Provider() = %+v", p)
	}
	if err := relay.NewProviders(p).Check(&aiproxy.Channel{Type: Type, Config: json.RawMessage(`{"apiVersion":"v9"}`)}); aiproxy.ErrorField(err) != "config.apiVersion" {
		t.Errorf("Providers.Check = %v", err)
	}
}
