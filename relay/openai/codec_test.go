package openai

import (
	"encoding/json"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

func TestErrorIsOpenAIJSON(t *testing.T) {
	st, b := Codec{}.Error(&relay.Failure{Code: aiproxy.EINVALID, Message: "bad \"input\"\x00 \u00e9\x7f", Field: "model"})
	var v struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    string  `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	if st != 400 || v.Error.Message != "bad \"input\"\x00 \u00e9\x7f" || v.Error.Type != "invalid_request_error" || v.Error.Param == nil || *v.Error.Param != "model" || v.Error.Code != "invalid_model" {
		t.Fatalf("%d decoded %+v", st, v.Error)
	}
}

// Every code has one status, type and code, and a reason refines the code.
func TestErrorTable(t *testing.T) {
	tests := []struct {
		f      relay.Failure
		status int
		typ    string
		code   string
	}{
		{relay.Failure{Code: aiproxy.EUNAUTHORIZED, Message: "m"}, 401, "authentication_error", "invalid_api_key"},
		{relay.Failure{Code: aiproxy.EUNAUTHORIZED, Reason: aiproxy.ReasonTokenExpired, Message: "m"}, 401, "authentication_error", "token_expired"},
		{relay.Failure{Code: aiproxy.EFORBIDDEN, Reason: aiproxy.ReasonIPNotAllowed, Message: "m"}, 403, "permission_error", "ip_not_allowed"},
		{relay.Failure{Code: aiproxy.EFORBIDDEN, Reason: aiproxy.ReasonGroupDisabled, Message: "m"}, 403, "permission_error", "group_disabled"},
		{relay.Failure{Code: aiproxy.ERATELIMITED, Message: "m"}, 429, "rate_limit_error", "rate_limit_exceeded"},
		{relay.Failure{Code: aiproxy.EUNAVAILABLE, Message: "m"}, 503, "server_error", "no_available_channel"},
		{relay.Failure{Code: "bogus", Message: "m"}, 500, "server_error", "internal_error"},
		{relay.Failure{Code: aiproxy.EINVALID, Status: 422, Type: "INVALID_ARGUMENT", Message: "m"}, 422, "invalid_request_error", "invalid_argument"},
	}
	for _, tt := range tests {
		st, b := Codec{}.Error(&tt.f)
		var v struct{ Error struct{ Type, Code string } }
		if err := json.Unmarshal(b, &v); err != nil || st != tt.status || v.Error.Type != tt.typ || v.Error.Code != tt.code {
			t.Errorf("%+v: %d %s, want %d %s %s", tt.f, st, b, tt.status, tt.typ, tt.code)
		}
	}
}
