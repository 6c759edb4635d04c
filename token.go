package aiproxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"time"
)

// TokenKeyPrefix starts every token key the gateway issues.
const TokenKeyPrefix = "sk-"

// Token is an API key of a group. Only a hash of the secret is stored, with
// a short Prefix of it for display; the secret itself is shown once, when
// the token is created.
type Token struct {
	ID      int64
	GroupID string
	Name    string
	Prefix  string   // first characters of the key, safe to show
	KeyHash string   // hex SHA-256 of the key; never shown
	Models  []string // models the token may use; empty means all
	// MCPTools limits the MCP tools the token may call: each entry is a
	// server name ("weather", every tool of it) or a server and a tool
	// ("weather/forecast"); empty means every server its group may use.
	MCPTools  []string
	Subnets   []string   // client networks (CIDR) allowed; empty means any
	ExpiresAt *time.Time // nil never expires
	Enabled   bool
	// Quota caps UsedAmount (0: no cap); PeriodQuota caps PeriodUsed, what
	// was used since the current Period began (0 or PeriodNone: no cap).
	Quota       Amount
	PeriodQuota Amount
	Period      QuotaPeriod
	// RPM and TPM limit the token's own requests over every model, on top
	// of its group's limits; 0 means none.
	RPM, TPM int64
	// UsedAmount and RequestCount are what the token's requests have cost
	// and how many reached a provider; PeriodUsed is the part of
	// UsedAmount in the period that began at PeriodStart. Updated in
	// batches as requests finish.
	UsedAmount   Amount
	RequestCount int64
	PeriodUsed   Amount
	PeriodStart  time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// PeriodUsedAt returns what the token used in the period that holds now
// (in loc): PeriodUsed when that period is PeriodStart's, else 0.
func (t *Token) PeriodUsedAt(now time.Time, loc *time.Location) Amount {
	if t.Period == PeriodNone || !t.PeriodStart.Equal(t.Period.Start(now, loc)) {
		return 0
	}
	return t.PeriodUsed
}

// NewTokenKey returns a fresh random token key.
func NewTokenKey() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return TokenKeyPrefix + string(b)
}

// HashKey returns the hex SHA-256 of a token key, the form tokens are
// stored and looked up by.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// KeyPrefix returns the displayable prefix of a token key.
func KeyPrefix(key string) string {
	if len(key) > 10 {
		return key[:10]
	}
	return key
}

// Validate checks t and normalizes its lists; it returns an EINVALID *Error
// naming the field.
func (t *Token) Validate() error {
	t.Name = strings.TrimSpace(t.Name)
	if t.GroupID == "" {
		return FieldErrorf("group", "group is required")
	}
	if t.Name == "" {
		return FieldErrorf("name", "name is required")
	} else if len(t.Name) > 128 {
		return FieldErrorf("name", "name must be at most 128 characters")
	}
	switch {
	case t.Quota < 0:
		return FieldErrorf("quota", "quota must not be negative")
	case t.PeriodQuota < 0:
		return FieldErrorf("periodQuota", "periodQuota must not be negative")
	case !t.Period.Valid():
		return FieldErrorf("period", "period must be daily, weekly or monthly")
	case t.PeriodQuota > 0 && t.Period == PeriodNone:
		return FieldErrorf("period", "a period quota needs a period (daily, weekly or monthly)")
	case t.RPM < 0:
		return FieldErrorf("rpm", "rpm must not be negative")
	case t.TPM < 0:
		return FieldErrorf("tpm", "tpm must not be negative")
	}
	t.Models = CleanNames(t.Models)
	t.MCPTools = CleanNames(t.MCPTools)
	t.Subnets = CleanNames(t.Subnets)
	for i, s := range t.Subnets {
		p, err := parseSubnet(s)
		if err != nil {
			return FieldErrorf("subnets", "%q is not an IP address or CIDR subnet", s)
		}
		t.Subnets[i] = p.String()
	}
	return nil
}

func parseSubnet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// AllowsModel reports whether the token may use model.
func (t *Token) AllowsModel(model string) bool {
	if len(t.Models) == 0 {
		return true
	}
	for _, m := range t.Models {
		if m == model {
			return true
		}
	}
	return false
}

// AllowsMCPTool reports whether the token may call tool of the MCP server
// named server (MCPTools).
func (t *Token) AllowsMCPTool(server, tool string) bool {
	if len(t.MCPTools) == 0 {
		return true
	}
	for _, e := range t.MCPTools {
		if s, tl, ok := strings.Cut(e, "/"); e == server || (ok && s == server && tl == tool) {
			return true
		}
	}
	return false
}

// AllowsMCPServer reports whether the token may call at least one tool of
// the MCP server named server.
func (t *Token) AllowsMCPServer(server string) bool {
	if len(t.MCPTools) == 0 {
		return true
	}
	for _, e := range t.MCPTools {
		if s, _, _ := strings.Cut(e, "/"); s == server {
			return true
		}
	}
	return false
}

// AllowsIP reports whether a client at ip may use the token.
func (t *Token) AllowsIP(ip netip.Addr) bool {
	if len(t.Subnets) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, s := range t.Subnets {
		if p, err := parseSubnet(s); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// Reasons a token is refused, as Error.Reason.
const (
	ReasonTokenDisabled   = "token_disabled"
	ReasonTokenExpired    = "token_expired"
	ReasonIPNotAllowed    = "ip_not_allowed"
	ReasonGroupDisabled   = "group_disabled"
	ReasonModelNotAllowed = "model_not_allowed"
)

// Authorize applies every rule on using token t of group g (nil when the
// group is unknown) from address ip at time now for model ("" when no model
// is involved yet): the token is enabled and not expired, the address is
// in its subnets, the group is enabled, the model is in its allow-list.
// It returns nil, or an *Error with code EUNAUTHORIZED (disabled, expired)
// or EFORBIDDEN, and the rule broken as its Reason. The relay, the MCP
// endpoints and the admin API's group view all decide with it.
func (t *Token) Authorize(g *Group, ip netip.Addr, model string, now time.Time) error {
	switch {
	case !t.Enabled:
		return ReasonErrorf(EUNAUTHORIZED, ReasonTokenDisabled, "This API key is disabled.")
	case t.Expired(now):
		return ReasonErrorf(EUNAUTHORIZED, ReasonTokenExpired, "This API key has expired.")
	case !t.AllowsIP(ip):
		return ReasonErrorf(EFORBIDDEN, ReasonIPNotAllowed, "This API key may not be used from %s.", ip)
	case g != nil && !g.Enabled:
		return ReasonErrorf(EFORBIDDEN, ReasonGroupDisabled, "The group of this API key is disabled.")
	case model != "" && !t.AllowsModel(model):
		return ReasonErrorf(EFORBIDDEN, ReasonModelNotAllowed, "This API key is not allowed to use the model `%s`.", model)
	}
	return nil
}

// TokenUpdate holds the fields to change on a token; nil leaves a field.
type TokenUpdate struct {
	Name        *string
	Models      *[]string
	MCPTools    *[]string
	Subnets     *[]string
	ExpiresAt   **time.Time // a nil *time.Time inside clears the expiry
	Enabled     *bool
	Quota       *Amount
	PeriodQuota *Amount
	Period      *QuotaPeriod
	RPM, TPM    *int64
}

// Apply changes t by u.
func (u TokenUpdate) Apply(t *Token) {
	if u.Name != nil {
		t.Name = *u.Name
	}
	if u.Models != nil {
		t.Models = *u.Models
	}
	if u.MCPTools != nil {
		t.MCPTools = *u.MCPTools
	}
	if u.Subnets != nil {
		t.Subnets = *u.Subnets
	}
	if u.ExpiresAt != nil {
		t.ExpiresAt = *u.ExpiresAt
	}
	if u.Enabled != nil {
		t.Enabled = *u.Enabled
	}
	if u.Quota != nil {
		t.Quota = *u.Quota
	}
	if u.PeriodQuota != nil {
		t.PeriodQuota = *u.PeriodQuota
	}
	if u.Period != nil {
		t.Period = *u.Period
	}
	if u.RPM != nil {
		t.RPM = *u.RPM
	}
	if u.TPM != nil {
		t.TPM = *u.TPM
	}
}

// TokenService manages tokens.
type TokenService interface {
	// Token returns one token, or ENOTFOUND.
	Token(ctx context.Context, id int64) (*Token, error)
	// Tokens returns the tokens of a group ("" for every group), ordered by id.
	Tokens(ctx context.Context, groupID string) ([]*Token, error)
	// CreateToken generates a key for t, stores t (KeyHash and Prefix set)
	// and returns the key: the only time it is ever available. It returns
	// EINVALID, or ENOTFOUND when the group does not exist.
	CreateToken(ctx context.Context, t *Token) (key string, err error)
	// UpdateToken applies upd, or returns ENOTFOUND / EINVALID.
	UpdateToken(ctx context.Context, id int64, upd TokenUpdate) (*Token, error)
	// DeleteToken removes a token, or returns ENOTFOUND.
	DeleteToken(ctx context.Context, id int64) error
}
