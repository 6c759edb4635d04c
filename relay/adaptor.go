package relay

import (
	"context"
	"net/http"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Call is one request on its way to one channel. The relay fills it; an
// Adaptor reads it and must not modify Body in place.
type Call struct {
	Mode          aiproxy.Mode
	Endpoint      string // the client's path, e.g. "/v1/chat/completions"
	Channel       *aiproxy.Channel
	Model         string // as the client asked
	UpstreamModel string // after the channel's model mapping
	Stream        bool
	Body          []byte // the client's JSON body, in OpenAI format
}

// Mapped reports whether the model name sent upstream differs from the one
// the client asked for, so answers must be rewritten back.
func (c *Call) Mapped() bool { return c.Model != c.UpstreamModel }

// Adaptor translates between the OpenAI format the relay speaks and one
// provider's wire format. The relay does the HTTP: it sends the request an
// adaptor builds and hands it the answer. Every method must be safe for
// concurrent use.
type Adaptor interface {
	// Request builds the upstream HTTP request for call, carrying ctx.
	// It returns EINVALID when the call cannot be expressed for the provider.
	Request(ctx context.Context, call *Call) (*http.Request, error)
	// Response decodes a successful (2xx) non-streaming answer into the
	// OpenAI-format body for the client and the usage, if reported. It does
	// not close resp.Body.
	Response(call *Call, resp *http.Response) (*Response, error)
	// Stream decodes a successful streaming answer. The returned Stream owns
	// resp.Body and closes it in Close.
	Stream(call *Call, resp *http.Response) (Stream, error)
	// Error decodes a failed (status >= 400) answer. It does not close resp.Body.
	Error(call *Call, resp *http.Response) *UpstreamError
}

// Response is a decoded non-streaming answer.
type Response struct {
	Body        []byte         // OpenAI-format JSON for the client
	ContentType string         // "" means application/json
	Usage       *aiproxy.Usage // nil when the provider reported none
	Text        []byte         // generated text, for counting tokens when Usage is nil
}

// Stream yields the events of a streaming answer, pulled one at a time so
// that an aborted request leaks no goroutine.
type Stream interface {
	// Next returns the next chunk, or io.EOF after the last one. The chunk
	// and its slices are valid only until the following call.
	Next() (*Chunk, error)
	// Close releases the upstream connection.
	Close() error
}

// Chunk is one server-sent event of an OpenAI-format stream.
type Chunk struct {
	// Data is the event's JSON payload, written to the client as
	// "data: <Data>\n\n". Nil for Done and Comment chunks.
	Data []byte
	// Comment is an SSE comment line (": ..."), passed on to keep the
	// connection alive.
	Comment []byte
	// Done marks the end of the stream ("data: [DONE]").
	Done bool
	// Usage is set when the chunk reports usage.
	Usage *aiproxy.Usage
	// UsageOnly is set for the final usage chunk OpenAI sends when
	// stream_options.include_usage is on; the relay drops it for clients
	// that did not ask for usage.
	UsageOnly bool
	// Text is the generated text the chunk carries, counted when the
	// provider reports no usage.
	Text []byte
	// Error is set when the provider reported an error inside the stream;
	// the chunk is still passed on.
	Error string
}

// UpstreamError is a provider's failure, translated for the client.
type UpstreamError struct {
	// Status is the provider's HTTP status (0 when no answer came).
	Status int
	// Message describes the failure; it is shown to the client only when
	// the client caused the error (ClientFault).
	Message string
	// Code is the provider's error code, such as "model_not_found".
	Code string
	// Body is the provider's error in OpenAI format, passed on to the
	// client verbatim when ClientFault is set.
	Body []byte
	// RetryAfter is the provider's Retry-After, 0 when none.
	RetryAfter time.Duration
}

// ClientFault reports whether the client's request caused the failure (a
// 4xx other than those that indicate a problem with the channel itself:
// 401, 403, 408, 429), so that retrying on another channel cannot help and
// the provider's answer is passed on.
func (e *UpstreamError) ClientFault() bool {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

// Error implements error.
func (e *UpstreamError) Error() string {
	return "upstream: " + e.Message
}
