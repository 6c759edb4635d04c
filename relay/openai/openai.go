// Package openai is the adaptor for OpenAI and every provider that speaks
// its API (Ollama, vLLM, DeepSeek, OpenRouter, ...). Requests pass through
// nearly untouched: the model name is mapped and streams are asked to
// report usage.
package openai

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Adaptor speaks the OpenAI API. Its zero value is ready to use.
type Adaptor struct{}

var _ relay.Adaptor = Adaptor{}

// paths maps modes to endpoint paths below a channel's base URL.
var paths = map[aiproxy.Mode]string{
	aiproxy.ModeChat:        "/chat/completions",
	aiproxy.ModeCompletions: "/completions",
	aiproxy.ModeEmbeddings:  "/embeddings",
}

// Request builds the upstream request: the client's body with the mapped
// model and, for streams, stream_options.include_usage switched on so
// that usage is always known.
func (Adaptor) Request(ctx context.Context, call *relay.Call) (*http.Request, error) {
	path, ok := paths[call.Mode]
	if !ok {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The %s endpoint is not supported by OpenAI channels.", call.Mode)
	}
	body := call.Body
	var err error
	if call.Mapped() {
		if body, err = sjson.SetBytes(body, "model", call.UpstreamModel); err != nil {
			return nil, fmt.Errorf("openai: map model: %w", err)
		}
	}
	if call.Stream && !gjson.GetBytes(body, "stream_options.include_usage").Bool() {
		if body, err = sjson.SetBytes(body, "stream_options.include_usage", true); err != nil {
			return nil, fmt.Errorf("openai: include usage: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, call.Channel.URL()+path, bytes.NewReader(body))
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

// readAll reads a body, sized by its Content-Length when known.
func readAll(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n < 1<<30 {
		b := make([]byte, n)
		_, err := io.ReadFull(resp.Body, b)
		return b, err
	}
	return io.ReadAll(resp.Body)
}

// Response passes the answer on with the model name the client asked for.
func (Adaptor) Response(call *relay.Call, resp *http.Response) (*relay.Response, error) {
	body, err := readAll(resp)
	if err != nil {
		return nil, fmt.Errorf("openai: read answer: %w", err)
	}
	res := &relay.Response{Body: body, ContentType: resp.Header.Get("Content-Type")}
	if u := gjson.Get(unsafeString(body), "usage"); u.IsObject() {
		res.Usage = usage(u)
	} else {
		gjson.GetBytes(body, "choices").ForEach(func(_, c gjson.Result) bool {
			res.Text = append(res.Text, c.Get("message.content").Str...)
			res.Text = append(res.Text, c.Get("text").Str...)
			return true
		})
	}
	if call.Mapped() && gjson.GetBytes(body, "model").Exists() {
		if res.Body, err = sjson.SetBytes(body, "model", call.Model); err != nil {
			return nil, fmt.Errorf("openai: map model back: %w", err)
		}
	}
	return res, nil
}

// usage reads an OpenAI usage object (chat, completions, embeddings).
func usage(u gjson.Result) *aiproxy.Usage {
	var out aiproxy.Usage
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens", "input_tokens":
			out.PromptTokens = v.Int()
		case "completion_tokens", "output_tokens":
			out.CompletionTokens = v.Int()
		case "total_tokens":
			out.TotalTokens = v.Int()
		case "prompt_tokens_details", "input_tokens_details":
			out.CachedTokens = v.Get("cached_tokens").Int()
		}
		return true
	})
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return &out
}

// Error decodes an OpenAI error answer. Bodies that are not OpenAI errors
// (an HTML page from a proxy, say) are wrapped into one.
func (Adaptor) Error(call *relay.Call, resp *http.Response) *relay.UpstreamError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ue := &relay.UpstreamError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	e := gjson.GetBytes(body, "error")
	switch {
	case e.IsObject():
		ue.Message = e.Get("message").String()
		ue.Code = e.Get("code").String()
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
	return ue
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// streamBuffer is the size of a stream's line reader. The transport
// already buffers the connection, so this one only has to hold a typical
// event; longer lines are gathered in stream.long. Small, because a
// gateway holds thousands of streams at once.
const streamBuffer = 512

// Stream reads the server-sent events of an OpenAI stream.
func (Adaptor) Stream(call *relay.Call, resp *http.Response) (relay.Stream, error) {
	return &stream{call: call, body: resp.Body, r: bufio.NewReaderSize(resp.Body, streamBuffer)}, nil
}

type stream struct {
	call  *relay.Call
	body  io.ReadCloser
	r     *bufio.Reader
	long  []byte // a line longer than the reader's buffer
	chunk relay.Chunk
	usage aiproxy.Usage
	text  []byte
}

// line returns the next line without its line ending; the slice is valid
// until the next call.
func (s *stream) line() ([]byte, error) {
	b, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = s.r.ReadSlice('\n')
			s.long = append(s.long, b...)
		}
		b = s.long
	}
	if err != nil && (err != io.EOF || len(b) == 0) {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r")), nil
}

// Next returns the next event: data, a comment, or [DONE].
func (s *stream) Next() (*relay.Chunk, error) {
	for {
		line, err := s.line()
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
			s.chunk = relay.Chunk{Done: true}
			return &s.chunk, nil
		}
		return s.decode(data)
	}
}

// decode fills the chunk for one data payload. It reads the payload in
// place (no copies), in one pass over its top-level keys.
func (s *stream) decode(data []byte) (*relay.Chunk, error) {
	s.chunk = relay.Chunk{Data: data}
	s.text = s.text[:0]
	var hasChoices bool
	gjson.Parse(unsafeString(data)).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "usage":
			if v.IsObject() {
				s.chunk.Usage = usage(v)
			}
		case "choices":
			v.ForEach(func(_, c gjson.Result) bool {
				hasChoices = true
				s.text = append(s.text, c.Get("delta.content").Str...)
				s.text = append(s.text, c.Get("delta.reasoning_content").Str...)
				s.text = append(s.text, c.Get("text").Str...)
				return true
			})
		case "error":
			if s.chunk.Error = v.Get("message").String(); s.chunk.Error == "" {
				s.chunk.Error = v.String()
			}
		}
		return true
	})
	s.chunk.UsageOnly = s.chunk.Usage != nil && !hasChoices
	if len(s.text) > 0 {
		s.chunk.Text = s.text
	}
	if s.call.Mapped() {
		mapped, err := sjson.SetBytes(data, "model", s.call.Model)
		if err != nil {
			return nil, fmt.Errorf("openai: map model back: %w", err)
		}
		s.chunk.Data = mapped
	}
	return &s.chunk, nil
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Close releases the upstream connection.
func (s *stream) Close() error { return s.body.Close() }
