package anthropic

import (
	"encoding/base64"
	"strconv"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// This file decodes Anthropic Messages requests into the neutral form, in
// one pass of the scanner over the body. Strings and JSON text of the
// result view the request body, which the relay never changes.

// DecodeRequest decodes a messages (or count_tokens) request. It returns
// EINVALID naming the field for a malformed request or for what another
// protocol cannot serve: server tools and their blocks, MCP servers,
// skills, compaction, threads, Files API sources, search results,
// container uploads and document context (see the package documentation
// for what is ignored).
func (Codec) DecodeRequest(req *relay.Request) (*chat.Request, error) {
	return decodeRequest(req.Body)
}

// errJSON is the error of a body that is not a JSON object.
func errJSON() error {
	return aiproxy.Errorf(aiproxy.EINVALID, "The request body is not a valid JSON object.")
}

func decodeRequest(body []byte) (*chat.Request, error) {
	o, ok := checkedObject(body)
	if !ok {
		return nil, errJSON()
	}
	d := requestDecoder{c: &chat.Request{}}
	c := d.c
	var system, messages, thinking, effort, format, outputFormat string
	var err error
	for k, v, ok := o.next(); ok && err == nil; k, v, ok = o.next() {
		if isNull(v) {
			continue
		}
		switch k {
		case "model":
			c.Model = jsontext.Unquote(v)
		case "system":
			system = v
		case "messages":
			messages = v
		case "max_tokens":
			f, isNum := jsontext.Float(v)
			switch {
			case !isNum || f != float64(int64(f)) || f < 0:
				err = aiproxy.FieldErrorf("max_tokens", "max_tokens must be a positive integer.")
			case f == 0:
				err = aiproxy.FieldErrorf("max_tokens", "max_tokens 0 (warming the prompt cache without an answer) cannot be served by a channel of another protocol.")
			}
			c.MaxTokens = int64(f)
		case "stop_sequences":
			c.Stop, err = stringList(v, "stop_sequences")
		case "temperature":
			c.Temperature, err = float(v, "temperature")
		case "top_p":
			c.TopP, err = float(v, "top_p")
		case "top_k":
			f, isNum := jsontext.Float(v)
			if !isNum || f != float64(int64(f)) {
				err = aiproxy.FieldErrorf("top_k", "top_k must be an integer.")
				break
			}
			n := int64(f)
			c.TopK = &n
		case "metadata":
			var m rfields
			m.read(v)
			if u := m.userID; isString(u) {
				c.User = jsontext.Unquote(u)
			}
		case "tools":
			err = d.tools(v)
		case "tool_choice":
			err = d.toolChoice(v)
		case "thinking":
			thinking = v
		case "output_config":
			var oc rfields
			oc.read(v)
			effort, format = oc.effort, oc.format
		case "output_format":
			outputFormat = v
		case "stream":
			c.Stream = isTrue(v)
		case "mcp_servers":
			if a, ok := newArray(v); ok {
				if _, any := a.next(); any {
					err = aiproxy.FieldErrorf("mcp_servers", "MCP servers (mcp_servers) cannot be served by a channel of another protocol.")
				}
			}
		case "compaction":
			err = aiproxy.FieldErrorf("compaction", "Compaction requests cannot be served by a channel of another protocol.")
		case "thread":
			err = aiproxy.FieldErrorf("thread", "Server-held threads (thread) cannot be served by a channel of another protocol.")
		case "container":
			var ct rfields
			ct.read(v)
			if a, ok := newArray(ct.skills); ok {
				if _, any := a.next(); any {
					err = aiproxy.FieldErrorf("container.skills", "Skills (container.skills) cannot be served by a channel of another protocol.")
				}
			}
		}
		// Ignored, as hints that cannot change what the answer says:
		// context_management, service_tier, inference_geo, speed,
		// diagnostics, cache_control, fallbacks, fallback_credit_token,
		// billing_policy, and fields newer than this package.
	}
	if err != nil {
		return nil, err
	}
	if !o.end() {
		return nil, errJSON()
	}
	if err := d.system(system); err != nil {
		return nil, err
	}
	if !isArr(messages) {
		return nil, aiproxy.FieldErrorf("messages", "messages: Field required (an array of messages).")
	}
	if err := d.messages(messages); err != nil {
		return nil, err
	}
	if err := d.reasoning(thinking, effort); err != nil {
		return nil, err
	}
	if isNull(format) {
		format = outputFormat
	}
	if err := d.format(format); err != nil {
		return nil, err
	}
	return d.c, nil
}

// requestDecoder decodes one request.
type requestDecoder struct {
	c *chat.Request
	// names maps tool call ids to tool names, so that tool results get the
	// name of the call they answer.
	names map[string]string
	// history is set once a user or assistant message was decoded: later
	// system-role messages stay in the history.
	history bool
}

// stringList decodes an array of strings.
func stringList(v, field string) ([]string, error) {
	a, ok := newArray(v)
	if !ok {
		return nil, aiproxy.FieldErrorf(field, "%s must be a list of strings.", field)
	}
	var out []string
	for s, ok := a.next(); ok; s, ok = a.next() {
		if !isString(s) {
			return nil, aiproxy.FieldErrorf(field, "%s must be a list of strings.", field)
		}
		out = append(out, jsontext.Unquote(s))
	}
	return out, nil
}

// float decodes a number.
func float(v, field string) (*float64, error) {
	f, ok := jsontext.Float(v)
	if !ok {
		return nil, aiproxy.FieldErrorf(field, "%s must be a number.", field)
	}
	return &f, nil
}

// system decodes the top-level system prompt: a string or text blocks.
func (d *requestDecoder) system(v string) error {
	if isNull(v) {
		return nil
	}
	parts, err := textParts(v, "system", d.c.System)
	d.c.System = parts
	return err
}

// textParts appends the text of v, a string or an array of text blocks,
// to parts.
func textParts(v, field string, parts []chat.Part) ([]chat.Part, error) {
	if isString(v) {
		return append(parts, chat.Part{Kind: chat.KindText, Text: jsontext.Unquote(v)}), nil
	}
	a, ok := newArray(v)
	if !ok {
		return parts, aiproxy.FieldErrorf(field, "%s must be a string or an array of text blocks.", field)
	}
	i := 0
	for b, ok := a.next(); ok; b, ok = a.next() {
		var bl rfields
		bl.read(b)
		if word(bl.typ) != "text" || !isString(bl.text) {
			return parts, aiproxy.FieldErrorf(field+"."+strconv.Itoa(i), "%s may hold only text blocks.", field)
		}
		parts = append(parts, chat.Part{Kind: chat.KindText, Text: jsontext.Unquote(bl.text), Cache: isObj(bl.cacheControl)})
		i++
	}
	return parts, nil
}

// messages decodes the history.
func (d *requestDecoder) messages(v string) error {
	a, _ := newArray(v)
	i := 0
	for m, ok := a.next(); ok; m, ok = a.next() {
		if err := d.message(m, i); err != nil {
			return err
		}
		i++
	}
	return nil
}

// message decodes messages[i].
func (d *requestDecoder) message(m string, i int) error {
	l := loc{i, -1, -1}
	var mf rfields
	if !isObj(m) {
		return aiproxy.FieldErrorf(l.String(), "Each message must be an object with a role and content.")
	}
	mf.read(m)
	content := mf.content
	if len(content) == 0 {
		return aiproxy.FieldErrorf(l.f(".content"), "%s.content: Field required.", l)
	}
	switch role := word(mf.role); role {
	case "system":
		// Claude Code sends these: instructions inside the history. The
		// leading ones belong to the system prompt.
		if !d.history {
			parts, err := textParts(content, l.f(".content"), d.c.System)
			d.c.System = parts
			return err
		}
		parts, err := textParts(content, l.f(".content"), nil)
		d.c.Messages = append(d.c.Messages, chat.Message{Role: chat.RoleSystem, Parts: parts})
		return err
	case "user", "assistant":
	default:
		return aiproxy.FieldErrorf(l.f(".role"), "The role %q is not one of user, assistant and system.", jsontext.Unquote(mf.role))
	}
	d.history = true
	msg := chat.Message{Role: chat.RoleUser}
	if word(mf.role) == "assistant" {
		msg.Role = chat.RoleAssistant
	}
	if isString(content) {
		msg.Parts = []chat.Part{{Kind: chat.KindText, Text: jsontext.Unquote(content)}}
		d.c.Messages = append(d.c.Messages, msg)
		return nil
	}
	a, ok := newArray(content)
	if !ok {
		return aiproxy.FieldErrorf(l.f(".content"), "%s.content must be a string or an array of content blocks.", l)
	}
	j := 0
	for b, ok := a.next(); ok; b, ok = a.next() {
		p, err := d.block(b, loc{i, j, -1})
		if err != nil {
			return err
		}
		msg.Parts = append(msg.Parts, p)
		j++
	}
	d.c.Messages = append(d.c.Messages, msg)
	return nil
}

// block decodes one content block of a user or assistant message.
func (d *requestDecoder) block(b string, l loc) (chat.Part, error) {
	if !isObj(b) {
		return chat.Part{}, aiproxy.FieldErrorf(l.String(), "Each content block must be an object with a type.")
	}
	var bl rfields
	bl.read(b)
	cache := isObj(bl.cacheControl)
	switch t := jsontext.Unquote(bl.typ); t {
	case "text":
		// Citations a client sends back are ignored: another provider
		// cannot cite Anthropic documents, and the text is kept.
		if !isString(bl.text) {
			return chat.Part{}, aiproxy.FieldErrorf(l.f(".text"), "A text block needs its text.")
		}
		return chat.Part{Kind: chat.KindText, Text: jsontext.Unquote(bl.text), Cache: cache}, nil
	case "image":
		m, err := imageMedia(bl.source, l, ".source")
		return chat.Part{Kind: chat.KindMedia, Media: m, Cache: cache}, err
	case "document":
		m, err := documentMedia(&bl, l)
		return chat.Part{Kind: chat.KindMedia, Media: m, Cache: cache}, err
	case "tool_use":
		if !isNull(bl.caller) {
			var cf rfields
			cf.read(bl.caller)
			if word(cf.typ) != "direct" {
				return chat.Part{}, aiproxy.FieldErrorf(l.f(".caller"), "Tool calls made by server-side code execution cannot be served by a channel of another protocol.")
			}
		}
		if !isString(bl.id) || !isString(bl.name) {
			return chat.Part{}, aiproxy.FieldErrorf(l.String(), "A tool_use block needs an id and a name.")
		}
		id, sig := chat.SplitCallID(jsontext.Unquote(bl.id))
		name := jsontext.Unquote(bl.name)
		args := "{}"
		if !isNull(bl.input) {
			if !isObj(bl.input) {
				return chat.Part{}, aiproxy.FieldErrorf(l.f(".input"), "A tool_use block's input must be an object.")
			}
			args = bl.input
		}
		if d.names == nil {
			d.names = make(map[string]string, 4)
		}
		d.names[id] = name
		return chat.Part{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: id, Name: name, Arguments: args, Signature: sig}, Cache: cache}, nil
	case "tool_result":
		return d.toolResult(&bl, l)
	case "thinking":
		return chat.Part{Kind: chat.KindThinking, Text: jsontext.Unquote(bl.thinking), Signature: jsontext.Unquote(bl.signature)}, nil
	case "redacted_thinking":
		return chat.Part{Kind: chat.KindRedactedThinking, Signature: jsontext.Unquote(bl.data)}, nil
	case "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
		"bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
		"mcp_tool_use", "mcp_tool_result", "advisor_tool_result":
		return chat.Part{}, aiproxy.FieldErrorf(l.String(), "Server tool blocks (%s) cannot be served by a channel of another protocol.", t)
	case "":
		return chat.Part{}, aiproxy.FieldErrorf(l.f(".type"), "A content block needs a type.")
	default:
		return chat.Part{}, aiproxy.FieldErrorf(l.String(), "%s content blocks cannot be served by a channel of another protocol.", t)
	}
}

// imageMedia decodes an image source: base64 or URL.
func imageMedia(src string, l loc, at string) (*chat.Media, error) {
	var s rfields
	s.read(src)
	switch t := jsontext.Unquote(s.typ); t {
	case "base64":
		if !isString(s.mediaType) || !isString(s.data) {
			return nil, aiproxy.FieldErrorf(l.f(at), "A base64 image source needs its media_type and data.")
		}
		return &chat.Media{MediaType: jsontext.Unquote(s.mediaType), Data: jsontext.Unquote(s.data)}, nil
	case "url":
		u := jsontext.Unquote(s.url)
		if u == "" {
			return nil, aiproxy.FieldErrorf(l.f(at+".url"), "A URL image source needs its url.")
		}
		return &chat.Media{URL: u}, nil
	case "file":
		return nil, aiproxy.FieldErrorf(l.f(at), "Files API sources (file_id) cannot be served by a channel of another protocol.")
	default:
		return nil, aiproxy.FieldErrorf(l.f(at+".type"), "The image source type %q is not one of base64 and url.", t)
	}
}

// documentMedia decodes a document: a base64 PDF, plain text or a PDF URL;
// the title becomes the medium's name.
func documentMedia(bl *rfields, l loc) (*chat.Media, error) {
	if jsontext.Unquote(bl.context) != "" {
		return nil, aiproxy.FieldErrorf(l.f(".context"), "Document context cannot be served by a channel of another protocol.")
	}
	var s rfields
	s.read(bl.source)
	var m chat.Media
	switch t := jsontext.Unquote(s.typ); t {
	case "base64":
		if !isString(s.data) {
			return nil, aiproxy.FieldErrorf(l.f(".source"), "A base64 document source needs its data.")
		}
		m = chat.Media{MediaType: "application/pdf", Data: jsontext.Unquote(s.data)}
		if mt := jsontext.Unquote(s.mediaType); mt != "" {
			m.MediaType = mt
		}
	case "text":
		if !isString(s.data) {
			return nil, aiproxy.FieldErrorf(l.f(".source"), "A text document source needs its data.")
		}
		m = chat.Media{MediaType: "text/plain", Data: base64.StdEncoding.EncodeToString(jsontext.AppendUnquote(nil, s.data))}
	case "url":
		u := jsontext.Unquote(s.url)
		if u == "" {
			return nil, aiproxy.FieldErrorf(l.f(".source.url"), "A URL document source needs its url.")
		}
		m = chat.Media{MediaType: "application/pdf", URL: u}
	case "file":
		return nil, aiproxy.FieldErrorf(l.f(".source"), "Files API sources (file_id) cannot be served by a channel of another protocol.")
	case "content":
		return nil, aiproxy.FieldErrorf(l.f(".source"), "Documents of content blocks cannot be served by a channel of another protocol.")
	default:
		return nil, aiproxy.FieldErrorf(l.f(".source.type"), "The document source type %q is not one of base64, text and url.", t)
	}
	m.Name = jsontext.Unquote(bl.title)
	return &m, nil
}

// toolResult decodes a tool_result block: its content a string or text,
// image and document blocks.
func (d *requestDecoder) toolResult(bl *rfields, l loc) (chat.Part, error) {
	if !isString(bl.toolUseID) {
		return chat.Part{}, aiproxy.FieldErrorf(l.f(".tool_use_id"), "A tool_result block needs its tool_use_id.")
	}
	id, _ := chat.SplitCallID(jsontext.Unquote(bl.toolUseID))
	r := &chat.ToolResult{CallID: id, Name: d.names[id], IsError: isTrue(bl.isError)}
	switch c := bl.content; {
	case isNull(c):
	case isString(c):
		r.Parts = []chat.Part{{Kind: chat.KindText, Text: jsontext.Unquote(c)}}
	case isArr(c):
		a, _ := newArray(c)
		j := 0
		for b, ok := a.next(); ok; b, ok = a.next() {
			sl := loc{l.msg, l.block, j}
			j++
			var sub rfields
			sub.read(b)
			var p chat.Part
			var err error
			switch t := jsontext.Unquote(sub.typ); t {
			case "text":
				p = chat.Part{Kind: chat.KindText, Text: jsontext.Unquote(sub.text), Cache: isObj(sub.cacheControl)}
			case "image":
				p.Kind, p.Cache = chat.KindMedia, isObj(sub.cacheControl)
				p.Media, err = imageMedia(sub.source, sl, ".source")
			case "document":
				p.Kind, p.Cache = chat.KindMedia, isObj(sub.cacheControl)
				p.Media, err = documentMedia(&sub, sl)
			default:
				err = aiproxy.FieldErrorf(sl.String(), "%s blocks in tool results cannot be served by a channel of another protocol.", t)
			}
			if err != nil {
				return chat.Part{}, err
			}
			r.Parts = append(r.Parts, p)
		}
	default:
		return chat.Part{}, aiproxy.FieldErrorf(l.f(".content"), "A tool_result's content must be a string or an array of blocks.")
	}
	return chat.Part{Kind: chat.KindToolResult, Result: r, Cache: isObj(bl.cacheControl)}, nil
}

// tools decodes custom tools; server tools are refused.
func (d *requestDecoder) tools(v string) error {
	a, ok := newArray(v)
	if !ok {
		return aiproxy.FieldErrorf("tools", "tools must be an array.")
	}
	i := 0
	for t, ok := a.next(); ok; t, ok = a.next() {
		field := func(suffix string) string { return "tools." + strconv.Itoa(i-1) + suffix }
		i++
		var tf rfields
		tf.read(t)
		if typ := jsontext.Unquote(tf.typ); typ != "" && typ != "custom" {
			return aiproxy.FieldErrorf(field(".type"), "The server tool %s cannot be served by a channel of another protocol.", typ)
		}
		name := jsontext.Unquote(tf.name)
		if name == "" {
			return aiproxy.FieldErrorf(field(".name"), "A tool needs a name.")
		}
		tool := chat.Tool{Name: name, Description: jsontext.Unquote(tf.description), Strict: isTrue(tf.strict)}
		if !isNull(tf.inputSchema) {
			if !isObj(tf.inputSchema) {
				return aiproxy.FieldErrorf(field(".input_schema"), "A tool's input_schema must be a JSON Schema object.")
			}
			tool.Parameters = unsafeBytes(tf.inputSchema)
		}
		d.c.Tools = append(d.c.Tools, tool)
	}
	return nil
}

// toolChoice decodes tool_choice.
func (d *requestDecoder) toolChoice(v string) error {
	var f rfields
	f.read(v)
	tc := &chat.ToolChoice{}
	switch t := jsontext.Unquote(f.typ); t {
	case "auto":
		tc.Mode = chat.ToolAuto
	case "any":
		tc.Mode = chat.ToolRequired
	case "none":
		tc.Mode = chat.ToolNone
	case "tool":
		n := jsontext.Unquote(f.name)
		if n == "" {
			return aiproxy.FieldErrorf("tool_choice.name", "tool_choice of type tool needs the tool's name.")
		}
		tc.Mode, tc.Name = chat.ToolNamed, n
	default:
		return aiproxy.FieldErrorf("tool_choice.type", "The tool_choice type %q is not one of auto, any, tool and none.", t)
	}
	d.c.ToolChoice = tc
	if isTrue(f.disableParallel) {
		no := false
		d.c.ParallelToolCalls = &no
	}
	return nil
}

// reasoning decodes thinking and output_config.effort.
func (d *requestDecoder) reasoning(thinking, effort string) error {
	var r chat.Reasoning
	set := false
	if !isNull(thinking) {
		set = true
		var f rfields
		f.read(thinking)
		switch t := jsontext.Unquote(f.typ); t {
		case "enabled":
			b, ok := jsontext.Int(f.budgetTokens)
			if !ok || b <= 0 {
				return aiproxy.FieldErrorf("thinking.budget_tokens", "thinking of type enabled needs a positive budget_tokens.")
			}
			r.Budget = b
		case "adaptive", "between_tools":
			// between_tools (thinking only between tool calls) has no
			// equivalent elsewhere; the model deciding comes closest.
			r.Adaptive = true
		case "disabled":
			r.Off = true
		default:
			return aiproxy.FieldErrorf("thinking.type", "The thinking type %q is not one of enabled, adaptive and disabled.", t)
		}
		r.Hide = word(f.display) == "omitted"
	}
	if !isNull(effort) {
		switch e := jsontext.Unquote(effort); e {
		case "low", "medium", "high", "xhigh", "max":
			r.Effort = e
		default:
			return aiproxy.FieldErrorf("output_config.effort", "The effort %s is not one of low, medium, high, xhigh and max.", effort)
		}
		set = true
	}
	if set {
		d.c.Reasoning = &r
	}
	return nil
}

// format decodes output_config.format (or the older output_format): a JSON
// schema, which Anthropic always follows strictly.
func (d *requestDecoder) format(v string) error {
	if isNull(v) {
		return nil
	}
	var f rfields
	f.read(v)
	if t := jsontext.Unquote(f.typ); t != "json_schema" {
		return aiproxy.FieldErrorf("output_config.format.type", "The output format type %q is not json_schema.", t)
	}
	if !isObj(f.schema) {
		return aiproxy.FieldErrorf("output_config.format.schema", "The output format needs a JSON schema object.")
	}
	d.c.Format = &chat.Format{Type: chat.FormatJSONSchema, Schema: unsafeBytes(f.schema), Strict: true}
	return nil
}

// loc is where a block is in the request, for the field an error names;
// -1 for a level it is not in. The name is built only when needed.
type loc struct{ msg, block, sub int }

// String returns the field, such as "messages.2.content.0".
func (l loc) String() string {
	s := "messages." + strconv.Itoa(l.msg)
	if l.block >= 0 {
		s += ".content." + strconv.Itoa(l.block)
	}
	if l.sub >= 0 {
		s += ".content." + strconv.Itoa(l.sub)
	}
	return s
}

// f returns the field with suffix appended.
func (l loc) f(suffix string) string { return l.String() + suffix }
