package openai

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// DecodeRequest decodes an OpenAI chat completions request (req.Body)
// into the neutral form, for a channel of another protocol. Only chat
// requests (req.Mode ModeChat) can be converted; other modes get
// EINVALID. Every field of the chat completions API is read:
//
//   - messages: the leading system and developer messages become System
//     (text parts), later ones RoleSystem messages. User content is a
//     string or parts: text; image_url (a data: URL becomes base64 Media
//     with its media type, guessed from the content when the URL names
//     none; any other URL stays a URL; detail is kept); input_audio (wav
//     → audio/wav, mp3 → audio/mpeg); file with file_data (a data: URL,
//     or plain base64 whose type is guessed from the content or the
//     filename) and filename. Assistant messages: thinking parts first
//     (LiteLLM's thinking_blocks with their signatures and
//     redacted_thinking entries when present, else DeepSeek's
//     reasoning_content or OpenRouter's and vLLM's reasoning; a lone
//     signed block without text, as clients rebuild it from a stream
//     whose text came as reasoning_content, gets that text), then
//     content (a string, or text and refusal parts) and refusal as text,
//     then tool_calls, whose ids are split with chat.SplitCallID into ID
//     and Signature. Tool messages become ToolResult parts of a user
//     message (consecutive ones share one), named after the call they
//     answer. A part's prompt_cache_breakpoint (or the cache_control
//     some clients send for Anthropic models behind OpenAI-compatible
//     routers) sets Part.Cache.
//   - tools (function tools), tool_choice (auto, none, required, a named
//     function, or allowed_tools, which keeps only the allowed tools),
//     parallel_tool_calls, max_completion_tokens (or else max_tokens),
//     temperature, top_p, top_k (not OpenAI's, but vLLM and OpenRouter
//     take it), seed, presence_penalty, frequency_penalty, stop (a
//     string or an array), response_format (text, json_object,
//     json_schema with name, schema and strict), reasoning_effort ("none"
//     is Reasoning.Off, the levels from minimal to max are Effort),
//     stream, and safety_identifier (or else user) as User.
//
// Refused with EINVALID naming the field, because another protocol
// cannot serve them: n > 1, logprobs, top_logprobs, audio output
// (modalities with "audio", audio), prediction, web_search_options,
// logit_bias, moderation, the legacy functions and function_call (and
// messages of role "function" or with a function_call), audio answers
// in the history (an assistant message's audio), provider file ids
// (file_id), custom tools and custom tool calls, and tool call
// arguments that are not JSON.
//
// Ignored, as hints with no equivalent elsewhere that do not change what
// the answer says: metadata, store, service_tier, stream_options (the
// client's stream_options.include_usage is honoured by the stream
// framer), prompt_cache_key, prompt_cache_retention,
// prompt_cache_options, verbosity, a message's name, the description of
// a json_schema response format, and fields the API does not define.
//
// A null member is unset. The body is checked as JSON as it is read, in
// one pass (EINVALID when it is not a JSON object). Strings of the
// result may share memory with req.Body, which must not change while
// the result is in use (Request.Body never does); JSON values
// (Parameters, Schema) are copies.
func (Codec) DecodeRequest(req *relay.Request) (*chat.Request, error) {
	if req.Mode != aiproxy.ModeChat {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "Only chat requests can be converted to another protocol, not %s requests.", req.Mode)
	}
	return decodeRequest(req.Body)
}

// errJSON is the error of a body that is not a JSON object.
func errJSON() error {
	return aiproxy.Errorf(aiproxy.EINVALID, "We could not parse the JSON body of your request. The body must be a JSON object.")
}

// reqDecoder holds the state of one request's decoding.
type reqDecoder struct {
	s *jsontext.Scanner
	c *chat.Request
	// history is set once a message other than a system or developer one
	// was read: later system messages are part of the history.
	history bool
	// toolTurn is the index in c.Messages of the user message holding the
	// results of the tool messages just read, -1 when the last message
	// was not a tool message.
	toolTurn int
}

// decodeRequest reads the body in one pass (a jsontext.Scanner),
// checking its JSON as it goes.
func decodeRequest(body []byte) (*chat.Request, error) {
	s := &jsontext.Scanner{}
	s.Reset(body)
	if !s.Open('{') {
		return nil, errJSON()
	}
	d := reqDecoder{s: s, c: &chat.Request{}, toolTurn: -1}
	c := d.c
	var maxTokens, maxCompletion *int64
	var user, safety string
	var toolChoice string
	for n := 0; s.More('}', &n); {
		k := s.Key()
		if s.Peek() == 'n' { // null: unset
			s.Skip()
			continue
		}
		var err error
		switch k {
		case "model":
			c.Model, err = d.str(k)
		case "messages":
			err = d.messages()
		case "tools":
			err = d.tools()
		case "tool_choice":
			toolChoice = s.Raw()
		case "parallel_tool_calls":
			c.ParallelToolCalls, err = d.boolean(k)
		case "max_tokens":
			maxTokens, err = d.integer(k)
		case "max_completion_tokens":
			maxCompletion, err = d.integer(k)
		case "temperature":
			c.Temperature, err = d.number(k)
		case "top_p":
			c.TopP, err = d.number(k)
		case "top_k":
			c.TopK, err = d.integer(k)
		case "seed":
			c.Seed, err = d.integer(k)
		case "presence_penalty":
			c.PresencePenalty, err = d.number(k)
		case "frequency_penalty":
			c.FrequencyPenalty, err = d.number(k)
		case "stop":
			c.Stop, err = d.stop()
		case "response_format":
			c.Format, err = d.format()
		case "reasoning_effort":
			c.Reasoning, err = d.reasoning()
		case "stream":
			var b *bool
			if b, err = d.boolean(k); b != nil {
				c.Stream = *b
			}
		case "user":
			user, err = d.str(k)
		case "safety_identifier":
			safety = s.Text()
		case "n":
			var v *int64
			if v, err = d.integer(k); err == nil && *v > 1 {
				err = aiproxy.FieldErrorf("n", "n > 1 cannot be served by a channel of another protocol: ask for one choice.")
			}
		case "logprobs":
			if s.Peek() != 'f' {
				err = refuse(k, "logprobs")
			}
			s.Skip()
		case "top_logprobs":
			var v *int64
			if v, err = d.integer(k); err == nil && *v != 0 {
				err = refuse(k, "top_logprobs")
			}
		case "modalities":
			if s.Enter('[') {
				for m := 0; s.More(']', &m); {
					if s.Text() == "audio" {
						err = refuse(k, "Audio output (modalities: audio)")
					}
				}
			}
		case "audio":
			err = refuse(k, "Audio output")
		case "prediction":
			err = refuse(k, "Predicted outputs (prediction)")
		case "web_search_options":
			err = refuse(k, "Web search (web_search_options)")
		case "moderation":
			err = refuse(k, "Moderation (moderation)")
		case "logit_bias":
			if raw := s.Raw(); len(raw) == 0 || raw[0] != '{' || len(strings.TrimSpace(raw[1:len(raw)-1])) > 0 {
				err = refuse(k, "logit_bias")
			}
		case "functions", "function_call":
			err = aiproxy.FieldErrorf(k, "The legacy %s parameter cannot be converted to another protocol: use tools and tool_choice.", k)
		default:
			s.Skip()
		}
		if err != nil {
			return nil, err
		}
	}
	if !s.End() {
		return nil, errJSON()
	}
	switch {
	case maxCompletion != nil:
		if *maxCompletion < 0 {
			return nil, aiproxy.FieldErrorf("max_completion_tokens", "max_completion_tokens must not be negative.")
		}
		c.MaxTokens = *maxCompletion
	case maxTokens != nil:
		if *maxTokens < 0 {
			return nil, aiproxy.FieldErrorf("max_tokens", "max_tokens must not be negative.")
		}
		c.MaxTokens = *maxTokens
	}
	if c.User = safety; c.User == "" {
		c.User = user
	}
	if toolChoice != "" {
		if err := d.toolChoice(toolChoice); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// within returns err, an EINVALID error naming a field relative to a
// value, naming it from the value's parent: prefix is the value's name
// there ("messages[2]", ".content", "[0]"). Decoders of values return
// such errors, so that field names are built only on errors.
func within(prefix string, err error) error {
	var e *aiproxy.Error
	if errors.As(err, &e) && e.Code == aiproxy.EINVALID {
		e.Field = prefix + e.Field
	}
	return err
}

// refuse returns the EINVALID error of a field another protocol cannot
// serve. The value is read by the caller.
func refuse(field, what string) error {
	return aiproxy.FieldErrorf(field, "%s cannot be served by a channel of another protocol.", what)
}

// The readers of typed values below read the value whatever it is and
// return EINVALID naming field when it is not of their type.

func (d *reqDecoder) str(field string) (string, error) {
	if d.s.Peek() != '"' {
		d.s.Skip()
		return "", aiproxy.FieldErrorf(field, "%s must be a string.", field)
	}
	return d.s.Str(), nil
}

func isNumber(c byte) bool { return c == '-' || c >= '0' && c <= '9' }

func (d *reqDecoder) number(field string) (*float64, error) {
	if !isNumber(d.s.Peek()) {
		d.s.Skip()
		return nil, aiproxy.FieldErrorf(field, "%s must be a number.", field)
	}
	f, err := strconv.ParseFloat(d.s.Number(), 64)
	if err != nil {
		return nil, aiproxy.FieldErrorf(field, "%s is out of range.", field)
	}
	return &f, nil
}

func (d *reqDecoder) integer(field string) (*int64, error) {
	if !isNumber(d.s.Peek()) {
		d.s.Skip()
		return nil, aiproxy.FieldErrorf(field, "%s must be an integer.", field)
	}
	t := d.s.Number()
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(t, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			return nil, aiproxy.FieldErrorf(field, "%s must be an integer.", field)
		}
		n = int64(f)
	}
	return &n, nil
}

func (d *reqDecoder) boolean(field string) (*bool, error) {
	switch d.s.Peek() {
	case 't':
		d.s.Skip()
		b := true
		return &b, nil
	case 'f':
		d.s.Skip()
		b := false
		return &b, nil
	}
	d.s.Skip()
	return nil, aiproxy.FieldErrorf(field, "%s must be a boolean.", field)
}

func (d *reqDecoder) stop() ([]string, error) {
	s := d.s
	switch s.Peek() {
	case '"':
		if v := s.Str(); v != "" {
			return []string{v}, nil
		}
		return nil, nil
	case '[':
		s.Open('[')
		var out []string
		for n := 0; s.More(']', &n); {
			if s.Peek() != '"' {
				s.Skip()
				return nil, aiproxy.FieldErrorf("stop", "stop must be a string or an array of strings.")
			}
			out = append(out, s.Str())
		}
		return out, nil
	}
	s.Skip()
	return nil, aiproxy.FieldErrorf("stop", "stop must be a string or an array of strings.")
}

func (d *reqDecoder) format() (*chat.Format, error) {
	s := d.s
	if !s.Enter('{') {
		return nil, aiproxy.FieldErrorf("response_format", "response_format must be an object.")
	}
	var typ string
	var schema *chat.Format
	for n := 0; s.More('}', &n); {
		switch s.Key() {
		case "type":
			typ = s.Text()
		case "json_schema":
			if !s.Enter('{') {
				continue
			}
			schema = &chat.Format{Type: chat.FormatJSONSchema}
			for m := 0; s.More('}', &m); {
				switch s.Key() {
				case "name":
					schema.Name = s.Text()
				case "strict":
					schema.Strict = s.Peek() == 't'
					s.Skip()
				case "schema":
					if p := s.Peek(); p == '{' || p == 't' || p == 'f' {
						schema.Schema = json.RawMessage(s.Raw())
					} else {
						s.Skip()
					}
				default: // description: a hint with no place in the neutral form
					s.Skip()
				}
			}
		default:
			s.Skip()
		}
	}
	switch typ {
	case "text":
		return nil, nil
	case "json_object":
		return &chat.Format{Type: chat.FormatJSON}, nil
	case "json_schema":
		if schema == nil {
			return nil, aiproxy.FieldErrorf("response_format.json_schema", "response_format.json_schema must be an object.")
		}
		return schema, nil
	}
	return nil, aiproxy.FieldErrorf("response_format.type", "response_format of type %q cannot be converted to another protocol (text, json_object and json_schema can).", typ)
}

func (d *reqDecoder) reasoning() (*chat.Reasoning, error) {
	switch e := d.s.Text(); e {
	case "none":
		return &chat.Reasoning{Off: true}, nil
	case "minimal", "low", "medium", "high", "xhigh", "max":
		return &chat.Reasoning{Effort: e}, nil
	}
	return nil, aiproxy.FieldErrorf("reasoning_effort", "reasoning_effort must be none, minimal, low, medium, high, xhigh or max.")
}

func (d *reqDecoder) messages() error {
	s := d.s
	if !s.Enter('[') {
		return aiproxy.FieldErrorf("messages", "messages must be an array of messages.")
	}
	for n := 0; s.More(']', &n); {
		if err := d.message(n - 1); err != nil {
			return err
		}
	}
	return nil
}

func (d *reqDecoder) message(i int) error {
	var m message
	err := m.read(d.s, true)
	if err == nil && !d.s.OK() {
		return errJSON()
	}
	if err == nil {
		err = d.add(&m)
	}
	if err != nil {
		return within("messages["+strconv.Itoa(i)+"]", err)
	}
	return nil
}

// add adds a message read to the request. Errors name fields within the
// message.
func (d *reqDecoder) add(m *message) error {
	c := d.c
	switch m.role {
	case "system", "developer":
		if err := m.kinds.check(textOnly); err != nil {
			return err
		}
		if !d.history {
			c.System = append(c.System, m.content...)
			return nil
		}
		c.Messages = append(c.Messages, chat.Message{Role: chat.RoleSystem, Parts: m.content})
	case "user":
		if err := m.kinds.check(userParts); err != nil {
			return err
		}
		c.Messages = append(c.Messages, chat.Message{Role: chat.RoleUser, Parts: m.content})
	case "assistant":
		if m.functionCall != nil {
			return aiproxy.FieldErrorf(".function_call", "Legacy function calls (function_call) cannot be converted to another protocol: use tool_calls.")
		}
		if m.audio {
			return aiproxy.FieldErrorf(".audio", "Audio answers in the history cannot be sent to a channel of another protocol.")
		}
		if err := m.kinds.check(assistantParts); err != nil {
			return err
		}
		c.Messages = append(c.Messages, chat.Message{Role: chat.RoleAssistant, Parts: m.parts()})
	case "tool":
		if err := m.kinds.check(textOnly); err != nil {
			return err
		}
		return d.toolMessage(m)
	case "function":
		return aiproxy.FieldErrorf(".role", "Legacy function messages (role \"function\") cannot be converted to another protocol: use tool messages.")
	case "":
		return aiproxy.FieldErrorf(".role", "Each message must have a role.")
	default:
		return aiproxy.FieldErrorf(".role", "Unknown message role %q.", m.role)
	}
	d.history = true
	d.toolTurn = -1
	return nil
}

// toolMessage adds a tool message's result to the user message holding
// the results of the tool messages just before it, or to a new one.
func (d *reqDecoder) toolMessage(m *message) error {
	if m.toolCallID == "" {
		return aiproxy.FieldErrorf(".tool_call_id", "A tool message must have the tool_call_id of the call it answers.")
	}
	id, _ := chat.SplitCallID(m.toolCallID)
	part := chat.Part{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: id, Name: d.callName(id), Parts: m.content}}
	c := d.c
	if d.toolTurn >= 0 {
		msg := &c.Messages[d.toolTurn]
		msg.Parts = append(msg.Parts, part)
		return nil
	}
	c.Messages = append(c.Messages, chat.Message{Role: chat.RoleUser, Parts: []chat.Part{part}})
	d.toolTurn = len(c.Messages) - 1
	d.history = true
	return nil
}

// callName returns the name of the tool call id earlier in the history,
// "" when there is none.
func (d *reqDecoder) callName(id string) string {
	msgs := d.c.Messages
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != chat.RoleAssistant {
			continue
		}
		for j := range msgs[i].Parts {
			if p := &msgs[i].Parts[j]; p.Kind == chat.KindToolCall && p.Call.ID == id {
				return p.Call.Name
			}
		}
	}
	return ""
}

// message is a message (of a request or an answer) read in one pass.
// Its role may come after its content, so the content is read whatever
// the role, and what it holds (kinds) is checked once the role is known.
type message struct {
	role                        string
	content                     []chat.Part
	kinds                       partKinds
	refusal                     string
	reasoningContent, reasoning string
	blocks                      []chat.Part // thinking_blocks
	calls                       []chat.Part
	toolCallID                  string
	functionCall                *chat.ToolCall // a legacy function_call
	audio                       bool           // an audio answer
}

// partKinds records the first content part of each kind some role may
// not hold: the first that is not text, the first refusal and the first
// medium, by index (-1 none) and type.
type partKinds struct {
	other, refusal, media int
	otherType, mediaType  string
}

// partSet says which content parts a role may have.
type partSet uint8

const (
	textOnly       partSet = iota // system, developer, tool: text
	userParts                     // text, image_url, input_audio, file
	assistantParts                // text, refusal
)

// check returns EINVALID naming the first part a role allowed to hold
// allow may not hold.
func (k *partKinds) check(allow partSet) error {
	i, typ := -1, ""
	switch allow {
	case textOnly:
		i, typ = k.other, k.otherType
	case userParts:
		i, typ = k.refusal, "refusal"
	case assistantParts:
		i, typ = k.media, k.mediaType
	}
	if i < 0 {
		return nil
	}
	return aiproxy.FieldErrorf(".content["+strconv.Itoa(i)+"].type", "Content parts of type %q are not allowed here.", typ)
}

// read reads a message. In a request (strict) tool calls must have an id
// and JSON arguments and content parts must be known; in an answer, ids
// are made up and unknown parts left out.
func (m *message) read(s *jsontext.Scanner, strict bool) error {
	if !s.Enter('{') {
		return aiproxy.FieldErrorf("", "Each message must be an object.")
	}
	m.kinds = partKinds{other: -1, refusal: -1, media: -1}
	var err error
	for n := 0; s.More('}', &n) && err == nil; {
		switch k := s.Key(); k {
		case "role":
			m.role = s.Text()
		case "content":
			if m.content, err = readContent(s, strict, &m.kinds); err != nil {
				err = within(".content", err)
			}
		case "refusal":
			m.refusal = s.Text()
		case "reasoning_content":
			m.reasoningContent = s.Text()
		case "reasoning":
			m.reasoning = s.Text()
		case "thinking_blocks":
			if m.blocks, err = readBlocks(s, strict); err != nil {
				err = within(".thinking_blocks", err)
			}
		case "tool_calls":
			if m.calls, err = readToolCalls(s, strict); err != nil {
				err = within(".tool_calls", err)
			}
		case "tool_call_id":
			m.toolCallID = s.Text()
		case "function_call":
			if s.Peek() == '{' {
				var name, args string
				name, args = readFunction(s)
				m.functionCall = &chat.ToolCall{ID: newID("call_"), Name: name, Arguments: arguments(args)}
			} else {
				s.Skip()
			}
		case "audio":
			m.audio = s.Peek() != 'n'
			s.Skip()
		default:
			s.Skip()
		}
	}
	return err
}

// parts returns an assistant message's parts in order: thinking (the
// thinking_blocks when there are any, they carry signatures; else
// reasoning_content or reasoning), content, refusal, tool calls. A
// client that rebuilt the blocks of a stream from its deltas has a
// signature in a block without text (the text came as
// reasoning_content): a lone thinking block without text gets the
// reasoning text.
func (m *message) parts() []chat.Part {
	text := m.reasoningContent
	if text == "" {
		text = m.reasoning
	}
	thinking := m.blocks
	switch lone := loneThinking(thinking); {
	case len(thinking) == 0 && text != "":
		thinking = []chat.Part{{Kind: chat.KindThinking, Text: text}}
	case lone != nil && lone.Text == "":
		lone.Text = text
	}
	n := len(thinking) + len(m.content) + len(m.calls)
	if m.refusal != "" {
		n++
	}
	if m.functionCall != nil {
		n++
	}
	if n == len(m.content) {
		return m.content
	}
	parts := make([]chat.Part, 0, n)
	parts = append(parts, thinking...)
	parts = append(parts, m.content...)
	if m.refusal != "" {
		parts = append(parts, chat.Part{Kind: chat.KindText, Text: m.refusal})
	}
	parts = append(parts, m.calls...)
	if m.functionCall != nil {
		parts = append(parts, chat.Part{Kind: chat.KindToolCall, Call: m.functionCall})
	}
	return parts
}

// loneThinking returns the one thinking part of parts, nil when there
// is none or more than one.
func loneThinking(parts []chat.Part) *chat.Part {
	var lone *chat.Part
	for i := range parts {
		if parts[i].Kind == chat.KindThinking {
			if lone != nil {
				return nil
			}
			lone = &parts[i]
		}
	}
	return lone
}

// readContent reads a message's content: a string or an array of parts;
// empty text is left out. What the parts hold is recorded in kinds.
func readContent(s *jsontext.Scanner, strict bool, kinds *partKinds) ([]chat.Part, error) {
	switch s.Peek() {
	case 'n':
		s.Skip()
		return nil, nil
	case '"':
		if t := s.Str(); t != "" {
			return []chat.Part{{Kind: chat.KindText, Text: t}}, nil
		}
		return nil, nil
	case '[':
	default:
		s.Skip()
		return nil, aiproxy.FieldErrorf("", "The content must be a string or an array of content parts.")
	}
	s.Open('[')
	var parts []chat.Part
	for n := 0; s.More(']', &n); {
		p, typ, err := readPart(s, strict)
		if err != nil {
			return nil, within("["+strconv.Itoa(n-1)+"]", err)
		}
		if typ != "text" && kinds.other < 0 {
			kinds.other, kinds.otherType = n-1, typ
		}
		switch {
		case typ == "refusal" && kinds.refusal < 0:
			kinds.refusal = n - 1
		case p.Kind == chat.KindMedia && kinds.media < 0:
			kinds.media, kinds.mediaType = n-1, typ
		}
		if p.Kind != 0 {
			parts = append(parts, p)
		}
	}
	return parts, nil
}

// readPart reads a content part and returns it (Kind 0 for one left
// out) with its type.
func readPart(s *jsontext.Scanner, strict bool) (chat.Part, string, error) {
	var p chat.Part
	if !s.Enter('{') {
		return p, "", aiproxy.FieldErrorf("", "Each content part must be an object.")
	}
	var typ, text, refusal, thinking string
	var textIsString bool
	var image, audio, file media
	for n := 0; s.More('}', &n); {
		switch s.Key() {
		case "type":
			typ = s.Text()
		case "text":
			textIsString = s.Peek() == '"'
			text = s.Text()
		case "refusal":
			refusal = s.Text()
		case "image_url":
			if s.Peek() == '"' { // a bare URL, as early vision clients sent it
				image.url = s.Str()
			} else {
				image.read(s)
			}
		case "input_audio":
			audio.read(s)
		case "file":
			file.read(s)
		case "thinking": // Mistral's thinking parts, in answers
			if s.Enter('[') {
				for m := 0; s.More(']', &m); {
					thinking += readText(s)
				}
			}
		case "prompt_cache_breakpoint", "cache_control":
			p.Cache = s.Peek() == '{'
			s.Skip()
		default:
			s.Skip()
		}
	}
	var err error
	switch typ {
	case "text":
		if !textIsString {
			return p, typ, aiproxy.FieldErrorf(".text", "A text part must have a text string.")
		}
		if text != "" {
			p.Kind, p.Text = chat.KindText, text
		}
	case "refusal":
		if refusal != "" {
			p.Kind, p.Text = chat.KindText, refusal
		}
	case "image_url":
		p.Kind = chat.KindMedia
		if p.Media, err = image.image(); err != nil {
			err = within(".image_url", err)
		}
	case "input_audio":
		p.Kind = chat.KindMedia
		if p.Media, err = audio.audio(); err != nil {
			err = within(".input_audio", err)
		}
	case "file":
		p.Kind = chat.KindMedia
		if p.Media, err = file.file(); err != nil {
			err = within(".file", err)
		}
	case "thinking":
		if strict {
			return p, typ, aiproxy.FieldErrorf(".type", "Content parts of type %q are not allowed here.", typ)
		}
		if thinking != "" {
			p.Kind, p.Text = chat.KindThinking, thinking
		}
	case "":
		if strict {
			return p, typ, aiproxy.FieldErrorf(".type", "Each content part must have a type.")
		}
	default:
		if strict {
			return p, typ, aiproxy.FieldErrorf(".type", "Content parts of type %q are not allowed here.", typ)
		}
	}
	return p, typ, err
}

// readText reads the text of a {"type":"text","text"} object.
func readText(s *jsontext.Scanner) string {
	if !s.Enter('{') {
		return ""
	}
	var t string
	for n := 0; s.More('}', &n); {
		if s.Key() == "text" {
			t = s.Text()
		} else {
			s.Skip()
		}
	}
	return t
}

// media holds the fields of an image_url, input_audio or file object.
type media struct {
	url, detail        string // image_url
	data, format       string // input_audio
	fileData, filename string // file
	fileID             bool
}

func (m *media) read(s *jsontext.Scanner) {
	if !s.Enter('{') {
		return
	}
	for n := 0; s.More('}', &n); {
		switch s.Key() {
		case "url":
			m.url = s.Text()
		case "detail":
			m.detail = s.Text()
		case "data":
			m.data = s.Text()
		case "format":
			m.format = s.Text()
		case "file_data":
			m.fileData = s.Text()
		case "filename":
			m.filename = s.Text()
		case "file_id":
			m.fileID = s.Peek() != 'n'
			s.Skip()
		default:
			s.Skip()
		}
	}
}

// image returns the Media of an image_url: a data: URL becomes base64
// content with its media type (guessed from the content when the URL
// names none), any other URL stays a URL.
func (m *media) image() (*chat.Media, error) {
	if m.url == "" {
		return nil, aiproxy.FieldErrorf(".url", "An image_url part must have a URL.")
	}
	out := &chat.Media{Detail: m.detail}
	if isDataURL(m.url) {
		typ, data, ok := dataURL(m.url)
		if !ok {
			return nil, aiproxy.FieldErrorf(".url", "The image's data: URL is malformed.")
		}
		if typ == "" {
			typ = sniff(data)
		}
		out.MediaType, out.Data = typ, data
		return out, nil
	}
	out.URL = m.url
	return out, nil
}

// audio returns the Media of an input_audio: wav is audio/wav, mp3
// audio/mpeg.
func (m *media) audio() (*chat.Media, error) {
	if m.data == "" {
		return nil, aiproxy.FieldErrorf(".data", "An input_audio part must have base64 data.")
	}
	var typ string
	switch m.format {
	case "wav":
		typ = "audio/wav"
	case "mp3":
		typ = "audio/mpeg"
	case "":
		return nil, aiproxy.FieldErrorf(".format", "An input_audio part must have a format (wav or mp3).")
	default:
		typ = "audio/" + strings.ToLower(m.format)
	}
	return &chat.Media{MediaType: typ, Data: m.data}, nil
}

// file returns the Media of a file: file_data (a data: URL, or plain
// base64 whose type is guessed from the content or the filename) and
// filename; file ids are refused.
func (m *media) file() (*chat.Media, error) {
	if m.fileID {
		return nil, aiproxy.FieldErrorf(".file_id", "Files uploaded to a provider (file_id) cannot be sent to a channel of another protocol: send the content in file_data.")
	}
	if m.fileData == "" {
		return nil, aiproxy.FieldErrorf(".file_data", "A file part must have file_data.")
	}
	out := &chat.Media{Name: m.filename}
	if isDataURL(m.fileData) {
		typ, data, ok := dataURL(m.fileData)
		if !ok {
			return nil, aiproxy.FieldErrorf(".file_data", "The file's data: URL is malformed.")
		}
		out.MediaType, out.Data = typ, data
	} else {
		out.Data = m.fileData
	}
	if out.MediaType == "" {
		if out.MediaType = sniff(out.Data); out.MediaType == "" {
			out.MediaType = typeByName(m.filename)
		}
	}
	return out, nil
}

// typeByName returns the media type of a file name's extension, among
// the documents providers take; application/octet-stream for others.
func typeByName(name string) string {
	ext := name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		ext = strings.ToLower(name[i+1:])
	}
	switch ext {
	case "pdf":
		return "application/pdf"
	case "txt":
		return "text/plain"
	case "md":
		return "text/markdown"
	case "csv":
		return "text/csv"
	case "html", "htm":
		return "text/html"
	case "json":
		return "application/json"
	case "xml":
		return "text/xml"
	}
	return "application/octet-stream"
}

// readBlocks reads LiteLLM's thinking_blocks: thinking (with its
// signature) and redacted_thinking entries.
func readBlocks(s *jsontext.Scanner, strict bool) ([]chat.Part, error) {
	if !s.Enter('[') {
		return nil, nil
	}
	var parts []chat.Part
	for n := 0; s.More(']', &n); {
		if !s.Enter('{') {
			continue
		}
		var typ, thinking, sig, legacySig, data string
		for m := 0; s.More('}', &m); {
			switch s.Key() {
			case "type":
				typ = s.Text()
			case "thinking":
				thinking = s.Text()
			case "signature":
				sig = s.Text()
			case "signature_delta": // LiteLLM before 1.63
				legacySig = s.Text()
			case "data":
				data = s.Text()
			default:
				s.Skip()
			}
		}
		switch typ {
		case "thinking":
			if sig == "" {
				sig = legacySig
			}
			parts = append(parts, chat.Part{Kind: chat.KindThinking, Text: thinking, Signature: sig})
		case "redacted_thinking":
			parts = append(parts, chat.Part{Kind: chat.KindRedactedThinking, Signature: data})
		default:
			if strict {
				return nil, aiproxy.FieldErrorf("["+strconv.Itoa(n-1)+"].type", "Unknown thinking block type %q (thinking and redacted_thinking are known).", typ)
			}
		}
	}
	return parts, nil
}

// readToolCalls reads the tool calls of a message. In a request (strict)
// a call must have an id and JSON arguments; in an answer, an id is made
// up when missing and arguments are kept as the model wrote them.
func readToolCalls(s *jsontext.Scanner, strict bool) ([]chat.Part, error) {
	if !s.Open('[') {
		if p := s.Peek(); strict && p != 'n' {
			s.Skip()
			return nil, aiproxy.FieldErrorf("", "tool_calls must be an array.")
		}
		s.Skip()
		return nil, nil
	}
	var parts []chat.Part
	for n := 0; s.More(']', &n); {
		at := func(sub string) string { return "[" + strconv.Itoa(n-1) + "]" + sub }
		if !s.Enter('{') {
			continue
		}
		var id, typ, name, args string
		hasFunction := false
		for m := 0; s.More('}', &m); {
			switch s.Key() {
			case "id":
				id = s.Text()
			case "type":
				typ = s.Text()
			case "function":
				if s.Peek() == '{' {
					hasFunction = true
					name, args = readCallFunction(s)
				} else {
					s.Skip()
				}
			default:
				s.Skip()
			}
		}
		if typ != "" && typ != "function" {
			return nil, aiproxy.FieldErrorf(at(".type"), "Tool calls of type %q cannot be converted to another protocol (function calls can).", typ)
		}
		if !hasFunction {
			if strict {
				return nil, aiproxy.FieldErrorf(at(".function"), "A tool call must have a function.")
			}
			continue
		}
		call := &chat.ToolCall{Name: name, Arguments: arguments(strings.TrimSpace(args))}
		call.ID, call.Signature = chat.SplitCallID(id)
		if strict {
			switch {
			case call.ID == "":
				return nil, aiproxy.FieldErrorf(at(".id"), "A tool call must have an id.")
			case call.Name == "":
				return nil, aiproxy.FieldErrorf(at(".function.name"), "A tool call must have a function name.")
			case !gjson.Valid(call.Arguments):
				return nil, aiproxy.FieldErrorf(at(".function.arguments"), "The arguments of tool call %q are not valid JSON, which a channel of another protocol cannot take.", call.ID)
			}
		} else if call.ID == "" {
			call.ID = newID("call_")
		}
		parts = append(parts, chat.Part{Kind: chat.KindToolCall, Call: call})
	}
	return parts, nil
}

// readCallFunction reads a tool call's function: its name, and its
// arguments as JSON text (some clients send the object itself rather
// than a string).
func readCallFunction(s *jsontext.Scanner) (name, args string) {
	s.Open('{')
	for n := 0; s.More('}', &n); {
		switch s.Key() {
		case "name":
			name = s.Text()
		case "arguments":
			if s.Peek() == '{' {
				args = s.Raw()
			} else {
				args = s.Text()
			}
		default:
			s.Skip()
		}
	}
	return name, args
}

func (d *reqDecoder) tools() error {
	s := d.s
	if !s.Enter('[') {
		return aiproxy.FieldErrorf("tools", "tools must be an array.")
	}
	for n := 0; s.More(']', &n); {
		at := func(sub string) string { return "tools[" + strconv.Itoa(n-1) + "]" + sub }
		if !s.Enter('{') {
			return aiproxy.FieldErrorf(at(""), "Each tool must be an object.")
		}
		var typ string
		var tool chat.Tool
		hasFunction := false
		for m := 0; s.More('}', &m); {
			switch s.Key() {
			case "type":
				typ = s.Text()
			case "function":
				if !s.Enter('{') {
					continue
				}
				hasFunction = true
				for f := 0; s.More('}', &f); {
					switch s.Key() {
					case "name":
						tool.Name = s.Text()
					case "description":
						tool.Description = s.Text()
					case "parameters":
						if s.Peek() == '{' {
							tool.Parameters = json.RawMessage(s.Raw())
						} else {
							s.Skip()
						}
					case "strict":
						tool.Strict = s.Peek() == 't'
						s.Skip()
					default:
						s.Skip()
					}
				}
			default:
				s.Skip()
			}
		}
		switch {
		case typ != "" && typ != "function":
			return aiproxy.FieldErrorf(at(".type"), "Tools of type %q cannot be sent to a channel of another protocol (function tools can).", typ)
		case !hasFunction:
			return aiproxy.FieldErrorf(at(".function"), "A function tool must have a function.")
		case tool.Name == "":
			return aiproxy.FieldErrorf(at(".function.name"), "A function tool must have a name.")
		}
		d.c.Tools = append(d.c.Tools, tool)
	}
	return nil
}

func (d *reqDecoder) toolChoice(raw string) error {
	c := d.c
	s := &jsontext.Scanner{}
	s.ResetString(raw)
	if s.Peek() == '"' {
		switch v := s.Str(); v {
		case "auto", "none", "required":
			c.ToolChoice = &chat.ToolChoice{Mode: chat.ToolChoiceMode(v)}
			return nil
		}
		return aiproxy.FieldErrorf("tool_choice", "tool_choice must be auto, none, required or a named function.")
	}
	if !s.Open('{') {
		return aiproxy.FieldErrorf("tool_choice", "tool_choice must be auto, none, required or a named function.")
	}
	var typ, name, mode string
	var allowed []string
	for n := 0; s.More('}', &n); {
		switch s.Key() {
		case "type":
			typ = s.Text()
		case "function":
			name, _ = readFunction(s)
		case "allowed_tools":
			if !s.Enter('{') {
				continue
			}
			for m := 0; s.More('}', &m); {
				switch s.Key() {
				case "mode":
					mode = s.Text()
				case "tools":
					if !s.Enter('[') {
						continue
					}
					for t := 0; s.More(']', &t); {
						n, kind := readAllowed(s)
						if kind != "function" {
							return aiproxy.FieldErrorf("tool_choice.allowed_tools.tools", "Only function tools can be allowed for a channel of another protocol.")
						}
						allowed = append(allowed, n)
					}
				default:
					s.Skip()
				}
			}
		default:
			s.Skip()
		}
	}
	switch typ {
	case "function":
		if name == "" {
			return aiproxy.FieldErrorf("tool_choice.function.name", "A named tool_choice must name a function.")
		}
		c.ToolChoice = &chat.ToolChoice{Mode: chat.ToolNamed, Name: name}
		return nil
	case "allowed_tools":
		return d.allowedTools(mode, allowed)
	}
	return aiproxy.FieldErrorf("tool_choice.type", "tool_choice of type %q cannot be converted to another protocol.", typ)
}

// readAllowed reads an entry of allowed_tools.tools: its function's name
// and its type.
func readAllowed(s *jsontext.Scanner) (name, typ string) {
	if !s.Enter('{') {
		return "", ""
	}
	for n := 0; s.More('}', &n); {
		switch s.Key() {
		case "type":
			typ = s.Text()
		case "function":
			name, _ = readFunction(s)
		default:
			s.Skip()
		}
	}
	return name, typ
}

// allowedTools narrows the tools to the allowed ones, which is what the
// model may then call, and sets the mode.
func (d *reqDecoder) allowedTools(mode string, names []string) error {
	c := d.c
	if mode != "auto" && mode != "required" {
		return aiproxy.FieldErrorf("tool_choice.allowed_tools.mode", "allowed_tools.mode must be auto or required.")
	}
	for _, name := range names {
		found := false
		for i := range c.Tools {
			found = found || c.Tools[i].Name == name
		}
		if !found {
			return aiproxy.FieldErrorf("tool_choice.allowed_tools.tools", "allowed_tools names %q, which is not in tools.", name)
		}
	}
	kept := c.Tools[:0]
	for _, t := range c.Tools {
		for _, n := range names {
			if t.Name == n {
				kept = append(kept, t)
				break
			}
		}
	}
	c.Tools = kept
	c.ToolChoice = &chat.ToolChoice{Mode: chat.ToolChoiceMode(mode)}
	return nil
}
