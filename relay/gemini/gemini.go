// Package gemini is Google's Gemini API (generateContent), on both sides
// of the gateway: the Codec serves Gemini clients (the Google Gen AI SDKs,
// Gemini CLI, plain REST) and converts between the protocol and the
// neutral form of package chat, and the Adaptor calls Gemini channels at
// generativelanguage.googleapis.com (or any server speaking that API).
// Requests of Gemini clients to Gemini channels pass through untouched:
// the model travels in the URL path, so only countTokens bodies that name
// it are rewritten.
//
// Gemini's servers read proto JSON, which accepts camelCase and
// snake_case field names alike; the decoders here read both everywhere,
// and the encoders write camelCase, as the Google SDKs do.
package gemini

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// Type is the channel type of Gemini API accounts.
const Type aiproxy.ChannelType = "gemini"

// DefaultBaseURL is Google's Gemini API endpoint; the API version and the
// method follow it in every path.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// DefaultAPIVersion is the path version requests go to when a channel's
// config names none: v1beta carries every feature the converters use
// (parametersJsonSchema, responseJsonSchema, thinking).
const DefaultAPIVersion = "v1beta"

// apiVersions are the path versions a channel may choose.
var apiVersions = []string{"v1beta", "v1", "v1alpha"}

// Provider returns what the gateway knows of Gemini channels.
func Provider() *relay.Provider {
	return &relay.Provider{
		Type:           Type,
		Title:          "Google Gemini API",
		DefaultBaseURL: DefaultBaseURL,
		Config: []relay.ConfigField{{
			Name:        "apiVersion",
			Type:        "string",
			Default:     DefaultAPIVersion,
			Description: `The API version in request paths: "v1beta", "v1" or "v1alpha". Conversions from other protocols use fields (parametersJsonSchema, responseJsonSchema) that only v1beta is documented to accept.`,
		}, {
			Name:        "maxOutputTokens",
			Type:        "integer",
			Description: "The largest maxOutputTokens sent on a converted request: a client asking for more (Claude Code asks for 128,000) is given this. Unset, the client's limit goes as it is.",
		}},
		CheckConfig: CheckConfig,
		Adaptor:     NewAdaptor(),
	}
}

// CheckConfig validates a Gemini channel's config: a JSON object whose only
// key is "apiVersion", one of "v1beta", "v1" and "v1alpha". It returns the
// config compacted, nil for an empty one, and EINVALID with Field
// "config.<key>" for an unknown key or a bad value (Field "config" when cfg
// is not a JSON object).
func CheckConfig(cfg []byte) ([]byte, error) {
	cfg = bytes.TrimSpace(cfg)
	if len(cfg) == 0 || string(cfg) == "null" {
		return nil, nil
	}
	if !gjson.ValidBytes(cfg) || !gjson.ParseBytes(cfg).IsObject() {
		return nil, aiproxy.FieldErrorf("config", "The config of a Gemini channel must be a JSON object.")
	}
	var err error
	var version string
	var maxOut int64
	gjson.ParseBytes(cfg).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "apiVersion":
			if v.Type != gjson.String || !validVersion(v.Str) {
				err = aiproxy.FieldErrorf("config.apiVersion", "apiVersion must be one of %s.", strings.Join(apiVersions, ", "))
				return false
			}
			version = v.Str
		case "maxOutputTokens":
			if v.Type != gjson.Number || v.Num != float64(int64(v.Num)) || v.Int() <= 0 {
				err = aiproxy.FieldErrorf("config.maxOutputTokens", "maxOutputTokens must be a positive integer.")
				return false
			}
			maxOut = v.Int()
		default:
			err = aiproxy.FieldErrorf("config."+k.Str, "Gemini channels have no config key %q (known: apiVersion, maxOutputTokens).", k.Str)
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	var b []byte
	if version != "" {
		b = jsontext.AppendString([]byte(`{"apiVersion":`), version)
	}
	if maxOut > 0 {
		if b == nil {
			b = append(b, `{"maxOutputTokens":`...)
		} else {
			b = append(b, `,"maxOutputTokens":`...)
		}
		b = strconv.AppendInt(b, maxOut, 10)
	}
	if b == nil {
		return nil, nil
	}
	return append(b, '}'), nil
}

func validVersion(v string) bool {
	for _, s := range apiVersions {
		if v == s {
			return true
		}
	}
	return false
}

// apiVersion returns the path version of a channel.
func apiVersion(ch *aiproxy.Channel) string {
	if ch != nil && len(ch.Config) > 0 {
		if v := gjson.GetBytes(ch.Config, "apiVersion").Str; validVersion(v) {
			return v
		}
	}
	return DefaultAPIVersion
}

// Adaptor speaks the Gemini API. Its zero value is ready to use; create it
// with NewAdaptor.
type Adaptor struct{}

// NewAdaptor returns an adaptor.
func NewAdaptor() *Adaptor { return &Adaptor{} }

var _ relay.Adaptor = (*Adaptor)(nil)

// Format returns the Gemini format.
func (*Adaptor) Format() relay.Format { return Codec{} }

// Supports reports whether the channel serves op in mode: chat answers and
// token counts.
func (*Adaptor) Supports(mode aiproxy.Mode, op relay.Op) bool {
	return mode == aiproxy.ModeChat && (op == relay.OpGenerate || op == relay.OpCountTokens)
}

// Request builds the upstream request: POST
// {base}/{apiVersion}/models/{model}:generateContent (or
// :streamGenerateContent?alt=sse, or :countTokens) with the channel's key
// in x-goog-api-key. The client's own key never goes upstream. A base URL
// that already ends with the API version gets no second one; an upstream
// model named "models/x" or "tunedModels/x" keeps its collection. It
// returns EINVALID for a mode other than chat and for an empty model.
func (*Adaptor) Request(ctx context.Context, call *relay.Call) (*http.Request, error) {
	if call.Mode != aiproxy.ModeChat {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The %s endpoint is not supported by Gemini channels.", call.Mode)
	}
	method := ":generateContent"
	switch {
	case call.Op == relay.OpCountTokens:
		method = ":countTokens"
	case call.Stream:
		method = ":streamGenerateContent?alt=sse"
	}
	path, err := modelPath(call.UpstreamModel)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(call.BaseURL, "/")
	version := apiVersion(call.Channel)
	if !strings.HasSuffix(base, "/"+version) {
		base += "/" + version
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+path+method, bytes.NewReader(call.Body))
	if err != nil {
		return nil, fmt.Errorf("gemini: new request: %w", err)
	}
	key := ""
	if call.Channel != nil {
		key = call.Channel.Key
	}
	req.Header = http.Header{
		"Content-Type":   {"application/json"},
		"X-Goog-Api-Key": {key},
	}
	if call.Stream {
		req.Header["Accept"] = []string{"text/event-stream"}
	}
	return req, nil
}

// modelPath returns the path of a model resource, escaped: "models/x" for
// x, and names that already carry their collection ("models/x",
// "tunedModels/x") as they are. Slashes inside the name are kept (a model
// id is a path below its collection); everything else a path segment
// cannot hold is escaped.
func modelPath(model string) (string, error) {
	coll := "models/"
	switch {
	case strings.HasPrefix(model, "models/"):
		model = model[len("models/"):]
	case strings.HasPrefix(model, "tunedModels/"):
		coll, model = "tunedModels/", model[len("tunedModels/"):]
	}
	if model == "" {
		return "", aiproxy.FieldErrorf("model", "The upstream model name is empty.")
	}
	segs := strings.Split(model, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return coll + strings.Join(segs, "/"), nil
}

// Response reads a GenerateContentResponse and the usage it reports (or,
// with none, its text for counting), or, for a token count, its
// totalTokens (with an empty Usage: counting costs nothing). It fails only
// when the body cannot be read.
func (*Adaptor) Response(call *relay.Call, resp *http.Response) (*relay.Response, error) {
	body, err := relay.ReadBody(resp)
	if err != nil {
		return nil, fmt.Errorf("gemini: read answer: %w", err)
	}
	res := &relay.Response{Body: body, ContentType: resp.Header.Get("Content-Type")}
	root := gjson.Parse(unsafeString(body))
	if call.Op == relay.OpCountTokens {
		res.TokenCount = root.Get("totalTokens").Int()
		res.Usage = &aiproxy.Usage{}
		return res, nil
	}
	if u := usageMetadata(root); u.IsObject() {
		res.Usage = usage(u)
	} else {
		res.Text = appendText(nil, root)
	}
	return res, nil
}

// usageMetadata returns the usage object of an answer or a chunk.
func usageMetadata(root gjson.Result) gjson.Result {
	if u := root.Get("usageMetadata"); u.Exists() {
		return u
	}
	return root.Get("usage_metadata")
}

// appendText appends the generated text of an answer or a chunk to b:
// text and thought parts, and function calls' names and arguments, so
// that the tokenizer can count them when no usage is reported.
func appendText(b []byte, root gjson.Result) []byte {
	return appendCandidatesText(b, root.Get("candidates"))
}

// appendCandidatesText is appendText for the candidates array.
func appendCandidatesText(b []byte, cands gjson.Result) []byte {
	cands.ForEach(func(_, c gjson.Result) bool {
		c.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
			p.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "text":
					b = append(b, v.Str...)
				case "functionCall", "function_call":
					b = append(b, v.Get("name").Str...)
					b = append(b, v.Get("args").Raw...)
				}
				return true
			})
			return true
		})
		return true
	})
	return b
}

// usage reads a usageMetadata object into the gateway's usage (see
// scanUsage).
func usage(u gjson.Result) *aiproxy.Usage {
	var sc jsontext.Scanner
	sc.ResetString(u.Raw)
	if sc.Peek() != '{' {
		return &aiproxy.Usage{}
	}
	out := scanUsage(&sc)
	return &out
}

// Error reads a Gemini error answer: {"error":{"code","message","status"}},
// or the same object wrapped in an array, as Google sends it on JSON-array
// streams. Type is the status name; Body is the error object, for clients
// of the Gemini protocol. Bodies that are not Google errors (an HTML page
// from a proxy, say) keep their trimmed text as the message and get a
// Google-shaped Body. Two 400s that are the channel's fault, not the
// client's, are reported as such so that another channel is tried and the
// client never sees them: a refused channel key (reason API_KEY_INVALID)
// becomes 401, and FAILED_PRECONDITION (billing or region of the channel's
// account) becomes 403. Retry-After comes from the header, else from a
// RetryInfo detail's retryDelay.
func (*Adaptor) Error(call *relay.Call, resp *http.Response) *relay.UpstreamError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ue := &relay.UpstreamError{Status: resp.StatusCode, Protocol: aiproxy.ProtocolGemini, RetryAfter: relay.RetryAfter(resp.Header)}
	obj, e := errorObject(body)
	switch {
	case e.IsObject():
		ue.Message = e.Get("message").String()
		ue.Type = e.Get("status").String()
		ue.Body = obj
		if ue.RetryAfter == 0 {
			ue.RetryAfter = retryDelay(e)
		}
		if resp.StatusCode == http.StatusBadRequest {
			switch {
			case hasReason(e, "API_KEY_INVALID"):
				ue.Status = http.StatusUnauthorized
			case ue.Type == "FAILED_PRECONDITION":
				ue.Status = http.StatusForbidden
			}
		}
	default:
		ue.Message = string(bytes.TrimSpace(body))
		if len(ue.Message) > 512 {
			ue.Message = ue.Message[:512]
		}
	}
	if ue.Message == "" {
		ue.Message = http.StatusText(resp.StatusCode)
	}
	if ue.Body == nil {
		ue.Type = statusName(resp.StatusCode)
		ue.Body = appendError(nil, resp.StatusCode, ue.Message, ue.Type, "", "", 0)
	}
	return ue
}

// errorObject finds a Google error in body: the {"error":{...}} object,
// alone or as the first element of an array. It returns the object's
// bytes and its "error" member.
func errorObject(body []byte) ([]byte, gjson.Result) {
	b := bytes.TrimSpace(body)
	if !gjson.ValidBytes(b) {
		return nil, gjson.Result{}
	}
	root := gjson.ParseBytes(b)
	if root.IsArray() {
		root = root.Get("0")
		b = []byte(root.Raw)
	}
	if !root.IsObject() {
		return nil, gjson.Result{}
	}
	return b, root.Get("error")
}

// hasReason reports whether an error's details hold an ErrorInfo with
// reason.
func hasReason(e gjson.Result, reason string) bool {
	found := false
	e.Get("details").ForEach(func(_, d gjson.Result) bool {
		if d.Get("reason").Str == reason {
			found = true
			return false
		}
		return true
	})
	return found
}

// retryDelay reads the retryDelay ("38s", "1.5s") of a RetryInfo detail.
func retryDelay(e gjson.Result) time.Duration {
	var d time.Duration
	e.Get("details").ForEach(func(_, det gjson.Result) bool {
		if v := det.Get("retryDelay"); v.Type == gjson.String {
			if p, err := time.ParseDuration(v.Str); err == nil && p > 0 {
				d = p
			}
			return false
		}
		return true
	})
	return d
}

// Stream reads the server-sent events of a Gemini stream (alt=sse): one
// GenerateContentResponse per data line, with the usage (cumulative, as
// Gemini reports it on every chunk) and the generated text it carries, or
// the message of an {"error"} chunk. It never fails; the Stream's Next
// returns the connection's errors and io.EOF at the end.
func (*Adaptor) Stream(call *relay.Call, resp *http.Response) (relay.Stream, error) {
	return &stream{body: resp.Body, lines: relay.NewLineReader(resp.Body), bare: call.Converted}, nil
}

type stream struct {
	body  io.ReadCloser
	lines *relay.LineReader
	sc    jsontext.Scanner
	chunk relay.Chunk
	usage aiproxy.Usage
	text  []byte
	bare  bool // converted: the chunks are not read here
}

// Next returns the next event with data; Gemini sends no comments, ids or
// event names, and other lines are skipped.
func (s *stream) Next() (*relay.Chunk, error) {
	for {
		line, err := s.lines.Line()
		if err != nil {
			return nil, err
		}
		switch {
		case len(line) == 0:
			continue
		case line[0] == ':':
			s.chunk = relay.Chunk{Comment: line}
			return &s.chunk, nil
		case !bytes.HasPrefix(line, []byte("data:")):
			continue
		}
		data := bytes.TrimSpace(line[5:])
		if len(data) == 0 {
			continue
		}
		return s.decode(data), nil
	}
}

// decode fills the chunk of one data payload, read in place in one pass;
// a payload that is not JSON is passed on without usage or text (the
// converter's decoder reports it).
func (s *stream) decode(data []byte) *relay.Chunk {
	s.chunk = relay.Chunk{Data: data}
	if s.bare {
		return &s.chunk
	}
	s.text = s.text[:0]
	sc := &s.sc
	sc.Reset(data)
	if !sc.Expect('{') {
		return &s.chunk
	}
	hasUsage := false
	for n := 0; sc.More('}', &n); {
		switch sc.Key() {
		case "error":
			e := sc.Raw()
			var es jsontext.Scanner
			es.ResetString(e)
			if es.Expect('{') {
				for m := 0; es.More('}', &m); {
					if es.Key() == "message" {
						s.chunk.Error = strings.Clone(es.Text())
					} else {
						es.Skip()
					}
				}
			}
			if s.chunk.Error == "" {
				s.chunk.Error = strings.Clone(e)
			}
		case "usageMetadata", "usage_metadata":
			if sc.Peek() == '{' {
				s.usage, hasUsage = scanUsage(sc), true
			} else {
				sc.Skip()
			}
		case "candidates":
			s.text = scanText(sc, s.text)
		default:
			sc.Skip()
		}
	}
	switch {
	case s.chunk.Error != "":
		s.text = s.text[:0]
	case !sc.End():
		return &relay.Chunk{Data: data}
	case hasUsage:
		s.chunk.Usage = &s.usage
	}
	if len(s.text) > 0 {
		s.chunk.Text = s.text
	}
	return &s.chunk
}

// scanText appends the generated text of the candidates array the
// scanner is at to b (see appendText).
func scanText(sc *jsontext.Scanner, b []byte) []byte {
	if !sc.Expect('[') {
		return b
	}
	for n := 0; sc.More(']', &n); {
		if !sc.Expect('{') {
			return b
		}
		for m := 0; sc.More('}', &m); {
			if sc.Key() != "content" || sc.Peek() != '{' {
				sc.Skip()
				continue
			}
			sc.Open('{')
			for k := 0; sc.More('}', &k); {
				if sc.Key() != "parts" || sc.Peek() != '[' {
					sc.Skip()
					continue
				}
				sc.Open('[')
				for p := 0; sc.More(']', &p); {
					if !sc.Expect('{') {
						return b
					}
					for q := 0; sc.More('}', &q); {
						switch sc.Key() {
						case "text":
							if sc.Peek() == '"' {
								b = sc.AppendStr(b)
							} else {
								sc.Skip()
							}
						case "functionCall", "function_call":
							if !sc.Expect('{') {
								return b
							}
							for r := 0; sc.More('}', &r); {
								switch sc.Key() {
								case "name":
									if sc.Peek() == '"' {
										b = sc.AppendStr(b)
									} else {
										sc.Skip()
									}
								case "args":
									b = append(b, sc.Raw()...)
								default:
									sc.Skip()
								}
							}
						default:
							sc.Skip()
						}
					}
				}
			}
		}
	}
	return b
}

// Close releases the upstream connection.
func (s *stream) Close() error { return s.body.Close() }
