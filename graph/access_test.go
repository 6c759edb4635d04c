package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/store"
)

type effective struct {
	Model                                    string
	RPM, TPM                                 int64
	RPMSource, TPMSource                     string
	Pricing                                  *struct{ Input, Output float64 }
	Priced                                   bool
	PriceSource                              *string
	MaxAttempts                              int
	AttemptsSource                           string
	TimeoutSeconds, FirstEventTimeoutSeconds float64
	TimeoutSource, FirstEventTimeoutSource   string
	SaveDetail                               bool
	SaveDetailSource                         string
}

const effectiveFields = `model rpm rpmSource tpm tpmSource pricing { input output } priced priceSource maxAttempts attemptsSource
	timeoutSeconds timeoutSource firstEventTimeoutSeconds firstEventTimeoutSource saveDetail saveDetailSource`

func TestGroupModelConfigsAndEffectiveModels(t *testing.T) {
	for _, cached := range []bool{false, true} {
		name := "from the services"
		if cached {
			name = "from the cache"
		}
		t.Run(name, func(t *testing.T) {
			a := newAPIWith(t, func(r *graph.Resolver) {
				if cached {
					r.Effective = r.GroupService.(*store.Store).Cache()
				}
			})
			testEffective(t, a)
		})
	}
}

func testEffective(t *testing.T, a *api) {
	a.createGroup(t, `id: "acme", rpmRatio: 2`)
	a.createGroup(t, `id: "beta"`)
	a.createModelConfig(t, `model: "m1", rpm: 100, tpm: 5000, maxAttempts: 2, timeoutSeconds: 30, inputPrice: 1, outputPrice: 2`)
	catalogued := aiproxy.BuiltinCatalogue().Entries[0]

	type override struct {
		Group, Model             string
		RPM, TPM, MaxAttempts    *int64
		Pricing                  *struct{ Input, Output float64 }
		TimeoutSeconds           *float64
		FirstEventTimeoutSeconds *float64
		SaveDetail               *bool
		CreatedAt, UpdatedAt     string
	}
	const overrideFields = `group model rpm tpm maxAttempts pricing { input output } timeoutSeconds firstEventTimeoutSeconds saveDetail createdAt updatedAt`
	var set struct{ SetGroupModelConfig override }
	a.mustPost(t, `mutation { setGroupModelConfig(input: {group: "acme", model: "m1", rpm: 7, pricing: {input: 0.5, output: 0.75}, firstEventTimeoutSeconds: 4, saveDetail: true}) { `+overrideFields+` } }`, &set)
	o := set.SetGroupModelConfig
	if o.Group != "acme" || o.Model != "m1" || o.RPM == nil || *o.RPM != 7 || o.TPM != nil || o.MaxAttempts != nil || o.Pricing == nil || o.Pricing.Input != 0.5 ||
		o.TimeoutSeconds != nil || o.FirstEventTimeoutSeconds == nil || *o.FirstEventTimeoutSeconds != 4 || o.SaveDetail == nil || !*o.SaveDetail {
		t.Errorf("override %+v", o)
	}
	var list struct{ GroupModelConfigs []override }
	a.mustPost(t, `{ groupModelConfigs(group: "acme") { `+overrideFields+` } }`, &list)
	if len(list.GroupModelConfigs) != 1 || list.GroupModelConfigs[0].Model != "m1" {
		t.Errorf("overrides of acme %+v", list.GroupModelConfigs)
	}
	a.mustPost(t, `{ groupModelConfigs(group: "beta") { model } }`, &list)
	if len(list.GroupModelConfigs) != 0 {
		t.Errorf("overrides of beta %+v", list.GroupModelConfigs)
	}

	get := func(group, model string) effective {
		t.Helper()
		var out struct {
			EffectiveModel effective
			Group          struct{ EffectiveModel effective }
		}
		a.mustPost(t, `{ effectiveModel(group: "`+group+`", model: "`+model+`") { `+effectiveFields+` }
			group(id: "`+group+`") { effectiveModel(model: "`+model+`") { `+effectiveFields+` } } }`, &out)
		if out.EffectiveModel != out.Group.EffectiveModel && (out.EffectiveModel.Pricing == nil) == (out.Group.EffectiveModel.Pricing == nil) &&
			(out.EffectiveModel.Pricing == nil || *out.EffectiveModel.Pricing != *out.Group.EffectiveModel.Pricing) {
			t.Errorf("effectiveModel %+v differs from Group.effectiveModel %+v", out.EffectiveModel, out.Group.EffectiveModel)
		}
		return out.EffectiveModel
	}
	src := func(p *string) string {
		if p == nil {
			return "<null>"
		}
		return *p
	}

	// The group's override over the model config's values.
	e := get("acme", "m1")
	if e.RPM != 7 || e.RPMSource != "group" || e.TPM != 5000 || e.TPMSource != "model" || src(e.PriceSource) != "group" || e.Pricing == nil || e.Pricing.Input != 0.5 ||
		e.MaxAttempts != 2 || e.AttemptsSource != "model" || e.TimeoutSeconds != 30 || e.TimeoutSource != "model" ||
		e.FirstEventTimeoutSeconds != 4 || e.FirstEventTimeoutSource != "group" || !e.SaveDetail || e.SaveDetailSource != "group" || !e.Priced {
		t.Errorf("acme × m1 %+v (price source %s)", e, src(e.PriceSource))
	}
	// The model config's, the RPM times acme's ratio where not overridden.
	e = get("beta", "m1")
	if e.RPM != 100 || e.RPMSource != "model" || src(e.PriceSource) != "model" || e.Pricing == nil || e.Pricing.Output != 2 || e.SaveDetail || e.SaveDetailSource != "gateway" {
		t.Errorf("beta × m1 %+v", e)
	}
	// The catalogue's price for a model without a config.
	e = get("acme", catalogued.Model)
	if src(e.PriceSource) != "catalogue" || !e.Priced || e.Pricing == nil || e.Pricing.Input != aiproxy.Amount(catalogued.Pricing.Input).Float() ||
		e.RPM != 0 || e.RPMSource != "gateway" || e.MaxAttempts != 0 || e.AttemptsSource != "gateway" {
		t.Errorf("acme × %s %+v", catalogued.Model, e)
	}
	// Unpriced.
	e = get("acme", "no-such-model-anywhere")
	if e.Priced || e.Pricing != nil || e.PriceSource != nil || e.Model != "no-such-model-anywhere" {
		t.Errorf("unpriced %+v", e)
	}
	wantError(t, a.post(t, `{ effectiveModel(group: "nope", model: "m1") { model } }`, nil), "NOT_FOUND", "")

	// A model config of acme's ratio: RPM 100 × 2 once the override is gone.
	var del struct{ DeleteGroupModelConfig string }
	a.mustPost(t, `mutation { deleteGroupModelConfig(group: "acme", model: "m1") }`, &del)
	if del.DeleteGroupModelConfig != "m1" {
		t.Errorf("deleted %q", del.DeleteGroupModelConfig)
	}
	if e := get("acme", "m1"); e.RPM != 200 || e.RPMSource != "model" || src(e.PriceSource) != "model" {
		t.Errorf("acme × m1 without override %+v", e)
	}
	wantError(t, a.post(t, `mutation { deleteGroupModelConfig(group: "acme", model: "m1") }`, nil), "NOT_FOUND", "")

	for _, tt := range []struct{ name, input, code, field string }{
		{"too many attempts", `group: "acme", model: "m1", maxAttempts: 9`, "INVALID", "maxAttempts"},
		{"negative tpm", `group: "acme", model: "m1", tpm: -1`, "INVALID", "tpm"},
		{"negative price", `group: "acme", model: "m1", pricing: {output: -2}`, "INVALID", "pricing.output"},
		{"bad timeout", `group: "acme", model: "m1", timeoutSeconds: -1`, "INVALID", "timeoutSeconds"},
		{"unknown group", `group: "nope", model: "m1", rpm: 1`, "NOT_FOUND", "group"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, a.post(t, `mutation { setGroupModelConfig(input: {`+tt.input+`}) { model } }`, nil), tt.code, tt.field)
		})
	}
}

// TestGroupTokenAccess is the whole access matrix: who asks × what. The
// queries read group acme or beta; "same-group token" is acme's.
func TestGroupTokenAccess(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	a.createGroup(t, `id: "acme"`)
	a.createGroup(t, `id: "beta"`)
	a.createModelConfig(t, `model: "m1", inputPrice: 1`)
	own, ownKey := a.createToken(t, `group: "acme", name: "own"`)
	_, otherKey := a.createToken(t, `group: "beta", name: "other"`)
	_, disabledKey := a.createToken(t, `group: "acme", name: "off", enabled: false`)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	_, expiredKey := a.createToken(t, `group: "acme", name: "old", expiresAt: "`+past+`"`)
	_, farKey := a.createToken(t, `group: "acme", name: "far", subnets: ["10.9.0.0/16"]`)

	const (
		ok        = "OK"
		forbidden = "FORBIDDEN"
		unauth    = "UNAUTHORIZED" // HTTP 401, nothing executed
	)
	queries := []struct {
		name, query string
	}{
		{"read acme group", `{ group(id: "acme") { id balance tokens { id name } modelConfigs { model } effectiveModel(model: "m1") { priced } balanceEntries { pageInfo { hasNextPage } } } }`},
		{"read beta group", `{ group(id: "beta") { id } }`},
		{"read acme tokens", `{ tokens(group: "acme") { id } }`},
		{"read beta tokens", `{ tokens(group: "beta") { id } }`},
		{"read acme models", `{ effectiveModel(group: "acme", model: "m1") { priced } groupModelConfigs(group: "acme") { model } }`},
		{"read beta models", `{ effectiveModel(group: "beta", model: "m1") { priced } }`},
		{"mutation", `mutation { updateGroup(id: "acme", input: {description: "x"}) { id } }`},
		{"top up own group", `mutation { topUpBalance(group: "acme", amount: 1, reason: "r") { id } }`},
		{"channels", `{ channels { id } }`},
		{"groups", `{ groups { id } }`},
		{"model configs", `{ modelConfigs { model } }`},
		{"logs", `{ logs { edges { cursor } } }`},
	}
	callers := []struct {
		name string
		key  string
		want map[string]string // by query; absent: the default
		def  string
	}{
		{"admin", adminKey, nil, ok},
		{"same-group token", ownKey, map[string]string{
			"read acme group": ok, "read acme tokens": ok, "read acme models": ok,
		}, forbidden},
		// beta's token: acme's is another group.
		{"other-group token", otherKey, map[string]string{
			"read beta group": ok, "read beta tokens": ok, "read beta models": ok,
		}, forbidden},
		{"disabled token", disabledKey, nil, unauth},
		{"expired token", expiredKey, nil, unauth},
		{"no key", "", nil, unauth},
		{"admin key prefix", adminKey[:12], nil, unauth},
		{"unknown token", aiproxy.NewTokenKey(), nil, unauth},
	}
	for _, c := range callers {
		for _, q := range queries {
			want, found := c.want[q.name]
			if !found {
				want = c.def
			}
			t.Run(c.name+"/"+q.name, func(t *testing.T) {
				header := map[string]string{"Content-Type": "application/json"}
				if c.key != "" {
					header["Authorization"] = "Bearer " + c.key
				}
				w := a.do(http.MethodPost, "/graphql", gqlBody(t, q.query), header)
				ans := decodeAnswer(t, w.Body.String())
				switch want {
				case ok:
					if w.Code != http.StatusOK || len(ans.Errors) != 0 {
						t.Errorf("status %d: %s", w.Code, w.Body)
					}
				case forbidden:
					if w.Code != http.StatusOK || len(ans.Errors) == 0 {
						t.Fatalf("status %d: %s", w.Code, w.Body)
					}
					for _, e := range ans.Errors {
						if e.Extensions["code"] != forbidden {
							t.Errorf("error %v, want FORBIDDEN", e)
						}
					}
				case unauth:
					if w.Code != http.StatusUnauthorized {
						t.Errorf("status %d, want 401: %s", w.Code, w.Body)
					}
					wantError(t, ans.Errors, unauth, "")
				}
			})
		}
	}
	// Nothing a refused caller sent changed anything.
	if g, _ := a.svc.Group(ctx, "acme"); g.Description != "x" || g.Credit != aiproxy.AmountUnit {
		t.Errorf("acme %+v: only the admin's update and top-up should have applied", g)
	}

	// A token allowed only from other subnets is refused with 403.
	w := a.do(http.MethodPost, "/graphql", gqlBody(t, `{ me { kind } }`), map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + farKey})
	if w.Code != http.StatusForbidden {
		t.Errorf("token from outside its subnets: status %d: %s", w.Code, w.Body)
	}
	wantError(t, decodeAnswer(t, w.Body.String()).Errors, "FORBIDDEN", "")

	// me, and a group token's listings default to its own group.
	type me struct {
		Me struct {
			Kind  string
			Group *struct{ ID string }
			Token *struct{ ID, Name string }
		}
		Tokens            []struct{ ID, Group string }
		GroupModelConfigs []struct{ Model string }
	}
	var asAdmin me
	a.mustPost(t, `{ me { kind group { id } token { id name } } tokens { id group } groupModelConfigs { model } }`, &asAdmin)
	if asAdmin.Me.Kind != "ADMIN" || asAdmin.Me.Group != nil || asAdmin.Me.Token != nil || len(asAdmin.Tokens) != 5 {
		t.Errorf("admin me %+v, %d tokens", asAdmin.Me, len(asAdmin.Tokens))
	}
	header := map[string]string{"Content-Type": "application/json", "X-Api-Key": ownKey}
	w = a.do(http.MethodPost, "/graphql", gqlBody(t, `{ me { kind group { id } token { id name } } tokens { id group } }`), header)
	ans := decodeAnswer(t, w.Body.String())
	if len(ans.Errors) != 0 {
		t.Fatalf("group me: %s", w.Body)
	}
	for _, secret := range []string{ownKey, own.ID + `","keyHash`, aiproxy.HashKey(ownKey)} {
		if contains(w.Body.String(), secret) {
			t.Errorf("answer holds a secret %q: %s", secret, w.Body)
		}
	}
	var asGroup me
	decodeData(t, ans.Data, &asGroup)
	if asGroup.Me.Kind != "GROUP" || asGroup.Me.Group == nil || asGroup.Me.Group.ID != "acme" || asGroup.Me.Token == nil || asGroup.Me.Token.ID != own.ID {
		t.Errorf("group me %+v", asGroup.Me)
	}
	if len(asGroup.Tokens) != 4 {
		t.Errorf("a group token lists %d tokens, want acme's 4", len(asGroup.Tokens))
	}
	for _, tk := range asGroup.Tokens {
		if tk.Group != "acme" {
			t.Errorf("a group token lists %+v", tk)
		}
	}
	// token(id): its own group's only.
	var beta struct{ Tokens []struct{ ID string } }
	a.mustPost(t, `{ tokens(group: "beta") { id } }`, &beta)
	w = a.do(http.MethodPost, "/graphql", gqlBody(t, `{ token(id: "`+beta.Tokens[0].ID+`") { id } }`), header)
	wantError(t, decodeAnswer(t, w.Body.String()).Errors, "FORBIDDEN", "")
	w = a.do(http.MethodPost, "/graphql", gqlBody(t, `{ token(id: "`+own.ID+`") { id name } }`), header)
	if ans := decodeAnswer(t, w.Body.String()); len(ans.Errors) != 0 || !contains(string(ans.Data), `"own"`) {
		t.Errorf("own token: %s", w.Body)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func decodeData(tb testing.TB, data json.RawMessage, out any) {
	tb.Helper()
	if err := json.Unmarshal(data, out); err != nil {
		tb.Fatalf("data %s: %v", data, err)
	}
}
