package gemini

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// Encoding (the neutral form as a request to a Gemini channel):
//
//   - System and the RoleSystem messages of the history (hoisted, in order:
//     Gemini has no system turn) become systemInstruction, text only;
//   - messages become contents with role "user" or "model"; consecutive
//     messages of one role merge into one content (Gemini wants the
//     responses to parallel calls in one turn), and messages left with no
//     part are dropped;
//   - tool calls become functionCall parts {id, name, args} with the call's
//     Signature as the part's thoughtSignature; an id joined to a signature
//     (chat.JoinCallID, from a client of another protocol) is split first;
//   - tool results become functionResponse parts {id, name, response}:
//     id is the call's id, sent whenever known; name is the result's, else
//     its call's in the history (EINVALID when neither is known); response
//     is {"output": text} or {"error": text} for IsError, the text parsed
//     as JSON when it is JSON; media of a result go in functionResponse
//     parts (which only Gemini 3 models read);
//   - thinking with a Signature becomes a thought part {text, thought:
//     true, thoughtSignature}; thinking with a signature and no text gives
//     its signature to the next part of the content (the inverse of
//     decoding; a thought part with empty text when none follows);
//     thinking without a signature, redacted thinking (Anthropic's) and
//     signatures that are not base64 (so not Gemini's) are dropped: Gemini
//     could not use them;
//   - media become inlineData (data, data: URLs) or fileData (other URLs,
//     Gemini file URIs or not, with the media type when known or guessed
//     from the file extension);
//   - tools become one {functionDeclarations: [...]} with the JSON Schema
//     in parametersJsonSchema, byte for byte; the tool choice becomes
//     toolConfig.functionCallingConfig (auto AUTO, none NONE, required ANY,
//     a named tool ANY with allowedFunctionNames), left out when there are
//     no tools;
//   - generationConfig: maxOutputTokens, temperature, topP, topK, seed,
//     stopSequences, presencePenalty, frequencyPenalty; Format as
//     responseMimeType application/json (with responseJsonSchema for a
//     schema; its name and strictness have no Gemini equivalent);
//     Reasoning as thinkingConfig: thinkingBudget 0 when Off, else Budget,
//     else chat.BudgetFor(Effort), else -1 (dynamic) for Adaptive, and
//     includeThoughts unless Hide;
//   - User, ParallelToolCalls, Part.Cache (Gemini caches implicitly),
//     Media.Name and Media.Detail have no Gemini equivalent and are left
//     out; a countTokens call wraps the request as
//     {"generateContentRequest": {"model": "models/<upstream>", ...}}.

// EncodeRequest encodes c as a generateContent (or countTokens) body for
// call. It returns EINVALID naming what Gemini cannot express: non-text
// system parts, tool results whose function has no name, arguments that
// are not a JSON object, media without a media type.
func (Codec) EncodeRequest(c *chat.Request, call *relay.Call) ([]byte, error) {
	w := &partWriter{b: make([]byte, 0, requestSize(c))}
	if call.Op == relay.OpCountTokens {
		w.b = append(w.b, `{"generateContentRequest":{"model":`...)
		w.b = jsontext.AppendString(w.b, resourceName(call.UpstreamModel))
	} else {
		w.b = append(w.b, '{')
	}
	if err := w.contents(c); err != nil {
		return nil, err
	}
	if err := w.system(c); err != nil {
		return nil, err
	}
	b, err := appendTools(w.b, c)
	if err != nil {
		return nil, err
	}
	b = appendGenerationConfig(b, c, maxOutputTokens(call))
	if call.Op == relay.OpCountTokens {
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// requestSize estimates the size of the encoded request.
func requestSize(c *chat.Request) int {
	n := 256
	for _, p := range c.System {
		n += len(p.Text) + 16
	}
	for _, m := range c.Messages {
		n += 32
		for _, p := range m.Parts {
			n += partSize(&p)
		}
	}
	for _, t := range c.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Parameters) + 64
	}
	return n
}

func partSize(p *chat.Part) int {
	n := len(p.Text) + len(p.Signature) + 48
	if p.Media != nil {
		n += len(p.Media.Data) + len(p.Media.URL) + len(p.Media.MediaType)
	}
	if p.Call != nil {
		n += len(p.Call.ID) + len(p.Call.Name) + len(p.Call.Arguments) + len(p.Call.Signature)
	}
	if p.Result != nil {
		n += len(p.Result.CallID) + len(p.Result.Name)
		for _, q := range p.Result.Parts {
			n += partSize(&q)
		}
	}
	return n
}

// contents writes the history.
func (w *partWriter) contents(c *chat.Request) error {
	w.b = appendKey(w.b, "contents")
	w.b = append(w.b, '[')
	written := 0
	role := ""
	mark := 0
	closeContent := func() {
		if role == "" {
			return
		}
		w.finish()
		if w.n == 0 {
			w.b = w.b[:mark]
		} else {
			w.b = append(w.b, "]}"...)
			written++
		}
		role = ""
	}
	for i := range c.Messages {
		m := &c.Messages[i]
		var r string
		switch m.Role {
		case chat.RoleSystem:
			continue
		case chat.RoleUser:
			r = "user"
		case chat.RoleAssistant:
			r = "model"
		default:
			return aiproxy.FieldErrorf("messages["+strconv.Itoa(i)+"].role", "Unknown role %q.", m.Role)
		}
		if r != role {
			closeContent()
			mark = len(w.b)
			if written > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, `{"role":"`...)
			w.b = append(w.b, r...)
			w.b = append(w.b, `","parts":[`...)
			w.n, role = 0, r
		}
		for j := range m.Parts {
			if err := w.part(c, &m.Parts[j], i, j); err != nil {
				return err
			}
		}
	}
	closeContent()
	w.b = append(w.b, ']')
	return nil
}

// part writes one part of the history.
func (w *partWriter) part(c *chat.Request, p *chat.Part, i, j int) error {
	field := "messages[" + strconv.Itoa(i) + "].parts[" + strconv.Itoa(j) + "]"
	if ok, err := w.common(p, field); ok {
		return err
	}
	switch p.Kind {
	case chat.KindMedia:
		return w.media(p.Media, field)
	case chat.KindToolResult:
		name := p.Result.Name
		if name == "" {
			name = callName(c, p.Result.CallID)
		}
		if name == "" {
			return aiproxy.FieldErrorf(field+".name", "A tool result for a Gemini channel needs the name of its function, and no call with id %q is in the history.", p.Result.CallID)
		}
		return w.result(p.Result, name, field)
	}
	return aiproxy.FieldErrorf(field, "Unknown part kind %d.", p.Kind)
}

// common writes the parts answers and histories share: text, thinking,
// redacted thinking and tool calls. It reports false for other kinds.
func (w *partWriter) common(p *chat.Part, field string) (bool, error) {
	switch p.Kind {
	case chat.KindText:
		w.text(p.Text)
	case chat.KindThinking:
		w.thinking(p.Text, p.Signature)
	case chat.KindRedactedThinking:
		w.redacted(p.Signature)
	case chat.KindToolCall:
		return true, w.call(p.Call, field)
	default:
		return false, nil
	}
	return true, nil
}

// callName returns the name of the call with id in the history, "" when
// there is none.
func callName(c *chat.Request, id string) string {
	id, _ = chat.SplitCallID(id)
	for i := len(c.Messages) - 1; i >= 0; i-- {
		for _, p := range c.Messages[i].Parts {
			if p.Kind != chat.KindToolCall || p.Call == nil {
				continue
			}
			if cid, _ := chat.SplitCallID(p.Call.ID); cid == id {
				return p.Call.Name
			}
		}
	}
	return ""
}

// system writes systemInstruction.
func (w *partWriter) system(c *chat.Request) error {
	mark := len(w.b)
	w.b = appendKey(w.b, "systemInstruction")
	w.b = append(w.b, `{"parts":[`...)
	w.n = 0
	for i, p := range c.System {
		if p.Kind != chat.KindText {
			return aiproxy.FieldErrorf("system["+strconv.Itoa(i)+"]", "A system prompt holds text only; a %s part cannot be sent to a Gemini channel.", p.Kind)
		}
		w.text(p.Text)
	}
	for i, m := range c.Messages {
		if m.Role != chat.RoleSystem {
			continue
		}
		for j, p := range m.Parts {
			switch p.Kind {
			case chat.KindText:
				w.text(p.Text)
			default:
				return aiproxy.FieldErrorf("messages["+strconv.Itoa(i)+"].parts["+strconv.Itoa(j)+"]", "A system message holds text only; a %s part cannot be sent to a Gemini channel.", p.Kind)
			}
		}
	}
	if w.n == 0 {
		w.b = w.b[:mark]
		return nil
	}
	w.b = append(w.b, "]}"...)
	return nil
}

// appendTools writes tools and toolConfig.
func appendTools(b []byte, c *chat.Request) ([]byte, error) {
	if len(c.Tools) == 0 {
		return b, nil
	}
	b = appendKey(b, "tools")
	b = append(b, `[{"functionDeclarations":[`...)
	for i, t := range c.Tools {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = jsontext.AppendString(b, t.Name)
		if t.Description != "" {
			b = append(b, `,"description":`...)
			b = jsontext.AppendString(b, t.Description)
		}
		if p := bytes.TrimSpace(t.Parameters); len(p) > 0 && string(p) != "null" {
			if !gjson.ValidBytes(p) || p[0] != '{' {
				return nil, aiproxy.FieldErrorf("tools["+strconv.Itoa(i)+"].parameters", "The parameters of a tool must be a JSON Schema object.")
			}
			b = append(b, `,"parametersJsonSchema":`...)
			b = append(b, p...)
		}
		b = append(b, '}')
	}
	b = append(b, "]}]"...)
	if tc := c.ToolChoice; tc != nil {
		b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":`...)
		switch tc.Mode {
		case chat.ToolNone:
			b = append(b, `"NONE"`...)
		case chat.ToolRequired:
			b = append(b, `"ANY"`...)
		case chat.ToolNamed:
			b = append(b, `"ANY","allowedFunctionNames":[`...)
			b = jsontext.AppendString(b, tc.Name)
			b = append(b, ']')
		default:
			b = append(b, `"AUTO"`...)
		}
		b = append(b, "}}"...)
	}
	return b, nil
}

// appendGenerationConfig writes generationConfig, when anything is set.
func appendGenerationConfig(b []byte, c *chat.Request, limit int64) []byte {
	mark := len(b)
	b = appendKey(b, "generationConfig")
	b = append(b, '{')
	open := len(b)
	if c.MaxTokens > 0 {
		b = appendKey(b, "maxOutputTokens")
		b = strconv.AppendInt(b, relay.CapTokens(c.MaxTokens, limit), 10)
	}
	if c.Temperature != nil {
		b = appendKey(b, "temperature")
		b = jsontext.AppendFloat(b, *c.Temperature)
	}
	if c.TopP != nil {
		b = appendKey(b, "topP")
		b = jsontext.AppendFloat(b, *c.TopP)
	}
	if c.TopK != nil {
		b = appendKey(b, "topK")
		b = strconv.AppendInt(b, *c.TopK, 10)
	}
	if c.Seed != nil {
		b = appendKey(b, "seed")
		b = strconv.AppendInt(b, *c.Seed, 10)
	}
	if c.PresencePenalty != nil {
		b = appendKey(b, "presencePenalty")
		b = jsontext.AppendFloat(b, *c.PresencePenalty)
	}
	if c.FrequencyPenalty != nil {
		b = appendKey(b, "frequencyPenalty")
		b = jsontext.AppendFloat(b, *c.FrequencyPenalty)
	}
	if len(c.Stop) > 0 {
		b = appendKey(b, "stopSequences")
		b = append(b, '[')
		for i, s := range c.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, s)
		}
		b = append(b, ']')
	}
	if f := c.Format; f != nil && (f.Type == chat.FormatJSON || f.Type == chat.FormatJSONSchema) {
		b = appendKey(b, "responseMimeType")
		b = append(b, `"application/json"`...)
		if s := bytes.TrimSpace(f.Schema); f.Type == chat.FormatJSONSchema && len(s) > 0 && gjson.ValidBytes(s) {
			b = appendKey(b, "responseJsonSchema")
			b = append(b, s...)
		}
	}
	if r := c.Reasoning; r != nil {
		b = appendThinking(b, r)
	}
	if len(b) == open {
		return b[:mark]
	}
	return append(b, '}')
}

// appendThinking writes thinkingConfig.
func appendThinking(b []byte, r *chat.Reasoning) []byte {
	mark := len(b)
	b = appendKey(b, "thinkingConfig")
	b = append(b, '{')
	open := len(b)
	budget, set := int64(0), true
	switch {
	case r.Off:
	case r.Budget < 0:
		budget = -1
	case r.Budget > 0:
		budget = r.Budget
	case r.Effort != "":
		if budget = chat.BudgetFor(r.Effort); budget == 0 {
			budget = -1
		}
	case r.Adaptive:
		budget = -1
	default:
		set = false
	}
	if set {
		b = appendKey(b, "thinkingBudget")
		b = strconv.AppendInt(b, budget, 10)
	}
	if !r.Off && !r.Hide {
		b = appendKey(b, "includeThoughts")
		b = append(b, "true"...)
	}
	if len(b) == open {
		return b[:mark]
	}
	return append(b, '}')
}

// partWriter writes the parts of one content, for a Gemini channel
// (toClient false) or a Gemini client (toClient true). A signature of a
// thinking part with no text waits for the next part, whose
// thoughtSignature it becomes.
type partWriter struct {
	b        []byte
	n        int    // parts written in the current array
	sig      string // a signature waiting for the next part, as written
	toClient bool
}

// signature returns sig as it is written: for clients wrapped when it is
// not base64 (wireSignature), for Gemini "" when it is not base64 (it is
// not Gemini's).
func (w *partWriter) signature(sig string) string {
	switch {
	case sig == "":
		return ""
	case w.toClient:
		return wireSignature(sig, false)
	case isStdBase64(sig):
		return sig
	}
	return ""
}

// take returns the signature of the next part: its own (writing a waiting
// one as a part of its own first), else the waiting one.
func (w *partWriter) take(own string) string {
	if own != "" {
		w.flush()
		return own
	}
	s := w.sig
	w.sig = ""
	return s
}

// start opens a part.
func (w *partWriter) start() {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, '{')
}

// end closes a part with its signature.
func (w *partWriter) end(sig string) {
	if sig != "" {
		w.b = append(w.b, `,"thoughtSignature":`...)
		w.b = jsontext.AppendString(w.b, sig)
	}
	w.b = append(w.b, '}')
}

// flush writes a waiting signature as a thought part of its own.
func (w *partWriter) flush() {
	if w.sig == "" {
		return
	}
	sig := w.sig
	w.sig = ""
	w.start()
	w.b = append(w.b, `"text":"","thought":true`...)
	w.end(sig)
}

// finish ends a content: a waiting signature gets a part of its own.
func (w *partWriter) finish() { w.flush() }

func (w *partWriter) text(t string) {
	if t == "" {
		return
	}
	sig := w.take("")
	w.start()
	w.b = append(w.b, `"text":`...)
	w.b = jsontext.AppendString(w.b, t)
	w.end(sig)
}

func (w *partWriter) thinking(t, sig string) {
	sig = w.signature(sig)
	if sig == "" && (!w.toClient || t == "") {
		return
	}
	if t == "" {
		w.flush()
		w.sig = sig
		return
	}
	w.flush()
	w.start()
	w.b = append(w.b, `"text":`...)
	w.b = jsontext.AppendString(w.b, t)
	w.b = append(w.b, `,"thought":true`...)
	w.end(sig)
}

func (w *partWriter) redacted(data string) {
	if !w.toClient || data == "" {
		return
	}
	w.flush()
	w.start()
	w.b = append(w.b, `"text":"","thought":true`...)
	w.end(wireSignature(data, true))
}

// media writes inlineData or fileData.
func (w *partWriter) media(m *chat.Media, field string) error {
	if m == nil {
		return aiproxy.FieldErrorf(field, "A media part holds no media.")
	}
	mt, data, uri := m.MediaType, m.Data, ""
	switch {
	case data != "":
	case strings.HasPrefix(m.URL, "data:"):
		var ok bool
		if mt, data, ok = dataURL(m.URL); !ok {
			return aiproxy.FieldErrorf(field+".url", "The data: URL of a media part cannot be read.")
		}
	case m.URL != "":
		uri = m.URL
		if mt == "" {
			mt = guessType(uri)
		}
	default:
		return aiproxy.FieldErrorf(field, "A media part needs data or a URL.")
	}
	if uri == "" && mt == "" {
		return aiproxy.FieldErrorf(field+".media_type", "Inline media for a Gemini channel needs a media type.")
	}
	sig := w.take("")
	w.start()
	if uri == "" {
		w.b = append(w.b, `"inlineData":{"mimeType":`...)
		w.b = jsontext.AppendString(w.b, mt)
		w.b = append(w.b, `,"data":`...)
		w.b = jsontext.AppendString(w.b, data)
	} else {
		w.b = append(w.b, `"fileData":{`...)
		if mt != "" {
			w.b = append(w.b, `"mimeType":`...)
			w.b = jsontext.AppendString(w.b, mt)
			w.b = append(w.b, ',')
		}
		w.b = append(w.b, `"fileUri":`...)
		w.b = jsontext.AppendString(w.b, uri)
	}
	w.b = append(w.b, '}')
	w.end(sig)
	return nil
}

// dataURL reads a data: URL into a media type and base64 data.
func dataURL(u string) (mt, data string, ok bool) {
	meta, payload, found := strings.Cut(u[len("data:"):], ",")
	if !found {
		return "", "", false
	}
	if m, isB64 := strings.CutSuffix(meta, ";base64"); isB64 {
		d, ok := stdBase64(payload)
		return m, d, ok
	}
	text, err := url.PathUnescape(payload)
	if err != nil {
		return "", "", false
	}
	mt, _, _ = strings.Cut(meta, ";")
	if mt == "" {
		mt = "text/plain"
	}
	return mt, base64.StdEncoding.EncodeToString([]byte(text)), true
}

// mediaTypes are the media types of the file extensions Gemini reads.
var mediaTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".heic": "image/heic", ".heif": "image/heif", ".pdf": "application/pdf",
	".txt": "text/plain", ".md": "text/markdown", ".csv": "text/csv", ".html": "text/html",
	".mp3": "audio/mp3", ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".aac": "audio/aac",
	".mp4": "video/mp4", ".mov": "video/mov", ".webm": "video/webm", ".mpeg": "video/mpeg",
}

// guessType returns the media type of a URL by its file extension, "" when
// unknown.
func guessType(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	slash := strings.LastIndexByte(u, '/')
	dot := strings.LastIndexByte(u, '.')
	if dot <= slash {
		return ""
	}
	return mediaTypes[strings.ToLower(u[dot:])]
}

// call writes a functionCall part.
func (w *partWriter) call(c *chat.ToolCall, field string) error {
	if c == nil {
		return aiproxy.FieldErrorf(field, "A tool call part holds no call.")
	}
	id, sig := chat.SplitCallID(c.ID)
	if c.Signature != "" {
		sig = c.Signature
	}
	args := strings.TrimSpace(c.Arguments)
	if args == "" {
		args = "{}"
	}
	if !gjson.Valid(args) || args[0] != '{' {
		return aiproxy.FieldErrorf(field+".arguments", "The arguments of the call of %q are not a JSON object.", c.Name)
	}
	sig = w.take(w.signature(sig))
	w.start()
	w.b = append(w.b, `"functionCall":{`...)
	if id != "" {
		w.b = append(w.b, `"id":`...)
		w.b = jsontext.AppendString(w.b, id)
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, `"name":`...)
	w.b = jsontext.AppendString(w.b, c.Name)
	w.b = append(w.b, `,"args":`...)
	w.b = append(w.b, args...)
	w.b = append(w.b, '}')
	w.end(sig)
	return nil
}

// result writes a functionResponse part.
func (w *partWriter) result(r *chat.ToolResult, name, field string) error {
	id, _ := chat.SplitCallID(r.CallID)
	var text strings.Builder
	var media []*chat.Media
	for _, p := range r.Parts {
		switch p.Kind {
		case chat.KindText:
			if text.Len() > 0 {
				text.WriteByte('\n')
			}
			text.WriteString(p.Text)
		case chat.KindMedia:
			if p.Media != nil {
				media = append(media, p.Media)
			}
		default:
			return aiproxy.FieldErrorf(field, "A tool result holds text and media only, not %s.", p.Kind)
		}
	}
	sig := w.take("")
	w.start()
	w.b = append(w.b, `"functionResponse":{`...)
	if id != "" {
		w.b = append(w.b, `"id":`...)
		w.b = jsontext.AppendString(w.b, id)
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, `"name":`...)
	w.b = jsontext.AppendString(w.b, name)
	w.b = append(w.b, `,"response":{`...)
	if r.IsError {
		w.b = append(w.b, `"error":`...)
	} else {
		w.b = append(w.b, `"output":`...)
	}
	if t := strings.TrimSpace(text.String()); t != "" && gjson.Valid(t) {
		w.b = append(w.b, t...)
	} else {
		w.b = jsontext.AppendString(w.b, text.String())
	}
	w.b = append(w.b, '}')
	if len(media) > 0 {
		w.b = append(w.b, `,"parts":[`...)
		for i, m := range media {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			mt, data, uri := m.MediaType, m.Data, ""
			if data == "" && strings.HasPrefix(m.URL, "data:") {
				mt, data, _ = dataURL(m.URL)
			} else if data == "" {
				uri = m.URL
				if mt == "" {
					mt = guessType(uri)
				}
			}
			if uri == "" {
				w.b = append(w.b, `{"inlineData":{"mimeType":`...)
				w.b = jsontext.AppendString(w.b, mt)
				w.b = append(w.b, `,"data":`...)
				w.b = jsontext.AppendString(w.b, data)
			} else {
				w.b = append(w.b, `{"fileData":{"mimeType":`...)
				w.b = jsontext.AppendString(w.b, mt)
				w.b = append(w.b, `,"fileUri":`...)
				w.b = jsontext.AppendString(w.b, uri)
			}
			w.b = append(w.b, "}}"...)
		}
		w.b = append(w.b, ']')
	}
	w.b = append(w.b, '}')
	w.end(sig)
	return nil
}

// maxOutputTokens returns the channel's maxOutputTokens config, 0 none.
func maxOutputTokens(call *relay.Call) int64 {
	if call == nil || call.Channel == nil {
		return 0
	}
	return gjson.GetBytes(call.Channel.Config, "maxOutputTokens").Int()
}
