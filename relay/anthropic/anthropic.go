// Package anthropic is Anthropic's Messages protocol, on both sides of the
// gateway: the Codec serves Anthropic clients (the Anthropic SDKs, Claude
// Code) on /v1/messages and converts between the protocol and the neutral
// form of package chat; the Adaptor calls Anthropic channels. Requests of
// Anthropic clients to Anthropic channels pass through untouched but for
// the model name, so nothing a client relies on (cache_control, signed
// thinking, server tools, citations, beta fields) is lost.
//
// What conversion does with each part of the protocol:
//
//   - Requests (DecodeRequest) carry system prompts (a string or text
//     blocks, cache_control kept as chat.Part.Cache), system-role messages
//     (the leading ones join the system prompt, later ones stay
//     chat.RoleSystem messages), text, images and documents (base64, URL;
//     a plain-text document source becomes a text/plain medium), tool use
//     and tool results, thinking and redacted thinking, custom tools,
//     tool_choice, max_tokens, stop_sequences, temperature, top_p, top_k,
//     metadata.user_id, thinking (enabled, adaptive, disabled;
//     between_tools counts as adaptive), output_config.effort and the JSON
//     schema output format (output_config.format or the older
//     output_format). Citations in requests are ignored (the text is kept;
//     another provider cannot cite Anthropic documents). Fields that only
//     tune how Anthropic runs the request and cannot change what the
//     answer says are ignored: context_management (it only trims the
//     history Anthropic keeps; another provider sees all of it),
//     service_tier, inference_geo, speed, diagnostics, top-level
//     cache_control, container without skills, fallbacks,
//     fallback_credit_token, billing_policy, output_config.task_budget,
//     tools' eager_input_streaming, defer_loading, allowed_callers,
//     input_examples and cache_control, images' transformations,
//     documents' citations settings, and the ttl of a cache breakpoint
//     (the neutral form marks a breakpoint, not its lifetime). Fields
//     this package does not know are ignored too, as newer than it. What
//     another provider cannot do is refused with EINVALID naming it: server
//     tools and their blocks, MCP servers, skills, compaction, threads,
//     Files API sources, search results, container uploads, document
//     context, programmatic tool callers, and max_tokens 0.
//   - Requests for Anthropic channels (EncodeRequest) follow the channel's
//     config (see Provider): the anthropic-version, a default max_tokens,
//     and how reasoning is asked for. Consecutive messages of one role are
//     merged (Anthropic merges them too), tool results go first in their
//     user message, system-role messages inside the history are moved into
//     the system prompt (Anthropic's Messages API takes instructions
//     there), empty text is left out (Anthropic refuses empty text
//     blocks), thinking without a signature (another provider's reasoning)
//     is left out (Anthropic refuses unsigned thinking), tool call ids are
//     reduced to the characters Anthropic accepts, and only the last four
//     cache breakpoints are kept (Anthropic takes four). A request asking
//     for reasoning whose history continues an assistant turn (through its
//     tool results) that does not begin with signed thinking is sent
//     without thinking, as Anthropic refuses it otherwise. Seed and
//     non-zero presence or frequency penalties are refused, and so are
//     temperature, top_p and top_k for a channel whose version is
//     2026-10-21 or later, which no longer takes them.
//   - Answers and streams keep text, thinking with its signature, redacted
//     thinking, tool calls (with a Gemini thought signature joined to the
//     id by chat.JoinCallID) and usage; stop reasons map both ways.
//
// Usage is normalised as aiproxy.Usage says: PromptTokens is input_tokens
// plus cache_read_input_tokens plus cache_creation_input_tokens,
// CompletionTokens is output_tokens (thinking included), ReasoningTokens
// output_tokens_details.thinking_tokens.
package anthropic

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// Type is the channel type of Anthropic's API.
const Type aiproxy.ChannelType = "anthropic"

// DefaultBaseURL is Anthropic's API; request paths (/v1/messages) are
// appended to a channel's base URL.
const DefaultBaseURL = "https://api.anthropic.com"

// Defaults of a channel's config.
const (
	// DefaultVersion is the anthropic-version sent when the channel's
	// config names none and the client does not speak Anthropic.
	DefaultVersion = "2023-06-01"
	// DefaultMaxTokens is the max_tokens of converted requests that give
	// no output limit, as Anthropic requires one.
	DefaultMaxTokens = 8192
)

// Ways of asking for reasoning, the values of a channel's "thinking"
// config.
const (
	// ThinkingAdaptive sends {"type":"adaptive"} with output_config.effort,
	// which current Claude models (4.6 and later) take.
	ThinkingAdaptive = "adaptive"
	// ThinkingBudget sends {"type":"enabled","budget_tokens":n}, for models
	// before Claude 4.6.
	ThinkingBudget = "budget"
)

// samplingRemoved is the first API version that refuses temperature, top_p
// and top_k, and document blocks in assistant messages.
const samplingRemoved = "2026-10-21"

// Provider returns what the gateway knows of Anthropic channels: the
// default base URL, the config keys (version, beta, maxTokens, thinking)
// and the adaptor.
func Provider() *relay.Provider {
	return &relay.Provider{
		Type:           Type,
		Title:          "Anthropic",
		DefaultBaseURL: DefaultBaseURL,
		Config: []relay.ConfigField{
			{Name: "version", Type: "string", Default: DefaultVersion,
				Description: "The anthropic-version header sent on converted requests; a request of an Anthropic client sends the client's own. From 2026-10-21 on, Anthropic refuses temperature, top_p and top_k, so converted requests carrying them are refused with a 400 naming them."},
			{Name: "beta", Type: "string list",
				Description: "Values sent in the anthropic-beta header, after those an Anthropic client sent itself (duplicates dropped)."},
			{Name: "maxTokens", Type: "integer", Default: strconv.Itoa(DefaultMaxTokens),
				Description: "The max_tokens of converted requests that give no output limit (Anthropic requires one); raised above the thinking budget when one is sent."},
			{Name: "thinking", Type: "string", Default: ThinkingAdaptive,
				Description: `How a converted request's reasoning is asked for: "adaptive" sends {"type":"adaptive"} and output_config.effort, which current Claude models require; "budget" sends {"type":"enabled","budget_tokens":n}, for models before Claude 4.6.`},
		},
		CheckConfig: checkConfig,
		Adaptor:     NewAdaptor(),
	}
}

// config is a channel's config with its defaults applied.
type config struct {
	version   string
	beta      []string
	maxTokens int64
	thinking  string
}

var versionPattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// checkConfig validates a channel's config strictly (unknown keys and
// wrong types are EINVALID naming "config.<key>") and returns it
// normalised: values trimmed, beta values split on commas and deduplicated,
// keys left empty dropped; nil for an empty config. Keys left out take
// their defaults when the channel is used.
func checkConfig(raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	js := unsafeString(raw)
	if !gjson.Valid(js) || !gjson.Parse(js).IsObject() {
		return nil, aiproxy.FieldErrorf("config", "config must be a JSON object")
	}
	var cfg config
	var err error
	gjson.Parse(js).ForEach(func(k, v gjson.Result) bool {
		field := "config." + k.Str
		switch k.Str {
		case "version":
			if v.Type != gjson.String || !versionPattern.MatchString(strings.TrimSpace(v.Str)) {
				err = aiproxy.FieldErrorf(field, "version must be an anthropic-version date such as %q", DefaultVersion)
				return false
			}
			cfg.version = strings.TrimSpace(v.Str)
		case "beta":
			if !v.IsArray() {
				err = aiproxy.FieldErrorf(field, "beta must be a list of strings")
				return false
			}
			v.ForEach(func(_, s gjson.Result) bool {
				if s.Type != gjson.String {
					err = aiproxy.FieldErrorf(field, "beta must be a list of strings")
					return false
				}
				cfg.beta = addBetas(cfg.beta, s.Str)
				return true
			})
		case "maxTokens":
			if v.Type != gjson.Number || v.Num != float64(int64(v.Num)) || v.Int() <= 0 {
				err = aiproxy.FieldErrorf(field, "maxTokens must be a positive integer")
				return false
			}
			cfg.maxTokens = v.Int()
		case "thinking":
			if v.Type != gjson.String || (v.Str != ThinkingAdaptive && v.Str != ThinkingBudget) {
				err = aiproxy.FieldErrorf(field, "thinking must be %q or %q", ThinkingAdaptive, ThinkingBudget)
				return false
			}
			cfg.thinking = v.Str
		default:
			err = aiproxy.FieldErrorf(field, "unknown config key %q for Anthropic channels (known: version, beta, maxTokens, thinking)", k.Str)
			return false
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	var b []byte
	first := true
	obj := func(key string) {
		if first {
			b = append(b, '{')
		}
		b = appendKey(b, key, first)
		first = false
	}
	if cfg.version != "" {
		obj("version")
		b = jsontext.AppendString(b, cfg.version)
	}
	if len(cfg.beta) > 0 {
		obj("beta")
		b = append(b, '[')
		for i, s := range cfg.beta {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, s)
		}
		b = append(b, ']')
	}
	if cfg.maxTokens > 0 {
		obj("maxTokens")
		b = appendInt(b, cfg.maxTokens)
	}
	if cfg.thinking != "" {
		obj("thinking")
		b = jsontext.AppendString(b, cfg.thinking)
	}
	if first {
		return nil, nil
	}
	return append(b, '}'), nil
}

// addBetas adds the comma-separated values of v to list, trimmed and
// without duplicates.
func addBetas(list []string, v string) []string {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

// configOf reads the (already checked) config of ch, with defaults; a nil
// channel has the defaults.
func configOf(ch *aiproxy.Channel) config {
	cfg := config{version: DefaultVersion, maxTokens: DefaultMaxTokens, thinking: ThinkingAdaptive}
	if ch == nil || len(ch.Config) == 0 {
		return cfg
	}
	gjson.ParseBytes(ch.Config).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "version":
			if v.Str != "" {
				cfg.version = v.Str
			}
		case "beta":
			v.ForEach(func(_, s gjson.Result) bool {
				cfg.beta = addBetas(cfg.beta, s.Str)
				return true
			})
		case "maxTokens":
			if n := v.Int(); n > 0 {
				cfg.maxTokens = n
			}
		case "thinking":
			if v.Str == ThinkingBudget {
				cfg.thinking = ThinkingBudget
			}
		}
		return true
	})
	return cfg
}

// Adaptor speaks Anthropic's Messages API. Create it with NewAdaptor; it
// holds no state.
type Adaptor struct{}

// NewAdaptor returns an adaptor.
func NewAdaptor() *Adaptor { return &Adaptor{} }

var _ relay.Adaptor = (*Adaptor)(nil)

// Format returns the Anthropic format.
func (*Adaptor) Format() relay.Format { return Codec{} }

// Supports reports whether op in mode has an endpoint: chat answers and
// token counts.
func (*Adaptor) Supports(mode aiproxy.Mode, op relay.Op) bool {
	return mode == aiproxy.ModeChat && (op == relay.OpGenerate || op == relay.OpCountTokens)
}

// endpoint returns the URL of the messages (or count_tokens) endpoint
// below a base URL; a base URL that already ends in /v1 is not given a
// second one.
func endpoint(base string, op relay.Op) string {
	base = strings.TrimSuffix(base, "/")
	path := "/v1/messages"
	if strings.HasSuffix(base, "/v1") {
		path = "/messages"
	}
	if op == relay.OpCountTokens {
		path += "/count_tokens"
	}
	return base + path
}

// Request builds the upstream request: POST /v1/messages (or
// /v1/messages/count_tokens) with the channel's key in x-api-key, the
// anthropic-version of an Anthropic client (else the channel's), and the
// client's anthropic-beta values (for Anthropic clients) followed by the
// channel's. The client's own key is never sent. It returns EINVALID for
// a mode other than chat.
func (*Adaptor) Request(ctx context.Context, call *relay.Call) (*http.Request, error) {
	if call.Mode != aiproxy.ModeChat {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The %s endpoint is not supported by Anthropic channels.", call.Mode)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(call.BaseURL, call.Op), bytes.NewReader(call.Body))
	if err != nil {
		return nil, fmt.Errorf("anthropic: new request: %w", err)
	}
	cfg := configOf(call.Channel)
	version := cfg.version
	var betas []string
	if cr := call.Request; cr != nil && cr.Protocol == aiproxy.ProtocolAnthropic {
		if v := cr.Header.Get("Anthropic-Version"); v != "" {
			version = v
		}
		for _, v := range cr.Header.Values("Anthropic-Beta") {
			betas = addBetas(betas, v)
		}
	}
	for _, v := range cfg.beta {
		betas = addBetas(betas, v)
	}
	key := ""
	if call.Channel != nil {
		key = call.Channel.Key
	}
	req.Header = http.Header{
		"Content-Type":      {"application/json"},
		"X-Api-Key":         {key},
		"Anthropic-Version": {version},
	}
	if len(betas) > 0 {
		req.Header["Anthropic-Beta"] = []string{strings.Join(betas, ",")}
	}
	if call.Stream {
		req.Header["Accept"] = []string{"text/event-stream"}
	} else {
		req.Header["Accept"] = []string{"application/json"}
	}
	return req, nil
}

// Response reads a message (its usage normalised) or, for a token count,
// the count: TokenCount is input_tokens and Usage is zero, as a count
// costs nothing.
func (*Adaptor) Response(call *relay.Call, resp *http.Response) (*relay.Response, error) {
	body, err := relay.ReadBody(resp)
	if err != nil {
		return nil, fmt.Errorf("anthropic: read answer: %w", err)
	}
	res := &relay.Response{Body: body, ContentType: resp.Header.Get("Content-Type")}
	root := gjson.Parse(unsafeString(body))
	if call.Op == relay.OpCountTokens {
		res.TokenCount = root.Get("input_tokens").Int()
		res.Usage = &aiproxy.Usage{}
		return res, nil
	}
	if u := root.Get("usage"); u.IsObject() {
		var ru rawUsage
		ru.merge(u.Raw)
		n := ru.normal()
		res.Usage = &n
	} else {
		root.Get("content").ForEach(func(_, b gjson.Result) bool {
			res.Text = append(res.Text, b.Get("text").Str...)
			res.Text = append(res.Text, b.Get("thinking").Str...)
			return true
		})
	}
	return res, nil
}

// rawUsage holds Anthropic's usage counts as reported.
type rawUsage struct {
	input, output, cacheRead, cacheCreation, cache1h, thinking int64
}

// merge takes the counts present in u, the raw JSON of an Anthropic usage
// object: each one is a cumulative total and replaces the count before.
func (r *rawUsage) merge(u string) {
	o, ok := newObject(u)
	if !ok {
		return
	}
	for k, v, ok := o.next(); ok; k, v, ok = o.next() {
		n, isNum := jsontext.Int(v)
		switch k {
		case "input_tokens":
			if isNum {
				r.input = n
			}
		case "output_tokens":
			if isNum {
				r.output = n
			}
		case "cache_read_input_tokens":
			if isNum {
				r.cacheRead = n
			}
		case "cache_creation_input_tokens":
			if isNum {
				r.cacheCreation = n
			}
		case "cache_creation":
			// The cache writes by TTL: {"ephemeral_5m_input_tokens",
			// "ephemeral_1h_input_tokens"}, parts of cache_creation_input_tokens.
			d, ok := newObject(v)
			if !ok {
				continue
			}
			for dk, dv, ok := d.next(); ok; dk, dv, ok = d.next() {
				if n, isNum := jsontext.Int(dv); isNum && dk == "ephemeral_1h_input_tokens" {
					r.cache1h = n
				}
			}
		case "output_tokens_details":
			d, ok := newObject(v)
			if !ok {
				continue
			}
			for dk, dv, ok := d.next(); ok; dk, dv, ok = d.next() {
				if n, isNum := jsontext.Int(dv); isNum && dk == "thinking_tokens" {
					r.thinking = n
				}
			}
		}
	}
}

// normal returns the counts as aiproxy.Usage counts them.
func (r *rawUsage) normal() aiproxy.Usage {
	u := aiproxy.Usage{
		PromptTokens:          r.input + r.cacheRead + r.cacheCreation,
		CompletionTokens:      r.output,
		CachedTokens:          r.cacheRead,
		CacheCreationTokens:   r.cacheCreation,
		CacheCreation1hTokens: min(r.cache1h, r.cacheCreation),
		ReasoningTokens:       r.thinking,
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// Error reads an Anthropic error answer: {"type":"error","error":{"type",
// "message"}}, kept as Body for Anthropic clients. A body that is not one
// (an HTML page from a proxy, say) gives a Message of at most 512 bytes and
// a Body in Anthropic's shape. Retry-After (or retry-after-ms) is read.
func (*Adaptor) Error(call *relay.Call, resp *http.Response) *relay.UpstreamError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ue := &relay.UpstreamError{Status: resp.StatusCode, Protocol: aiproxy.ProtocolAnthropic, RetryAfter: relay.RetryAfter(resp.Header)}
	js := unsafeString(body)
	var e gjson.Result
	if gjson.Valid(js) {
		e = gjson.Get(js, "error")
	}
	switch {
	case e.IsObject():
		ue.Message = e.Get("message").String()
		ue.Type = e.Get("type").String()
		if gjson.Get(js, "type").Str == "error" && ue.Message != "" {
			ue.Body = body
		}
	case e.Type == gjson.String:
		ue.Message = e.Str
	default:
		ue.Message = string(bytes.TrimSpace(body))
		if len(ue.Message) > 512 {
			ue.Message = strings.ToValidUTF8(ue.Message[:512], "")
		}
	}
	if ue.Message == "" {
		ue.Message = http.StatusText(resp.StatusCode)
	}
	if ue.Body == nil {
		typ := ue.Type
		if typ == "" {
			typ = typeForStatus(resp.StatusCode)
		}
		ue.Body = appendErrorBody(nil, typ, ue.Message)
	}
	return ue
}

// Stream reads the server-sent events of an Anthropic stream.
func (*Adaptor) Stream(call *relay.Call, resp *http.Response) (relay.Stream, error) {
	return &stream{body: resp.Body, lines: relay.NewLineReader(resp.Body), bare: call.Converted}, nil
}

// stream yields one chunk per event: Name from "event:", Data from
// "data:", Usage cumulative (message_start's counts, replaced by
// message_delta's where present), Text the generated text, Error the
// message of an error event; a converted stream's chunks (bare) only Name
// and Data.
type stream struct {
	body  io.ReadCloser
	lines *relay.LineReader
	chunk relay.Chunk
	name  []byte
	data  []byte
	text  []byte
	usage rawUsage
	norm  aiproxy.Usage
	ended bool // message_stop came: nothing follows
	bare  bool // converted: the chunks are read only for message_stop
}

var _ relay.Stream = (*stream)(nil)

// Next returns the next event (or comment). After message_stop it returns
// io.EOF without reading on, so that a client that hangs up at once is
// not taken for one that left early.
func (s *stream) Next() (*relay.Chunk, error) {
	if s.ended {
		return nil, io.EOF
	}
	s.name, s.data = s.name[:0], s.data[:0]
	hasData := false
	for {
		line, err := s.lines.Line()
		if err == io.EOF && hasData {
			return s.decode(), nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case len(line) == 0:
			if hasData {
				return s.decode(), nil
			}
			s.name = s.name[:0]
		case line[0] == ':':
			if !hasData && len(s.name) == 0 {
				s.chunk = relay.Chunk{Comment: line}
				return &s.chunk, nil
			}
		case bytes.HasPrefix(line, []byte("event:")):
			s.name = append(s.name[:0], bytes.TrimSpace(line[6:])...)
		case bytes.HasPrefix(line, []byte("data:")):
			v := line[5:]
			if len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			if hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, v...)
			hasData = true
		}
	}
}

// decode fills the chunk of the event read, reading the event in one
// pass.
func (s *stream) decode() *relay.Chunk {
	s.chunk = relay.Chunk{Data: s.data}
	if len(s.name) > 0 {
		s.chunk.Name = s.name
	}
	typ := unsafeString(s.name)
	if s.bare && typ != "" {
		s.ended = typ == "message_stop"
		return &s.chunk
	}
	s.text = s.text[:0]
	var f fields
	f.read(unsafeString(s.data))
	if typ == "" {
		typ = word(f.typ)
	}
	switch typ {
	case "message_stop":
		s.ended = true
	case "message_start":
		var m fields
		m.read(f.message)
		s.usage = rawUsage{}
		if isObj(m.usage) {
			// A server that reports no usage gets its answer counted.
			s.usage.merge(m.usage)
			s.norm = s.usage.normal()
			s.chunk.Usage = &s.norm
		}
	case "message_delta":
		if isObj(f.usage) {
			s.usage.merge(f.usage)
			s.norm = s.usage.normal()
			s.chunk.Usage = &s.norm
		}
	case "content_block_start":
		var b fields
		b.read(f.contentBlock)
		s.text = jsontext.AppendUnquote(s.text, b.name)
	case "content_block_delta":
		var d fields
		d.read(f.delta)
		switch word(d.typ) {
		case "text_delta":
			s.text = jsontext.AppendUnquote(s.text, d.text)
		case "thinking_delta":
			s.text = jsontext.AppendUnquote(s.text, d.thinking)
		case "input_json_delta":
			s.text = jsontext.AppendUnquote(s.text, d.partialJSON)
		}
	case "error":
		var e fields
		e.read(f.err)
		if s.chunk.Error = jsontext.UnquoteClone(e.message); s.chunk.Error == "" {
			s.chunk.Error = string(s.data)
		}
	}
	if len(s.text) > 0 {
		s.chunk.Text = s.text
	}
	return &s.chunk
}

// Close releases the upstream connection.
func (s *stream) Close() error { return s.body.Close() }
