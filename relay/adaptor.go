package relay

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/aiproxy/aiproxy"
)

// Op is what a request asks of a model.
type Op uint8

// Ops.
const (
	// OpGenerate asks for an answer: a chat message, a completion, an
	// embedding, as the Mode says.
	OpGenerate Op = iota
	// OpCountTokens asks how many input tokens a chat request has.
	OpCountTokens
)

// Call is one request on its way to one channel. The relay fills it; an
// Adaptor reads it and must not modify Body in place.
type Call struct {
	// Request is the client's request.
	Request *Request
	Op      Op
	Mode    aiproxy.Mode
	Channel *aiproxy.Channel
	// BaseURL is where the channel's requests go: its BaseURL, or its
	// type's default.
	BaseURL string
	// Model is the model as the client asked; UpstreamModel the name
	// after the channel's model mapping.
	Model         string
	UpstreamModel string
	Stream        bool
	// Body is the request body in the adaptor's protocol, the model
	// already named (when the protocol puts it in the body).
	Body []byte
	// Converted is set when Body was converted from the client's protocol
	// rather than passed through.
	Converted bool
}

// Mapped reports whether the model name sent upstream differs from the one
// the client asked for, so answers must be renamed back.
func (c *Call) Mapped() bool { return c.Model != c.UpstreamModel }

// Adaptor is what the relay knows of one kind of provider: how to build
// its HTTP requests and read its answers. It translates and does no HTTP
// of its own: the relay sends the request an adaptor builds and hands it
// the answer. Bodies are in the adaptor's Format; the relay converts
// them when the client speaks another protocol. Every method must be safe
// for concurrent use.
type Adaptor interface {
	// Format is the wire format of the bodies the provider takes and gives.
	Format() Format
	// Supports reports whether the provider can serve op in mode.
	Supports(mode aiproxy.Mode, op Op) bool
	// Request builds the upstream HTTP request for call, carrying ctx.
	// It returns EINVALID when the call cannot be expressed.
	Request(ctx context.Context, call *Call) (*http.Request, error)
	// Response reads a successful (2xx) non-streaming answer: Body as the
	// provider sent it, the usage if reported (and TokenCount for
	// OpCountTokens). It does not close resp.Body.
	Response(call *Call, resp *http.Response) (*Response, error)
	// Stream reads a successful streaming answer chunk by chunk, each with
	// the usage, text and error it reports; when call.Converted, chunks
	// carry only their Name, Data, Comment and Done (the relay meters a
	// converted stream from its decoded events, so that no chunk is read
	// twice). The returned Stream owns resp.Body and closes it in Close.
	Stream(call *Call, resp *http.Response) (Stream, error)
	// Error reads a failed (status >= 400) answer. It does not close
	// resp.Body.
	Error(call *Call, resp *http.Response) *UpstreamError
}

// Provider is what the gateway knows of one channel type, in one place:
// its name, default base URL, per-type config and adaptor. Package
// relay/providers lists them all.
type Provider struct {
	// Type is the channel type, such as "openai".
	Type aiproxy.ChannelType
	// Title is a human name, such as "Anthropic".
	Title string
	// DefaultBaseURL is used for channels with no base URL of their own.
	DefaultBaseURL string
	// Config documents the keys of a channel's Config object.
	Config []ConfigField
	// CheckConfig validates (and may normalize) a channel's Config, which
	// is a JSON object or nil; it returns EINVALID naming the field as
	// "config.<key>". Nil accepts only an empty config.
	CheckConfig func(cfg []byte) ([]byte, error)
	// Adaptor serves the type's channels.
	Adaptor Adaptor
}

// ConfigField documents one key of a channel type's Config.
type ConfigField struct {
	Name        string
	Type        string // "string", "integer", "boolean" or "string list"
	Default     string // "" none
	Description string
}

// Providers is the registry of channel types, by type.
type Providers map[aiproxy.ChannelType]*Provider

// NewProviders returns a registry of ps.
func NewProviders(ps ...*Provider) Providers {
	m := make(Providers, len(ps))
	for _, p := range ps {
		m[p.Type] = p
	}
	return m
}

// BaseURL returns where c's requests go: its BaseURL, or its type's
// default ("" for an unknown type).
func (ps Providers) BaseURL(c *aiproxy.Channel) string {
	if c.BaseURL != "" {
		return c.BaseURL
	}
	if p := ps[c.Type]; p != nil {
		return p.DefaultBaseURL
	}
	return ""
}

// Check is an aiproxy.ChannelCheck: c's type must be registered and its
// Config must suit it.
func (ps Providers) Check(c *aiproxy.Channel) error {
	p := ps[c.Type]
	if p == nil {
		names := make([]string, 0, len(ps))
		for t := range ps {
			names = append(names, string(t))
		}
		slices.Sort(names)
		return aiproxy.FieldErrorf("type", "unknown channel type %q (known: %s)", c.Type, strings.Join(names, ", "))
	}
	if p.CheckConfig == nil {
		if len(c.Config) > 0 && string(c.Config) != "{}" {
			return aiproxy.FieldErrorf("config", "channels of type %s take no config", c.Type)
		}
		c.Config = nil
		return nil
	}
	cfg, err := p.CheckConfig(c.Config)
	if err != nil {
		return err
	}
	c.Config = cfg
	return nil
}

// CapTokens returns the output limit to ask a channel for: want, or the
// channel's cap when want asks for more (clients such as Claude Code ask
// for 128,000 tokens, which many models refuse). A cap of 0 means none.
func CapTokens(want, limit int64) int64 {
	if limit > 0 && want > limit {
		return limit
	}
	return want
}

// BalanceReader is an Adaptor that can ask the provider for the channel's
// remaining balance (prepaid credit). BalanceRequest returns nil, nil when
// the channel's provider exposes none (the relay then reports the balance
// unknown); ParseBalance reads a 2xx answer to that request.
type BalanceReader interface {
	BalanceRequest(ctx context.Context, ch *aiproxy.Channel, baseURL string) (*http.Request, error)
	ParseBalance(req *http.Request, body []byte) (aiproxy.Balance, error)
}
