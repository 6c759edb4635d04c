package anthropic

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
)

func TestRoutes(t *testing.T) {
	rs := Routes()
	byPattern := map[string]relay.Route{}
	for _, r := range rs {
		byPattern[r.Method+" "+r.Pattern] = r
	}
	if r := byPattern["POST /v1/messages"]; r.Mode != aiproxy.ModeChat || r.Op != relay.OpGenerate || r.Claims != nil {
		t.Errorf("messages route %+v", r)
	}
	if r := byPattern["POST /v1/messages/count_tokens"]; r.Mode != aiproxy.ModeChat || r.Op != relay.OpCountTokens {
		t.Errorf("count route %+v", r)
	}
	for _, p := range []string{"GET /v1/models", "GET /v1/models/*"} {
		r, ok := byPattern[p]
		if !ok || r.Claims == nil {
			t.Fatalf("%s: %+v", p, r)
		}
		req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		if r.Claims(req) {
			t.Errorf("%s claims a request without anthropic-version", p)
		}
		req.Header.Set("anthropic-version", "2023-06-01")
		if !r.Claims(req) {
			t.Errorf("%s does not claim a request with anthropic-version", p)
		}
	}
	if byPattern["GET /v1/models"].Kind != relay.RouteModels || byPattern["GET /v1/models/*"].Kind != relay.RouteModel {
		t.Errorf("model route kinds")
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		header http.Header
		want   string
	}{
		{http.Header{"X-Api-Key": {"sk-1"}}, "sk-1"},
		{http.Header{"Authorization": {"Bearer sk-2"}}, "sk-2"},
		{http.Header{"Authorization": {"bearer  sk-3 "}}, "sk-3"},
		{http.Header{"X-Api-Key": {"sk-4"}, "Authorization": {"Bearer sk-5"}}, "sk-4"},
		{http.Header{"Authorization": {"Basic abc"}}, ""},
		{http.Header{}, ""},
	}
	for _, tt := range tests {
		r := &http.Request{Header: tt.header}
		if got := (Codec{}).Key(r); got != tt.want {
			t.Errorf("Key(%v) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		op     relay.Op
		body   string
		model  string
		stream bool
		field  string // of the error, "-" for an error without a field
	}{
		{"message", relay.OpGenerate, `{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[],"stream":true}`, "claude-sonnet-4-6", true, ""},
		{"no stream", relay.OpGenerate, `{"stream":false,"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, "m", false, ""},
		{"count needs no max_tokens", relay.OpCountTokens, `{"model":"m","messages":[],"stream":true}`, "m", false, ""},
		{"no max_tokens", relay.OpGenerate, `{"model":"m","messages":[]}`, "", false, "max_tokens"},
		{"no model", relay.OpGenerate, `{"max_tokens":1,"messages":[]}`, "", false, "model"},
		{"model not a string", relay.OpGenerate, `{"model":1,"max_tokens":1,"messages":[]}`, "", false, "model"},
		{"messages not an array", relay.OpGenerate, `{"model":"m","max_tokens":1,"messages":"hi"}`, "", false, "messages"},
		{"no messages", relay.OpCountTokens, `{"model":"m"}`, "", false, "messages"},
		{"not JSON", relay.OpGenerate, `{"model":`, "", false, "-"},
		{"not an object", relay.OpGenerate, `["model"]`, "", false, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &relay.Request{Op: tt.op, Body: []byte(tt.body)}
			err := Codec{}.Parse(req)
			if tt.field != "" {
				if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
					t.Fatalf("err = %v, want EINVALID", err)
				}
				if tt.field != "-" && aiproxy.ErrorField(err) != tt.field {
					t.Fatalf("field %q, want %q", aiproxy.ErrorField(err), tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Model != tt.model || req.Stream != tt.stream {
				t.Fatalf("model %q stream %v", req.Model, req.Stream)
			}
		})
	}
}

func TestSetModel(t *testing.T) {
	tests := []struct {
		name, in, path string
		same           bool
	}{
		{"request", `{"model":"claude","max_tokens":1,"messages":[{"role":"user","content":"model"}]}`, "model", false},
		{"message", `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[]}`, "model", false},
		{"message_start", `{"type":"message_start","message":{"id":"msg_1","model":"claude-sonnet-4-6","content":[]}}`, "message.model", false},
		{"delta names no model", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\"model\":\"x\""}}`, "", true},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"model":"x"}`, "", true},
		{"no model", `{"type":"message","content":[]}`, "", true},
		{"already named", `{"model":"alias"}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			out, err := Codec{}.SetModel(in, "alias")
			if err != nil {
				t.Fatal(err)
			}
			if string(in) != tt.in {
				t.Fatalf("input changed in place: %s", in)
			}
			if tt.same {
				if string(out) != tt.in {
					t.Fatalf("changed: %s", out)
				}
				return
			}
			if !json.Valid(out) || gjson.GetBytes(out, tt.path).Str != "alias" {
				t.Fatalf("renamed: %s", out)
			}
			if len(out) != len(tt.in)-len(gjson.Get(tt.in, tt.path).Str)+len("alias") {
				t.Fatalf("more than the model changed: %s", out)
			}
		})
	}
	out, err := Codec{}.SetModel([]byte(`{"model":"a"}`), "with \"quotes\" \u2028")
	if err != nil || gjson.GetBytes(out, "model").Str != "with \"quotes\" \u2028" {
		t.Fatalf("escaped model: %s %v", out, err)
	}
}

// errorView is the decoded body of an Anthropic error.
type errorView struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeError(tb testing.TB, b []byte) errorView {
	tb.Helper()
	var v errorView
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("not JSON: %v: %s", err, b)
	}
	if v.Type != "error" {
		tb.Fatalf("type %q: %s", v.Type, b)
	}
	return v
}

func TestErrorTable(t *testing.T) {
	tests := []struct {
		f      relay.Failure
		status int
		typ    string
	}{
		{relay.Failure{Code: aiproxy.EINVALID}, 400, "invalid_request_error"},
		{relay.Failure{Code: aiproxy.EUNAUTHORIZED}, 401, "authentication_error"},
		{relay.Failure{Code: aiproxy.EFORBIDDEN, Reason: aiproxy.ReasonIPNotAllowed}, 403, "permission_error"},
		{relay.Failure{Code: aiproxy.ENOTFOUND}, 404, "not_found_error"},
		{relay.Failure{Code: aiproxy.ECONFLICT}, 409, "invalid_request_error"},
		{relay.Failure{Code: aiproxy.ETOOLARGE}, 413, "request_too_large"},
		{relay.Failure{Code: aiproxy.ERATELIMITED}, 429, "rate_limit_error"},
		{relay.Failure{Code: aiproxy.EUPSTREAM}, 502, "api_error"},
		{relay.Failure{Code: aiproxy.EUNAVAILABLE}, 529, "overloaded_error"},
		{relay.Failure{Code: aiproxy.ETIMEOUT}, 504, "timeout_error"},
		{relay.Failure{Code: aiproxy.EINTERNAL}, 500, "api_error"},
		{relay.Failure{Code: "bogus"}, 500, "api_error"},
		// Provider errors translated from another protocol keep their
		// status, and take its type.
		{relay.Failure{Code: aiproxy.EINVALID, Status: 422, Type: "INVALID_ARGUMENT"}, 422, "invalid_request_error"},
		{relay.Failure{Code: aiproxy.EINVALID, Status: 402}, 402, "billing_error"},
		{relay.Failure{Code: aiproxy.ENOTFOUND, Status: 404, Type: "model_not_found"}, 404, "not_found_error"},
		{relay.Failure{Code: aiproxy.EINVALID, Status: 405}, 405, "invalid_request_error"},
	}
	for _, tt := range tests {
		tt.f.Message = "m \"quoted\"\n"
		st, b := Codec{}.Error(&tt.f)
		v := decodeError(t, b)
		if st != tt.status || v.Error.Type != tt.typ || v.Error.Message != tt.f.Message {
			t.Errorf("%+v: %d %s, want %d %s", tt.f, st, b, tt.status, tt.typ)
		}
	}
	body := []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"own"},"request_id":"req_1"}`)
	st, b := Codec{}.Error(&relay.Failure{Code: aiproxy.EINVALID, Status: 400, Message: "own", Body: body})
	if st != 400 || string(b) != string(body) {
		t.Errorf("provider's own error: %d %s", st, b)
	}
}

func TestFramer(t *testing.T) {
	fr := Codec{}.NewFramer(&relay.Request{})
	if fr.ContentType() != "text/event-stream" {
		t.Errorf("content type %s", fr.ContentType())
	}
	tests := []struct {
		name string
		c    relay.Chunk
		want string
	}{
		{"named", relay.Chunk{Name: []byte("content_block_stop"), Data: []byte(`{"type":"content_block_stop","index":0}`)}, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"},
		{"name from data", relay.Chunk{Data: []byte(`{"type":"message_stop"}`)}, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
		{"comment", relay.Chunk{Comment: []byte(": keep-alive")}, "event: ping\ndata: {\"type\": \"ping\"}\n\n"},
		{"done", relay.Chunk{Done: true}, ""},
	}
	for _, tt := range tests {
		if got := string(fr.Frame(nil, &tt.c)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := fr.End(nil); len(got) != 0 {
		t.Errorf("End wrote %q", got)
	}
	got := string(fr.Error(nil, &relay.Failure{Code: aiproxy.ETIMEOUT, Message: "The provider's stream went idle."}))
	data, ok := strings.CutPrefix(got, "event: error\ndata: ")
	if !ok || !strings.HasSuffix(data, "\n\n") || strings.Count(data, "\n") != 2 {
		t.Fatalf("error event %q", got)
	}
	if v := decodeError(t, []byte(data)); v.Error.Type != "timeout_error" || v.Error.Message != "The provider's stream went idle." {
		t.Errorf("error event %q", got)
	}
	got = string(fr.Error(nil, &relay.Failure{Code: aiproxy.EINVALID, Body: []byte("{\n  \"type\": \"error\",\n  \"error\": {\"type\": \"invalid_request_error\", \"message\": \"x\"}\n}\n")}))
	if strings.Count(got, "\n") != 3 || !strings.Contains(got, `"message":"x"`) {
		t.Errorf("a provider's multi-line body must be framed on one line: %q", got)
	}
}

func TestModels(t *testing.T) {
	created := time.Date(2025, 2, 19, 0, 0, 0, 0, time.FixedZone("x", 3600))
	models := []relay.ModelInfo{{ID: "claude-sonnet-4-6", Created: created, OwnedBy: "anthropic"}, {ID: "gpt-4o", OwnedBy: "openai"}}
	var list struct {
		Data []struct {
			Type        string    `json:"type"`
			ID          string    `json:"id"`
			DisplayName string    `json:"display_name"`
			CreatedAt   time.Time `json:"created_at"`
		} `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}
	b := Codec{}.AppendModels(nil, models)
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if len(list.Data) != 2 || list.HasMore || list.FirstID == nil || *list.FirstID != "claude-sonnet-4-6" || *list.LastID != "gpt-4o" {
		t.Fatalf("list %s", b)
	}
	m := list.Data[0]
	if m.Type != "model" || m.ID != "claude-sonnet-4-6" || m.DisplayName != "claude-sonnet-4-6" || !m.CreatedAt.Equal(created) {
		t.Errorf("model %+v", m)
	}
	if !list.Data[1].CreatedAt.Equal(time.Unix(0, 0)) {
		t.Errorf("unknown creation time %v", list.Data[1].CreatedAt)
	}
	if !strings.Contains(string(b), `"created_at":"2025-02-18T23:00:00Z"`) {
		t.Errorf("created_at not RFC 3339 UTC: %s", b)
	}
	b = Codec{}.AppendModels(nil, nil)
	if string(b) != `{"data":[],"has_more":false,"first_id":null,"last_id":null}` {
		t.Errorf("empty list %s", b)
	}
	b = Codec{}.AppendModel(nil, models[0])
	if gjson.GetBytes(b, "type").Str != "model" || gjson.GetBytes(b, "id").Str != "claude-sonnet-4-6" {
		t.Errorf("model %s", b)
	}
	if b := (Codec{}).AppendTokenCount(nil, 2095); string(b) != `{"input_tokens":2095}` {
		t.Errorf("count %s", b)
	}
}
