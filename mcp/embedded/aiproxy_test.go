package embedded

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// fakeGateway is what the aiproxy template reads, recording the groups
// and tokens it was asked about. It holds two groups, "acme" and "evil".
type fakeGateway struct {
	mu       sync.Mutex
	groups   []string // the groups asked about
	tokenIDs []int64  // the tokens asked about
	filters  []aiproxy.AnalyticsFilter
}

func (f *fakeGateway) asked(group string) {
	f.mu.Lock()
	f.groups = append(f.groups, group)
	f.mu.Unlock()
}

func (f *fakeGateway) UsageTotals(_ context.Context, flt aiproxy.AnalyticsFilter) (aiproxy.UsageStats, error) {
	f.asked(flt.GroupID)
	f.mu.Lock()
	f.filters = append(f.filters, flt)
	f.mu.Unlock()
	return aiproxy.UsageStats{Requests: 10, Successes: 9, Usage: aiproxy.Usage{PromptTokens: 100, CompletionTokens: 50, TotalTokens: 150},
		Cost: aiproxy.Cost{Input: aiproxy.AmountUnit / 2}}, nil
}

func (f *fakeGateway) UsageRanking(_ context.Context, flt aiproxy.AnalyticsFilter, by aiproxy.RankBy, _ aiproxy.RankOrder, _ int) ([]aiproxy.RankEntry, error) {
	f.asked(flt.GroupID)
	if by != aiproxy.RankModels {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "by model only")
	}
	return []aiproxy.RankEntry{{Model: "gpt-4o", Stats: aiproxy.UsageStats{Requests: 10, Usage: aiproxy.Usage{TotalTokens: 150}}}}, nil
}

func (f *fakeGateway) Models() []string { return []string{"claude-x", "gpt-4o", "secret-model"} }

func (f *fakeGateway) Channels(model string) []*aiproxy.Channel {
	sets := []string{aiproxy.DefaultSet}
	if model == "secret-model" {
		sets = []string{"vip"}
	}
	return []*aiproxy.Channel{{ID: 1, Sets: sets}}
}

func (f *fakeGateway) Effective(g *aiproxy.Group, model string) aiproxy.EffectiveModel {
	f.asked(g.ID)
	e := aiproxy.EffectiveModel{Model: model, RPM: 60}
	if model == "gpt-4o" {
		e.Pricing = &aiproxy.Pricing{Prices: aiproxy.Prices{Input: 2_500_000_000, Output: 10_000_000_000}}
	}
	return e
}

func (f *fakeGateway) Group(_ context.Context, id string) (*aiproxy.Group, error) {
	f.asked(id)
	switch id {
	case "acme":
		return &aiproxy.Group{ID: "acme", Enabled: true, AvailableSets: []string{aiproxy.DefaultSet}, Prepaid: true,
			Credit: 10 * aiproxy.AmountUnit, UsedAmount: 3 * aiproxy.AmountUnit, RequestCount: 42}, nil
	case "evil":
		return &aiproxy.Group{ID: "evil", AvailableSets: []string{"vip"}}, nil
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "no group %s", id)
}

var fakeTokens = []*aiproxy.Token{
	{ID: 1, GroupID: "acme", Name: "ci", Prefix: "sk-abcdefg", KeyHash: "HASH-OF-CI", Enabled: true, UsedAmount: aiproxy.AmountUnit,
		Quota: 5 * aiproxy.AmountUnit, Models: []string{"gpt-4o", "claude-x"}},
	{ID: 2, GroupID: "acme", Name: "old", Prefix: "sk-zzzzzzz", KeyHash: "HASH-OF-OLD"},
	{ID: 3, GroupID: "evil", Name: "evil-token", Prefix: "sk-evil123", KeyHash: "HASH-OF-EVIL", Enabled: true},
}

func (f *fakeGateway) Token(_ context.Context, id int64) (*aiproxy.Token, error) {
	f.mu.Lock()
	f.tokenIDs = append(f.tokenIDs, id)
	f.mu.Unlock()
	for _, t := range fakeTokens {
		if t.ID == id {
			return t, nil
		}
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "no token")
}

func (f *fakeGateway) Tokens(_ context.Context, group string) ([]*aiproxy.Token, error) {
	f.asked(group)
	var out []*aiproxy.Token
	for _, t := range fakeTokens {
		if group == "" || t.GroupID == group {
			out = append(out, t)
		}
	}
	return out, nil
}

func TestAIProxyTools(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 30, 20, 0, time.UTC)
	// Every call names another group in as many ways as it can; none may
	// be read.
	evil := map[string]any{"group": "evil", "groupId": "evil", "group_id": "evil", "token": 3, "tokenId": 3}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range evil {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		tool    string
		args    map[string]any
		want    []string // parts of the answer
		notWant []string
		check   func(t *testing.T, f *fakeGateway)
	}{
		{name: "usage by day", tool: "usage", args: with(nil),
			want: []string{`"group": "acme"`, `"requests": 10`, `"errors": 1`, `"totalTokens": 150`, `"cost": 0.5`, `"model": "gpt-4o"`,
				`"from": "2026-06-30T12:31:00Z"`, `"to": "2026-07-01T12:31:00Z"`},
			check: func(t *testing.T, f *fakeGateway) {
				if f.filters[0].TokenID != 0 {
					t.Errorf("group scope filtered token %d", f.filters[0].TokenID)
				}
			}},
		{name: "usage of the token over an hour", tool: "usage", args: with(map[string]any{"range": "hour", "scope": "token"}),
			want: []string{`"from": "2026-07-01T11:31:00Z"`},
			check: func(t *testing.T, f *fakeGateway) {
				if f.filters[0].TokenID != 1 {
					t.Errorf("token scope filtered token %d, want the caller's, 1", f.filters[0].TokenID)
				}
			}},
		{name: "usage bad range", tool: "usage", args: with(map[string]any{"range": "year"}), want: []string{"range must be hour, day, 7d or 30d"}},
		{name: "models", tool: "models", args: with(nil),
			want:    []string{`"model": "gpt-4o"`, `"inputPerMTok": 2.5`, `"outputPerMTok": 10`, `"model": "claude-x"`, `"priced": false`},
			notWant: []string{"secret-model"}},
		{name: "models search", tool: "models", args: with(map[string]any{"search": "CLAUDE"}), want: []string{"claude-x"}, notWant: []string{"gpt-4o"}},
		{name: "quota", tool: "quota", args: with(nil),
			want: []string{`"name": "ci"`, `"quota": 5`, `"remaining": 4`, `"id": "acme"`, `"balance": 7`, `"requests": 42`},
			check: func(t *testing.T, f *fakeGateway) {
				if len(f.tokenIDs) != 1 || f.tokenIDs[0] != 1 {
					t.Errorf("read tokens %v, want only the caller's, 1", f.tokenIDs)
				}
			}},
		{name: "tokens", tool: "tokens", args: with(nil),
			want:    []string{`"name": "ci"`, `"prefix": "sk-abcdefg"`, `"status": "enabled"`, `"current": true`, `"name": "old"`, `"status": "disabled"`},
			notWant: []string{"HASH", "evil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeGateway{}
			s := build(t, "aiproxy", Config{Deps: Deps{Analytics: f, Catalog: f, Groups: f, Tokens: f, Now: func() time.Time { return now }}})
			text, _ := call(t, s, Caller{GroupID: "acme", Token: fakeTokens[0]}, tt.tool, tt.args)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("the answer lacks %s:\n%s", w, text)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(text, w) {
					t.Errorf("the answer holds %s:\n%s", w, text)
				}
			}
			for _, g := range f.groups {
				if g != "acme" {
					t.Errorf("group %q was read, want only the caller's, acme", g)
				}
			}
			if !json.Valid([]byte(text)) && !strings.Contains(text, "must be") {
				t.Errorf("the answer is not JSON: %s", text)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestAIProxyToolsGuards(t *testing.T) {
	f := &fakeGateway{}
	tests := []struct {
		name    string
		deps    Deps
		caller  Caller
		tool    string
		wantErr string // in the tool error; "" for a call error
	}{
		{name: "no group", deps: Deps{Groups: f, Tokens: f}, caller: Caller{}, tool: "tokens"},
		{name: "token of another group", deps: Deps{Groups: f, Tokens: f}, caller: Caller{GroupID: "acme", Token: fakeTokens[2]},
			tool: "quota", wantErr: "not of your group"},
		{name: "usage not wired", caller: Caller{GroupID: "acme"}, tool: "usage", wantErr: "usage is not available"},
		{name: "models not wired", caller: Caller{GroupID: "acme"}, tool: "models", wantErr: "models is not available"},
		{name: "quota not wired", caller: Caller{GroupID: "acme"}, tool: "quota", wantErr: "quota is not available"},
		{name: "tokens not wired", caller: Caller{GroupID: "acme"}, tool: "tokens", wantErr: "tokens is not available"},
		{name: "unknown group", deps: Deps{Groups: f, Tokens: f}, caller: Caller{GroupID: "ghost"}, tool: "quota", wantErr: "quota: no group ghost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, "aiproxy", Config{Deps: tt.deps})
			if tt.wantErr == "" {
				if _, err := s.Call(context.Background(), tt.caller, toolRequest(tt.tool, nil)); aiproxy.ErrorCode(err) != aiproxy.EUNAUTHORIZED {
					t.Fatalf("got %v, want EUNAUTHORIZED", err)
				}
				return
			}
			text, isErr := call(t, s, tt.caller, tt.tool, nil)
			if !isErr || !strings.Contains(text, tt.wantErr) {
				t.Fatalf("got %q (isError %v), want a tool error with %q", text, isErr, tt.wantErr)
			}
		})
	}
}
