package anthropic

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// This file encodes requests of the neutral form for Anthropic channels.

// minBudget is the least thinking budget Anthropic takes.
const minBudget = 1024

// EncodeRequest encodes c as a messages request for call (or, for
// relay.OpCountTokens, a count_tokens request: model, system, messages,
// tools, tool_choice, thinking and output_config only), following the
// channel's config:
//
//   - max_tokens is c.MaxTokens, else the config's maxTokens (8192 by
//     default); when a thinking budget is sent and max_tokens is not above
//     it, the budget is added to max_tokens, so that the limit leaves room
//     for the answer as Anthropic requires.
//   - Reasoning is {"type":"adaptive"} with output_config.effort (Effort,
//     else the effort of Budget, "minimal" sent as "low") when the config's
//     thinking is "adaptive"; {"type":"enabled","budget_tokens"} (Budget,
//     else the budget of Effort, else that of "medium"; at least 1024)
//     when it is "budget";
//     {"type":"disabled"} for Off. Hide asks for display "omitted".
//   - A JSON schema format becomes output_config.format; JSON mode becomes
//     the schema {"type":"object"}, its equivalent.
//   - The history is reshaped as the package documentation says
//     (consecutive roles merged, tool results first, system-role messages
//     moved into the system prompt, unsigned thinking and empty text left
//     out, at most four cache breakpoints, the last ones), and thinking is
//     left out when the turn it would continue lacks signed thinking.
//
// It returns EINVALID naming the field for what Anthropic cannot express:
// seed, a non-zero presence_penalty or frequency_penalty, temperature,
// top_p or top_k with a version from 2026-10-21 on, media other than
// images, PDFs and plain text, tool arguments or schemas that are not JSON
// objects.
func (Codec) EncodeRequest(c *chat.Request, call *relay.Call) ([]byte, error) {
	e := requestEncoder{c: c, cfg: configOf(call.Channel), count: call.Op == relay.OpCountTokens}
	size := 1024
	if call.Request != nil {
		size += len(call.Request.Body) + len(call.Request.Body)/8
	}
	e.b = make([]byte, 0, size)
	if err := e.encode(call); err != nil {
		return nil, err
	}
	if e.marks > maxBreakpoints {
		e.skip, e.marks, e.b = e.marks-maxBreakpoints, 0, e.b[:0]
		if err := e.encode(call); err != nil {
			return nil, err
		}
	}
	return e.b, nil
}

// requestEncoder writes one request.
type requestEncoder struct {
	b     []byte
	c     *chat.Request
	cfg   config
	count bool
	marks int // cache_control breakpoints met
	skip  int // how many of the first ones to leave out
}

func (e *requestEncoder) encode(call *relay.Call) error {
	c := e.c
	if !e.count {
		if err := e.check(); err != nil {
			return err
		}
	}
	b := append(e.b, `{"model":`...)
	b = jsontext.AppendString(b, call.UpstreamModel)
	var thinking []byte
	var budget int64
	var effort string
	thinking, budget, effort = e.reasoning(thinking)
	if thinking != nil && e.c.Reasoning != nil && !e.c.Reasoning.Off && !signedStart(c.Messages) {
		// Anthropic refuses thinking when the assistant turn being
		// continued (through its tool results) does not begin with signed
		// thinking, as when another provider wrote it or a client dropped
		// the signature: this request goes without thinking.
		thinking, budget = nil, 0
	}
	if !e.count {
		max := c.MaxTokens
		if max <= 0 {
			max = e.cfg.maxTokens
		}
		if budget > 0 && max <= budget {
			max += budget
		}
		b = append(b, `,"max_tokens":`...)
		b = appendInt(b, max)
	}
	e.b = b
	if err := e.system(); err != nil {
		return err
	}
	if err := e.messages(); err != nil {
		return err
	}
	if err := e.tools(); err != nil {
		return err
	}
	b = e.b
	if thinking != nil {
		b = append(b, `,"thinking":`...)
		b = append(b, thinking...)
	}
	if effort != "" || c.Format != nil {
		b = append(b, `,"output_config":{`...)
		first := true
		if effort != "" {
			b = appendKey(b, "effort", true)
			b = jsontext.AppendString(b, effort)
			first = false
		}
		if f := c.Format; f != nil {
			b = appendKey(b, "format", first)
			switch f.Type {
			case chat.FormatJSONSchema:
				if !isObject(unsafeString(f.Schema)) {
					return aiproxy.FieldErrorf("response_format", "The JSON schema of the output format must be a JSON object.")
				}
				b = append(b, `{"type":"json_schema","schema":`...)
				b = append(b, f.Schema...)
				b = append(b, '}')
			default:
				// JSON mode: any JSON object, said as a schema.
				b = append(b, `{"type":"json_schema","schema":{"type":"object"}}`...)
			}
		}
		b = append(b, '}')
	}
	if !e.count {
		var err error
		if b, err = appendFloat(b, "temperature", c.Temperature); err != nil {
			return err
		}
		if b, err = appendFloat(b, "top_p", c.TopP); err != nil {
			return err
		}
		if c.TopK != nil {
			b = append(b, `,"top_k":`...)
			b = appendInt(b, *c.TopK)
		}
		if len(c.Stop) > 0 {
			b = append(b, `,"stop_sequences":[`...)
			for i, s := range c.Stop {
				if i > 0 {
					b = append(b, ',')
				}
				b = jsontext.AppendString(b, s)
			}
			b = append(b, ']')
		}
		if c.User != "" {
			b = append(b, `,"metadata":{"user_id":`...)
			b = jsontext.AppendString(b, c.User)
			b = append(b, '}')
		}
		if call.Stream {
			b = append(b, `,"stream":true`...)
		}
	}
	e.b = append(b, '}')
	return nil
}

// check refuses what Anthropic cannot do.
func (e *requestEncoder) check() error {
	c := e.c
	if c.Seed != nil {
		return aiproxy.FieldErrorf("seed", "seed cannot be served by Anthropic channels.")
	}
	if c.PresencePenalty != nil && *c.PresencePenalty != 0 {
		return aiproxy.FieldErrorf("presence_penalty", "presence_penalty cannot be served by Anthropic channels.")
	}
	if c.FrequencyPenalty != nil && *c.FrequencyPenalty != 0 {
		return aiproxy.FieldErrorf("frequency_penalty", "frequency_penalty cannot be served by Anthropic channels.")
	}
	if e.cfg.version >= samplingRemoved {
		for _, p := range []struct {
			set   bool
			field string
		}{{c.Temperature != nil, "temperature"}, {c.TopP != nil, "top_p"}, {c.TopK != nil, "top_k"}} {
			if p.set {
				return aiproxy.FieldErrorf(p.field, "%s cannot be served by this Anthropic channel: its API version (%s) no longer takes it.", p.field, e.cfg.version)
			}
		}
	}
	return nil
}

// appendFloat appends ,"key":f when f is set; NaN and infinities are
// EINVALID.
func appendFloat(b []byte, key string, f *float64) ([]byte, error) {
	if f == nil {
		return b, nil
	}
	if math.IsNaN(*f) || math.IsInf(*f, 0) {
		return b, aiproxy.FieldErrorf(key, "%s must be a finite number.", key)
	}
	b = appendKey(b, key, false)
	return strconv.AppendFloat(b, *f, 'g', -1, 64), nil
}

// reasoning returns the thinking object to send (nil for none), the
// budget it names and the effort for output_config.
func (e *requestEncoder) reasoning(b []byte) ([]byte, int64, string) {
	r := e.c.Reasoning
	if r == nil {
		return nil, 0, ""
	}
	if r.Off {
		return append(b, `{"type":"disabled"}`...), 0, ""
	}
	display := func(b []byte) []byte {
		if r.Hide {
			b = append(b, `,"display":"omitted"`...)
		}
		return append(b, '}')
	}
	if e.cfg.thinking == ThinkingBudget {
		budget := r.Budget
		if budget < 0 {
			budget = chat.BudgetFor(chat.EffortFor(budget))
		}
		if budget == 0 {
			effort := r.Effort
			if effort == "" {
				effort = "medium"
			}
			budget = chat.BudgetFor(effort)
		}
		if budget < minBudget {
			budget = minBudget
		}
		b = append(b, `{"type":"enabled","budget_tokens":`...)
		b = appendInt(b, budget)
		return display(b), budget, ""
	}
	effort := r.Effort
	if effort == "" && r.Budget != 0 {
		effort = chat.EffortFor(r.Budget)
	}
	if effort == "minimal" {
		effort = "low"
	}
	b = append(b, `{"type":"adaptive"`...)
	return display(b), 0, effort
}

// signedStart reports whether the history meets Anthropic's rule for
// requests with thinking: the last assistant turn, when only tool results
// follow it (or nothing), must begin with a signed thinking or redacted
// thinking block. A history ending in a new user turn meets it.
func signedStart(msgs []chat.Message) bool {
	i := len(msgs) - 1
	for ; i >= 0; i-- {
		m := &msgs[i]
		if m.Role == chat.RoleSystem || !anySent(m) {
			continue
		}
		if m.Role == chat.RoleAssistant {
			break
		}
		results := false
		for j := range m.Parts {
			if m.Parts[j].Kind == chat.KindToolResult {
				results = true
				break
			}
		}
		if !results {
			return true
		}
	}
	if i < 0 {
		return true
	}
	// The first assistant message of the run ending at i.
	start := i
	for k := i - 1; k >= 0; k-- {
		m := &msgs[k]
		if m.Role == chat.RoleSystem || !anySent(m) {
			continue
		}
		if m.Role != chat.RoleAssistant {
			break
		}
		start = k
	}
	for k := start; k <= i; k++ {
		m := &msgs[k]
		if m.Role != chat.RoleAssistant {
			continue
		}
		for j := range m.Parts {
			p := &m.Parts[j]
			if !sends(p) {
				continue
			}
			return p.Kind == chat.KindThinking || p.Kind == chat.KindRedactedThinking
		}
	}
	return true
}

// system writes the system prompt: c.System and the system-role messages
// of the history, in order.
func (e *requestEncoder) system() error {
	n := 0
	write := func(p *chat.Part, field string) error {
		if p.Kind != chat.KindText {
			return aiproxy.FieldErrorf(field, "Only text can be part of a system prompt for Anthropic channels, not %s.", p.Kind)
		}
		if p.Text == "" {
			return nil
		}
		if n == 0 {
			e.b = append(e.b, `,"system":[`...)
		} else {
			e.b = append(e.b, ',')
		}
		n++
		e.b = e.appendTextBlock(e.b, p.Text, p.Cache)
		return nil
	}
	for i := range e.c.System {
		if err := write(&e.c.System[i], "system"); err != nil {
			return err
		}
	}
	for i := range e.c.Messages {
		m := &e.c.Messages[i]
		if m.Role != chat.RoleSystem {
			continue
		}
		for j := range m.Parts {
			if err := write(&m.Parts[j], "messages"); err != nil {
				return err
			}
		}
	}
	if n > 0 {
		e.b = append(e.b, ']')
	}
	return nil
}

// appendTextBlock appends {"type":"text","text":s} with a cache_control
// breakpoint when cache is set.
func (e *requestEncoder) appendTextBlock(b []byte, s string, cache bool) []byte {
	b = append(b, `{"type":"text","text":`...)
	b = jsontext.AppendString(b, s)
	return e.appendCache(b, cache)
}

// maxBreakpoints is how many cache_control breakpoints Anthropic takes in
// one request.
const maxBreakpoints = 4

// appendCache closes a block, with a cache_control breakpoint when cache is
// set, unless the breakpoint is one of the first e.skip ones: the request
// is written again without them when it has more than Anthropic takes, so
// that the last ones (which cover the longest prefixes) stay.
func (e *requestEncoder) appendCache(b []byte, cache bool) []byte {
	if cache {
		e.marks++
		if e.marks > e.skip {
			b = append(b, `,"cache_control":{"type":"ephemeral"}`...)
		}
	}
	return append(b, '}')
}

// sends reports whether p becomes a block in a message.
func sends(p *chat.Part) bool {
	switch p.Kind {
	case chat.KindText:
		return p.Text != ""
	case chat.KindThinking:
		// Reasoning of another provider carries no signature, which
		// Anthropic requires.
		return p.Signature != ""
	case chat.KindRedactedThinking:
		return p.Signature != ""
	}
	return true
}

// messages writes the history: user and assistant messages with something
// to send, consecutive ones of a role merged, tool results first in each
// user message.
func (e *requestEncoder) messages() error {
	msgs := e.c.Messages
	e.b = append(e.b, `,"messages":[`...)
	written := 0
	for i := 0; i < len(msgs); {
		m := &msgs[i]
		if m.Role == chat.RoleSystem || !anySent(m) {
			i++
			continue
		}
		role := m.Role
		if role != chat.RoleUser && role != chat.RoleAssistant {
			return aiproxy.FieldErrorf("messages", "The role %q cannot be sent to Anthropic channels.", role)
		}
		// The run of messages of this role, skipping those that send
		// nothing or are system messages (moved into the system prompt).
		j := i + 1
		for j < len(msgs) && (msgs[j].Role == role || msgs[j].Role == chat.RoleSystem || !anySent(&msgs[j])) {
			j++
		}
		if written > 0 {
			e.b = append(e.b, ',')
		}
		written++
		e.b = append(e.b, `{"role":"`...)
		e.b = append(e.b, role...)
		e.b = append(e.b, `","content":[`...)
		n := 0
		for pass := 0; pass < 2; pass++ {
			for k := i; k < j; k++ {
				if msgs[k].Role != role {
					continue
				}
				for l := range msgs[k].Parts {
					p := &msgs[k].Parts[l]
					if (p.Kind == chat.KindToolResult) != (pass == 0) || !sends(p) {
						continue
					}
					if n > 0 {
						e.b = append(e.b, ',')
					}
					n++
					if err := e.part(p, role); err != nil {
						return err
					}
				}
			}
		}
		e.b = append(e.b, "]}"...)
		i = j
	}
	e.b = append(e.b, ']')
	return nil
}

// anySent reports whether m has a part to send.
func anySent(m *chat.Message) bool {
	for i := range m.Parts {
		if sends(&m.Parts[i]) {
			return true
		}
	}
	return false
}

// part writes one content block.
func (e *requestEncoder) part(p *chat.Part, role chat.Role) error {
	b := e.b
	var err error
	switch p.Kind {
	case chat.KindText:
		b = e.appendTextBlock(b, p.Text, p.Cache)
	case chat.KindMedia:
		if b, err = e.media(b, p.Media, p.Cache, role == chat.RoleAssistant); err != nil {
			return err
		}
	case chat.KindThinking:
		b = append(b, `{"type":"thinking","thinking":`...)
		b = jsontext.AppendString(b, p.Text)
		b = append(b, `,"signature":`...)
		b = jsontext.AppendString(b, p.Signature)
		b = append(b, '}')
	case chat.KindRedactedThinking:
		b = append(b, `{"type":"redacted_thinking","data":`...)
		b = jsontext.AppendString(b, p.Signature)
		b = append(b, '}')
	case chat.KindToolCall:
		tc := p.Call
		if tc == nil {
			return aiproxy.FieldErrorf("messages", "A tool call part carries no call.")
		}
		args := strings.TrimSpace(tc.Arguments)
		if args == "" {
			args = "{}"
		} else if !isObject(args) {
			return aiproxy.FieldErrorf("messages", "The arguments of the call of %s are not a JSON object, as Anthropic requires.", tc.Name)
		}
		b = append(b, `{"type":"tool_use","id":`...)
		b = jsontext.AppendString(b, toolID(tc.ID))
		b = append(b, `,"name":`...)
		b = jsontext.AppendString(b, tc.Name)
		b = append(b, `,"input":`...)
		b = append(b, args...)
		b = e.appendCache(b, p.Cache)
	case chat.KindToolResult:
		r := p.Result
		if r == nil {
			return aiproxy.FieldErrorf("messages", "A tool result part carries no result.")
		}
		b = append(b, `{"type":"tool_result","tool_use_id":`...)
		b = jsontext.AppendString(b, toolID(r.CallID))
		n := 0
		for i := range r.Parts {
			q := &r.Parts[i]
			switch {
			case q.Kind == chat.KindText:
				if q.Text == "" {
					continue
				}
			case q.Kind != chat.KindMedia:
				return aiproxy.FieldErrorf("messages", "A tool result can hold only text and media for Anthropic channels, not %s.", q.Kind)
			}
			if n == 0 {
				b = append(b, `,"content":[`...)
			} else {
				b = append(b, ',')
			}
			n++
			if q.Kind == chat.KindText {
				b = e.appendTextBlock(b, q.Text, q.Cache)
			} else if b, err = e.media(b, q.Media, q.Cache, false); err != nil {
				return err
			}
		}
		if n > 0 {
			b = append(b, ']')
		}
		if r.IsError {
			b = append(b, `,"is_error":true`...)
		}
		b = e.appendCache(b, p.Cache)
	default:
		return aiproxy.FieldErrorf("messages", "A %s part cannot be sent to Anthropic channels.", p.Kind)
	}
	e.b = b
	return nil
}

// toolID returns id with every character Anthropic refuses in tool use ids
// (anything but letters, digits, _ and -) replaced by _, the same way for a
// call and its result.
func toolID(id string) string {
	ok := true
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			ok = false
			break
		}
	}
	if ok {
		return id
	}
	b := []byte(id)
	for i := range b {
		if !idChar(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

func idChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// media writes an image or document block: images (and media of unknown
// type, as OpenAI's image URLs are), PDFs and plain text, inline or by
// http(s) URL; data: URLs are sent inline.
func (e *requestEncoder) media(b []byte, m *chat.Media, cache, assistant bool) ([]byte, error) {
	if m == nil {
		return b, aiproxy.FieldErrorf("messages", "A media part carries no medium.")
	}
	mt, data, url := m.MediaType, m.Data, m.URL
	if strings.HasPrefix(url, "data:") {
		head, payload, ok := strings.Cut(url[5:], ",")
		if !ok || !strings.HasSuffix(head, ";base64") {
			return b, aiproxy.FieldErrorf("messages", "Only base64 data URLs can be sent to Anthropic channels.")
		}
		mt, data, url = strings.TrimSuffix(head, ";base64"), payload, ""
	}
	if url != "" && !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return b, aiproxy.FieldErrorf("messages", "Anthropic channels fetch media only from http(s) URLs, not %q.", clip(url))
	}
	kind := ""
	switch {
	case mt == "" || strings.HasPrefix(mt, "image/"):
		kind = "image"
	case mt == "application/pdf":
		kind = "pdf"
	case mt == "text/plain" && url == "":
		kind = "text"
	default:
		return b, aiproxy.FieldErrorf("messages", "Media of type %s cannot be sent to Anthropic channels (images, PDFs and plain text only).", mt)
	}
	if kind != "image" && assistant && e.cfg.version >= samplingRemoved {
		return b, aiproxy.FieldErrorf("messages", "Documents in assistant messages cannot be sent to this Anthropic channel: its API version (%s) refuses them.", e.cfg.version)
	}
	switch kind {
	case "image":
		b = append(b, `{"type":"image","source":`...)
		if url != "" {
			b = append(b, `{"type":"url","url":`...)
			b = jsontext.AppendString(b, url)
		} else {
			if mt == "" {
				return b, aiproxy.FieldErrorf("messages", "An inline image needs its media type.")
			}
			b = append(b, `{"type":"base64","media_type":`...)
			b = jsontext.AppendString(b, mt)
			b = append(b, `,"data":`...)
			b = jsontext.AppendString(b, data)
		}
		b = append(b, '}')
	case "pdf":
		b = append(b, `{"type":"document","source":`...)
		if url != "" {
			b = append(b, `{"type":"url","url":`...)
			b = jsontext.AppendString(b, url)
		} else {
			b = append(b, `{"type":"base64","media_type":"application/pdf","data":`...)
			b = jsontext.AppendString(b, data)
		}
		b = append(b, '}')
	case "text":
		text, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return b, aiproxy.FieldErrorf("messages", "A text/plain medium is not valid base64.")
		}
		b = append(b, `{"type":"document","source":{"type":"text","media_type":"text/plain","data":`...)
		b = jsontext.AppendString(b, string(text))
		b = append(b, '}')
	}
	if kind != "image" && m.Name != "" {
		b = append(b, `,"title":`...)
		b = jsontext.AppendString(b, m.Name)
	}
	return e.appendCache(b, cache), nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// tools writes tools and tool_choice (only with tools: Anthropic takes no
// tool_choice without them).
func (e *requestEncoder) tools() error {
	c := e.c
	if len(c.Tools) == 0 {
		return nil
	}
	b := append(e.b, `,"tools":[`...)
	for i := range c.Tools {
		t := &c.Tools[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = jsontext.AppendString(b, t.Name)
		if t.Description != "" {
			b = append(b, `,"description":`...)
			b = jsontext.AppendString(b, t.Description)
		}
		b = append(b, `,"input_schema":`...)
		if len(t.Parameters) == 0 {
			b = append(b, `{"type":"object","properties":{}}`...)
		} else if !isObject(unsafeString(t.Parameters)) {
			return aiproxy.FieldErrorf("tools."+strconv.Itoa(i), "The parameters of the tool %s are not a JSON Schema object.", t.Name)
		} else {
			b = append(b, t.Parameters...)
		}
		if t.Strict {
			b = append(b, `,"strict":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	noParallel := c.ParallelToolCalls != nil && !*c.ParallelToolCalls
	if tc := c.ToolChoice; tc != nil || noParallel {
		mode := chat.ToolAuto
		if tc != nil && tc.Mode != "" {
			mode = tc.Mode
		}
		switch mode {
		case chat.ToolAuto:
			b = append(b, `,"tool_choice":{"type":"auto"`...)
		case chat.ToolNone:
			b = append(b, `,"tool_choice":{"type":"none"`...)
			noParallel = false
		case chat.ToolRequired:
			b = append(b, `,"tool_choice":{"type":"any"`...)
		case chat.ToolNamed:
			b = append(b, `,"tool_choice":{"type":"tool","name":`...)
			b = jsontext.AppendString(b, tc.Name)
		default:
			return aiproxy.FieldErrorf("tool_choice", "The tool choice %q cannot be sent to Anthropic channels.", mode)
		}
		if noParallel {
			b = append(b, `,"disable_parallel_tool_use":true`...)
		}
		b = append(b, '}')
	}
	e.b = b
	return nil
}
