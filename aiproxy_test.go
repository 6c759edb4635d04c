package aiproxy_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

func TestErrorHelpers(t *testing.T) {
	e := aiproxy.FieldErrorf("baseURL", "bad %s", "url")
	wrapped := fmt.Errorf("store: create channel: %w", e)
	if aiproxy.ErrorCode(wrapped) != aiproxy.EINVALID || aiproxy.ErrorMessage(wrapped) != "bad url" || aiproxy.ErrorField(wrapped) != "baseURL" {
		t.Errorf("wrapped domain error: %q %q %q", aiproxy.ErrorCode(wrapped), aiproxy.ErrorMessage(wrapped), aiproxy.ErrorField(wrapped))
	}
	plain := errors.New("pq: password authentication failed for secret")
	if aiproxy.ErrorCode(plain) != aiproxy.EINTERNAL || aiproxy.ErrorMessage(plain) != "internal error" {
		t.Error("a non-domain error must be EINTERNAL with a message that hides its details")
	}
	if aiproxy.ErrorCode(nil) != "" || aiproxy.ErrorMessage(nil) != "" {
		t.Error("nil error")
	}
}

func TestChannelValidate(t *testing.T) {
	valid := func() *aiproxy.Channel {
		return &aiproxy.Channel{Name: " main ", Type: aiproxy.ChannelType("openai"), BaseURL: "http://127.0.0.1:11434/v1/", Key: "k", Models: []string{"a", " a", "", "b"}}
	}
	c := valid()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Name != "main" || c.BaseURL != "http://127.0.0.1:11434/v1" || strings.Join(c.Models, ",") != "a,b" {
		t.Errorf("not normalized: %+v", c)
	}
	tests := []struct {
		field  string
		change func(*aiproxy.Channel)
	}{
		{"name", func(c *aiproxy.Channel) { c.Name = " " }},
		{"type", func(c *aiproxy.Channel) { c.Type = "No Type" }},
		{"type", func(c *aiproxy.Channel) { c.Type = "" }},
		{"config", func(c *aiproxy.Channel) { c.Config = []byte(`"x"`) }},
		{"config", func(c *aiproxy.Channel) { c.Config = []byte(`{"a":`) }},
		{"baseURL", func(c *aiproxy.Channel) { c.BaseURL = "api.openai.com/v1" }},
		{"baseURL", func(c *aiproxy.Channel) { c.BaseURL = "ftp://x/v1" }},
		{"key", func(c *aiproxy.Channel) { c.Key = "sk-1\nInjected: header" }},
		{"models", func(c *aiproxy.Channel) { c.Models = []string{" "} }},
		{"modelMapping", func(c *aiproxy.Channel) { c.ModelMapping = []aiproxy.ModelMapping{{From: "a"}} }},
		{"weight", func(c *aiproxy.Channel) { c.Weight = -1 }},
	}
	for _, tt := range tests {
		c := valid()
		tt.change(c)
		if err := c.Validate(); aiproxy.ErrorField(err) != tt.field {
			t.Errorf("%s: got %v", tt.field, err)
		}
	}
	c = valid()
	c.ModelMapping = []aiproxy.ModelMapping{{From: "a", To: "a-2024"}}
	if c.UpstreamModel("a") != "a-2024" || c.UpstreamModel("b") != "b" {
		t.Errorf("mapping %q %q", c.UpstreamModel("a"), c.UpstreamModel("b"))
	}
	for in, want := range map[string]string{"": "", "null": "", " {} ": "", ` {"a":1} `: `{"a":1}`} {
		c = valid()
		c.Config = []byte(in)
		if err := c.Validate(); err != nil || string(c.Config) != want {
			t.Errorf("config %q: %v, normalized to %q, want %q", in, err, c.Config, want)
		}
	}
}

func TestAuthorize(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	past := now.Add(-time.Second)
	ip := netip.MustParseAddr("10.1.2.3")
	valid := func() (*aiproxy.Token, *aiproxy.Group) {
		return &aiproxy.Token{Enabled: true, Models: []string{"m"}, Subnets: []string{"10.0.0.0/8"}}, &aiproxy.Group{Enabled: true}
	}
	tests := []struct {
		name   string
		change func(*aiproxy.Token, *aiproxy.Group)
		model  string
		code   string
		reason string
	}{
		{"ok", func(*aiproxy.Token, *aiproxy.Group) {}, "m", "", ""},
		{"ok without a model", func(*aiproxy.Token, *aiproxy.Group) {}, "", "", ""},
		{"disabled", func(t *aiproxy.Token, _ *aiproxy.Group) { t.Enabled = false }, "m", aiproxy.EUNAUTHORIZED, aiproxy.ReasonTokenDisabled},
		{"expired", func(t *aiproxy.Token, _ *aiproxy.Group) { t.ExpiresAt = &past }, "m", aiproxy.EUNAUTHORIZED, aiproxy.ReasonTokenExpired},
		{"ip", func(t *aiproxy.Token, _ *aiproxy.Group) { t.Subnets = []string{"192.168.0.0/16"} }, "m", aiproxy.EFORBIDDEN, aiproxy.ReasonIPNotAllowed},
		{"group disabled", func(_ *aiproxy.Token, g *aiproxy.Group) { g.Enabled = false }, "m", aiproxy.EFORBIDDEN, aiproxy.ReasonGroupDisabled},
		{"model", func(*aiproxy.Token, *aiproxy.Group) {}, "other", aiproxy.EFORBIDDEN, aiproxy.ReasonModelNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, grp := valid()
			tt.change(tok, grp)
			err := tok.Authorize(grp, ip, tt.model, now)
			if aiproxy.ErrorCode(err) != tt.code || aiproxy.ErrorReason(err) != tt.reason {
				t.Fatalf("Authorize = %v (reason %q), want %q %q", err, aiproxy.ErrorReason(err), tt.code, tt.reason)
			}
		})
	}
	tok, _ := valid()
	if err := tok.Authorize(nil, ip, "m", now); err != nil {
		t.Errorf("a token whose group is unknown: %v", err)
	}
}

func TestMaskKey(t *testing.T) {
	for key, want := range map[string]string{"": "", "short": "****", "sk-proj-abcdefghijklmnop": "sk-p…mnop"} {
		if got := aiproxy.MaskKey(key); got != want {
			t.Errorf("MaskKey(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestToken(t *testing.T) {
	key := aiproxy.NewTokenKey()
	if !strings.HasPrefix(key, "sk-") || len(key) != 51 || key == aiproxy.NewTokenKey() {
		t.Fatalf("key %q", key)
	}
	if h := aiproxy.HashKey(key); len(h) != 64 || strings.Contains(h, key) {
		t.Errorf("hash %q", h)
	}
	tok := &aiproxy.Token{GroupID: "g", Name: "n", Subnets: []string{"10.0.0.0/8", "192.168.1.7", "2001:db8::/32"}}
	if err := tok.Validate(); err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{"10.1.2.3": true, "192.168.1.7": true, "192.168.1.8": false, "::ffff:10.0.0.1": true, "2001:db8::1": true, "127.0.0.1": false} {
		if got := tok.AllowsIP(netip.MustParseAddr(ip)); got != want {
			t.Errorf("AllowsIP(%s) = %v", ip, got)
		}
	}
	if err := (&aiproxy.Token{GroupID: "g", Name: "n", Subnets: []string{"10.0.0.0/33"}}).Validate(); aiproxy.ErrorField(err) != "subnets" {
		t.Errorf("bad subnet: %v", err)
	}
	past := time.Now().Add(-time.Second)
	if !(&aiproxy.Token{ExpiresAt: &past}).Expired(time.Now()) || (&aiproxy.Token{}).Expired(time.Now()) {
		t.Error("Expired")
	}
	if !(&aiproxy.Token{}).AllowsModel("x") || (&aiproxy.Token{Models: []string{"y"}}).AllowsModel("x") {
		t.Error("AllowsModel")
	}
}

func TestModelConfigCost(t *testing.T) {
	m := &aiproxy.ModelConfig{Model: "gpt-4o", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: aiproxy.Price(2.5 * 1e9), Output: aiproxy.Price(10 * 1e9), CachedInput: aiproxy.Price(1.25 * 1e9)}}}
	if err := m.Validate(); err != nil || m.Mode != aiproxy.ModeChat {
		t.Fatalf("validate: %v, mode %q", err, m.Mode)
	}
	// 1000 prompt tokens of which 400 cached, 500 completion tokens:
	// 600×2500 + 400×1250 + 500×10000 nanos.
	got := m.Pricing.Cost(aiproxy.Usage{PromptTokens: 1000, CachedTokens: 400, CompletionTokens: 500}, "", time.Now()).Total()
	if want := aiproxy.Amount(600*2500 + 400*1250 + 500*10000); got != want {
		t.Errorf("cost = %d, want %d", got, want)
	}
	if aiproxy.Price(20_000_000).Cost(1) != 20 || aiproxy.Price(400).Cost(1) != 0 || aiproxy.Price(600).Cost(1000) != 1 {
		t.Error("Price.Cost rounding")
	}
	if aiproxy.AmountFromFloat(0.15) != 150_000_000 || aiproxy.Amount(150_000_000).Float() != 0.15 {
		t.Error("Amount conversions")
	}
	if err := (&aiproxy.ModelConfig{Model: "x", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: -1}}}).Validate(); aiproxy.ErrorField(err) != "pricing.input" {
		t.Errorf("negative price: %v", err)
	}
}

func TestGroupValidate(t *testing.T) {
	for id, ok := range map[string]bool{"acme": true, "team.a@corp-1": true, "": false, "-x": false, "has space": false, strings.Repeat("a", 65): false} {
		if err := (&aiproxy.Group{ID: id}).Validate(); (err == nil) != ok {
			t.Errorf("group id %q: %v", id, err)
		}
	}
}
