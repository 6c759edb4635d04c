// Package openai is OpenAI's chat completions protocol, on both sides of
// the gateway: the Codec serves OpenAI clients (and converts between the
// protocol and the neutral form of package chat), the Adaptor calls
// OpenAI and every provider that speaks its API (Ollama, vLLM, DeepSeek,
// OpenRouter, ...). Requests of OpenAI clients to OpenAI channels pass
// through nearly untouched: the model name is mapped and streams are asked
// to report usage.
package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/jsontext"
)

// Type is the channel type of OpenAI and OpenAI-compatible providers.
const Type aiproxy.ChannelType = "openai"

// DefaultBaseURL follows the OpenAI SDK convention: the path ends before
// the endpoint name.
const DefaultBaseURL = "https://api.openai.com/v1"

// Provider returns what the gateway knows of OpenAI channels.
func Provider() *relay.Provider {
	return &relay.Provider{
		Type:           Type,
		Title:          "OpenAI (and OpenAI-compatible servers)",
		DefaultBaseURL: DefaultBaseURL,
		Config: []relay.ConfigField{{
			Name:        "maxOutputTokens",
			Type:        "integer",
			Description: "The largest output limit sent on a converted request: a client asking for more (Claude Code asks for 128,000; gpt-4o takes 16,384) is given this. Unset, the client's limit goes as it is.",
		}},
		CheckConfig: checkConfig,
		Adaptor:     NewAdaptor(),
	}
}

// checkConfig accepts {"maxOutputTokens": n} (n > 0) or nothing.
func checkConfig(cfg []byte) ([]byte, error) {
	cfg = bytes.TrimSpace(cfg)
	if len(cfg) == 0 || string(cfg) == "null" || string(cfg) == "{}" {
		return nil, nil
	}
	if !gjson.ValidBytes(cfg) || !gjson.ParseBytes(cfg).IsObject() {
		return nil, aiproxy.FieldErrorf("config", "The config of an OpenAI channel must be a JSON object.")
	}
	var max int64
	var err error
	gjson.ParseBytes(cfg).ForEach(func(k, v gjson.Result) bool {
		if k.Str != "maxOutputTokens" {
			err = aiproxy.FieldErrorf("config."+k.Str, "OpenAI channels have no config key %q (known: maxOutputTokens).", k.Str)
			return false
		}
		if v.Type != gjson.Number || v.Num != float64(int64(v.Num)) || v.Int() <= 0 {
			err = aiproxy.FieldErrorf("config.maxOutputTokens", "maxOutputTokens must be a positive integer.")
			return false
		}
		max = v.Int()
		return true
	})
	if err != nil {
		return nil, err
	}
	return append(strconv.AppendInt([]byte(`{"maxOutputTokens":`), max, 10), '}'), nil
}

// Adaptor speaks the OpenAI API. Create it with NewAdaptor.
type Adaptor struct {
	// noStreamOptions holds the channels (by id and base URL) that
	// refused stream_options, so streams to them go without it.
	noStreamOptions sync.Map
}

// NewAdaptor returns an adaptor.
func NewAdaptor() *Adaptor { return &Adaptor{} }

var _ relay.Adaptor = (*Adaptor)(nil)

// paths maps modes to endpoint paths below a channel's base URL.
var paths = map[aiproxy.Mode]string{
	aiproxy.ModeChat:        "/chat/completions",
	aiproxy.ModeCompletions: "/completions",
	aiproxy.ModeEmbeddings:  "/embeddings",
}

// Format returns the OpenAI format.
func (*Adaptor) Format() relay.Format { return Codec{} }

// Supports reports whether mode has an endpoint; OpenAI has no token
// counting endpoint.
func (*Adaptor) Supports(mode aiproxy.Mode, op relay.Op) bool {
	_, ok := paths[mode]
	return ok && op == relay.OpGenerate
}

func channelKey(ch *aiproxy.Channel) string {
	return strconv.FormatInt(ch.ID, 10) + " " + ch.BaseURL
}

// Request builds the upstream request: the body (already in OpenAI
// format, the model named) with, for streams, stream_options.include_usage
// switched on so that usage is always known, unless the channel refused
// that option before.
func (a *Adaptor) Request(ctx context.Context, call *relay.Call) (*http.Request, error) {
	path, ok := paths[call.Mode]
	if !ok {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The %s endpoint is not supported by OpenAI channels.", call.Mode)
	}
	body := call.Body
	if call.Stream && !gjson.GetBytes(body, "stream_options.include_usage").Bool() {
		if _, refused := a.noStreamOptions.Load(channelKey(call.Channel)); !refused {
			var err error
			if body, err = sjson.SetBytes(body, "stream_options.include_usage", true); err != nil {
				return nil, fmt.Errorf("openai: include usage: %w", err)
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, call.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("openai: new request: %w", err)
	}
	req.Header = http.Header{
		"Content-Type":  {"application/json"},
		"Authorization": {"Bearer " + call.Channel.Key},
	}
	if call.Stream {
		req.Header["Accept"] = []string{"text/event-stream"}
	}
	return req, nil
}

// Response reads the answer and the usage it reports.
func (*Adaptor) Response(call *relay.Call, resp *http.Response) (*relay.Response, error) {
	body, err := relay.ReadBody(resp)
	if err != nil {
		return nil, fmt.Errorf("openai: read answer: %w", err)
	}
	res := &relay.Response{Body: body, ContentType: resp.Header.Get("Content-Type")}
	if u := gjson.Get(unsafeString(body), "usage"); u.IsObject() {
		res.Usage = usage(u.Raw)
	} else {
		gjson.GetBytes(body, "choices").ForEach(func(_, c gjson.Result) bool {
			res.Text = append(res.Text, c.Get("message.content").Str...)
			res.Text = append(res.Text, c.Get("text").Str...)
			return true
		})
	}
	return res, nil
}

// usage reads an OpenAI usage object (chat, completions, embeddings),
// raw JSON text.
func usage(raw string) *aiproxy.Usage {
	var sc jsontext.Scanner
	sc.ResetString(raw)
	return readUsage(&sc)
}

// readUsage reads the usage object sc is at, in one pass; what is not a
// usage count is skipped.
func readUsage(sc *jsontext.Scanner) *aiproxy.Usage {
	var out aiproxy.Usage
	if sc.Enter('{') {
		for n := 0; sc.More('}', &n); {
			switch sc.Key() {
			case "prompt_tokens", "input_tokens":
				out.PromptTokens, _ = sc.Int()
			case "completion_tokens", "output_tokens":
				out.CompletionTokens, _ = sc.Int()
			case "total_tokens":
				out.TotalTokens, _ = sc.Int()
			case "prompt_tokens_details", "input_tokens_details":
				if !sc.Enter('{') {
					break
				}
				for m := 0; sc.More('}', &m); {
					switch sc.Key() {
					case "cached_tokens":
						out.CachedTokens, _ = sc.Int()
					case "cache_creation_tokens":
						out.CacheCreationTokens, _ = sc.Int()
					case "audio_tokens":
						out.AudioInputTokens, _ = sc.Int()
					case "image_tokens": // gpt-image-1's input_tokens_details
						out.ImageInputTokens, _ = sc.Int()
					default:
						sc.Skip()
					}
				}
			case "completion_tokens_details", "output_tokens_details":
				if !sc.Enter('{') {
					break
				}
				for m := 0; sc.More('}', &m); {
					switch sc.Key() {
					case "reasoning_tokens":
						out.ReasoningTokens, _ = sc.Int()
					case "audio_tokens":
						out.AudioOutputTokens, _ = sc.Int()
					default:
						sc.Skip()
					}
				}
			case "prompt_cache_hit_tokens": // DeepSeek
				if v, _ := sc.Int(); out.CachedTokens == 0 {
					out.CachedTokens = v
				}
			default:
				sc.Skip()
			}
		}
	}
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return &out
}

// Error reads an OpenAI error answer. Bodies that are not OpenAI errors
// (an HTML page from a proxy, say) are wrapped into one. A streaming
// request refused because of the stream_options the adaptor added is
// retried once without them, and the channel remembered.
func (a *Adaptor) Error(call *relay.Call, resp *http.Response) *relay.UpstreamError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ue := &relay.UpstreamError{Status: resp.StatusCode, Protocol: aiproxy.ProtocolOpenAI, RetryAfter: relay.RetryAfter(resp.Header)}
	e := gjson.GetBytes(body, "error")
	switch {
	case e.IsObject():
		ue.Message = e.Get("message").String()
		ue.Type = e.Get("code").String()
		if ue.Type == "" {
			ue.Type = e.Get("type").String()
		}
		ue.Body = body
	case e.Type == gjson.String:
		ue.Message = e.Str
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
		ue.Body, _ = sjson.SetBytes([]byte(`{"error":{"type":"invalid_request_error","param":null,"code":null}}`), "error.message", ue.Message)
	}
	if call.Stream && (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity) &&
		!gjson.GetBytes(call.Body, "stream_options.include_usage").Bool() && mentionsStreamOptions(ue.Message) {
		if _, known := a.noStreamOptions.LoadOrStore(channelKey(call.Channel), true); !known {
			ue.RetrySame = true
		}
	}
	return ue
}

// mentionsStreamOptions reports whether an error message is about the
// stream_options field, as servers that do not know it word it
// ("Unrecognized request argument supplied: stream_options", "extra
// fields not permitted: stream_options", ...).
func mentionsStreamOptions(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "stream_options") || strings.Contains(m, "include_usage") || strings.Contains(m, "stream options")
}

// Stream reads the server-sent events of an OpenAI stream.
func (*Adaptor) Stream(call *relay.Call, resp *http.Response) (relay.Stream, error) {
	return &stream{body: resp.Body, lines: relay.NewLineReader(resp.Body), bare: call.Converted}, nil
}

type stream struct {
	body  io.ReadCloser
	lines *relay.LineReader
	chunk relay.Chunk
	sc    jsontext.Scanner
	text  []byte
	bare  bool // converted: the chunks are not read here
	done  bool // [DONE] came: nothing follows
}

// Next returns the next event: data, a comment, or [DONE]. After [DONE]
// it returns io.EOF without reading on, so that a client that hangs up at
// once is not taken for one that left early.
func (s *stream) Next() (*relay.Chunk, error) {
	if s.done {
		return nil, io.EOF
	}
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
			continue // event:, id:, retry: carry nothing OpenAI clients use
		}
		data := bytes.TrimSpace(line[5:])
		if bytes.Equal(data, []byte("[DONE]")) {
			s.done = true
			s.chunk = relay.Chunk{Done: true}
			return &s.chunk, nil
		}
		return s.decode(data), nil
	}
}

// decode fills the chunk for one data payload. It reads the payload in
// place (no copies), in one pass; a payload that is not well-formed gives
// what was read before the fault (the client gets it as it came).
func (s *stream) decode(data []byte) *relay.Chunk {
	s.chunk = relay.Chunk{Data: data}
	if s.bare {
		return &s.chunk
	}
	s.text = s.text[:0]
	var hasChoices bool
	sc := &s.sc
	sc.Reset(data)
	if sc.Open('{') {
		for n := 0; sc.More('}', &n); {
			switch sc.Key() {
			case "usage":
				if sc.Peek() == '{' {
					s.chunk.Usage = readUsage(sc)
				} else {
					sc.Skip()
				}
			case "choices":
				if !sc.Enter('[') {
					break
				}
				for m := 0; sc.More(']', &m); {
					hasChoices = true
					s.choice(sc)
				}
			case "error":
				if sc.Peek() != '{' {
					sc.Skip()
					break
				}
				raw := sc.Raw()
				if s.chunk.Error = gjson.Get(raw, "message").String(); s.chunk.Error == "" {
					s.chunk.Error = strings.Clone(raw)
				}
			default:
				sc.Skip()
			}
		}
	}
	s.chunk.UsageOnly = s.chunk.Usage != nil && !hasChoices
	if len(s.text) > 0 {
		s.chunk.Text = s.text
	}
	return &s.chunk
}

// choice appends the text of one streamed choice (content, reasoning,
// legacy completions text, tool names and arguments) to s.text.
func (s *stream) choice(sc *jsontext.Scanner) {
	if !sc.Enter('{') {
		return
	}
	for n := 0; sc.More('}', &n); {
		switch sc.Key() {
		case "text":
			s.text = appendText(s.text, sc)
		case "delta", "message":
			if !sc.Enter('{') {
				break
			}
			for m := 0; sc.More('}', &m); {
				switch sc.Key() {
				case "content", "reasoning_content":
					s.text = appendText(s.text, sc)
				case "tool_calls":
					if !sc.Enter('[') {
						break
					}
					for k := 0; sc.More(']', &k); {
						if !sc.Enter('{') {
							continue
						}
						for j := 0; sc.More('}', &j); {
							if sc.Key() != "function" || !sc.Enter('{') {
								sc.Skip()
								continue
							}
							for i := 0; sc.More('}', &i); {
								switch sc.Key() {
								case "name", "arguments":
									s.text = appendText(s.text, sc)
								default:
									sc.Skip()
								}
							}
						}
					}
				default:
					sc.Skip()
				}
			}
		default:
			sc.Skip()
		}
	}
}

// appendText appends the text of the string sc is at, or skips a value of
// another type.
func appendText(b []byte, sc *jsontext.Scanner) []byte {
	if sc.Peek() == '"' {
		return sc.AppendStr(b)
	}
	sc.Skip()
	return b
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Close releases the upstream connection.
func (s *stream) Close() error { return s.body.Close() }
