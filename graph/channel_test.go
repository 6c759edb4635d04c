package graph_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/aiproxy/aiproxy"
)

const channelFields = `id name type baseURL effectiveBaseURL key models modelMapping { from to } priority weight enabled createdAt updatedAt`

type channel struct {
	ID               string                 `json:"id"`
	Name             string                 `json:"name"`
	Type             string                 `json:"type"`
	BaseURL          *string                `json:"baseURL"`
	EffectiveBaseURL string                 `json:"effectiveBaseURL"`
	Key              string                 `json:"key"`
	Models           []string               `json:"models"`
	ModelMapping     []aiproxy.ModelMapping `json:"modelMapping"`
	Priority         int                    `json:"priority"`
	Weight           int                    `json:"weight"`
	Enabled          bool                   `json:"enabled"`
	CreatedAt        string                 `json:"createdAt"`
	UpdatedAt        string                 `json:"updatedAt"`
}

const providerKey = "sk-provider-secret-0123456789"

// createChannel creates a channel named name with the given extra input
// fields.
func (a *api) createChannel(tb testing.TB, name, input string) channel {
	tb.Helper()
	var out struct{ CreateChannel channel }
	a.mustPost(tb, `mutation { createChannel(input: {name: "`+name+`", type: "openai", key: "`+providerKey+`", models: ["gpt-4o"]`+input+`}) { `+channelFields+` } }`, &out)
	return out.CreateChannel
}

// storedChannel reads a channel straight from the services.
func (a *api) storedChannel(tb testing.TB, id string) *aiproxy.Channel {
	tb.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := a.svc.Channel(context.Background(), n)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestCreateChannelDefaults(t *testing.T) {
	a := newAPI(t)
	c := a.createChannel(t, "main", "")
	if c.ID == "" || c.Name != "main" || c.Type != "openai" || strings.Join(c.Models, ",") != "gpt-4o" {
		t.Errorf("channel %+v", c)
	}
	if !c.Enabled || c.Weight != 1 || c.Priority != 0 {
		t.Errorf("defaults: enabled %v weight %d priority %d, want true 1 0", c.Enabled, c.Weight, c.Priority)
	}
	if c.BaseURL != nil || c.EffectiveBaseURL != "https://api.openai.com/v1" {
		t.Errorf("baseURL %v effectiveBaseURL %q", c.BaseURL, c.EffectiveBaseURL)
	}
	if c.ModelMapping == nil || len(c.ModelMapping) != 0 {
		t.Errorf("modelMapping %#v, want []", c.ModelMapping)
	}
	if c.Key != aiproxy.MaskKey(providerKey) {
		t.Errorf("key %q, want %q", c.Key, aiproxy.MaskKey(providerKey))
	}
	if c.CreatedAt == "" || c.UpdatedAt == "" {
		t.Errorf("times %q %q", c.CreatedAt, c.UpdatedAt)
	}
	stored := a.storedChannel(t, c.ID)
	if stored.Key != providerKey || stored.Type != aiproxy.ChannelType("openai") || !stored.Enabled || stored.Weight != 1 {
		t.Errorf("stored %+v", stored)
	}
}

func TestCreateChannelAllFields(t *testing.T) {
	a := newAPI(t)
	c := a.createChannel(t, "main", `, baseURL: "http://127.0.0.1:11434/v1/", modelMapping: [{from: "gpt-4o", to: "llama3"}], priority: 10, weight: 3, enabled: false`)
	if c.BaseURL == nil || *c.BaseURL != "http://127.0.0.1:11434/v1" || c.EffectiveBaseURL != *c.BaseURL {
		t.Errorf("baseURL %v effectiveBaseURL %q", c.BaseURL, c.EffectiveBaseURL)
	}
	if c.Priority != 10 || c.Weight != 3 || c.Enabled {
		t.Errorf("priority %d weight %d enabled %v", c.Priority, c.Weight, c.Enabled)
	}
	if len(c.ModelMapping) != 1 || c.ModelMapping[0] != (aiproxy.ModelMapping{From: "gpt-4o", To: "llama3"}) {
		t.Errorf("modelMapping %v", c.ModelMapping)
	}
}

func TestChannelKeyIsAlwaysMasked(t *testing.T) {
	a := newAPI(t)
	c := a.createChannel(t, "main", "")
	newKey := "sk-another-secret-9876543210"
	header := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + adminKey}
	for _, q := range []string{
		`mutation { createChannel(input: {name: "b", type: "openai", key: "` + providerKey + `", models: ["m"]}) { key } }`,
		`mutation { updateChannel(id: "` + c.ID + `", input: {key: "` + newKey + `"}) { key } }`,
		`mutation { updateChannel(id: "` + c.ID + `", input: {name: "renamed"}) { key } }`,
		`{ channels { key } }`,
		`{ channel(id: "` + c.ID + `") { key } }`,
	} {
		w := a.do(http.MethodPost, "/graphql", gqlBody(t, q), header)
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, `"key":"sk-`) {
			t.Errorf("%s: %d %s", q, w.Code, body)
		}
		if strings.Contains(body, providerKey) || strings.Contains(body, newKey) {
			t.Errorf("%s: answer reveals a key: %s", q, body)
		}
	}
	if got := a.storedChannel(t, c.ID).Key; got != newKey {
		t.Errorf("stored key %q, want %q", got, newKey)
	}
	if strings.Contains(a.log.String(), providerKey) || strings.Contains(a.log.String(), newKey) {
		t.Errorf("a key was logged:\n%s", a.log)
	}
}

func TestUpdateChannel(t *testing.T) {
	a := newAPI(t)
	c := a.createChannel(t, "main", `, baseURL: "https://example.com/v1", modelMapping: [{from: "a", to: "b"}], priority: 5, weight: 2`)
	update := func(input string) channel {
		t.Helper()
		var out struct{ UpdateChannel channel }
		a.mustPost(t, `mutation { updateChannel(id: "`+c.ID+`", input: {`+input+`}) { `+channelFields+` } }`, &out)
		return out.UpdateChannel
	}

	u := update(`name: "renamed", models: ["x", "y"]`)
	if u.Name != "renamed" || strings.Join(u.Models, ",") != "x,y" {
		t.Errorf("name %q models %v", u.Name, u.Models)
	}
	// Omitted fields keep their values.
	if u.BaseURL == nil || *u.BaseURL != "https://example.com/v1" || u.Priority != 5 || u.Weight != 2 || len(u.ModelMapping) != 1 || !u.Enabled {
		t.Errorf("omitted fields changed: %+v", u)
	}

	u = update(`baseURL: ""`)
	if u.BaseURL != nil || u.EffectiveBaseURL != "https://api.openai.com/v1" {
		t.Errorf("baseURL \"\" did not reset: %v %q", u.BaseURL, u.EffectiveBaseURL)
	}

	u = update(`modelMapping: [], priority: -3, weight: 0, enabled: false`)
	if len(u.ModelMapping) != 0 || u.Priority != -3 || u.Weight != 0 || u.Enabled {
		t.Errorf("update: %+v", u)
	}

	// Null keeps the value too.
	u = update(`name: null, modelMapping: null`)
	if u.Name != "renamed" {
		t.Errorf("name %q after null", u.Name)
	}
}

func TestChannelErrors(t *testing.T) {
	a := newAPI(t)
	c := a.createChannel(t, "main", "")
	tests := []struct {
		name, query, code, field string
	}{
		{"bad baseURL", `mutation { createChannel(input: {name: "x", type: "openai", key: "k", models: ["m"], baseURL: "ftp://files"}) { id } }`, "INVALID", "baseURL"},
		{"blank name", `mutation { createChannel(input: {name: "  ", type: "openai", key: "k", models: ["m"]}) { id } }`, "INVALID", "name"},
		{"no models", `mutation { createChannel(input: {name: "x", type: "openai", key: "k", models: [" "]}) { id } }`, "INVALID", "models"},
		{"negative weight", `mutation { createChannel(input: {name: "x", type: "openai", key: "k", models: ["m"], weight: -1}) { id } }`, "INVALID", "weight"},
		{"key with newline", `mutation { createChannel(input: {name: "x", type: "openai", key: "k\n", models: ["m"]}) { id } }`, "INVALID", "key"},
		{"unknown type", `mutation { createChannel(input: {name: "x", type: "nope", key: "k", models: ["m"]}) { id } }`, "INVALID", "type"},
		{"config not an object", `mutation { createChannel(input: {name: "x", type: "openai", key: "k", models: ["m"], config: [1]}) { id } }`, "INVALID", "config"},
		{"config key the type does not have", `mutation { createChannel(input: {name: "x", type: "openai", key: "k", models: ["m"], config: {a: 1}}) { id } }`, "INVALID", "config.a"},
		{"bad config value", `mutation { createChannel(input: {name: "x", type: "anthropic", key: "k", models: ["m"], config: {maxTokens: "many"}}) { id } }`, "INVALID", "config.maxTokens"},
		{"update unknown type", `mutation { updateChannel(id: "` + c.ID + `", input: {type: "nope"}) { id } }`, "INVALID", "type"},
		{"update bad baseURL", `mutation { updateChannel(id: "` + c.ID + `", input: {baseURL: "not a url"}) { id } }`, "INVALID", "baseURL"},
		{"update empty models", `mutation { updateChannel(id: "` + c.ID + `", input: {models: []}) { id } }`, "INVALID", "models"},
		{"update missing", `mutation { updateChannel(id: "999", input: {name: "x"}) { id } }`, "NOT_FOUND", ""},
		{"update bad id", `mutation { updateChannel(id: "abc", input: {name: "x"}) { id } }`, "INVALID", "id"},
		{"delete missing", `mutation { deleteChannel(id: "999") }`, "NOT_FOUND", ""},
		{"delete bad id", `mutation { deleteChannel(id: "1.5") }`, "INVALID", "id"},
		{"get bad id", `{ channel(id: "x") { id } }`, "INVALID", "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wantError(t, a.post(t, tt.query, nil), tt.code, tt.field)
			if tt.field == "baseURL" && !strings.Contains(e.Message, "baseURL") {
				t.Errorf("message %q does not name baseURL", e.Message)
			}
		})
	}
	var out struct{ Channels []channel }
	a.mustPost(t, `{ channels { id name baseURL } }`, &out)
	if len(out.Channels) != 1 || out.Channels[0].Name != "main" || out.Channels[0].BaseURL != nil {
		t.Errorf("failed mutations changed the channels: %+v", out.Channels)
	}
}

func TestListAndDeleteChannels(t *testing.T) {
	a := newAPI(t)
	first := a.createChannel(t, "main", "")
	second := a.createChannel(t, "backup", "")

	var list struct{ Channels []channel }
	a.mustPost(t, `{ channels { id name key } }`, &list)
	if len(list.Channels) != 2 || list.Channels[0].ID != first.ID || list.Channels[1].ID != second.ID {
		t.Fatalf("channels %+v", list.Channels)
	}

	var one struct{ Channel *channel }
	a.mustPost(t, `query($id: ID!) { channel(id: $id) { id name } }`, &one, client.Var("id", second.ID))
	if one.Channel == nil || one.Channel.Name != "backup" {
		t.Errorf("channel %+v", one.Channel)
	}

	var del struct{ DeleteChannel string }
	a.mustPost(t, `mutation { deleteChannel(id: "`+first.ID+`") }`, &del)
	if del.DeleteChannel != first.ID {
		t.Errorf("deleteChannel = %q, want %q", del.DeleteChannel, first.ID)
	}
	var gone struct{ Channel *channel }
	a.mustPost(t, `{ channel(id: "`+first.ID+`") { id } }`, &gone)
	if gone.Channel != nil {
		t.Errorf("deleted channel still found: %+v", gone.Channel)
	}
	a.mustPost(t, `{ channels { id } }`, &list)
	if len(list.Channels) != 1 || list.Channels[0].ID != second.ID {
		t.Errorf("channels after delete %+v", list.Channels)
	}
}

// Channel types come from the provider registry, with their config keys;
// a channel's config is kept as the JSON object it was given, normalized
// by its type.
func TestChannelTypesAndConfig(t *testing.T) {
	a := newAPI(t)
	var types struct {
		ChannelTypes []struct {
			Name, Protocol, DefaultBaseURL string
			Config                         []struct{ Name, Type string }
		}
	}
	a.mustPost(t, `{ channelTypes { name protocol defaultBaseURL config { name type } } }`, &types)
	got := map[string]string{}
	for _, ct := range types.ChannelTypes {
		got[ct.Name] = ct.Protocol + " " + ct.DefaultBaseURL
		if ct.Name == "anthropic" && (len(ct.Config) == 0 || ct.Config[0].Name != "version") {
			t.Errorf("anthropic config keys %+v", ct.Config)
		}
	}
	if got["openai"] != "OPENAI https://api.openai.com/v1" || got["anthropic"] != "ANTHROPIC https://api.anthropic.com" || got["gemini"] != "GEMINI https://generativelanguage.googleapis.com" {
		t.Errorf("channel types %v", got)
	}
	var out struct {
		CreateChannel struct {
			ID               string
			Config           map[string]any
			EffectiveBaseURL string
		}
	}
	a.mustPost(t, `mutation { createChannel(input: {name: "c", type: "anthropic", key: "k", models: ["m"], config: {beta: ["b1", "b1", "b2"], maxTokens: 4096}}) { id config effectiveBaseURL } }`, &out)
	c := out.CreateChannel
	if c.EffectiveBaseURL != "https://api.anthropic.com" || c.Config["maxTokens"] != float64(4096) || len(c.Config["beta"].([]any)) != 2 {
		t.Errorf("created %+v", c)
	}
	var upd struct {
		UpdateChannel struct{ Config map[string]any }
	}
	a.mustPost(t, `mutation { updateChannel(id: "`+c.ID+`", input: {config: {}}) { config } }`, &upd)
	if upd.UpdateChannel.Config != nil {
		t.Errorf("config after reset: %v", upd.UpdateChannel.Config)
	}
}

// Channel sets and group sets: set, defaulted, changed, checked.
func TestChannelAndGroupSets(t *testing.T) {
	a := newAPI(t)
	var out struct {
		CreateChannel struct {
			ID   string
			Sets []string
		}
	}
	a.mustPost(t, `mutation { createChannel(input: {name: "s", type: "openai", key: "k", models: ["m"]}) { id sets } }`, &out)
	if strings.Join(out.CreateChannel.Sets, ",") != "default" {
		t.Errorf("default sets %v", out.CreateChannel.Sets)
	}
	var upd struct {
		UpdateChannel struct{ Sets []string }
	}
	a.mustPost(t, `mutation { updateChannel(id: "`+out.CreateChannel.ID+`", input: {sets: ["premium", " premium", "eu"]}) { sets } }`, &upd)
	if strings.Join(upd.UpdateChannel.Sets, ",") != "premium,eu" {
		t.Errorf("updated sets %v", upd.UpdateChannel.Sets)
	}
	var g struct {
		CreateGroup struct{ AvailableSets []string }
	}
	a.mustPost(t, `mutation { createGroup(input: {id: "acme", availableSets: ["premium"]}) { availableSets } }`, &g)
	if strings.Join(g.CreateGroup.AvailableSets, ",") != "premium" {
		t.Errorf("group sets %v", g.CreateGroup.AvailableSets)
	}
	var gu struct {
		UpdateGroup struct{ AvailableSets []string }
	}
	a.mustPost(t, `mutation { updateGroup(id: "acme", input: {availableSets: []}) { availableSets } }`, &gu)
	if strings.Join(gu.UpdateGroup.AvailableSets, ",") != "default" {
		t.Errorf("emptied group sets %v", gu.UpdateGroup.AvailableSets)
	}
	errs := a.post(t, `mutation { updateGroup(id: "acme", input: {availableSets: ["no spaces"]}) { id } }`, nil)
	if len(errs) != 1 || errs[0].Extensions["field"] != "availableSets" {
		t.Errorf("bad set name: %+v", errs)
	}
}

// A channel's proxy and headers are kept, and their secrets masked.
func TestChannelProxyAndHeaders(t *testing.T) {
	a := newAPI(t)
	var out struct {
		CreateChannel struct {
			ID       string
			ProxyURL *string
			Headers  []struct{ Name, Value string }
		}
	}
	a.mustPost(t, `mutation { createChannel(input: {name: "p", type: "openai", key: "k", models: ["m"],
		proxyURL: "socks5://user:hunter2-secret@10.0.0.1:1080", headers: [{name: "x-org", value: "org-secret-value-123"}]}) { id proxyURL headers { name value } } }`, &out)
	c := out.CreateChannel
	if c.ProxyURL == nil || strings.Contains(*c.ProxyURL, "hunter2") || !strings.Contains(*c.ProxyURL, "10.0.0.1:1080") {
		t.Errorf("proxyURL %v", c.ProxyURL)
	}
	if len(c.Headers) != 1 || c.Headers[0].Name != "X-Org" || strings.Contains(c.Headers[0].Value, "secret") {
		t.Errorf("headers %+v", c.Headers)
	}
	stored := a.storedChannel(t, c.ID)
	if stored.ProxyURL != "socks5://user:hunter2-secret@10.0.0.1:1080" || len(stored.Headers) != 1 || stored.Headers[0].Value != "org-secret-value-123" {
		t.Errorf("stored %+v %+v", stored.ProxyURL, stored.Headers)
	}
	for _, bad := range []string{`proxyURL: "ftp://x"`, `headers: [{name: "Host", value: "x"}]`, `headers: [{name: "bad name", value: "x"}]`} {
		errs := a.post(t, `mutation { updateChannel(id: "`+c.ID+`", input: {`+bad+`}) { id } }`, nil)
		if len(errs) != 1 {
			t.Errorf("%s: errors %+v", bad, errs)
		}
	}
	var upd struct {
		UpdateChannel struct {
			ProxyURL *string
			Headers  []struct{ Name string }
		}
	}
	a.mustPost(t, `mutation { updateChannel(id: "`+c.ID+`", input: {proxyURL: "", headers: []}) { proxyURL headers { name } } }`, &upd)
	if upd.UpdateChannel.ProxyURL != nil || len(upd.UpdateChannel.Headers) != 0 {
		t.Errorf("after removal %+v", upd.UpdateChannel)
	}
}
