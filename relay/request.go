package relay

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// Request is one client request on its way through the chain of
// handlers. The HTTP front fills what the client sent and who it is;
// handlers add what they learn (Attempts, the log entry). It belongs to
// one request: handlers may change it, but only from the goroutine
// serving the request.
type Request struct {
	// ID is the gateway's id of the request, sent as X-Request-Id.
	ID string
	// Ingress is the client's protocol; Protocol its name.
	Ingress  Ingress
	Protocol aiproxy.Protocol
	// Mode is the kind of work asked for, Op what is asked of it.
	Mode aiproxy.Mode
	Op   Op
	// Path, Query and Header are the client's (read-only); Query is nil
	// when the URL has none.
	Path   string
	Query  url.Values
	Header http.Header
	// Model is the model as the client named it.
	Model string
	// Stream is set when the client asked for a stream; WantsUsage when
	// an OpenAI client asked for the usage chunk of a stream.
	Stream     bool
	WantsUsage bool
	// Body is the body as the client sent it, in its protocol. Handlers
	// must not change it in place.
	Body []byte
	// User is the end user the request names (OpenAI's user, Anthropic's
	// metadata.user_id), Metadata the request's metadata object as JSON
	// (SetUser caps both); "" when it names none. The Ingress's Parse sets
	// them, for the log.
	User     string
	Metadata string
	// Token and Group are whose request it is (shared, read-only).
	Token *aiproxy.Token
	Group *aiproxy.Group
	// ClientIP is the client's address.
	ClientIP netip.Addr
	// Received is when the request arrived.
	Received time.Time
	// Attempts records every channel tried, in order.
	Attempts []Attempt
	// Log is the request's log entry, completed along the way and recorded
	// when the request ends.
	Log *aiproxy.Log
	// Effective is what applies to the group's requests for Model (limits,
	// price, retries, timeouts), set once the model is known.
	Effective aiproxy.EffectiveModel

	chat     *chat.Request
	chatErr  error
	unlogged bool              // nothing reached a provider and nothing is owed: no log entry
	bodies   map[string][]byte // converted bodies by protocol and model, kept across attempts

	saveBodies  bool                 // keep the bodies in the log (SaveBodies, or the model's SaveDetail)
	reservation *aiproxy.Reservation // what the limiter admitted; nil when no limit applies
	limitBuf    [8]aiproxy.Limit
	costBuf     [8]int64
	accounted   bool      // the account step ran: settle at the end
	answer      *Response // the chain's answer, settled when the request ends
	estimated   bool
	estPrompt   int64 // the prompt's tokens, as counted before the call
	estOutput   int64 // the output it may produce at most
}

// Caps of what a log keeps of the request's user and metadata.
const (
	MaxUserBytes     = 256
	MaxMetadataBytes = 4 << 10
)

// SetUser sets User from user, a decoded string, and Metadata from
// metadata, the raw JSON of the request's metadata object: copies, so
// that they do not hold on to the body. A user is cut to MaxUserBytes;
// metadata longer than MaxMetadataBytes keeps the members that fit, in
// order, and anything but an object is dropped.
func (r *Request) SetUser(user, metadata string) {
	if len(user) > MaxUserBytes {
		n := MaxUserBytes
		for n > 0 && !utf8.RuneStart(user[n]) {
			n--
		}
		user = user[:n]
	}
	r.User = strings.Clone(user)
	r.Metadata = capMetadata(metadata)
}

// capMetadata returns a copy of the JSON object raw, keeping the members
// that fit in MaxMetadataBytes; "" for anything but a non-empty object.
func capMetadata(raw string) string {
	raw = strings.TrimSpace(raw)
	if len(raw) < 3 || raw[0] != '{' {
		return ""
	}
	if len(raw) <= MaxMetadataBytes {
		return strings.Clone(raw)
	}
	b := make([]byte, 0, MaxMetadataBytes)
	b = append(b, '{')
	gjson.Parse(raw).ForEach(func(k, v gjson.Result) bool {
		need := len(k.Raw) + 1 + len(v.Raw) + 1
		if len(b)+need+1 > MaxMetadataBytes {
			return true // a smaller member may still fit
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(append(append(b, k.Raw...), ':'), v.Raw...)
		return true
	})
	if len(b) == 1 {
		return ""
	}
	return string(append(b, '}'))
}

// Chat returns the request decoded into the neutral form, decoding it on
// the first call only. It returns the Ingress's decoding error (EINVALID).
func (r *Request) Chat() (*chat.Request, error) {
	if r.chat == nil && r.chatErr == nil {
		r.chat, r.chatErr = r.Ingress.DecodeRequest(r)
		if r.chat == nil && r.chatErr == nil {
			r.chatErr = aiproxy.Errorf(aiproxy.EINTERNAL, "relay: decoder returned nothing")
		}
	}
	return r.chat, r.chatErr
}

// Attempt is the record of one channel tried.
type Attempt struct {
	ChannelID     int64
	ChannelType   aiproxy.ChannelType
	UpstreamModel string
	// Status is the provider's HTTP status, 0 when none came.
	Status int
	// Err is why the attempt failed, nil when it succeeded.
	Err error
	// Start is when it began, Duration how long it took until the answer
	// began (headers received) or it failed.
	Start    time.Time
	Duration time.Duration
}

// Handler is one step of the relay's chain: it serves a request, usually
// by calling the next handler, and returns the answer in the client's
// protocol. Errors are *aiproxy.Error or *UpstreamError; the HTTP front
// writes them in the client's protocol. A Response holding a Stream is
// closed by whoever ends the request, once.
type Handler interface {
	Serve(ctx context.Context, req *Request) (*Response, error)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, req *Request) (*Response, error)

// Serve calls f.
func (f HandlerFunc) Serve(ctx context.Context, req *Request) (*Response, error) { return f(ctx, req) }

// Middleware wraps a Handler: code before calling next is its pre-hook,
// code after it the post-hook; not calling next answers on its own (a
// cache hit). A middleware that changes a stream wraps the Response's
// Stream in a Stream of its own.
type Middleware func(next Handler) Handler
