package openai

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// Codec is the OpenAI protocol: the Ingress of OpenAI clients and the
// Format of OpenAI channels. Its zero value is ready to use.
type Codec struct{}

var (
	_ relay.Ingress = Codec{}
	_ relay.Format  = Codec{}
)

// Protocol returns aiproxy.ProtocolOpenAI.
func (Codec) Protocol() aiproxy.Protocol { return aiproxy.ProtocolOpenAI }

// Routes returns the endpoints OpenAI clients call. They claim every
// request on the model routes they share with other protocols, so they
// go last.
func Routes() []relay.Route {
	return []relay.Route{
		{Method: http.MethodPost, Pattern: "/v1/chat/completions", Mode: aiproxy.ModeChat},
		{Method: http.MethodPost, Pattern: "/v1/completions", Mode: aiproxy.ModeCompletions},
		{Method: http.MethodPost, Pattern: "/v1/embeddings", Mode: aiproxy.ModeEmbeddings},
		{Method: http.MethodGet, Pattern: "/v1/models", Kind: relay.RouteModels},
		{Method: http.MethodGet, Pattern: "/v1/models/*", Kind: relay.RouteModel},
	}
}

// Key returns the key of "Authorization: Bearer", or of x-api-key or
// x-goog-api-key for clients that send those to an OpenAI endpoint.
func (Codec) Key(r *http.Request) string {
	if v := r.Header.Get("Authorization"); v != "" {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:])
		}
		return ""
	}
	if v := r.Header.Get("X-Api-Key"); v != "" {
		return v
	}
	return r.Header.Get("X-Goog-Api-Key")
}

// Parse reads the model, the end user and metadata (for the log) and,
// for chat and completions, whether a stream and its usage chunk are
// asked for, in one pass over the top-level members.
func (Codec) Parse(req *relay.Request) error {
	js := unsafeString(req.Body)
	if !gjson.Valid(js) {
		return aiproxy.Errorf(aiproxy.EINVALID, "We could not parse the JSON body of your request. The body must be a JSON object.")
	}
	root := gjson.Parse(js)
	if !root.IsObject() {
		return aiproxy.Errorf(aiproxy.EINVALID, "The request body must be a JSON object.")
	}
	var model, stream, streamOptions, user, metadata gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		var dst *gjson.Result
		switch k.Str {
		case "model":
			dst = &model
		case "stream":
			dst = &stream
		case "stream_options":
			dst = &streamOptions
		case "user":
			dst = &user
		case "metadata":
			dst = &metadata
		default:
			return true
		}
		if !dst.Exists() { // the first of repeated members, as gjson's Get
			*dst = v
		}
		return true
	})
	if model.Type != gjson.String || model.Str == "" {
		return aiproxy.FieldErrorf("model", "You must provide a model parameter.")
	}
	req.Model = strings.Clone(model.Str)
	if req.Mode == aiproxy.ModeChat || req.Mode == aiproxy.ModeCompletions {
		req.Stream = stream.Bool()
		req.WantsUsage = streamOptions.Get("include_usage").Bool()
	}
	if user.Type == gjson.String || metadata.IsObject() {
		req.SetUser(user.Str, metadata.Raw)
	}
	return nil
}

// SetModel replaces the top-level "model" of a request, an answer or a
// stream chunk.
func (Codec) SetModel(b []byte, model string) ([]byte, error) {
	m := gjson.GetBytes(b, "model")
	if !m.Exists() || m.Str == model {
		return b, nil
	}
	return sjson.SetBytes(b, "model", model)
}

// errorTable is OpenAI's error for each code: status, type and code.
var errorTable = relay.ErrorTable{
	aiproxy.EINVALID:      {Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_request"},
	aiproxy.EUNAUTHORIZED: {Status: http.StatusUnauthorized, Type: "authentication_error", Code: "invalid_api_key"},
	aiproxy.EFORBIDDEN:    {Status: http.StatusForbidden, Type: "permission_error", Code: "forbidden"},
	aiproxy.ENOTFOUND:     {Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found"},
	aiproxy.ECONFLICT:     {Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict"},
	aiproxy.ETOOLARGE:     {Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large"},
	aiproxy.ERATELIMITED:  {Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "rate_limit_exceeded"},
	aiproxy.EQUOTA:        {Status: http.StatusTooManyRequests, Type: "insufficient_quota", Code: "insufficient_quota"},
	aiproxy.EUPSTREAM:     {Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error"},
	aiproxy.EUNAVAILABLE:  {Status: http.StatusServiceUnavailable, Type: "server_error", Code: "no_available_channel"},
	aiproxy.ETIMEOUT:      {Status: http.StatusGatewayTimeout, Type: "server_error", Code: "upstream_timeout"},
	aiproxy.EINTERNAL:     {Status: http.StatusInternalServerError, Type: "server_error", Code: "internal_error"},
}

// Error writes {"error":{"message","type","param","code"}}; a provider's
// OpenAI error passes as it came.
func (Codec) Error(f *relay.Failure) (int, []byte) {
	k := errorTable.Kind(f)
	if f.Body != nil {
		return k.Status, f.Body
	}
	return k.Status, appendError(nil, f, k)
}

func appendError(b []byte, f *relay.Failure, k relay.ErrorKind) []byte {
	code := k.Code
	switch {
	case f.Reason != "":
		code = f.Reason
	case f.Type != "":
		code = strings.ToLower(f.Type)
	case f.Code == aiproxy.EINVALID && f.Field != "":
		code = "invalid_" + f.Field
	}
	b = append(b, `{"error":{"message":`...)
	b = jsontext.AppendString(b, f.Message)
	b = append(b, `,"type":`...)
	b = jsontext.AppendString(b, k.Type)
	b = append(b, `,"param":`...)
	if f.Field == "" {
		b = append(b, "null"...)
	} else {
		b = jsontext.AppendString(b, f.Field)
	}
	b = append(b, `,"code":`...)
	b = jsontext.AppendString(b, code)
	return append(b, "}}"...)
}

// AppendModels appends {"object":"list","data":[model...]}.
func (Codec) AppendModels(b []byte, models []relay.ModelInfo) []byte {
	b = append(b, `{"object":"list","data":[`...)
	for i, m := range models {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, m)
	}
	return append(b, "]}"...)
}

// AppendModel appends an OpenAI model object.
func (Codec) AppendModel(b []byte, m relay.ModelInfo) []byte { return appendModel(b, m) }

func appendModel(b []byte, m relay.ModelInfo) []byte {
	b = append(b, `{"id":`...)
	b = jsontext.AppendString(b, m.ID)
	b = append(b, `,"object":"model","created":`...)
	b = strconv.AppendInt(b, m.Created.Unix(), 10)
	b = append(b, `,"owned_by":`...)
	b = jsontext.AppendString(b, m.OwnedBy)
	return append(b, '}')
}

// AppendTokenCount appends {"input_tokens":n}; OpenAI clients have no
// count endpoint of their own, so this is only for completeness.
func (Codec) AppendTokenCount(b []byte, n int64) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, '}')
}

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\n\n")
	sseDone = []byte("data: [DONE]\n\n")
)

// NewFramer returns the writer of an OpenAI stream: "data: " events, the
// usage chunk only for clients that asked for it, "data: [DONE]" last.
func (Codec) NewFramer(req *relay.Request) relay.Framer {
	return &framer{wantsUsage: req.WantsUsage}
}

type framer struct {
	wantsUsage bool
	done       bool
}

func (*framer) ContentType() string { return "text/event-stream" }

func (f *framer) Frame(b []byte, c *relay.Chunk) []byte {
	switch {
	case c.Done:
		f.done = true
		return append(b, sseDone...)
	case c.Data != nil:
		if c.UsageOnly && !f.wantsUsage {
			return b
		}
		b = append(b, sseData...)
		b = append(b, c.Data...)
		return append(b, sseEnd...)
	case c.Comment != nil:
		b = append(b, c.Comment...)
		return append(b, sseEnd...)
	}
	return b
}

// End writes the [DONE] a provider left out.
func (f *framer) End(b []byte) []byte {
	if f.done {
		return b
	}
	f.done = true
	return append(b, sseDone...)
}

func (f *framer) Error(b []byte, fl *relay.Failure) []byte {
	k := errorTable.Kind(fl)
	b = append(b, sseData...)
	if fl.Body != nil {
		b = append(b, bytes.TrimSpace(fl.Body)...)
	} else {
		b = appendError(b, fl, k)
	}
	return append(b, sseEnd...)
}
