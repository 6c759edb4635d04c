package gemini

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// Codec is the Gemini protocol: the Ingress of Gemini clients and the
// Format of Gemini channels. Its zero value is ready to use.
type Codec struct{}

var (
	_ relay.Ingress = Codec{}
	_ relay.Format  = Codec{}
)

// Protocol returns aiproxy.ProtocolGemini.
func (Codec) Protocol() aiproxy.Protocol { return aiproxy.ProtocolGemini }

// Routes returns the endpoints Gemini clients call: the model methods
// under /v1beta/models/ and /v1/models/ (the Google Gen AI SDKs' newer
// releases call /v1), and the model list and lookup. On GET /v1/models and
// /v1/models/*, which the OpenAI and Anthropic ingresses serve too, they
// claim only requests that carry a Gemini key (an x-goog-api-key header or
// a key query parameter).
func Routes() []relay.Route {
	return []relay.Route{
		{Method: http.MethodPost, Pattern: "/v1beta/models/*", Kind: relay.RouteCall, Mode: aiproxy.ModeChat},
		{Method: http.MethodPost, Pattern: "/v1/models/*", Kind: relay.RouteCall, Mode: aiproxy.ModeChat},
		{Method: http.MethodGet, Pattern: "/v1beta/models", Kind: relay.RouteModels},
		{Method: http.MethodGet, Pattern: "/v1beta/models/*", Kind: relay.RouteModel},
		{Method: http.MethodGet, Pattern: "/v1/models", Kind: relay.RouteModels, Claims: claims},
		{Method: http.MethodGet, Pattern: "/v1/models/*", Kind: relay.RouteModel, Claims: claims},
	}
}

// claims reports whether r carries a key the way Gemini clients send it.
func claims(r *http.Request) bool {
	return r.Header.Get("X-Goog-Api-Key") != "" || r.URL.Query().Has("key")
}

// Key returns the key of the x-goog-api-key header, else of the key query
// parameter, else of "Authorization: Bearer".
func (Codec) Key(r *http.Request) string {
	if v := r.Header.Get("X-Goog-Api-Key"); v != "" {
		return v
	}
	if v := r.URL.Query().Get("key"); v != "" {
		return v
	}
	if v := r.Header.Get("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// Methods of a model resource that the gateway serves.
const (
	methodGenerate = "generateContent"
	methodStream   = "streamGenerateContent"
	methodCount    = "countTokens"
)

// Parse reads the model and the method from the path
// (/v1beta/models/{model}:{method}; the model may hold slashes and may be
// given as "models/x"), and checks that the body is a JSON object. It
// returns ENOTFOUND for a method other than generateContent,
// streamGenerateContent and countTokens, and EINVALID for a body that is
// not a JSON object.
func (Codec) Parse(req *relay.Request) error {
	model, method, ok := splitPath(req.Path)
	if !ok {
		return aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "unknown_url", "The path %s names no model method; use {model}:generateContent, :streamGenerateContent or :countTokens.", req.Path)
	}
	switch method {
	case methodGenerate:
		req.Op = relay.OpGenerate
	case methodStream:
		req.Op, req.Stream = relay.OpGenerate, true
	case methodCount:
		req.Op = relay.OpCountTokens
	default:
		return aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "unknown_method", "The method %q is not served by this gateway (it serves generateContent, streamGenerateContent and countTokens).", method)
	}
	req.Model = model
	js := unsafeString(req.Body)
	if !gjson.Valid(js) {
		return aiproxy.Errorf(aiproxy.EINVALID, "Invalid JSON payload received: the request body must be a JSON object.")
	}
	if !gjson.Parse(js).IsObject() {
		return aiproxy.Errorf(aiproxy.EINVALID, "Invalid JSON payload received: the request body must be a JSON object.")
	}
	return nil
}

// splitPath returns the model and the method of a model method's path.
func splitPath(path string) (model, method string, ok bool) {
	switch {
	case strings.HasPrefix(path, "/v1beta/models/"):
		path = path[len("/v1beta/models/"):]
	case strings.HasPrefix(path, "/v1/models/"):
		path = path[len("/v1/models/"):]
	default:
		return "", "", false
	}
	i := strings.LastIndexByte(path, ':')
	if i < 0 {
		return "", "", false
	}
	model, method = path[:i], path[i+1:]
	model = strings.TrimPrefix(model, "models/")
	return model, method, true
}

// SetModel renames the model a body names: the top-level modelVersion of
// an answer or a stream chunk, and the generateContentRequest.model of a
// countTokens body (as "models/<model>"). Other requests carry no model
// (it is in the path) and come back as they are, as does b when it is not
// a JSON object.
func (Codec) SetModel(b []byte, model string) ([]byte, error) {
	var sc jsontext.Scanner
	sc.Reset(b)
	if !sc.Expect('{') {
		return b, nil
	}
	for n := 0; sc.More('}', &n); {
		switch sc.Key() {
		case "modelVersion":
			if sc.Peek() != '"' {
				sc.Skip()
				continue
			}
			start := sc.Offset()
			if sc.Str() == model {
				return b, nil
			}
			end := sc.Offset()
			out := make([]byte, 0, len(b)+len(model)+2)
			out = append(out, b[:start]...)
			out = jsontext.AppendString(out, model)
			return append(out, b[end:]...), nil
		case "generateContentRequest", "generate_content_request":
			key := "generateContentRequest"
			if !gjson.GetBytes(b, key).Exists() {
				key = "generate_content_request"
			}
			if m := gjson.GetBytes(b, key+".model"); m.Exists() {
				name := resourceName(model)
				if m.Str == name {
					return b, nil
				}
				return sjson.SetBytes(b, key+".model", name)
			}
			sc.Skip()
		default:
			sc.Skip()
		}
	}
	return b, nil
}

// resourceName returns the resource name of a model: "models/x" for x,
// and names that already carry their collection as they are.
func resourceName(model string) string {
	if strings.HasPrefix(model, "models/") || strings.HasPrefix(model, "tunedModels/") {
		return model
	}
	return "models/" + model
}

// errorTable is Google's error for each code: the HTTP status and the
// canonical status name, as the Gemini API and the Google SDKs use them.
var errorTable = relay.ErrorTable{
	aiproxy.EINVALID:      {Status: http.StatusBadRequest, Type: "INVALID_ARGUMENT"},
	aiproxy.EUNAUTHORIZED: {Status: http.StatusUnauthorized, Type: "UNAUTHENTICATED"},
	aiproxy.EFORBIDDEN:    {Status: http.StatusForbidden, Type: "PERMISSION_DENIED"},
	aiproxy.ENOTFOUND:     {Status: http.StatusNotFound, Type: "NOT_FOUND"},
	aiproxy.ECONFLICT:     {Status: http.StatusConflict, Type: "ALREADY_EXISTS"},
	aiproxy.ETOOLARGE:     {Status: http.StatusRequestEntityTooLarge, Type: "INVALID_ARGUMENT"},
	aiproxy.ERATELIMITED:  {Status: http.StatusTooManyRequests, Type: "RESOURCE_EXHAUSTED"},
	aiproxy.EQUOTA:        {Status: http.StatusTooManyRequests, Type: "RESOURCE_EXHAUSTED"},
	aiproxy.EUPSTREAM:     {Status: http.StatusBadGateway, Type: "UNAVAILABLE"},
	aiproxy.EUNAVAILABLE:  {Status: http.StatusServiceUnavailable, Type: "UNAVAILABLE"},
	aiproxy.ETIMEOUT:      {Status: http.StatusGatewayTimeout, Type: "DEADLINE_EXCEEDED"},
	aiproxy.EINTERNAL:     {Status: http.StatusInternalServerError, Type: "INTERNAL"},
}

// statusName returns Google's canonical status name for an HTTP status
// (the mapping of google.rpc.Code to HTTP, read backwards).
func statusName(st int) string {
	switch st {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case relay.StatusClientClosed:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusBadGateway, http.StatusServiceUnavailable, 529:
		return "UNAVAILABLE"
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if st >= 500 {
		return "INTERNAL"
	}
	return "INVALID_ARGUMENT"
}

// canonical reports whether s is one of Google's canonical status names.
func canonical(s string) bool {
	switch s {
	case "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
		"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED":
		return true
	}
	return false
}

// kind returns the status and status name of a failure: the table's for
// its code; for a provider's error passed on with its own status, the
// name of that status (or the provider's own name, when it is Google's).
func kind(f *relay.Failure) (int, string) {
	k := errorTable.Kind(f)
	name := k.Type
	if f.Status != 0 && f.Status != errorTable[f.Code].Status {
		name = statusName(f.Status)
	}
	if canonical(f.Type) {
		name = f.Type
	}
	return k.Status, name
}

// Error writes {"error":{"code","message","status","details"}}, with an
// ErrorInfo detail holding the reason and a BadRequest detail naming the
// field when the failure has them; a provider's Gemini error passes as it
// came.
func (Codec) Error(f *relay.Failure) (int, []byte) {
	st, name := kind(f)
	if f.Body != nil {
		return st, f.Body
	}
	return st, appendError(nil, st, f.Message, name, f.Reason, f.Field, f.RetryAfter)
}

// appendError appends a Google error object; a positive retry adds the
// RetryInfo detail Google sends with RESOURCE_EXHAUSTED, whose retryDelay
// the Google SDKs and Gemini CLI wait for.
func appendError(b []byte, code int, message, status, reason, field string, retry time.Duration) []byte {
	b = append(b, `{"error":{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"message":`...)
	b = jsontext.AppendString(b, message)
	b = append(b, `,"status":`...)
	b = jsontext.AppendString(b, status)
	if reason != "" || field != "" || retry > 0 {
		b = append(b, `,"details":[`...)
		n := len(b)
		if reason != "" {
			b = append(b, `{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":`...)
			b = jsontext.AppendString(b, strings.ToUpper(reason))
			b = append(b, `,"domain":"aiproxy"}`...)
		}
		if retry > 0 {
			if len(b) > n {
				b = append(b, ',')
			}
			secs := int64((retry + time.Second - 1) / time.Second)
			b = append(b, `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"`...)
			b = strconv.AppendInt(b, secs, 10)
			b = append(b, `s"}`...)
		}
		if field != "" {
			if len(b) > n {
				b = append(b, ',')
			}
			b = append(b, `{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":`...)
			b = jsontext.AppendString(b, field)
			b = append(b, `,"description":`...)
			b = jsontext.AppendString(b, message)
			b = append(b, "}]}"...)
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}

// AppendModels appends {"models":[model...]}, every model at once (no
// nextPageToken).
func (Codec) AppendModels(b []byte, models []relay.ModelInfo) []byte {
	b = append(b, `{"models":[`...)
	for i, m := range models {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, m)
	}
	return append(b, "]}"...)
}

// AppendModel appends a Gemini Model resource.
func (Codec) AppendModel(b []byte, m relay.ModelInfo) []byte { return appendModel(b, m) }

// appendModel writes a Model: its resource name, its id as base model and
// display name, a description naming the channel type that serves it,
// and the methods the gateway serves. The token limits and the version
// are the provider's, which the gateway does not know: they are left out.
func appendModel(b []byte, m relay.ModelInfo) []byte {
	b = append(b, `{"name":`...)
	b = jsontext.AppendString(b, resourceName(m.ID))
	b = append(b, `,"baseModelId":`...)
	b = jsontext.AppendString(b, m.ID)
	b = append(b, `,"displayName":`...)
	b = jsontext.AppendString(b, m.ID)
	if m.OwnedBy != "" {
		b = append(b, `,"description":`...)
		b = jsontext.AppendString(b, "Served by a channel of type "+m.OwnedBy+".")
	}
	return append(b, `,"supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}`...)
}

// AppendTokenCount appends {"totalTokens":n}.
func (Codec) AppendTokenCount(b []byte, n int64) []byte {
	b = append(b, `{"totalTokens":`...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, '}')
}

// NewFramer returns the writer of a Gemini stream: server-sent events
// ("data: <json>" and a blank line, with \r\n line ends as Google writes
// them) for clients that asked for alt=sse, as every Google SDK does, and
// otherwise the JSON array Google streams without it ("[", the chunks
// separated by ",\r\n", "]").
func (Codec) NewFramer(req *relay.Request) relay.Framer {
	return &framer{sse: req.Query.Get("alt") == "sse"}
}

type framer struct {
	sse     bool
	started bool // the array's "[" is written
	ended   bool
}

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\r\n\r\n")
)

func (f *framer) ContentType() string {
	if f.sse {
		return "text/event-stream"
	}
	return "application/json"
}

// Frame writes a chunk's data; comments (keep-alives of other protocols)
// have no place in either framing and are dropped.
func (f *framer) Frame(b []byte, c *relay.Chunk) []byte {
	if c.Data == nil || f.ended {
		return b
	}
	return f.element(b, c.Data)
}

func (f *framer) element(b, data []byte) []byte {
	if f.sse {
		b = append(b, sseData...)
		b = append(b, data...)
		return append(b, sseEnd...)
	}
	if f.started {
		b = append(b, ",\r\n"...)
	} else {
		b = append(b, '[')
		f.started = true
	}
	return append(b, data...)
}

// End closes the array; an SSE stream ends with the connection.
func (f *framer) End(b []byte) []byte {
	if f.sse || f.ended {
		return b
	}
	if !f.started {
		b = append(b, '[')
		f.started = true
	}
	f.ended = true
	return append(b, ']')
}

// Error writes the error object as the stream's last element (or event),
// closing the array.
func (f *framer) Error(b []byte, fl *relay.Failure) []byte {
	if f.ended {
		return b
	}
	st, name := kind(fl)
	var e []byte
	if fl.Body != nil {
		if obj, ee := errorObject(fl.Body); ee.IsObject() {
			e = obj
		}
	}
	if e == nil {
		e = appendError(nil, st, fl.Message, name, fl.Reason, fl.Field, fl.RetryAfter)
	}
	b = f.element(b, bytes.TrimSpace(e))
	if !f.sse {
		f.ended = true
		b = append(b, ']')
	}
	return b
}
