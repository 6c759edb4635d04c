package aiproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ChannelType names the kind of provider account a channel is, such as
// "openai" or "anthropic". What each type means (its protocol, default base
// URL and config) is provider knowledge and lives with the provider's
// adaptor (package relay/providers lists them); the domain only carries
// the name.
type ChannelType string

var channelTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Protocol is a wire protocol for AI requests: the one a client speaks to
// the gateway, and the one a channel's provider speaks.
type Protocol string

// Protocols.
const (
	ProtocolOpenAI    Protocol = "openai"    // OpenAI's chat completions API and every compatible server
	ProtocolAnthropic Protocol = "anthropic" // Anthropic's Messages API
	ProtocolGemini    Protocol = "gemini"    // Google's Gemini API (generateContent)
)

// ModelMapping rewrites the model name a client asked for (From) into the
// name sent upstream (To).
type ModelMapping struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Channel is one provider account: where to send requests, with which key,
// for which models. Channels with a lower Priority number are not preferred:
// higher Priority wins, and Weight shares load within one priority.
type Channel struct {
	ID      int64
	Name    string
	Type    ChannelType
	BaseURL string // "" means the type's default base URL
	Key     string // secret; masked by every read API
	// Config holds the type's own settings as a JSON object (such as an
	// Anthropic channel's API version); nil or empty means the type's
	// defaults. Its shape is the provider's: see package relay/providers.
	Config       json.RawMessage
	Models       []string
	ModelMapping []ModelMapping
	Priority     int
	Weight       int // relative share within a priority; 0 counts as 1
	// Sets are the channel sets the channel belongs to: a group's requests
	// go only to channels in one of its AvailableSets. Validate makes an
	// empty list {DefaultSet}.
	Sets []string
	// ProxyURL, when set, is the HTTP(S) or SOCKS5 proxy the channel's
	// requests go through (http://, https://, socks5://, socks5h://, with
	// credentials if needed); "" means the environment's (HTTP_PROXY...).
	// Its password is a secret, masked by every read API.
	ProxyURL string
	// Headers are added to every request of the channel (over what the
	// adaptor sets); their values are secrets, masked by every read API.
	Headers []Header
	// BreakerThreshold is the error rate at which the channel's breaker
	// opens (0 < t <= 1); 0 means the gateway's (BREAKER_THRESHOLD).
	BreakerThreshold float64
	// LowBalance is the balance at the provider (in the provider's
	// currency, aiproxy.Balance) under which the gateway alerts; 0 never.
	LowBalance float64
	Enabled    bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Header is an HTTP header of a channel's requests.
type Header struct {
	Name, Value string
}

var headerNamePattern = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")

// reservedHeaders are those a channel may not set: the transport's, and
// the body's framing.
var reservedHeaders = map[string]bool{"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Upgrade": true, "Te": true, "Trailer": true}

// MaskProxyURL returns u with its password masked, for read APIs.
func MaskProxyURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "****")
	}
	return p.String()
}

// DefaultSet is the channel set of channels and groups that name none.
const DefaultSet = "default"

var setPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// cleanSets trims, dedupes and checks set names; an empty list becomes
// {DefaultSet}. It returns an EINVALID *Error naming field.
func cleanSets(field string, sets []string) ([]string, error) {
	sets = CleanNames(sets)
	if len(sets) == 0 {
		return []string{DefaultSet}, nil
	}
	if len(sets) > 32 {
		return nil, FieldErrorf(field, "at most 32 sets")
	}
	for _, s := range sets {
		if !setPattern.MatchString(s) {
			return nil, FieldErrorf(field, "set %q: letters, digits, '_', '.', '-'; at most 64 characters", s)
		}
	}
	return sets, nil
}

// InSets reports whether the channel belongs to one of sets (an empty
// list meaning {DefaultSet}, as for the channel's own).
func (c *Channel) InSets(sets []string) bool {
	mine := c.Sets
	if len(mine) == 0 {
		mine = []string{DefaultSet}
	}
	if len(sets) == 0 {
		sets = []string{DefaultSet}
	}
	for _, a := range mine {
		for _, b := range sets {
			if a == b {
				return true
			}
		}
	}
	return false
}

// UpstreamModel returns the name to send upstream for the model a client
// asked for: the mapped name when ModelMapping has one, else model itself.
func (c *Channel) UpstreamModel(model string) string {
	for _, m := range c.ModelMapping {
		if m.From == model {
			return m.To
		}
	}
	return model
}

// HasModel reports whether the channel serves model.
func (c *Channel) HasModel(model string) bool {
	for _, m := range c.Models {
		if m == model {
			return true
		}
	}
	return false
}

// Validate checks the channel and normalizes it (trims names, drops empty
// and duplicate models). It returns an EINVALID *Error naming the field.
// It checks that Type is well formed and Config is a JSON object; whether
// the type exists and its config is right is for the provider registry to
// say (see ChannelCheck).
func (c *Channel) Validate() error {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		return FieldErrorf("name", "name is required")
	} else if len(c.Name) > 128 {
		return FieldErrorf("name", "name must be at most 128 characters")
	}
	if !channelTypePattern.MatchString(string(c.Type)) {
		return FieldErrorf("type", "unknown channel type %q", c.Type)
	}
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return FieldErrorf("baseURL", "baseURL must be an absolute http(s) URL such as https://api.openai.com/v1")
		}
	}
	if strings.TrimSpace(c.Key) != c.Key || strings.ContainsAny(c.Key, "\r\n") {
		return FieldErrorf("key", "key must not contain spaces or line breaks")
	}
	if cfg := bytes.TrimSpace(c.Config); len(cfg) == 0 || string(cfg) == "null" || string(cfg) == "{}" {
		c.Config = nil
	} else if cfg[0] != '{' || !json.Valid(cfg) {
		return FieldErrorf("config", "config must be a JSON object")
	} else {
		c.Config = cfg
	}
	c.Models = CleanNames(c.Models)
	if len(c.Models) == 0 {
		return FieldErrorf("models", "at least one model is required")
	}
	for _, m := range c.ModelMapping {
		if strings.TrimSpace(m.From) == "" || strings.TrimSpace(m.To) == "" {
			return FieldErrorf("modelMapping", "every mapping needs both from and to")
		}
	}
	if c.Priority < -1000000 || c.Priority > 1000000 {
		return FieldErrorf("priority", "priority must be between -1000000 and 1000000")
	}
	var err error
	if c.Sets, err = cleanSets("sets", c.Sets); err != nil {
		return err
	}
	if c.ProxyURL = strings.TrimSpace(c.ProxyURL); c.ProxyURL != "" {
		u, err := url.Parse(c.ProxyURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5" && u.Scheme != "socks5h") {
			return FieldErrorf("proxyURL", "proxyURL must be an http://, https://, socks5:// or socks5h:// URL with a host")
		}
	}
	if c.LowBalance < 0 {
		return FieldErrorf("lowBalanceThreshold", "lowBalanceThreshold must not be negative")
	}
	if c.BreakerThreshold < 0 || c.BreakerThreshold > 1 {
		return FieldErrorf("breakerThreshold", "breakerThreshold must be between 0 (the gateway's) and 1")
	}
	if len(c.Headers) > 32 {
		return FieldErrorf("headers", "at most 32 headers")
	}
	for i, h := range c.Headers {
		name := http.CanonicalHeaderKey(strings.TrimSpace(h.Name))
		if !headerNamePattern.MatchString(name) || reservedHeaders[name] {
			return FieldErrorf("headers", "header %q: not a header name a channel may set", h.Name)
		}
		if strings.ContainsAny(h.Value, "\r\n\x00") || len(h.Value) > 8192 {
			return FieldErrorf("headers", "header %s: the value must be one line of at most 8192 bytes", name)
		}
		c.Headers[i].Name = name
	}
	if c.Weight < 0 || c.Weight > 1000000 {
		return FieldErrorf("weight", "weight must be between 0 and 1000000")
	}
	return nil
}

// CleanNames trims names and drops empty and duplicate ones, keeping order.
func CleanNames(names []string) []string {
	out := make([]string, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// MaskKey returns a form of a secret that is safe to show: its first and
// last few characters around an ellipsis, or only "****" when it is short.
func MaskKey(key string) string {
	if len(key) <= 12 {
		if key == "" {
			return ""
		}
		return "****"
	}
	return key[:4] + "…" + key[len(key)-4:]
}

// ChannelUpdate holds the fields to change on a channel; nil leaves a field
// as it is.
type ChannelUpdate struct {
	Name         *string
	Type         *ChannelType
	BaseURL      *string
	Key          *string
	Config       json.RawMessage // nil leaves the config; null or {} resets it to the type's defaults
	Models       []string        // nil leaves the models; empty is invalid
	ModelMapping *[]ModelMapping
	Priority     *int
	Weight       *int
	Sets         *[]string // an empty list means {DefaultSet}
	ProxyURL     *string   // "" removes the proxy
	Headers      *[]Header // an empty list removes every header
	// BreakerThreshold, 0 for the gateway's.
	BreakerThreshold *float64
	LowBalance       *float64 // 0 for never
	Enabled          *bool
}

// Apply changes c by u.
func (u ChannelUpdate) Apply(c *Channel) {
	if u.Name != nil {
		c.Name = *u.Name
	}
	if u.Type != nil {
		c.Type = *u.Type
	}
	if u.BaseURL != nil {
		c.BaseURL = *u.BaseURL
	}
	if u.Key != nil {
		c.Key = *u.Key
	}
	if u.Config != nil {
		c.Config = u.Config
	}
	if u.Models != nil {
		c.Models = u.Models
	}
	if u.ModelMapping != nil {
		c.ModelMapping = *u.ModelMapping
	}
	if u.Priority != nil {
		c.Priority = *u.Priority
	}
	if u.Weight != nil {
		c.Weight = *u.Weight
	}
	if u.Sets != nil {
		c.Sets = *u.Sets
	}
	if u.ProxyURL != nil {
		c.ProxyURL = *u.ProxyURL
	}
	if u.Headers != nil {
		c.Headers = *u.Headers
	}
	if u.BreakerThreshold != nil {
		c.BreakerThreshold = *u.BreakerThreshold
	}
	if u.LowBalance != nil {
		c.LowBalance = *u.LowBalance
	}
	if u.Enabled != nil {
		c.Enabled = *u.Enabled
	}
}

// ChannelCheck checks what the domain cannot: that a channel's type exists
// and its Config suits the type. It returns an EINVALID *Error naming the
// field ("type", or "config.<name>"), and may normalize c.Config.
type ChannelCheck func(c *Channel) error

// ChannelService manages channels. Read methods return keys in full: the
// edges (GraphQL, UI) mask them with MaskKey.
type ChannelService interface {
	// Channel returns one channel, or ENOTFOUND.
	Channel(ctx context.Context, id int64) (*Channel, error)
	// Channels returns every channel, ordered by id.
	Channels(ctx context.Context) ([]*Channel, error)
	// CreateChannel validates c, stores it and sets its ID and times.
	// It returns EINVALID for bad input.
	CreateChannel(ctx context.Context, c *Channel) error
	// UpdateChannel applies upd and returns the channel as stored.
	// It returns ENOTFOUND or EINVALID.
	UpdateChannel(ctx context.Context, id int64, upd ChannelUpdate) (*Channel, error)
	// DeleteChannel removes a channel, or returns ENOTFOUND.
	DeleteChannel(ctx context.Context, id int64) error
}
