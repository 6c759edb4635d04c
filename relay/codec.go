package relay

import (
	"net/http"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// Format is one protocol's wire format: it converts request bodies,
// answers and streams between the protocol and the neutral form of
// package chat, and renames the model in bodies that pass through. Each
// protocol package (relay/openai, relay/anthropic, relay/gemini) has one.
// Every method must be safe for concurrent use.
type Format interface {
	// Protocol names the protocol.
	Protocol() aiproxy.Protocol
	// DecodeRequest decodes req.Body, a request of this protocol, into
	// the neutral form. It returns EINVALID naming the field for a body
	// the protocol does not accept, or for a feature the neutral form
	// cannot carry to another protocol.
	DecodeRequest(req *Request) (*chat.Request, error)
	// EncodeRequest encodes c as a request body of this protocol for
	// call: it names call.UpstreamModel (when the protocol puts the model
	// in the body) and asks for call.Op. It returns EINVALID naming what
	// the protocol cannot express.
	EncodeRequest(c *chat.Request, call *Call) ([]byte, error)
	// DecodeResponse decodes a complete (non-streaming) answer body.
	DecodeResponse(body []byte) (*chat.Response, error)
	// EncodeResponse encodes r as an answer body of this protocol for
	// req; r.Model is already the name the client asked for.
	EncodeResponse(r *chat.Response, req *Request) ([]byte, error)
	// NewStreamDecoder returns a decoder for one stream of this protocol.
	NewStreamDecoder() StreamDecoder
	// NewStreamEncoder returns an encoder of one stream for req.
	NewStreamEncoder(req *Request) StreamEncoder
	// SetModel returns b, a request body, an answer body or the data of a
	// stream chunk of this protocol, with the model name it carries
	// replaced by model. It returns b itself when b names no model.
	SetModel(b []byte, model string) ([]byte, error)
}

// StreamDecoder turns the chunks of one stream of its protocol into
// events of the neutral form. It is used by one goroutine.
type StreamDecoder interface {
	// Decode appends the events chunk c yields (zero or more) to out. It
	// returns an *UpstreamError when c reports an error of the provider,
	// and EINVALID for a chunk it cannot read.
	Decode(c *Chunk, out []chat.Event) ([]chat.Event, error)
	// End is called when the stream ended without an error; it appends
	// what is still due, such as the EventEnd of a protocol that has no
	// end marker.
	End(out []chat.Event) ([]chat.Event, error)
}

// StreamEncoder turns events of the neutral form into chunks of its
// protocol, in the order and framing its clients expect. It is used by
// one goroutine.
type StreamEncoder interface {
	// Encode appends the chunks ev yields (zero or more) to out. A call
	// with an empty out starts a new batch: the encoder may then reuse
	// the memory of the Data of the chunks of earlier batches, which the
	// caller is done with; within a batch, Data are never reused.
	Encode(ev *chat.Event, out []Chunk) ([]Chunk, error)
}

// Ingress is a client protocol as the relay serves it: where the key is,
// what a request says, and how answers, streams and errors are written.
type Ingress interface {
	Format
	// Key returns the API key r carries, "" when it carries none.
	Key(r *http.Request) string
	// Parse reads what the relay needs from the request: req.Model
	// (unless the URL gave it), req.Stream, req.WantsUsage, and for a
	// protocol that puts them in the path, req.Op. It returns EINVALID
	// for a body the protocol does not accept and ENOTFOUND for an
	// unknown path.
	Parse(req *Request) error
	// NewFramer returns the writer of one stream for req.
	NewFramer(req *Request) Framer
	// Error returns the status and body of an error answer.
	Error(f *Failure) (status int, body []byte)
	// AppendModels appends the answer listing models.
	AppendModels(dst []byte, models []ModelInfo) []byte
	// AppendModel appends the answer describing one model.
	AppendModel(dst []byte, m ModelInfo) []byte
	// AppendTokenCount appends the answer of a token count.
	AppendTokenCount(dst []byte, n int64) []byte
}

// Framer writes the chunks of one stream in its protocol's framing. It
// is used by one goroutine.
type Framer interface {
	// ContentType returns the stream's Content-Type.
	ContentType() string
	// Frame appends the bytes that carry c to the client to dst; nothing
	// for a chunk this client does not get.
	Frame(dst []byte, c *Chunk) []byte
	// End appends what ends a stream after its last chunk.
	End(dst []byte) []byte
	// Error appends an in-stream error event for f, the last thing the
	// stream carries.
	Error(dst []byte, f *Failure) []byte
}

// ModelInfo describes a model for the models endpoints.
type ModelInfo struct {
	ID      string
	Created time.Time
	OwnedBy string // the channel type of its best channel
}

// Stream yields the chunks of a streaming answer, pulled one at a time so
// that an aborted request leaks no goroutine.
type Stream interface {
	// Next returns the next chunk, or io.EOF after the last one. The chunk
	// and its slices are valid only until the following call.
	Next() (*Chunk, error)
	// Close releases the stream and the upstream connection. It is called
	// exactly once, whether or not the stream was read to the end.
	Close() error
}

// Chunk is one event of a stream, in some protocol.
type Chunk struct {
	// Name is the SSE event name ("message_start", ...), nil for none.
	Name []byte
	// Data is the event's payload, a JSON value.
	Data []byte
	// Comment is an SSE comment line (": ..."), passed on to keep the
	// connection alive; Data is nil.
	Comment []byte
	// Done marks OpenAI's end of stream ("data: [DONE]").
	Done bool
	// Usage is set when the chunk reports usage: cumulative, as known
	// after this chunk.
	Usage *aiproxy.Usage
	// UsageOnly marks OpenAI's final usage chunk (no choices), which only
	// clients that asked for it get.
	UsageOnly bool
	// Text is the generated text the chunk carries, counted when the
	// provider reports no usage.
	Text []byte
	// Error is set when the chunk reports an error of the provider.
	Error string
}

// Response is an answer on its way back through the chain. What the
// innermost handler returns is in the client's protocol.
type Response struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Header holds headers to pass on to the client; nil none.
	Header http.Header
	// Body is a non-streaming answer, ContentType its type ("" means
	// application/json).
	Body        []byte
	ContentType string
	// Stream is a streaming answer (Body is then nil); whoever ends the
	// response closes it.
	Stream Stream
	// Usage is what the provider reported, nil when it said nothing; for a
	// stream it is updated as the stream is read and final once it ended.
	Usage *aiproxy.Usage
	// Text is the text generated, kept for counting while Usage is nil.
	Text []byte
	// TokenCount is the answer of a token count (OpCountTokens).
	TokenCount int64

	saved []byte // the streamed text, kept for the log when bodies are saved
}

// UpstreamError is a provider's failure.
type UpstreamError struct {
	// Status is the provider's HTTP status (0 when no answer came).
	Status int
	// Message describes the failure; it reaches the client only when the
	// client caused the error (ClientFault).
	Message string
	// Type is the provider's error type or code, such as
	// "invalid_request_error" or "INVALID_ARGUMENT"; "" none.
	Type string
	// Protocol is the protocol Body is in.
	Protocol aiproxy.Protocol
	// Body is the provider's error body, passed on verbatim to a client of
	// the same protocol when ClientFault is set; nil when the provider
	// sent nothing usable.
	Body []byte
	// RetryAfter is the provider's Retry-After, 0 when none.
	RetryAfter time.Duration
	// RetrySame asks for the same channel to be tried once more: the
	// adaptor changed what it sends because of this error.
	RetrySame bool
	// Timeout is set when the provider did not answer in time.
	Timeout bool
}

// ClientFault reports whether the client's request caused the failure (a
// 4xx other than those that indicate a problem with the channel itself:
// 401, 402, 403, 404, 408, 429), so that retrying on another channel
// cannot help and the provider's answer is passed on. A 404 is the
// channel's: the gateway routes only models it lists, so a provider that
// does not know the model is a channel set up wrong.
func (e *UpstreamError) ClientFault() bool {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden, http.StatusNotFound,
		http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

// clone returns a copy of e.
func (e *UpstreamError) clone() *UpstreamError {
	c := *e
	return &c
}

// Error implements error.
func (e *UpstreamError) Error() string {
	return "upstream: " + e.Message
}

// Failure is an error as a client is told of it; an Ingress writes it in
// its protocol's shape.
type Failure struct {
	// Status is the HTTP status; 0 means the protocol's status for Code.
	Status int
	// Code is an aiproxy error code (EINVALID, ...).
	Code string
	// Reason refines Code (aiproxy.Error.Reason), "" none.
	Reason string
	// Message is safe to show.
	Message string
	// Field names the input field at fault, "" none.
	Field string
	// Type is the provider's own error type when the failure is the
	// provider's error passed on, "" otherwise.
	Type string
	// Body, when set, is the provider's error in the client's protocol,
	// written as it is.
	Body []byte
	// RetryAfter is sent as Retry-After when positive.
	RetryAfter time.Duration
}
