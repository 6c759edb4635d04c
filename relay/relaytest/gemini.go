package relaytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// This file holds the fake of Google's Gemini API
// (generativelanguage.googleapis.com), written from the Google Gen AI Go
// SDK's types (google.golang.org/genai) and Google's API reference; it
// shares no code with the gateway's Gemini codec.

// DefaultGeminiModels is what the Gemini fake's GET /{version}/models lists
// unless WithModels says otherwise.
var DefaultGeminiModels = []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"}

// skipSignatures are the thoughtSignature values Google documents as
// skipping the signature check, for histories a client built itself.
var skipSignatures = []string{"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"}

// GeminiProvider is a fake of the Gemini API. It implements http.Handler for
// POST /{version}/models/{model}:generateContent, :streamGenerateContent
// (server-sent events with ?alt=sse: "data: <json>" events ending with
// "\r\n\r\n"; without it, one JSON array of responses written element by
// element, as Google sends it), :countTokens ({"totalTokens":n,...}), GET
// /{version}/models and GET /{version}/models/{model}, for the versions
// v1beta, v1 and v1alpha; any other method or path is answered 404
// NOT_FOUND. The base URL of a channel pointing at it is the server's URL.
//
// With WithKey, the key must come as x-goog-api-key or ?key= (a missing
// key is answered 403 PERMISSION_DENIED, a wrong one 400 INVALID_ARGUMENT
// "API key not valid. Please pass a valid API key." with Google's
// ErrorInfo detail). Request fields are accepted in camelCase and
// snake_case, as Google's servers accept them; an unknown top-level field
// is refused (400 'Invalid JSON payload received. Unknown name "x": Cannot
// find field.'), as are a missing contents, a role other than user or
// model, a function response turn that does not follow a function call
// turn or answers a different number of calls, and a model turn whose
// first functionCall part has no valid thoughtSignature (CallSignature, or
// one of the values Google documents as skipping the check) or holds a
// thought part with a wrong one (Signature): "Function call is missing a
// thought_signature in functionCall parts. ..." and "Corrupted thought
// signature.", as Google words them.
//
// An answer is a GenerateContentResponse: candidates[0] is
// {"content":{"parts":[...],"role":"model"},"finishReason":...,"index":0}
// with STOP or MAX_TOKENS (STOP for function calls, as Gemini sends them),
// then usageMetadata (promptTokenCount, candidatesTokenCount,
// totalTokenCount, cachedContentTokenCount with WithCachedTokens,
// thoughtsTokenCount for reasoning models, promptTokensDetails; zero
// counts omitted as in proto3 JSON), modelVersion (the model of the path)
// and responseId. A stream sends the thought (when asked for) in one chunk,
// the text a word at a time (see WithChunks), the function calls whole in
// one chunk, the finish reason on the last chunk and the cumulative
// usageMetadata on every chunk. Errors are {"error":{"code","message",
// "status"}}, indented as Google indents them.
//
// A GeminiProvider is safe for concurrent use; its zero value is not, use
// NewGeminiProvider. Every Option applies but WithEarlyAnswer.
type GeminiProvider struct {
	fake
}

// NewGeminiProvider returns a Gemini fake configured by opts. It listens
// nowhere: serve it with StartGemini, httptest.NewServer or any
// http.Server. Its ids are deterministic: the nth request of a provider
// always gets the same responseId.
func NewGeminiProvider(opts ...Option) *GeminiProvider {
	p := &GeminiProvider{}
	p.init(opts, DefaultGeminiModels)
	return p
}

// StartGemini serves a new Gemini fake on an httptest.Server and closes
// both when tb finishes. The base URL of a channel pointing at it is
// srv.URL.
func StartGemini(tb testing.TB, opts ...Option) (*GeminiProvider, *httptest.Server) {
	tb.Helper()
	p := NewGeminiProvider(opts...)
	return p, serve(tb, p)
}

// geminiError is an error Google answers.
type geminiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []any  `json:"details,omitempty"`
}

// invalidArgument is a 400 INVALID_ARGUMENT.
func invalidArgument(message string) *geminiError {
	return &geminiError{Code: http.StatusBadRequest, Message: message, Status: "INVALID_ARGUMENT"}
}

// The top-level fields of a GenerateContentRequest, in both spellings.
var geminiFields = map[string]bool{
	"model": true, "contents": true, "tools": true, "labels": true,
	"systemInstruction": true, "system_instruction": true,
	"generationConfig": true, "generation_config": true,
	"safetySettings": true, "safety_settings": true,
	"toolConfig": true, "tool_config": true,
	"cachedContent": true, "cached_content": true,
	"serviceTier": true, "service_tier": true,
	"generateContentRequest": true, "generate_content_request": true, // countTokens
}

// ServeHTTP answers one request; see GeminiProvider and the Model
// constants.
func (p *GeminiProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.active.Add(1)
	defer p.active.Add(-1)

	body, err := io.ReadAll(r.Body)
	if err != nil {
		p.cancelled.Add(1)
		return
	}
	n := p.record(r, body)

	version, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch version {
	case "v1beta", "v1", "v1alpha":
	default:
		rest = ""
	}
	model, method := "", ""
	switch name, ok := strings.CutPrefix(rest, "models/"); {
	case rest == "models" && r.Method == http.MethodGet:
	case ok && r.Method == http.MethodGet && name != "" && !strings.ContainsAny(name, "/:"):
		model = name
	case ok && r.Method == http.MethodPost && strings.Contains(name, ":"):
		i := strings.LastIndexByte(name, ':')
		model, method = name[:i], name[i+1:]
		switch method {
		case "generateContent", "streamGenerateContent", "countTokens":
		default:
			method = ""
		}
		if model == "" || method == "" {
			rest = ""
		}
	default:
		rest = ""
	}
	if rest == "" {
		p.writeError(w, false, &geminiError{Code: http.StatusNotFound, Message: "Method not found.", Status: "NOT_FOUND"})
		return
	}
	if e := p.authorize(r); e != nil {
		p.writeError(w, false, e)
		return
	}
	if method == "" {
		if model == "" {
			p.writeJSON(w, http.StatusOK, appendGeminiModels(nil, p.modelIDs))
			return
		}
		if !contains(p.modelIDs, model) {
			p.writeError(w, false, &geminiError{Code: http.StatusNotFound, Message: "models/" + model + " is not found for API version " + version + ", or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.", Status: "NOT_FOUND"})
			return
		}
		p.writeJSON(w, http.StatusOK, appendGeminiModel(nil, model))
		return
	}

	stream := method == "streamGenerateContent"
	sse := r.URL.Query().Get("alt") == "sse"
	array := stream && !sse // errors of a JSON array stream are arrays too
	conv, e := parseGemini(body, method == "countTokens")
	if conv != nil {
		conv.Model, conv.Stream = model, stream
		p.setConversation(n, conv)
	}
	if e != nil {
		p.writeError(w, array, e)
		return
	}
	b := behaviourOf(model)
	switch {
	case b == fail:
		p.writeError(w, array, geminiModelError(model, version))
		return
	case b == hang || (b == hold && !stream):
		p.hold(r.Context())
		return
	case method == "countTokens":
		out := append(strconv.AppendInt([]byte(`{"totalTokens":`), conv.PromptTokens, 10), `,"promptTokensDetails":[{"modality":"TEXT","tokenCount":`...)
		p.writeJSON(w, http.StatusOK, append(strconv.AppendInt(out, conv.PromptTokens, 10), "}]}"...))
		return
	case b == streamError && !stream:
		p.writeError(w, false, errUnavailable)
		return
	}
	pl := p.planFor(conv, b)
	g := geminiAnswer{pl: &pl, model: model, id: p.ident("", 23), thoughts: conv.Thoughts}
	if stream {
		p.stream(w, r, &g, sse)
		return
	}
	out := g.appendResponse(nil, g.parts(nil), pl.finish, pl.completion())
	if p.delay > 0 && !p.sleep(r.Context(), nil) {
		return
	}
	if b != cut {
		p.writeJSON(w, http.StatusOK, out)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	writeHalf(w, out)
}

// authorize checks x-goog-api-key or ?key= when a key is configured.
func (p *GeminiProvider) authorize(r *http.Request) *geminiError {
	if p.key == "" {
		return nil
	}
	key := r.Header.Get("X-Goog-Api-Key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	switch key {
	case p.key:
		return nil
	case "":
		return &geminiError{Code: http.StatusForbidden, Message: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", Status: "PERMISSION_DENIED"}
	}
	const msg = "API key not valid. Please pass a valid API key."
	return &geminiError{Code: http.StatusBadRequest, Message: msg, Status: "INVALID_ARGUMENT", Details: []any{
		map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": map[string]any{"service": "generativelanguage.googleapis.com"}},
		map[string]any{"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": msg},
	}}
}

var errUnavailable = &geminiError{Code: http.StatusServiceUnavailable, Message: "The model is overloaded. Please try again later.", Status: "UNAVAILABLE"}

// geminiModelError returns the error a ModelXxx error name asks for, worded
// as Google words it; ModelOverloaded is answered as ModelUnavailable.
func geminiModelError(model, version string) *geminiError {
	switch statusOf(model) {
	case http.StatusBadRequest:
		return invalidArgument("Request contains an invalid argument.")
	case http.StatusUnauthorized:
		return &geminiError{Code: http.StatusUnauthorized, Message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", Status: "UNAUTHENTICATED"}
	case http.StatusForbidden:
		return &geminiError{Code: http.StatusForbidden, Message: "The caller does not have permission", Status: "PERMISSION_DENIED"}
	case http.StatusNotFound:
		return &geminiError{Code: http.StatusNotFound, Message: "models/" + model + " is not found for API version " + version + ", or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.", Status: "NOT_FOUND"}
	case http.StatusTooManyRequests:
		return &geminiError{Code: http.StatusTooManyRequests, Message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.", Status: "RESOURCE_EXHAUSTED", Details: []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
		}}
	case http.StatusServiceUnavailable, statusOverloaded:
		return errUnavailable
	}
	return &geminiError{Code: http.StatusInternalServerError, Message: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", Status: "INTERNAL"}
}

// writeJSON writes a JSON answer with status.
func (p *GeminiProvider) writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes e with its status, inside an array when array is set
// (the error of a stream requested without alt=sse).
func (p *GeminiProvider) writeError(w http.ResponseWriter, array bool, e *geminiError) {
	out := appendGeminiError(nil, e, true)
	if array {
		out = append(append([]byte("[\n"), out...), "\n]"...)
	}
	p.writeJSON(w, e.Code, out)
}

// appendGeminiError appends {"error":e}: indented by two spaces as Google
// indents its error answers, or compact for an event.
func appendGeminiError(b []byte, e *geminiError, indent bool) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	_ = enc.Encode(struct {
		Error *geminiError `json:"error"`
	}{e})
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// get returns the field of v named camel, or else snake.
func get(v gjson.Result, camel, snake string) gjson.Result {
	if f := v.Get(camel); f.Exists() {
		return f
	}
	return v.Get(snake)
}

// parseGemini validates a generateContent (or, with count, countTokens)
// request and summarises it. It returns the summary whenever the body
// could be parsed, and the error Google would answer, if any.
func parseGemini(body []byte, count bool) (*Conversation, *geminiError) {
	if !gjson.ValidBytes(body) {
		return nil, invalidArgument("Invalid JSON payload received. Unexpected token.")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, invalidArgument("Invalid JSON payload received. Expected an object.")
	}
	var unknown string
	root.ForEach(func(k, _ gjson.Result) bool {
		if !geminiFields[k.String()] {
			unknown = k.String()
			return false
		}
		return true
	})
	if unknown != "" {
		return nil, invalidArgument("Invalid JSON payload received. Unknown name " + strconv.Quote(unknown) + ": Cannot find field.")
	}
	if count {
		if inner := get(root, "generateContentRequest", "generate_content_request"); inner.IsObject() {
			root = inner
		}
	}
	contents := root.Get("contents")
	if !contents.IsArray() || len(contents.Array()) == 0 {
		return nil, invalidArgument("* GenerateContentRequest.contents: contents is not specified\n")
	}
	conv := &Conversation{}
	for _, part := range get(root, "systemInstruction", "system_instruction").Get("parts").Array() {
		conv.System = joinText(conv.System, part.Get("text").String())
	}
	conv.PromptTokens = int64(Tokens(conv.System))
	config := get(root, "generationConfig", "generation_config")
	conv.MaxTokens = int(get(config, "maxOutputTokens", "max_output_tokens").Int())
	conv.Thoughts = get(get(config, "thinkingConfig", "thinking_config"), "includeThoughts", "include_thoughts").Bool()
	for _, tool := range root.Get("tools").Array() {
		for _, decl := range get(tool, "functionDeclarations", "function_declarations").Array() {
			conv.Tools = append(conv.Tools, decl.Get("name").String())
		}
	}

	list := contents.Array()
	conv.Turns = len(list)
	lastUser := -1
	for i, c := range list {
		if c.Get("role").String() != "model" {
			lastUser = i
		}
	}
	var e *geminiError
	calls := 0 // functionCall parts of the previous content, a model turn
	for i, c := range list {
		role := c.Get("role").String()
		if role != "" && role != "user" && role != "model" {
			if e == nil {
				e = invalidArgument("Please use a valid role: user, model.")
			}
			continue
		}
		var text string
		media, responses, callsHere := 0, 0, 0
		onlyResponses := true
		for _, part := range c.Get("parts").Array() {
			fc := get(part, "functionCall", "function_call")
			fr := get(part, "functionResponse", "function_response")
			sig := get(part, "thoughtSignature", "thought_signature")
			if !fr.Exists() {
				onlyResponses = false
			}
			switch {
			case part.Get("thought").Bool():
				if e == nil && role == "model" && sig.Exists() && !validSignature(sig.String(), Signature(part.Get("text").String())) {
					e = invalidArgument("Corrupted thought signature.")
				}
			case fc.Exists():
				if role != "model" {
					break
				}
				callsHere++
				if callsHere > 1 {
					break
				}
				name := fc.Get("name").String()
				switch {
				case e != nil:
				case !sig.Exists() || sig.String() == "":
					e = invalidArgument("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:" + name + "` , position " + strconv.Itoa(i+1) + ". Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.")
				case !validSignature(sig.String(), CallSignature(name, []byte(fc.Get("args").Raw))):
					e = invalidArgument("Corrupted thought signature.")
				}
			case fr.Exists():
				responses++
				result := responseText(fr.Get("response"))
				conv.PromptTokens += int64(Tokens(result))
				if i == lastUser {
					conv.ToolResults = append(conv.ToolResults, result)
				}
			case get(part, "inlineData", "inline_data").Exists(), get(part, "fileData", "file_data").Exists():
				media++
			case part.Get("text").Exists():
				text = joinText(text, part.Get("text").String())
			}
		}
		conv.PromptTokens += int64(Tokens(text))
		if role != "model" {
			if !onlyResponses {
				conv.Said = text
			}
			if i == lastUser {
				conv.Media = media
			}
		}
		if e == nil && responses > 0 && calls == 0 {
			e = invalidArgument("Please ensure that function response turn comes immediately after a function call turn.")
		}
		if e == nil && calls > 0 && responses != calls {
			e = invalidArgument("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.")
		}
		calls = callsHere
	}
	return conv, e
}

// validSignature reports whether a thoughtSignature sent back is want, or
// one of the values that skip the check.
func validSignature(got, want string) bool {
	return got == want || contains(skipSignatures, got)
}

// responseText returns the text of a function response: its only field when
// it has exactly one and that is a string, else the response as compact
// JSON.
func responseText(v gjson.Result) string {
	if !v.Exists() {
		return ""
	}
	if v.IsObject() {
		var only gjson.Result
		n := 0
		v.ForEach(func(_, f gjson.Result) bool {
			only = f
			n++
			return n < 2
		})
		if n == 1 && only.Type == gjson.String {
			return only.Str
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(v.Raw)) != nil {
		return v.Raw
	}
	return buf.String()
}

// geminiFinish names each finish as Gemini does.
var geminiFinish = [...]string{finishStop: "STOP", finishLength: "MAX_TOKENS", finishTools: "STOP"}

// geminiAnswer writes a plan as GenerateContentResponses.
type geminiAnswer struct {
	pl       *plan
	model    string
	id       string
	thoughts bool // send the reasoning as a thought part
}

// appendThought appends the thought part.
func (g *geminiAnswer) appendThought(b []byte) []byte {
	b = append(b, `{"text":`...)
	b = appendString(b, g.pl.reasoning)
	b = append(b, `,"thought":true,"thoughtSignature":`...)
	b = appendString(b, Signature(g.pl.reasoning))
	return append(b, '}')
}

// appendTextPart appends a text part.
func appendTextPart(b []byte, text string) []byte {
	b = append(b, `{"text":`...)
	b = appendString(b, text)
	return append(b, '}')
}

// appendCalls appends the functionCall parts, the first one signed.
func (g *geminiAnswer) appendCalls(b []byte) []byte {
	for i, call := range g.pl.calls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"functionCall":{"name":`...)
		b = appendString(b, call.name)
		b = append(b, `,"args":`...)
		b = append(b, call.args...)
		b = append(b, '}')
		if i == 0 {
			b = append(b, `,"thoughtSignature":`...)
			b = appendString(b, CallSignature(call.name, []byte(call.args)))
		}
		b = append(b, '}')
	}
	return b
}

// parts appends every part of a whole answer.
func (g *geminiAnswer) parts(b []byte) []byte {
	sep := false
	if g.thoughts && g.pl.reasoning != "" {
		b = g.appendThought(b)
		sep = true
	}
	if g.pl.text != "" || len(g.pl.calls) == 0 {
		if sep {
			b = append(b, ',')
		}
		b = appendTextPart(b, g.pl.text)
		sep = true
	}
	if len(g.pl.calls) > 0 {
		if sep {
			b = append(b, ',')
		}
		b = g.appendCalls(b)
	}
	return b
}

// appendResponse appends a GenerateContentResponse whose candidate holds
// parts, the finish reason last unless it is noFinish, and usage with output
// candidate tokens (reasoning included) so far.
func (g *geminiAnswer) appendResponse(b, parts []byte, last finish, output int64) []byte {
	b = append(b, `{"candidates":[{"content":{"parts":[`...)
	b = append(b, parts...)
	b = append(b, `],"role":"model"}`...)
	if last >= 0 {
		b = append(b, `,"finishReason":"`...)
		b = append(b, geminiFinish[last]...)
		b = append(b, '"')
	}
	b = append(b, `,"index":0}]`...)
	if g.pl.withUsage {
		b = g.appendUsage(b, output)
	}
	b = append(b, `,"modelVersion":`...)
	b = appendString(b, g.model)
	b = append(b, `,"responseId":`...)
	b = appendString(b, g.id)
	return append(b, '}')
}

// appendUsage appends usageMetadata for output tokens so far, reasoning
// included; the reasoning is counted whole from the first chunk, as the
// model thinks before it answers.
func (g *geminiAnswer) appendUsage(b []byte, output int64) []byte {
	pl := g.pl
	candidates := max(output-pl.thinking, 0)
	b = append(b, `,"usageMetadata":{`...)
	sep := false
	field := func(name string, n int64) {
		if n == 0 {
			return
		}
		if sep {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, n, 10)
		sep = true
	}
	field("promptTokenCount", pl.prompt)
	field("candidatesTokenCount", candidates)
	field("totalTokenCount", pl.prompt+candidates+pl.thinking)
	field("cachedContentTokenCount", pl.cached)
	if pl.prompt > 0 {
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"promptTokensDetails":[{"modality":"TEXT","tokenCount":`...)
		b = strconv.AppendInt(b, pl.prompt, 10)
		b = append(b, "}]"...)
		sep = true
	}
	field("thoughtsTokenCount", pl.thinking)
	return append(b, '}')
}

// noFinish marks a chunk that is not the last.
const noFinish finish = -1

// geminiStream writes one streamGenerateContent answer, as server-sent
// events or as a JSON array.
type geminiStream struct {
	eventWriter
	sse   bool
	first bool // no element written yet (array stream)
	buf   []byte
}

// send writes one element: an event, or the next array element.
func (s *geminiStream) send(data []byte) bool {
	b := s.buf[:0]
	switch {
	case s.sse:
		b = append(append(append(b, "data: "...), data...), "\r\n\r\n"...)
	case s.first:
		b = append(append(b, '['), data...)
	default:
		b = append(append(b, ",\r\n"...), data...)
	}
	s.first = false
	s.buf = b
	return s.write(b)
}

// end closes an array stream.
func (s *geminiStream) end() {
	if !s.sse {
		s.write([]byte("]"))
	}
}

// stream writes the plan as a stream; see GeminiProvider.
func (p *GeminiProvider) stream(w http.ResponseWriter, r *http.Request, g *geminiAnswer, sse bool) {
	h := w.Header()
	if sse {
		h.Set("Content-Type", "text/event-stream")
		h.Set("Content-Disposition", "attachment")
	} else {
		h.Set("Content-Type", "application/json; charset=UTF-8")
	}
	s := &geminiStream{eventWriter: p.newEventWriter(w, r), sse: sse, first: true}
	pl := g.pl
	output := pl.thinking
	pieces := pl.pieces(p.chunks)
	if len(pieces) == 0 && len(pl.calls) == 0 {
		pieces = []string{""}
	}
	if g.thoughts && pl.reasoning != "" {
		if !s.send(g.appendResponse(nil, g.appendThought(nil), noFinish, output)) {
			return
		}
	}
	for i, piece := range pieces {
		output += int64(Tokens(piece))
		last := noFinish
		if i == len(pieces)-1 && len(pl.calls) == 0 {
			last = pl.finish
		}
		if !s.send(g.appendResponse(nil, appendTextPart(nil, piece), last, output)) {
			return
		}
		switch pl.b {
		case cut:
			panic(http.ErrAbortHandler)
		case streamError:
			s.send(appendGeminiError(nil, errUnavailable, !s.sse))
			s.end()
			return
		case hold:
			p.hold(s.ctx)
			return
		}
	}
	if len(pl.calls) > 0 {
		if !s.send(g.appendResponse(nil, g.appendCalls(nil), pl.finish, pl.completion())) {
			return
		}
	}
	s.end()
}

// appendGeminiModels appends a models list.
func appendGeminiModels(b []byte, ids []string) []byte {
	b = append(b, `{"models":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendGeminiModel(b, id)
	}
	return append(b, "]}"...)
}

// appendGeminiModel appends one model, in Google's shape.
func appendGeminiModel(b []byte, id string) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, "models/"+id)
	b = append(b, `,"version":"001","displayName":`...)
	name := displayName(id)
	b = appendString(b, name)
	b = append(b, `,"description":`...)
	b = appendString(b, name+", served by relaytest.")
	return append(b, `,"inputTokenLimit":1048576,"outputTokenLimit":65536,"supportedGenerationMethods":["generateContent","countTokens","createCachedContent","batchGenerateContent"],"temperature":1,"topP":0.95,"topK":64,"maxTemperature":2,"thinking":true}`...)
}
