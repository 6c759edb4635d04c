package gemini

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// This file decodes GenerateContentRequest bodies into the neutral form
// (encode.go writes them), for a Gemini client's request to a channel of
// another protocol, in one pass over the body with a scanner:
//
//   - contents become messages, one per content: role "user", none or
//     "function" is RoleUser, "model" is RoleAssistant; systemInstruction
//     is System (text only);
//   - text parts are KindText; thought parts (thought: true) are
//     KindThinking with their thoughtSignature as Signature (consecutive
//     thought parts of a content merge into one until one carries a
//     signature); a thoughtSignature on any other part that is not a
//     function call becomes a KindThinking part with no text and that
//     Signature, just before the part, so that the signature survives;
//   - inlineData is KindMedia with Data (normalized to standard padded
//     base64), fileData KindMedia with URL; generationConfig.mediaResolution
//     and a part's mediaResolution become Media.Detail (LOW "low", HIGH and
//     ULTRA_HIGH "high", MEDIUM "auto");
//   - functionCall is KindToolCall with its thoughtSignature as Signature;
//     a call without an id gets "call_<n>", n counting the request's calls
//     from 0;
//   - functionResponse is KindToolResult: CallID is its id, else the id of
//     the first call of that name not answered yet (else the latest call
//     of that name); the content is response.output (a string as text,
//     anything else as JSON text), response.error (IsError, likewise),
//     response.result when it is the only member (the Google SDKs'
//     automatic function calling writes {"result": value}), or the whole
//     response as JSON text; media in its parts become media parts of the
//     result;
//   - functionDeclarations become tools: parameters (Gemini's Schema) are
//     converted by SchemaToJSONSchema, parametersJsonSchema is kept as it
//     is but for upper-case type names (LowerJSONSchemaTypes); response schemas and behavior, which only inform or schedule,
//     are left out;
//   - toolConfig.functionCallingConfig: AUTO and VALIDATED are ToolAuto,
//     NONE ToolNone, ANY ToolRequired, or ToolNamed when it allows one
//     function; when it allows several, the tools are narrowed to those
//     and the choice is ToolRequired, which says the same;
//   - generationConfig maps field by field; responseMimeType
//     application/json is FormatJSON, or FormatJSONSchema with
//     responseSchema (converted) or responseJsonSchema (kept, type names
//     lower-cased);
//     thinkingConfig is Reasoning: thinkingBudget 0 is Off, -1 a dynamic
//     Budget, n a Budget of n; thinkingLevel an Effort; includeThoughts
//     false (or missing) sets Hide;
//   - safetySettings, labels, serviceTier, enableEnhancedCivicAnswers and
//     imageConfig are ignored (other providers apply their own policies
//     and tiers; no image is generated), and so are partMetadata (the
//     client's own notes) and a function response's willContinue and
//     scheduling (Live API only);
//   - refused with EINVALID naming the field, because another protocol
//     cannot carry them: cachedContent, server-side tools (googleSearch,
//     codeExecution, urlContext, ...), executableCode,
//     codeExecutionResult, videoMetadata, candidateCount > 1, response
//     modalities other than TEXT, responseLogprobs, speechConfig, response
//     MIME types other than application/json and text/plain, and any field
//     the Gemini API does not define (Google refuses those too).

// decoder holds what decoding one request learns along the way. It reads
// the body in one pass with a scanner; strings are views of the body,
// which stays as it is for the request's life.
type decoder struct {
	sc      jsontext.Scanner
	calls   []pendingCall
	ncalls  int
	detail  string   // Media.Detail from generationConfig.mediaResolution
	allowed []string // functionCallingConfig.allowedFunctionNames with mode ANY
}

// pendingCall is a function call of the history, for matching responses.
type pendingCall struct {
	id, name string
	answered bool
}

func errJSON() error {
	return aiproxy.Errorf(aiproxy.EINVALID, "Invalid JSON payload received: the request body must be a JSON object.")
}

// DecodeRequest decodes a Gemini request (generateContent, or countTokens
// with contents or a generateContentRequest) into the neutral form; the
// model is req.Model, from the path. It returns EINVALID naming the field
// for a body Gemini would refuse or a feature another protocol cannot
// carry (see the list above), and EINVALID for a body that is not a JSON
// object.
func (Codec) DecodeRequest(req *relay.Request) (*chat.Request, error) {
	var d decoder
	sc := &d.sc
	sc.Reset(req.Body)
	if sc.Peek() != '{' {
		return nil, errJSON()
	}
	var at *path
	if req.Op == relay.OpCountTokens {
		g, err := countRequest(sc.Input())
		if err != nil {
			return nil, err
		}
		if g != "" {
			sc.ResetString(g)
			at = &path{name: "generateContentRequest"}
		}
	}
	c := &chat.Request{Model: req.Model, Stream: req.Stream}
	if err := d.request(c, at); err != nil {
		if !sc.OK() {
			return nil, errJSON()
		}
		return nil, err
	}
	return c, nil
}

// countRequest returns the generateContentRequest of a countTokens body,
// "" when it has none (its contents are then the request).
func countRequest(body string) (string, error) {
	var sc jsontext.Scanner
	sc.ResetString(body)
	sc.Expect('{')
	g := ""
	for n := 0; sc.More('}', &n); {
		switch sc.Key() {
		case "generateContentRequest", "generate_content_request":
			if sc.Peek() != '{' {
				sc.Skip()
				if !sc.OK() {
					return "", errJSON()
				}
				return "", aiproxy.FieldErrorf("generateContentRequest", "generateContentRequest must be an object.")
			}
			if g == "" {
				g = sc.Raw()
				continue
			}
			sc.Skip()
		default:
			sc.Skip()
		}
	}
	if !sc.End() {
		return "", errJSON()
	}
	return g, nil
}

// request decodes a GenerateContentRequest object into c.
func (d *decoder) request(c *chat.Request, at *path) error {
	sc := &d.sc
	if !sc.Expect('{') {
		return errJSON()
	}
	var err error
	for n := 0; err == nil && sc.More('}', &n); {
		switch k := sc.Key(); k {
		case "contents":
			f := at.key("contents")
			err = d.contents(c, &f)
		case "systemInstruction", "system_instruction":
			f := at.key("systemInstruction")
			err = d.system(c, &f)
		case "tools":
			f := at.key("tools")
			err = d.tools(c, &f)
		case "toolConfig", "tool_config":
			f := at.key("toolConfig")
			err = d.toolConfig(c, &f)
		case "generationConfig", "generation_config":
			f := at.key("generationConfig")
			err = d.generationConfig(c, &f)
		case "safetySettings", "safety_settings", "labels", "serviceTier", "service_tier", "model":
			sc.Skip()
		case "cachedContent", "cached_content":
			err = aiproxy.FieldErrorf(at.field("cachedContent"), "cachedContent names content cached at Google; a channel of another protocol cannot serve it.")
		default:
			err = unknownField(at.field(k))
		}
	}
	if err != nil {
		return err
	}
	if !sc.End() {
		return errJSON()
	}
	if len(d.allowed) > 1 {
		c.Tools = narrow(c.Tools, d.allowed)
	}
	if d.detail != "" {
		setDetail(c.Messages, d.detail)
	}
	return nil
}

func unknownField(field string) error {
	return aiproxy.FieldErrorf(field, "Invalid JSON payload received. Unknown name %q.", field)
}

// notA returns the error of a value of the wrong type, having skipped it.
func (d *decoder) notA(at *path, msg string) error {
	d.sc.Skip()
	return aiproxy.FieldErrorf(at.String(), "%s", msg)
}

// narrow keeps the tools named in allowed.
func narrow(tools []chat.Tool, allowed []string) []chat.Tool {
	out := tools[:0]
	for _, t := range tools {
		for _, n := range allowed {
			if t.Name == n {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// setDetail gives every media part without a Detail of its own detail.
func setDetail(msgs []chat.Message, detail string) {
	for i := range msgs {
		for j := range msgs[i].Parts {
			p := &msgs[i].Parts[j]
			if p.Kind == chat.KindMedia && p.Media.Detail == "" {
				p.Media.Detail = detail
			}
			if p.Kind == chat.KindToolResult {
				for k := range p.Result.Parts {
					if m := p.Result.Parts[k].Media; m != nil && m.Detail == "" {
						m.Detail = detail
					}
				}
			}
		}
	}
}

// mediaDetail returns the Media.Detail of a Gemini media resolution.
func mediaDetail(level string) string {
	switch level {
	case "MEDIA_RESOLUTION_LOW":
		return "low"
	case "MEDIA_RESOLUTION_MEDIUM":
		return "auto"
	case "MEDIA_RESOLUTION_HIGH", "MEDIA_RESOLUTION_ULTRA_HIGH":
		return "high"
	}
	return ""
}

// path names a field of the request, for error messages: it is built up
// on the stack as decoding descends, and becomes text only for an error.
// A nil path is the body itself.
type path struct {
	up   *path
	name string // a member's name; "" for an element of an array
	i    int
}

// key returns the path of p's member name.
func (p *path) key(name string) path { return path{up: p, name: name} }

// elem returns the path of p's element i.
func (p *path) elem(i int) path { return path{up: p, i: i} }

// field returns the path of p's member name as text.
func (p *path) field(name string) string {
	q := p.key(name)
	return q.String()
}

// String returns the path as text: "contents[2].parts[0].text". (It
// walks the chain in a loop: a recursive walk would make every path
// escape to the heap.)
func (p *path) String() string {
	var chain [maxSchemaDepth + 16]*path
	n := 0
	for q := p; q != nil && n < len(chain); q = q.up {
		chain[n] = q
		n++
	}
	var b []byte
	for i := n - 1; i >= 0; i-- {
		q := chain[i]
		if q.name == "" {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(q.i), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, q.name...)
	}
	return string(b)
}

// contents decodes the history.
func (d *decoder) contents(c *chat.Request, at *path) error {
	sc := &d.sc
	if sc.Peek() != '[' {
		return d.notA(at, "contents must be an array.")
	}
	sc.Open('[')
	var err error
	for i := 0; err == nil && sc.More(']', &i); {
		f := at.elem(i - 1)
		if sc.Peek() != '{' {
			return d.notA(&f, "A content must be an object.")
		}
		sc.Open('{')
		m := chat.Message{Role: chat.RoleUser}
		for n := 0; err == nil && sc.More('}', &n); {
			switch k := sc.Key(); k {
			case "role":
				switch sc.Text() {
				case "", "user", "function":
				case "model":
					m.Role = chat.RoleAssistant
				default:
					err = aiproxy.FieldErrorf(f.field("role"), "Please use a valid role: user, model.")
				}
			case "parts":
				pf := f.key("parts")
				m.Parts, err = d.parts(&pf, m.Parts)
			default:
				err = unknownField(f.field(k))
			}
		}
		if err == nil && len(m.Parts) > 0 {
			c.Messages = append(c.Messages, m)
		}
	}
	return err
}

// system decodes systemInstruction: a content of text parts.
func (d *decoder) system(c *chat.Request, at *path) error {
	sc := &d.sc
	if sc.Peek() != '{' {
		return d.notA(at, "systemInstruction must be a content object.")
	}
	sc.Open('{')
	var err error
	for n := 0; err == nil && sc.More('}', &n); {
		switch k := sc.Key(); k {
		case "role":
			sc.Skip()
		case "parts":
			var parts []chat.Part
			pf := at.key("parts")
			if parts, err = d.parts(&pf, nil); err != nil {
				return err
			}
			for i, p := range parts {
				switch p.Kind {
				case chat.KindText:
					c.System = append(c.System, p)
				case chat.KindThinking:
					// A signature on a system text part has nothing to
					// come back to.
				default:
					e := pf.elem(i)
					return aiproxy.FieldErrorf(e.String(), "systemInstruction holds text only; a %s part cannot be carried to a channel of another protocol.", p.Kind)
				}
			}
		default:
			err = unknownField(at.field(k))
		}
	}
	return err
}

// parts decodes an array of parts, appending them to out.
func (d *decoder) parts(at *path, out []chat.Part) ([]chat.Part, error) {
	sc := &d.sc
	if sc.Peek() != '[' {
		return out, d.notA(at, "parts must be an array.")
	}
	sc.Open('[')
	var err error
	for i := 0; err == nil && sc.More(']', &i); {
		f := at.elem(i - 1)
		out, err = d.part(&f, out)
	}
	return out, err
}

// part decodes one part.
func (d *decoder) part(f *path, out []chat.Part) ([]chat.Part, error) {
	sc := &d.sc
	if sc.Peek() != '{' {
		return out, d.notA(f, "A part must be an object.")
	}
	sc.Open('{')
	var (
		text, sig, level string
		hasText, thought bool
		media            *chat.Media
		call             *chat.ToolCall
		res              *chat.ToolResult
		err              error
	)
	data := 0
	for n := 0; err == nil && sc.More('}', &n); {
		switch k := sc.Key(); k {
		case "text":
			if sc.Peek() != '"' {
				return out, d.notA(&path{up: f, name: "text"}, "text must be a string.")
			}
			text, hasText = sc.Str(), true
			data++
		case "thought":
			thought = sc.Bool()
		case "thoughtSignature", "thought_signature":
			sig = sc.Text()
		case "inlineData", "inline_data":
			mf := f.key("inlineData")
			media, err = d.media(&mf, true)
			data++
		case "fileData", "file_data":
			mf := f.key("fileData")
			media, err = d.media(&mf, false)
			data++
		case "functionCall", "function_call":
			cf := f.key("functionCall")
			call, err = d.functionCall(&cf)
			data++
		case "functionResponse", "function_response":
			rf := f.key("functionResponse")
			res, err = d.functionResponse(&rf)
			data++
		case "mediaResolution", "media_resolution":
			level = d.resolution()
		case "partMetadata", "part_metadata":
			sc.Skip()
		case "executableCode", "executable_code", "codeExecutionResult", "code_execution_result",
			"toolCall", "tool_call", "toolResponse", "tool_response":
			err = aiproxy.FieldErrorf(f.field(camel(k)), "%s parts belong to tools that run at Google; a channel of another protocol cannot carry them.", camel(k))
		case "videoMetadata", "video_metadata", "mediaProcessing", "media_processing",
			"audioTranscription", "audio_transcription", "speechMetadata", "speech_metadata":
			err = aiproxy.FieldErrorf(f.field(camel(k)), "%s is specific to Gemini; a channel of another protocol cannot carry it.", camel(k))
		default:
			err = unknownField(f.field(k))
		}
	}
	if err != nil {
		return out, err
	}
	if data > 1 {
		return out, aiproxy.FieldErrorf(f.String(), "A part holds exactly one of text, inlineData, fileData, functionCall and functionResponse.")
	}
	switch {
	case call != nil:
		call.Signature, _ = readSignature(sig)
		if call.ID == "" {
			call.ID = madeUpID(d.ncalls)
		}
		d.ncalls++
		d.calls = append(d.calls, pendingCall{id: call.ID, name: call.Name})
		return append(out, chat.Part{Kind: chat.KindToolCall, Call: call}), nil
	case res != nil:
		d.answer(res)
		if res.Name == "" {
			return out, aiproxy.FieldErrorf(f.field("functionResponse")+".name", "functionResponse needs the name of the function.")
		}
		return append(out, chat.Part{Kind: chat.KindToolResult, Result: res}), nil
	case thought || (data == 0 && sig != ""):
		sig, redacted := readSignature(sig)
		if redacted {
			return append(out, chat.Part{Kind: chat.KindRedactedThinking, Signature: sig}), nil
		}
		if n := len(out); n > 0 && out[n-1].Kind == chat.KindThinking && out[n-1].Signature == "" && thought {
			out[n-1].Text += text
			out[n-1].Signature = sig
			return out, nil
		}
		if text == "" && sig == "" {
			return out, nil
		}
		return append(out, chat.Part{Kind: chat.KindThinking, Text: text, Signature: sig}), nil
	}
	if sig != "" {
		sig, redacted := readSignature(sig)
		kind := chat.KindThinking
		if redacted {
			kind = chat.KindRedactedThinking
		}
		out = append(out, chat.Part{Kind: kind, Signature: sig})
	}
	switch {
	case hasText:
		if text != "" {
			out = append(out, chat.Part{Kind: chat.KindText, Text: text})
		}
	case media != nil:
		media.Detail = mediaDetail(level)
		out = append(out, chat.Part{Kind: chat.KindMedia, Media: media})
	}
	return out, nil
}

// resolution reads a part's mediaResolution: its level.
func (d *decoder) resolution() string {
	sc := &d.sc
	if sc.Peek() != '{' {
		sc.Skip()
		return ""
	}
	sc.Open('{')
	level := ""
	for n := 0; sc.More('}', &n); {
		if sc.Key() == "level" {
			level = sc.Text()
		} else {
			sc.Skip()
		}
	}
	return level
}

// media decodes a Blob (inline) or a FileData.
func (d *decoder) media(f *path, inline bool) (*chat.Media, error) {
	sc := &d.sc
	what := "fileData"
	if inline {
		what = "inlineData"
	}
	if sc.Peek() != '{' {
		return nil, d.notA(f, what+" must be an object.")
	}
	sc.Open('{')
	m := &chat.Media{}
	var data, uri string
	for n := 0; sc.More('}', &n); {
		switch k := sc.Key(); k {
		case "mimeType", "mime_type":
			m.MediaType = sc.Text()
		case "displayName", "display_name":
			m.Name = sc.Text()
		case "data":
			if !inline {
				return nil, unknownField(f.field(k))
			}
			data = sc.Text()
		case "fileUri", "file_uri":
			if inline {
				return nil, unknownField(f.field(k))
			}
			uri = sc.Text()
		default:
			return nil, unknownField(f.field(k))
		}
	}
	if !inline {
		if uri == "" {
			return nil, aiproxy.FieldErrorf(f.field("fileUri"), "fileData needs a fileUri.")
		}
		m.URL = uri
		return m, nil
	}
	if m.MediaType == "" {
		return nil, aiproxy.FieldErrorf(f.field("mimeType"), "inlineData needs a mimeType.")
	}
	var ok bool
	if m.Data, ok = stdBase64(data); !ok || data == "" {
		return nil, aiproxy.FieldErrorf(f.field("data"), "inlineData.data must be base64-encoded bytes.")
	}
	return m, nil
}

// madeUpID returns the id of the n-th call that came without one.
func madeUpID(n int) string { return "call_" + strconv.Itoa(n) }

// functionCall decodes a FunctionCall; the caller gives it its id and
// signature.
func (d *decoder) functionCall(f *path) (*chat.ToolCall, error) {
	sc := &d.sc
	if sc.Peek() != '{' {
		return nil, d.notA(f, "functionCall must be an object.")
	}
	sc.Open('{')
	call := &chat.ToolCall{Arguments: "{}"}
	for n := 0; sc.More('}', &n); {
		switch k := sc.Key(); k {
		case "id":
			call.ID = sc.Text()
		case "name":
			call.Name = sc.Text()
		case "args":
			if sc.Peek() != '{' {
				return nil, d.notA(&path{up: f, name: "args"}, "functionCall.args must be an object.")
			}
			call.Arguments = sc.Raw()
		case "partialArgs", "partial_args", "willContinue", "will_continue":
			sc.Skip()
		default:
			return nil, unknownField(f.field(k))
		}
	}
	if call.Name == "" && sc.OK() {
		return nil, aiproxy.FieldErrorf(f.field("name"), "functionCall needs a name.")
	}
	return call, nil
}

// functionResponse decodes a FunctionResponse; the caller matches it with
// its call.
func (d *decoder) functionResponse(f *path) (*chat.ToolResult, error) {
	sc := &d.sc
	if sc.Peek() != '{' {
		return nil, d.notA(f, "functionResponse must be an object.")
	}
	sc.Open('{')
	res := &chat.ToolResult{}
	var media []chat.Part
	for n := 0; sc.More('}', &n); {
		switch k := sc.Key(); k {
		case "id":
			res.CallID = sc.Text()
		case "name":
			res.Name = sc.Text()
		case "response":
			if sc.Peek() != '{' {
				return nil, d.notA(&path{up: f, name: "response"}, "functionResponse.response must be an object.")
			}
			res.Parts, res.IsError = d.response(res.Parts)
		case "parts":
			pf := f.key("parts")
			var err error
			if media, err = d.responseParts(&pf, media); err != nil {
				return nil, err
			}
		case "willContinue", "will_continue", "scheduling":
			sc.Skip()
		default:
			return nil, unknownField(f.field(k))
		}
	}
	res.Parts = append(res.Parts, media...)
	return res, nil
}

// response reads a function response's response object: its output (a
// string as text, anything else as JSON text), its error (likewise,
// flagging the result), or, with neither, its result when that is all it
// holds (the Google SDKs' automatic function calling and the Agent
// Development Kit wrap a function's return value as {"result": value}),
// else the whole object as JSON text (Google's rule).
func (d *decoder) response(out []chat.Part) ([]chat.Part, bool) {
	sc := &d.sc
	start := sc.Offset()
	sc.Open('{')
	var output, errText, result *chat.Part
	members := 0
	for n := 0; sc.More('}', &n); {
		members++
		switch k := sc.Key(); {
		case k == "output" && output == nil:
			p := d.jsonText()
			output = &p
		case k == "error" && errText == nil:
			p := d.jsonText()
			errText = &p
		case k == "result" && result == nil:
			p := d.jsonText()
			result = &p
		default:
			sc.Skip()
		}
	}
	if output == nil && errText == nil {
		if result != nil && members == 1 {
			return append(out, *result), false
		}
		return append(out, chat.Part{Kind: chat.KindText, Text: sc.Input()[start:sc.Offset()]}), false
	}
	if output != nil {
		out = append(out, *output)
	}
	if errText != nil {
		out = append(out, *errText)
	}
	return out, errText != nil
}

// jsonText reads a value as a text part: a string's text, anything else
// as JSON.
func (d *decoder) jsonText() chat.Part {
	if d.sc.Peek() == '"' {
		return chat.Part{Kind: chat.KindText, Text: d.sc.Str()}
	}
	return chat.Part{Kind: chat.KindText, Text: d.sc.Raw()}
}

// responseParts reads the media parts of a function response.
func (d *decoder) responseParts(at *path, out []chat.Part) ([]chat.Part, error) {
	sc := &d.sc
	if sc.Peek() != '[' {
		return out, d.notA(at, "functionResponse.parts must be an array.")
	}
	sc.Open('[')
	for i := 0; sc.More(']', &i); {
		pf := at.elem(i - 1)
		if sc.Peek() != '{' {
			return out, d.notA(&pf, "A part must be an object.")
		}
		sc.Open('{')
		for n := 0; sc.More('}', &n); {
			switch k := sc.Key(); k {
			case "inlineData", "inline_data", "fileData", "file_data":
				inline := k == "inlineData" || k == "inline_data"
				mf := pf.key(camel(k))
				m, err := d.media(&mf, inline)
				if err != nil {
					return out, err
				}
				out = append(out, chat.Part{Kind: chat.KindMedia, Media: m})
			case "mediaProcessing", "media_processing":
				sc.Skip()
			default:
				return out, unknownField(pf.field(k))
			}
		}
	}
	return out, nil
}

// answer finds the call a response answers: by id, else the first call of
// its name not answered yet, else the latest call of its name. It fills
// the response's CallID (made up when no call matches) and Name (from the
// call, when the response has none).
func (d *decoder) answer(res *chat.ToolResult) {
	match := -1
	if res.CallID != "" {
		for i := len(d.calls) - 1; i >= 0; i-- {
			if d.calls[i].id == res.CallID {
				match = i
				break
			}
		}
	} else {
		for i := range d.calls {
			if d.calls[i].name == res.Name && !d.calls[i].answered {
				match = i
				break
			}
		}
		if match < 0 {
			for i := len(d.calls) - 1; i >= 0; i-- {
				if d.calls[i].name == res.Name {
					match = i
					break
				}
			}
		}
	}
	if match < 0 {
		if res.CallID == "" {
			res.CallID = madeUpID(d.ncalls)
			d.ncalls++
		}
		return
	}
	c := &d.calls[match]
	c.answered = true
	res.CallID = c.id
	if res.Name == "" {
		res.Name = c.name
	}
}

// serverTools are Tool fields for tools that run at Google.
var serverTools = map[string]bool{
	"googleSearch": true, "googleSearchRetrieval": true, "codeExecution": true, "urlContext": true,
	"fileSearch": true, "computerUse": true, "googleMaps": true, "retrieval": true,
	"enterpriseWebSearch": true, "mcpServers": true, "parallelAiSearch": true, "exaAiSearch": true,
}

// tools decodes the tools' function declarations.
func (d *decoder) tools(c *chat.Request, at *path) error {
	sc := &d.sc
	if sc.Peek() != '[' {
		return d.notA(at, "tools must be an array.")
	}
	sc.Open('[')
	var err error
	for i := 0; err == nil && sc.More(']', &i); {
		f := at.elem(i - 1)
		if sc.Peek() != '{' {
			return d.notA(&f, "A tool must be an object.")
		}
		sc.Open('{')
		for n := 0; err == nil && sc.More('}', &n); {
			switch k := sc.Key(); {
			case k == "functionDeclarations" || k == "function_declarations":
				df := f.key("functionDeclarations")
				err = d.declarations(c, &df)
			case serverTools[camel(k)]:
				err = aiproxy.FieldErrorf(f.field(camel(k)), "The %s tool runs at Google; a channel of another protocol cannot serve it.", camel(k))
			default:
				err = unknownField(f.field(k))
			}
		}
	}
	return err
}

// declarations decodes functionDeclarations.
func (d *decoder) declarations(c *chat.Request, at *path) error {
	sc := &d.sc
	if sc.Peek() != '[' {
		return d.notA(at, "functionDeclarations must be an array.")
	}
	sc.Open('[')
	for i := 0; sc.More(']', &i); {
		f := at.elem(i - 1)
		if sc.Peek() != '{' {
			return d.notA(&f, "A function declaration must be an object.")
		}
		sc.Open('{')
		var t chat.Tool
		var schema, jsonSchema string
		for n := 0; sc.More('}', &n); {
			switch k := sc.Key(); k {
			case "name":
				t.Name = sc.Text()
			case "description":
				t.Description = sc.Text()
			case "parameters":
				schema = sc.Raw()
			case "parametersJsonSchema", "parameters_json_schema":
				jsonSchema = sc.Raw()
			case "response", "responseJsonSchema", "response_json_schema", "behavior":
				sc.Skip()
			default:
				return unknownField(f.field(k))
			}
		}
		if !sc.OK() {
			return errJSON()
		}
		if t.Name == "" {
			return aiproxy.FieldErrorf(f.field("name"), "A function declaration needs a name.")
		}
		switch {
		case schema != "" && jsonSchema != "":
			return aiproxy.FieldErrorf(f.field("parametersJsonSchema"), "parameters and parametersJsonSchema are mutually exclusive.")
		case jsonSchema != "":
			if jsonSchema[0] != '{' {
				return aiproxy.FieldErrorf(f.field("parametersJsonSchema"), "parametersJsonSchema must be a JSON Schema object.")
			}
			js, err := LowerJSONSchemaTypes(jsonSchema)
			if err != nil {
				sf := f.key("parametersJsonSchema")
				return schemaError(&sf, err)
			}
			t.Parameters = json.RawMessage(js)
		case schema != "" && schema != "null":
			b, err := appendSchema(make([]byte, 0, len(schema)+16), schema, 0)
			if err != nil {
				sf := f.key("parameters")
				return schemaError(&sf, err)
			}
			t.Parameters = b
		}
		c.Tools = append(c.Tools, t)
	}
	return nil
}

// toolConfig decodes functionCallingConfig.
func (d *decoder) toolConfig(c *chat.Request, at *path) error {
	sc := &d.sc
	if sc.Peek() != '{' {
		return d.notA(at, "toolConfig must be an object.")
	}
	sc.Open('{')
	var err error
	for n := 0; err == nil && sc.More('}', &n); {
		switch k := sc.Key(); k {
		case "functionCallingConfig", "function_calling_config":
			f := at.key("functionCallingConfig")
			err = d.functionCalling(c, &f)
		case "retrievalConfig", "retrieval_config", "includeServerSideToolInvocations", "include_server_side_tool_invocations":
			sc.Skip()
		default:
			err = unknownField(at.field(k))
		}
	}
	return err
}

func (d *decoder) functionCalling(c *chat.Request, f *path) error {
	sc := &d.sc
	if sc.Peek() != '{' {
		return d.notA(f, "functionCallingConfig must be an object.")
	}
	sc.Open('{')
	var mode string
	var names []string
	for n := 0; sc.More('}', &n); {
		switch k := sc.Key(); k {
		case "mode":
			mode = sc.Text()
		case "allowedFunctionNames", "allowed_function_names":
			names = d.strings(names)
		case "streamFunctionCallArguments", "stream_function_call_arguments":
			sc.Skip()
		default:
			return unknownField(f.field(k))
		}
	}
	switch mode {
	case "", "MODE_UNSPECIFIED", "AUTO", "VALIDATED":
		c.ToolChoice = &chat.ToolChoice{Mode: chat.ToolAuto}
	case "NONE":
		c.ToolChoice = &chat.ToolChoice{Mode: chat.ToolNone}
	case "ANY":
		switch len(names) {
		case 0:
			c.ToolChoice = &chat.ToolChoice{Mode: chat.ToolRequired}
		case 1:
			c.ToolChoice = &chat.ToolChoice{Mode: chat.ToolNamed, Name: names[0]}
		default:
			c.ToolChoice = &chat.ToolChoice{Mode: chat.ToolRequired}
			d.allowed = names
		}
	default:
		return aiproxy.FieldErrorf(f.field("mode"), "Unknown function calling mode %q (known: AUTO, ANY, NONE, VALIDATED).", mode)
	}
	return nil
}

// strings reads an array of strings, appending them to out; a value that
// is not an array is skipped.
func (d *decoder) strings(out []string) []string {
	sc := &d.sc
	if sc.Peek() != '[' {
		sc.Skip()
		return out
	}
	sc.Open('[')
	for n := 0; sc.More(']', &n); {
		out = append(out, sc.Text())
	}
	return out
}

// generationConfig decodes the generation parameters.
func (d *decoder) generationConfig(c *chat.Request, at *path) error {
	sc := &d.sc
	if sc.Peek() != '{' {
		return d.notA(at, "generationConfig must be an object.")
	}
	sc.Open('{')
	var mime, schema, jsonSchema string
	var err error
	for n := 0; err == nil && sc.More('}', &n); {
		k := sc.Key()
		name := k
		if strings.IndexByte(name, '_') >= 0 {
			name = camel(name)
		}
		switch name {
		case "stopSequences":
			c.Stop = d.strings(c.Stop)
		case "maxOutputTokens":
			if n := d.integer(); n != nil {
				c.MaxTokens = *n
			}
		case "temperature":
			c.Temperature = d.float()
		case "topP":
			c.TopP = d.float()
		case "topK":
			c.TopK = d.integer()
		case "seed":
			c.Seed = d.integer()
		case "presencePenalty":
			c.PresencePenalty = d.float()
		case "frequencyPenalty":
			c.FrequencyPenalty = d.float()
		case "responseMimeType":
			mime = sc.Text()
		case "responseSchema":
			schema = sc.Raw()
		case "responseJsonSchema", "_responseJsonSchema":
			jsonSchema = sc.Raw()
		case "candidateCount":
			if n := d.integer(); n != nil && *n > 1 {
				err = aiproxy.FieldErrorf(at.field(name), "candidateCount > 1 cannot be served by a channel of another protocol.")
			}
		case "responseModalities":
			for _, m := range d.strings(nil) {
				if m != "TEXT" {
					err = aiproxy.FieldErrorf(at.field(name), "The response modality %s cannot be served by a channel of another protocol; only TEXT can.", m)
					break
				}
			}
		case "responseLogprobs":
			if sc.Bool() {
				err = aiproxy.FieldErrorf(at.field(name), "responseLogprobs cannot be served by a channel of another protocol.")
			}
		case "speechConfig", "audioTimestamp", "enableAffectiveDialog", "responseFormat", "translationConfig", "audioTranscriptionConfig":
			if ch := sc.Peek(); ch == 'n' || ch == 'f' {
				sc.Skip()
			} else {
				err = aiproxy.FieldErrorf(at.field(name), "%s cannot be served by a channel of another protocol.", name)
			}
		case "mediaResolution":
			d.detail = mediaDetail(sc.Text())
		case "thinkingConfig":
			f := at.key(name)
			err = d.thinking(c, &f)
		case "logprobs", "enableEnhancedCivicAnswers", "imageConfig", "routingConfig", "modelSelectionConfig":
			sc.Skip()
		default:
			err = unknownField(at.field(k))
		}
	}
	if err != nil || !sc.OK() {
		return err
	}
	switch mime {
	case "", "text/plain":
		if schema != "" || jsonSchema != "" {
			return aiproxy.FieldErrorf(at.field("responseMimeType"), "A response schema needs responseMimeType application/json.")
		}
	case "application/json":
		switch {
		case schema != "" && jsonSchema != "":
			return aiproxy.FieldErrorf(at.field("responseJsonSchema"), "responseSchema and responseJsonSchema are mutually exclusive.")
		case jsonSchema != "":
			js, err := LowerJSONSchemaTypes(jsonSchema)
			if err != nil {
				sf := at.key("responseJsonSchema")
				return schemaError(&sf, err)
			}
			c.Format = &chat.Format{Type: chat.FormatJSONSchema, Schema: json.RawMessage(js)}
		case schema != "":
			b, err := appendSchema(make([]byte, 0, len(schema)+16), schema, 0)
			if err != nil {
				sf := at.key("responseSchema")
				return schemaError(&sf, err)
			}
			c.Format = &chat.Format{Type: chat.FormatJSONSchema, Schema: b}
		default:
			c.Format = &chat.Format{Type: chat.FormatJSON}
		}
	default:
		return aiproxy.FieldErrorf(at.field("responseMimeType"), "The response MIME type %q cannot be served by a channel of another protocol (application/json and text/plain can).", mime)
	}
	return nil
}

// thinking decodes thinkingConfig.
func (d *decoder) thinking(c *chat.Request, f *path) error {
	sc := &d.sc
	if sc.Peek() != '{' {
		return d.notA(f, "thinkingConfig must be an object.")
	}
	sc.Open('{')
	r := &chat.Reasoning{Hide: true}
	var budget *int64
	var level string
	for n := 0; sc.More('}', &n); {
		k := sc.Key()
		switch camel(k) {
		case "includeThoughts":
			r.Hide = !sc.Bool()
		case "thinkingBudget":
			budget = d.integer()
		case "thinkingLevel":
			level = sc.Text()
		default:
			return unknownField(f.field(k))
		}
	}
	if level == "THINKING_LEVEL_UNSPECIFIED" {
		level = ""
	}
	if budget != nil && level != "" {
		return aiproxy.FieldErrorf(f.field("thinkingLevel"), "thinkingBudget and thinkingLevel are mutually exclusive.")
	}
	switch level {
	case "":
	case "MINIMAL", "LOW", "MEDIUM", "HIGH":
		r.Effort = strings.ToLower(level)
	default:
		return aiproxy.FieldErrorf(f.field("thinkingLevel"), "Unknown thinking level %q (known: MINIMAL, LOW, MEDIUM, HIGH).", level)
	}
	if budget != nil {
		switch n := *budget; {
		case n == 0:
			r.Off = true
		case n < 0:
			r.Budget = -1
		default:
			r.Budget = n
		}
	}
	c.Reasoning = r
	return nil
}

// float reads a number (or a number in a string, or a boolean as 0 or 1);
// nil for null.
func (d *decoder) float() *float64 {
	sc := &d.sc
	var f float64
	switch c := sc.Peek(); {
	case c == 'n':
		sc.Skip()
		return nil
	case c == '"':
		f, _ = strconv.ParseFloat(strings.TrimSpace(sc.Str()), 64)
	case c == 't':
		sc.Skip()
		f = 1
	case c == '-' || c >= '0' && c <= '9':
		f, _ = strconv.ParseFloat(sc.Number(), 64)
	default:
		sc.Skip()
	}
	return &f
}

// integer reads a number, truncated (proto JSON may write int64 in a
// string); nil for null.
func (d *decoder) integer() *int64 {
	f := d.float()
	if f == nil {
		return nil
	}
	n := int64(*f)
	return &n
}

// Thought signatures are opaque bytes, written in base64 on Gemini's wire;
// the Google SDKs decode them and fail on anything else. A signature that
// is not base64 (another provider's) or that stands for another kind of
// part (Anthropic's redacted thinking) is sent to Gemini clients wrapped:
// base64 of a 12-byte marker and the signature, whose first 16 characters
// are the marker's base64 whatever follows. The decoders undo it, so the
// signature comes back as it was.
const (
	sigMarker      = "aiproxy:sig:"
	redactedMarker = "aiproxy:red:"
	sigPrefix      = "YWlwcm94eTpzaWc6" // base64 of sigMarker
	redactedPrefix = "YWlwcm94eTpyZWQ6" // base64 of redactedMarker
)

// wireSignature returns sig as a thoughtSignature for a Gemini client.
func wireSignature(sig string, redacted bool) string {
	switch {
	case redacted:
		return base64Std(redactedMarker + sig)
	case isStdBase64(sig):
		return sig
	}
	return base64Std(sigMarker + sig)
}

// readSignature undoes wireSignature.
func readSignature(wire string) (sig string, redacted bool) {
	if len(wire) < 16 || (wire[:16] != sigPrefix && wire[:16] != redactedPrefix) {
		return wire, false
	}
	raw, err := base64Decode(wire)
	if err != nil || len(raw) < len(sigMarker) {
		return wire, false
	}
	return string(raw[len(sigMarker):]), wire[:16] == redactedPrefix
}
