package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// Codec is the Anthropic Messages protocol: the Ingress of Anthropic
// clients and the Format of Anthropic channels. Its zero value is ready to
// use.
type Codec struct{}

var (
	_ relay.Ingress = Codec{}
	_ relay.Format  = Codec{}
)

// Protocol returns aiproxy.ProtocolAnthropic.
func (Codec) Protocol() aiproxy.Protocol { return aiproxy.ProtocolAnthropic }

// Routes returns the endpoints Anthropic clients call. On the model routes,
// which the OpenAI and Gemini ingresses serve too, they claim the requests
// that carry an anthropic-version header, as every Anthropic SDK sends.
func Routes() []relay.Route {
	return []relay.Route{
		{Method: http.MethodPost, Pattern: "/v1/messages", Mode: aiproxy.ModeChat},
		{Method: http.MethodPost, Pattern: "/v1/messages/count_tokens", Mode: aiproxy.ModeChat, Op: relay.OpCountTokens},
		{Method: http.MethodGet, Pattern: "/v1/models", Kind: relay.RouteModels, Claims: claims},
		{Method: http.MethodGet, Pattern: "/v1/models/*", Kind: relay.RouteModel, Claims: claims},
	}
}

// claims reports whether r comes from an Anthropic client.
func claims(r *http.Request) bool { return r.Header.Get("Anthropic-Version") != "" }

// Key returns the key of x-api-key, else of "Authorization: Bearer" (which
// the Anthropic SDKs send from their 2026-10-21 versions on); "" for none.
func (Codec) Key(r *http.Request) string {
	if v := r.Header.Get("X-Api-Key"); v != "" {
		return strings.TrimSpace(v)
	}
	if v := r.Header.Get("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// Parse reads the model and whether a stream is asked for. It checks only
// what the relay relies on, in one pass over the body: a well-formed JSON
// object with a string model and a messages array, and for messages
// requests a numeric max_tokens (token counts take none). It returns
// EINVALID naming the field otherwise.
func (Codec) Parse(req *relay.Request) error {
	o, ok := checkedObject(req.Body)
	if !ok {
		return aiproxy.Errorf(aiproxy.EINVALID, "The request body must be a JSON object.")
	}
	var model, messages, maxTokens, stream, metadata string
	for k, v, ok := o.next(); ok; k, v, ok = o.next() {
		switch k {
		case "model":
			model = v
		case "messages":
			messages = v
		case "max_tokens":
			maxTokens = v
		case "stream":
			stream = v
		case "metadata":
			metadata = v
		}
	}
	if !o.end() {
		return aiproxy.Errorf(aiproxy.EINVALID, "The request body is not valid JSON.")
	}
	if !isString(model) || len(model) == 2 {
		return aiproxy.FieldErrorf("model", "model: Field required (a model name).")
	}
	if !isArr(messages) {
		return aiproxy.FieldErrorf("messages", "messages: Field required (an array of messages).")
	}
	if req.Op == relay.OpGenerate && !isNumber(maxTokens) {
		return aiproxy.FieldErrorf("max_tokens", "max_tokens: Field required (an integer).")
	}
	req.Model = jsontext.UnquoteClone(model)
	req.Stream = req.Op == relay.OpGenerate && isTrue(stream)
	if len(metadata) > 2 && metadata[0] == '{' {
		req.SetUser(gjson.Get(metadata, "user_id").Str, metadata)
	}
	return nil
}

// SetModel replaces the model named by b: the top-level "model" of a
// request or a message, or message.model of a message_start chunk. Other
// chunks name no model and come back as they are.
func (Codec) SetModel(b []byte, model string) ([]byte, error) {
	js := unsafeString(b)
	path := "model"
	switch gjson.Get(js, "type").Str {
	case "", "message":
	case "message_start":
		path = "message.model"
	default:
		return b, nil
	}
	m := gjson.Get(js, path)
	if !m.Exists() || (m.Type == gjson.String && m.Str == model) {
		return b, nil
	}
	if m.Index <= 0 || m.Index+len(m.Raw) > len(b) || js[m.Index:m.Index+len(m.Raw)] != m.Raw {
		return sjson.SetBytes(b, path, model)
	}
	out := make([]byte, 0, len(b)+len(model)+2)
	out = append(out, b[:m.Index]...)
	out = jsontext.AppendString(out, model)
	return append(out, b[m.Index+len(m.Raw):]...), nil
}

// errorTable is Anthropic's error for each code: status and type, as the
// SDKs' error types name them.
var errorTable = relay.ErrorTable{
	aiproxy.EINVALID:      {Status: http.StatusBadRequest, Type: "invalid_request_error"},
	aiproxy.EUNAUTHORIZED: {Status: http.StatusUnauthorized, Type: "authentication_error"},
	aiproxy.EFORBIDDEN:    {Status: http.StatusForbidden, Type: "permission_error"},
	aiproxy.ENOTFOUND:     {Status: http.StatusNotFound, Type: "not_found_error"},
	aiproxy.ECONFLICT:     {Status: http.StatusConflict, Type: "invalid_request_error"},
	aiproxy.ETOOLARGE:     {Status: http.StatusRequestEntityTooLarge, Type: "request_too_large"},
	aiproxy.ERATELIMITED:  {Status: http.StatusTooManyRequests, Type: "rate_limit_error"},
	aiproxy.EQUOTA:        {Status: http.StatusPaymentRequired, Type: "billing_error"},
	aiproxy.EUPSTREAM:     {Status: http.StatusBadGateway, Type: "api_error"},
	aiproxy.EUNAVAILABLE:  {Status: statusOverloaded, Type: "overloaded_error"},
	aiproxy.ETIMEOUT:      {Status: http.StatusGatewayTimeout, Type: "timeout_error"},
	aiproxy.EINTERNAL:     {Status: http.StatusInternalServerError, Type: "api_error"},
}

// statusOverloaded is Anthropic's status for an overloaded API.
const statusOverloaded = 529

// typeForStatus returns Anthropic's error type for an HTTP status.
func typeForStatus(st int) string {
	switch {
	case st == http.StatusUnauthorized:
		return "authentication_error"
	case st == http.StatusPaymentRequired:
		return "billing_error"
	case st == http.StatusForbidden:
		return "permission_error"
	case st == http.StatusNotFound:
		return "not_found_error"
	case st == http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case st == http.StatusTooManyRequests:
		return "rate_limit_error"
	case st == http.StatusRequestTimeout, st == http.StatusGatewayTimeout:
		return "timeout_error"
	case st == statusOverloaded, st == http.StatusServiceUnavailable:
		return "overloaded_error"
	case st >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

// statusForType returns the HTTP status of an Anthropic error type, for
// errors reported inside a stream (which has answered 200); 500 for a type
// it does not know.
func statusForType(t string) int {
	switch t {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "billing_error":
		return http.StatusPaymentRequired
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "timeout_error":
		return http.StatusGatewayTimeout
	case "overloaded_error":
		return statusOverloaded
	}
	return http.StatusInternalServerError
}

// Error writes {"type":"error","error":{"type","message"}} with the code's
// status and type. A provider's own Anthropic error (f.Body) passes as it
// came; a provider's error translated from another protocol (f.Status set)
// keeps its status and message and takes the type of its status.
func (Codec) Error(f *relay.Failure) (int, []byte) {
	k := errorTable.Kind(f)
	if f.Body != nil {
		return k.Status, f.Body
	}
	return k.Status, appendErrorBody(nil, failureType(f, k), f.Message)
}

// failureType is the error type written for f.
func failureType(f *relay.Failure, k relay.ErrorKind) string {
	if f.Status != 0 {
		return typeForStatus(f.Status)
	}
	return k.Type
}

// appendErrorBody appends {"type":"error","error":{"type":typ,"message":msg}}.
func appendErrorBody(b []byte, typ, msg string) []byte {
	b = append(b, `{"type":"error","error":{"type":`...)
	b = jsontext.AppendString(b, typ)
	b = append(b, `,"message":`...)
	b = jsontext.AppendString(b, msg)
	return append(b, "}}"...)
}

// AppendModels appends Anthropic's model list: {"data":[...],"has_more":
// false,"first_id","last_id"} (the ids null for an empty list).
func (Codec) AppendModels(b []byte, models []relay.ModelInfo) []byte {
	b = append(b, `{"data":[`...)
	for i, m := range models {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, m)
	}
	b = append(b, `],"has_more":false,"first_id":`...)
	if len(models) == 0 {
		return append(b, `null,"last_id":null}`...)
	}
	b = jsontext.AppendString(b, models[0].ID)
	b = append(b, `,"last_id":`...)
	b = jsontext.AppendString(b, models[len(models)-1].ID)
	return append(b, '}')
}

// AppendModel appends an Anthropic model object.
func (Codec) AppendModel(b []byte, m relay.ModelInfo) []byte { return appendModel(b, m) }

// appendModel appends {"type":"model","id","display_name","created_at"};
// the display name is the id, and an unknown creation time is the epoch,
// as Anthropic reports unknown release dates.
func appendModel(b []byte, m relay.ModelInfo) []byte {
	b = append(b, `{"type":"model","id":`...)
	b = jsontext.AppendString(b, m.ID)
	b = append(b, `,"display_name":`...)
	b = jsontext.AppendString(b, m.ID)
	b = append(b, `,"created_at":"`...)
	t := m.Created.UTC()
	if m.Created.IsZero() {
		t = time.Unix(0, 0).UTC()
	}
	b = t.AppendFormat(b, time.RFC3339)
	return append(b, `"}`...)
}

// AppendTokenCount appends {"input_tokens":n}.
func (Codec) AppendTokenCount(b []byte, n int64) []byte {
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, n)
	return append(b, '}')
}

// NewFramer returns the writer of an Anthropic stream: "event: <name>" and
// "data: <json>" per chunk.
func (Codec) NewFramer(*relay.Request) relay.Framer { return framer{} }

type framer struct{}

var (
	sseEvent = []byte("event: ")
	sseData  = []byte("\ndata: ")
	sseEnd   = []byte("\n\n")
	ssePing  = []byte("event: ping\ndata: {\"type\": \"ping\"}\n\n")
)

// ContentType returns text/event-stream.
func (framer) ContentType() string { return "text/event-stream" }

// Frame writes a chunk as an event named by Chunk.Name, else by its
// data's "type"; a keep-alive comment becomes a ping event.
func (framer) Frame(b []byte, c *relay.Chunk) []byte {
	switch {
	case c.Data != nil:
		b = append(b, sseEvent...)
		if len(c.Name) > 0 {
			b = append(b, c.Name...)
		} else {
			b = append(b, gjson.Get(unsafeString(c.Data), "type").Str...)
		}
		b = append(b, sseData...)
		b = append(b, c.Data...)
		return append(b, sseEnd...)
	case c.Comment != nil:
		return append(b, ssePing...)
	}
	return b
}

// End writes nothing: message_stop ends an Anthropic stream.
func (framer) End(b []byte) []byte { return b }

// Error writes an error event, {"type":"error","error":{"type","message"}}.
func (framer) Error(b []byte, f *relay.Failure) []byte {
	b = append(b, "event: error\ndata: "...)
	if f.Body != nil {
		b = appendCompact(b, f.Body)
	} else {
		b = appendErrorBody(b, failureType(f, errorTable.Kind(f)), f.Message)
	}
	return append(b, sseEnd...)
}

// appendCompact appends the JSON value v on one line, as an SSE data line
// must be; v itself when it is not valid JSON and has no line break.
func appendCompact(b []byte, v []byte) []byte {
	v = bytes.TrimSpace(v)
	if !bytes.ContainsAny(v, "\r\n") {
		return append(b, v...)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return append(b, bytes.ReplaceAll(bytes.ReplaceAll(v, []byte("\r"), nil), []byte("\n"), []byte(" "))...)
	}
	return append(b, buf.Bytes()...)
}
