package openai

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// textSep joins the text parts of one message where chat completions
// take a single string: OpenAI-compatible servers do not all take arrays
// of parts for every role, and a paragraph break keeps the parts apart.
const textSep = "\n\n"

// EncodeRequest encodes c as a chat completions body for call: "model"
// is call.UpstreamModel and "stream" call.Stream (the adaptor adds
// stream_options). Messages:
//
//   - System is one leading system message and RoleSystem messages are
//     system messages, their text parts joined by a blank line.
//   - A user message's ToolResult parts become tool messages
//     ({"role":"tool","tool_call_id","content"}, the result's text
//     joined), placed before the rest of that turn. Its other content is
//     a string when it is only text (joined), else an array of parts:
//     images as image_url (their URL, or a data: URL), audio/wav and
//     audio/mpeg as input_audio, other inline media (PDF, text...) as
//     file with file_data (a data: URL) and a filename (the media's
//     name, else one made from its type).
//   - An assistant message has content (its text joined; null when it
//     only calls tools), reasoning_content (its thinking text joined:
//     DeepSeek's thinking mode wants it back on tool-call turns; not
//     sent to api.openai.com, which takes no such field) and tool_calls
//     with the plain call ID (thought signatures are Gemini's and mean
//     nothing to OpenAI providers) and the arguments as JSON text.
//     Thinking signatures and redacted thinking are Anthropic's proofs,
//     which no OpenAI provider can check: they are left out.
//
// Then tools (function tools, with an empty object schema for a tool
// without parameters), tool_choice and parallel_tool_calls (only with
// tools: OpenAI refuses them without), temperature, top_p, seed,
// presence_penalty, frequency_penalty, stop, response_format, user and
// reasoning_effort (Effort, else chat.EffortFor(Budget), else "medium"
// for adaptive thinking; a json_schema format without a name is named
// "response", as OpenAI requires one). Reasoning.Off sends no
// reasoning_effort: the "none" level is known only to OpenAI's newest
// models and refused by the others and by most compatible servers, while
// models that do not reason need nothing. Reasoning.Hide has no
// equivalent: providers that return their reasoning always do. MaxTokens is max_completion_tokens for
// api.openai.com (its reasoning models refuse max_tokens) and max_tokens
// for every other server (many know only that). Part.Cache is left out:
// OpenAI caches prompts on its own. A ToolResult's IsError has no place
// in chat completions; the result's text, which says what failed, is
// sent as it is.
//
// TopK goes as top_k, the extension vLLM, OpenRouter and most compatible
// servers take; api.openai.com has no top-k sampling and refuses unknown
// fields, so there it is left out (Gemini clients such as Gemini CLI send
// topK with every request, and refusing it would shut them out of OpenAI
// models). Media a tool returned follow the tool messages in a user
// message, after a text naming the call: tool messages carry text only.
//
// It returns EINVALID naming what chat completions cannot carry: audio
// other than WAV and MP3 or given by URL, media other than images given
// only by URL, media in a system message or assistant message, parts of a kind the role cannot hold, tool calls
// and results without ids, and numbers or schemas that are not valid
// JSON.
func (Codec) EncodeRequest(c *chat.Request, call *relay.Call) ([]byte, error) {
	base := call.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	official := officialHost(base)
	b := make([]byte, 0, requestSize(c))
	b = append(b, `{"model":`...)
	b = jsontext.AppendString(b, call.UpstreamModel)
	b = append(b, `,"messages":[`...)
	var err error
	if len(c.System) > 0 {
		if b, err = appendTextMessage(b, "system", c.System); err != nil {
			return nil, within("system", err)
		}
	}
	for i := range c.Messages {
		m := &c.Messages[i]
		switch m.Role {
		case chat.RoleSystem:
			b, err = appendTextMessage(b, "system", m.Parts)
		case chat.RoleUser:
			b, err = appendUser(b, m.Parts)
		case chat.RoleAssistant:
			b, err = appendAssistant(b, m.Parts, !official)
		default:
			err = aiproxy.FieldErrorf(".role", "Unknown message role %q.", m.Role)
		}
		if err != nil {
			return nil, within("messages["+strconv.Itoa(i)+"]", err)
		}
	}
	b = append(b, `],"stream":`...)
	b = strconv.AppendBool(b, call.Stream)
	if len(c.Tools) > 0 {
		if b, err = appendTools(b, c); err != nil {
			return nil, err
		}
	}
	if c.MaxTokens > 0 {
		if official {
			b = append(b, `,"max_completion_tokens":`...)
		} else {
			b = append(b, `,"max_tokens":`...)
		}
		b = strconv.AppendInt(b, relay.CapTokens(c.MaxTokens, maxOutputTokens(call)), 10)
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{
		{"temperature", c.Temperature},
		{"top_p", c.TopP},
		{"presence_penalty", c.PresencePenalty},
		{"frequency_penalty", c.FrequencyPenalty},
	} {
		if f.v == nil {
			continue
		}
		if math.IsNaN(*f.v) || math.IsInf(*f.v, 0) {
			return nil, aiproxy.FieldErrorf(f.name, "%s must be a finite number.", f.name)
		}
		b = append(b, ',', '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		b = jsontext.AppendFloat(b, *f.v)
	}
	if c.Seed != nil {
		b = append(b, `,"seed":`...)
		b = strconv.AppendInt(b, *c.Seed, 10)
	}
	if c.TopK != nil && !official {
		b = append(b, `,"top_k":`...)
		b = strconv.AppendInt(b, *c.TopK, 10)
	}
	if len(c.Stop) > 0 {
		b = append(b, `,"stop":[`...)
		for i, s := range c.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, s)
		}
		b = append(b, ']')
	}
	if c.Format != nil {
		if b, err = appendFormat(b, c.Format); err != nil {
			return nil, err
		}
	}
	if e := effort(c.Reasoning); e != "" {
		b = append(b, `,"reasoning_effort":`...)
		b = jsontext.AppendString(b, e)
	}
	if c.User != "" {
		b = append(b, `,"user":`...)
		b = jsontext.AppendString(b, c.User)
	}
	return append(b, '}'), nil
}

// officialHost reports whether base, a base URL, is OpenAI's own API.
func officialHost(base string) bool {
	s := base
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return strings.EqualFold(strings.TrimSuffix(s, "."), "api.openai.com")
}

// requestSize estimates the size of c's encoding, so that it is built
// in one buffer.
func requestSize(c *chat.Request) int {
	n := 256
	count := func(parts []chat.Part) {
		for i := range parts {
			p := &parts[i]
			n += len(p.Text) + 48
			switch {
			case p.Media != nil:
				n += len(p.Media.Data) + len(p.Media.URL) + len(p.Media.Name) + 96
			case p.Call != nil:
				n += len(p.Call.ID) + len(p.Call.Name) + len(p.Call.Arguments)*5/4 + 96
			case p.Result != nil:
				n += len(p.Result.CallID) + 64
				for j := range p.Result.Parts {
					n += len(p.Result.Parts[j].Text) + 8
				}
			}
		}
	}
	count(c.System)
	for i := range c.Messages {
		n += 32
		count(c.Messages[i].Parts)
	}
	for i := range c.Tools {
		t := &c.Tools[i]
		n += len(t.Name) + len(t.Description) + len(t.Parameters) + 80
	}
	if c.Format != nil {
		n += len(c.Format.Schema) + len(c.Format.Name) + 80
	}
	return n + n/16
}

// appendTextMessage appends a message of text parts only, joined.
func appendTextMessage(b []byte, role string, parts []chat.Part) ([]byte, error) {
	for i := range parts {
		if k := parts[i].Kind; k != chat.KindText {
			return nil, aiproxy.FieldErrorf("", "OpenAI %s messages carry text only, not %s.", role, k)
		}
	}
	b = appendComma(b)
	b = append(b, `{"role":`...)
	b = jsontext.AppendString(b, role)
	b = append(b, `,"content":`...)
	b = appendJoined(b, parts, chat.KindText, textSep, true)
	return append(b, '}'), nil
}

// appendUser appends a user turn: a tool message for each ToolResult
// part, then a user message with the rest, if any.
func appendUser(b []byte, parts []chat.Part) ([]byte, error) {
	var attached []chat.Part // media returned by tool calls, sent after the tool messages
	rest, media := 0, false
	var err error
	for i := range parts {
		p := &parts[i]
		switch p.Kind {
		case chat.KindToolResult:
			if b, err = appendToolMessage(b, p.Result); err != nil {
				return nil, err
			}
			attached = appendAttachments(attached, p.Result)
		case chat.KindText:
			rest++
		case chat.KindMedia:
			rest++
			media = true
		default:
			return nil, aiproxy.FieldErrorf("", "A user message cannot hold %s parts.", p.Kind)
		}
	}
	if len(attached) > 0 {
		parts = append(attached, parts...)
		rest += len(attached)
		media = true
	}
	if rest == 0 && len(parts) > 0 {
		return b, nil
	}
	b = appendComma(b)
	b = append(b, `{"role":"user","content":`...)
	if !media {
		b = appendJoined(b, parts, chat.KindText, textSep, true)
		return append(b, '}'), nil
	}
	b = append(b, '[')
	for i := range parts {
		p := &parts[i]
		switch p.Kind {
		case chat.KindText:
			if p.Text == "" {
				continue
			}
			b = appendComma(b)
			b = append(b, `{"type":"text","text":`...)
			b = jsontext.AppendString(b, p.Text)
			b = append(b, '}')
		case chat.KindMedia:
			b = appendComma(b)
			if b, err = appendMedia(b, p.Media); err != nil {
				return nil, err
			}
		}
	}
	return append(b, "]}"...), nil
}

// appendAttachments appends the media of a tool result to parts, after a
// text naming the call: tool messages carry text only, so images a tool
// returned (a screenshot, a file read) follow the tool messages in a user
// message.
func appendAttachments(parts []chat.Part, r *chat.ToolResult) []chat.Part {
	n := len(parts)
	for i := range r.Parts {
		if r.Parts[i].Kind == chat.KindMedia {
			if len(parts) == n {
				parts = append(parts, chat.Part{Kind: chat.KindText, Text: "Attachments of the result of tool call " + r.CallID + ":"})
			}
			parts = append(parts, r.Parts[i])
		}
	}
	return parts
}

// appendMedia appends a content part for m: image_url, input_audio or
// file.
func appendMedia(b []byte, m *chat.Media) ([]byte, error) {
	typ := strings.ToLower(m.MediaType)
	if typ == "" && m.Data != "" {
		typ = sniff(m.Data)
	}
	switch {
	case strings.HasPrefix(typ, "image/") || typ == "" && m.URL != "":
		b = append(b, `{"type":"image_url","image_url":{"url":`...)
		if m.Data != "" {
			b = appendDataURL(b, typ, m.Data)
		} else {
			b = jsontext.AppendString(b, m.URL)
		}
		if m.Detail != "" {
			b = append(b, `,"detail":`...)
			b = jsontext.AppendString(b, m.Detail)
		}
		return append(b, "}}"...), nil
	case strings.HasPrefix(typ, "audio/"):
		var af string
		switch typ {
		case "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave":
			af = "wav"
		case "audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3":
			af = "mp3"
		default:
			return nil, aiproxy.FieldErrorf("", "Audio of type %s cannot be sent to OpenAI channels (WAV and MP3 can).", m.MediaType)
		}
		if m.Data == "" {
			return nil, aiproxy.FieldErrorf("", "Audio given by URL cannot be sent to OpenAI channels: send its content.")
		}
		b = append(b, `{"type":"input_audio","input_audio":{"data":`...)
		b = jsontext.AppendString(b, m.Data)
		b = append(b, `,"format":"`...)
		b = append(b, af...)
		return append(b, `"}}`...), nil
	case m.Data != "":
		if typ == "" {
			typ = "application/octet-stream"
		}
		name := m.Name
		if name == "" {
			name = "file" + extension(typ)
		}
		b = append(b, `{"type":"file","file":{"filename":`...)
		b = jsontext.AppendString(b, name)
		b = append(b, `,"file_data":`...)
		b = appendDataURL(b, typ, m.Data)
		return append(b, "}}"...), nil
	}
	return nil, aiproxy.FieldErrorf("", "Media of type %s given only by URL cannot be sent to OpenAI channels (images can): send its content.", m.MediaType)
}

// extension returns the file name extension of a document type, "" for
// types without a usual one.
func extension(typ string) string {
	switch typ {
	case "application/pdf":
		return ".pdf"
	case "text/plain":
		return ".txt"
	case "text/markdown":
		return ".md"
	case "text/csv":
		return ".csv"
	case "text/html":
		return ".html"
	case "application/json":
		return ".json"
	case "text/xml", "application/xml":
		return ".xml"
	}
	return ""
}

// appendToolMessage appends the tool message of a tool result.
func appendToolMessage(b []byte, r *chat.ToolResult) ([]byte, error) {
	if r.CallID == "" {
		return nil, aiproxy.FieldErrorf("", "A tool result without the id of its call cannot be sent to OpenAI channels.")
	}
	media := false
	for i := range r.Parts {
		switch k := r.Parts[i].Kind; k {
		case chat.KindText:
		case chat.KindMedia:
			media = true
		default:
			return nil, aiproxy.FieldErrorf("", "The result of tool call %q holds %s, which OpenAI tool messages cannot carry.", r.CallID, k)
		}
	}
	b = appendComma(b)
	b = append(b, `{"role":"tool","tool_call_id":`...)
	b = jsontext.AppendString(b, r.CallID)
	b = append(b, `,"content":`...)
	if media && !hasText(r.Parts, chat.KindText) {
		b = jsontext.AppendString(b, "The result is in the attachments that follow.")
	} else {
		b = appendJoined(b, r.Parts, chat.KindText, textSep, true)
	}
	return append(b, '}'), nil
}

// appendAssistant appends an assistant message; reasoning says whether
// its thinking goes in reasoning_content.
func appendAssistant(b []byte, parts []chat.Part, reasoning bool) ([]byte, error) {
	calls := false
	for i := range parts {
		switch k := parts[i].Kind; k {
		case chat.KindToolCall:
			if parts[i].Call.ID == "" {
				return nil, aiproxy.FieldErrorf("", "A tool call without an id cannot be sent to OpenAI channels.")
			}
			calls = true
		case chat.KindText, chat.KindThinking, chat.KindRedactedThinking:
		default:
			return nil, aiproxy.FieldErrorf("", "An assistant message cannot hold %s parts for OpenAI channels.", k)
		}
	}
	b = appendComma(b)
	b = append(b, `{"role":"assistant","content":`...)
	b = appendJoined(b, parts, chat.KindText, textSep, !calls)
	if reasoning && hasText(parts, chat.KindThinking) {
		b = append(b, `,"reasoning_content":`...)
		b = appendJoined(b, parts, chat.KindThinking, textSep, true)
	}
	if calls {
		b = appendToolCalls(b, parts, false)
	}
	return append(b, '}'), nil
}

// appendTools appends tools, tool_choice and parallel_tool_calls.
func appendTools(b []byte, c *chat.Request) ([]byte, error) {
	b = append(b, `,"tools":[`...)
	for i := range c.Tools {
		t := &c.Tools[i]
		b = appendComma(b)
		b = append(b, `{"type":"function","function":{"name":`...)
		b = jsontext.AppendString(b, t.Name)
		if t.Description != "" {
			b = append(b, `,"description":`...)
			b = jsontext.AppendString(b, t.Description)
		}
		b = append(b, `,"parameters":`...)
		if len(t.Parameters) == 0 || string(t.Parameters) == "null" {
			b = append(b, `{"type":"object","properties":{}}`...)
		} else {
			if !gjson.ValidBytes(t.Parameters) {
				return nil, aiproxy.FieldErrorf(fmt.Sprintf("tools[%d].parameters", i), "The parameters of tool %q are not valid JSON.", t.Name)
			}
			b = append(b, t.Parameters...)
		}
		if t.Strict {
			b = append(b, `,"strict":true`...)
		}
		b = append(b, "}}"...)
	}
	b = append(b, ']')
	if tc := c.ToolChoice; tc != nil {
		b = append(b, `,"tool_choice":`...)
		switch tc.Mode {
		case chat.ToolAuto, chat.ToolNone, chat.ToolRequired:
			b = jsontext.AppendString(b, string(tc.Mode))
		case chat.ToolNamed:
			b = append(b, `{"type":"function","function":{"name":`...)
			b = jsontext.AppendString(b, tc.Name)
			b = append(b, "}}"...)
		default:
			return nil, aiproxy.FieldErrorf("tool_choice", "Unknown tool choice mode %q.", tc.Mode)
		}
	}
	if c.ParallelToolCalls != nil {
		b = append(b, `,"parallel_tool_calls":`...)
		b = strconv.AppendBool(b, *c.ParallelToolCalls)
	}
	return b, nil
}

// appendFormat appends response_format.
func appendFormat(b []byte, f *chat.Format) ([]byte, error) {
	switch f.Type {
	case chat.FormatJSON:
		return append(b, `,"response_format":{"type":"json_object"}`...), nil
	case chat.FormatJSONSchema:
		name := f.Name
		if name == "" {
			name = "response" // OpenAI requires a name
		}
		b = append(b, `,"response_format":{"type":"json_schema","json_schema":{"name":`...)
		b = jsontext.AppendString(b, name)
		if len(f.Schema) > 0 {
			if !gjson.ValidBytes(f.Schema) {
				return nil, aiproxy.FieldErrorf("response_format", "The response schema is not valid JSON.")
			}
			b = append(b, `,"schema":`...)
			b = append(b, f.Schema...)
		}
		if f.Strict {
			b = append(b, `,"strict":true`...)
		}
		return append(b, "}}"...), nil
	}
	return nil, aiproxy.FieldErrorf("response_format", "Unknown response format %q.", f.Type)
}

// effort returns the reasoning_effort for r, "" for none.
func effort(r *chat.Reasoning) string {
	switch {
	case r == nil || r.Off:
		return ""
	case r.Effort != "":
		return r.Effort
	case r.Budget != 0:
		return chat.EffortFor(r.Budget)
	case r.Adaptive:
		return "medium"
	}
	return ""
}

// maxOutputTokens returns the channel's maxOutputTokens config, 0 none.
func maxOutputTokens(call *relay.Call) int64 {
	if call.Channel == nil {
		return 0
	}
	return gjson.GetBytes(call.Channel.Config, "maxOutputTokens").Int()
}
