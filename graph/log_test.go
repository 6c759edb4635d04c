package graph_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

type logPage struct {
	Logs struct {
		Edges []struct {
			Cursor string
			Node   logNode
		}
		PageInfo struct {
			HasNextPage bool    `json:"hasNextPage"`
			EndCursor   *string `json:"endCursor"`
		} `json:"pageInfo"`
	}
}

type logNode struct {
	ID               string  `json:"id"`
	RequestID        string  `json:"requestId"`
	CreatedAt        string  `json:"createdAt"`
	Group            string  `json:"group"`
	TokenID          *string `json:"tokenId"`
	TokenName        string  `json:"tokenName"`
	ChannelID        *string `json:"channelId"`
	Model            string  `json:"model"`
	UpstreamModel    string  `json:"upstreamModel"`
	Endpoint         string  `json:"endpoint"`
	Stream           bool    `json:"stream"`
	StatusCode       int     `json:"statusCode"`
	PromptTokens     int     `json:"promptTokens"`
	CompletionTokens int     `json:"completionTokens"`
	CachedTokens     int     `json:"cachedTokens"`
	TotalTokens      int     `json:"totalTokens"`
	UsageCounted     bool    `json:"usageCounted"`
	Amount           float64 `json:"amount"`
	Unpriced         bool    `json:"unpriced"`
	TTFBMs           int     `json:"ttfbMs"`
	LatencyMs        int     `json:"latencyMs"`
	ClientIP         string  `json:"clientIp"`
	Error            *string `json:"error"`
	RequestBody      *string `json:"requestBody"`
	ResponseBody     *string `json:"responseBody"`
}

const logFields = `id requestId createdAt group tokenId tokenName channelId model upstreamModel endpoint stream statusCode
	promptTokens completionTokens cachedTokens totalTokens usageCounted amount unpriced ttfbMs latencyMs clientIp error requestBody responseBody`

// seedLogs records n logs, request-1 oldest, a minute apart: odd ones in
// group acme on model a, even ones in group beta on model b; every third
// failed.
func (a *api) seedLogs(tb testing.TB, n int) {
	tb.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	logs := make([]*aiproxy.Log, n)
	for i := 1; i <= n; i++ {
		l := &aiproxy.Log{
			RequestID:  fmt.Sprintf("request-%d", i),
			CreatedAt:  start.Add(time.Duration(i) * time.Minute),
			GroupID:    "beta",
			Model:      "b",
			StatusCode: 200,
		}
		if i%2 == 1 {
			l.GroupID, l.Model = "acme", "a"
		}
		if i%3 == 0 {
			l.StatusCode, l.Error = 502, "upstream failed"
		}
		logs[i-1] = l
	}
	a.record(tb, logs...)
}

// logs runs the logs query with the given arguments and returns the page
// and the numbers of the requests on it.
func (a *api) logs(tb testing.TB, args string) (logPage, string) {
	tb.Helper()
	if args != "" {
		args = "(" + args + ")"
	}
	var page logPage
	a.mustPost(tb, `{ logs`+args+` { edges { cursor node { requestId } } pageInfo { hasNextPage endCursor } } }`, &page)
	var ids []string
	for _, e := range page.Logs.Edges {
		ids = append(ids, strings.TrimPrefix(e.Node.RequestID, "request-"))
	}
	return page, strings.Join(ids, ",")
}

func TestLogsPagination(t *testing.T) {
	a := newAPI(t)
	a.seedLogs(t, 7)

	args := `first: 3`
	for _, want := range []struct {
		ids  string
		more bool
	}{{"7,6,5", true}, {"4,3,2", true}, {"1", false}} {
		page, ids := a.logs(t, args)
		if ids != want.ids || page.Logs.PageInfo.HasNextPage != want.more {
			t.Fatalf("logs(%s): ids %s more %v, want %s %v", args, ids, page.Logs.PageInfo.HasNextPage, want.ids, want.more)
		}
		edges := page.Logs.Edges
		end := page.Logs.PageInfo.EndCursor
		if end == nil || *end != edges[len(edges)-1].Cursor {
			t.Fatalf("endCursor %v, last cursor %q", end, edges[len(edges)-1].Cursor)
		}
		args = `first: 3, after: "` + *end + `"`
	}

	page, ids := a.logs(t, strings.TrimPrefix(args, "first: 3, "))
	if ids != "" || page.Logs.PageInfo.HasNextPage || page.Logs.PageInfo.EndCursor != nil || page.Logs.Edges == nil {
		t.Errorf("past the end: %+v", page.Logs)
	}
	if _, ids := a.logs(t, ``); ids != "7,6,5,4,3,2,1" {
		t.Errorf("without arguments: %s", ids)
	}
}

func TestLogsDefaultPageSize(t *testing.T) {
	a := newAPI(t)
	a.seedLogs(t, 55)
	page, ids := a.logs(t, ``)
	if len(page.Logs.Edges) != 50 || !page.Logs.PageInfo.HasNextPage || !strings.HasPrefix(ids, "55,54,") {
		t.Errorf("default page: %d logs, more %v", len(page.Logs.Edges), page.Logs.PageInfo.HasNextPage)
	}
	if page, _ := a.logs(t, `first: 500`); len(page.Logs.Edges) != 55 || page.Logs.PageInfo.HasNextPage {
		t.Errorf("first 500: %d logs, more %v", len(page.Logs.Edges), page.Logs.PageInfo.HasNextPage)
	}
}

func TestLogsFilter(t *testing.T) {
	a := newAPI(t)
	a.seedLogs(t, 7)
	tests := []struct {
		filter, want string
	}{
		{`group: "acme"`, "7,5,3,1"},
		{`model: "b"`, "6,4,2"},
		{`failed: true`, "6,3"},
		{`failed: false, group: "beta"`, "4,2"},
		{`requestId: "request-4"`, "4"},
		{`from: "2026-01-01T00:03:00Z", to: "2026-01-01T00:05:00Z"`, "4,3"},
		{`tokenId: "9"`, ""},
		{`channelId: "9"`, ""},
		{``, "7,6,5,4,3,2,1"},
	}
	for _, tt := range tests {
		if _, ids := a.logs(t, `filter: {`+tt.filter+`}`); ids != tt.want {
			t.Errorf("filter {%s}: %s, want %s", tt.filter, ids, tt.want)
		}
	}
}

func TestLogNode(t *testing.T) {
	a := newAPI(t)
	created := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)
	a.record(t, &aiproxy.Log{
		RequestID: "full", CreatedAt: created, GroupID: "acme", TokenID: 12, TokenName: "backend", ChannelID: 3,
		Model: "gpt-4o", UpstreamModel: "gpt-4o-2024-08-06", Endpoint: "/v1/chat/completions", Mode: aiproxy.ModeChat,
		Stream: true, StatusCode: 200,
		Usage:        aiproxy.Usage{PromptTokens: 100, CompletionTokens: 20, CachedTokens: 40, TotalTokens: 120},
		UsageCounted: true, Amount: 1_234_567_891, TTFB: 250*time.Millisecond + 900*time.Microsecond, Latency: 1500 * time.Millisecond,
		ClientIP: "10.1.2.3", RequestBody: `{"model":"gpt-4o"}`, ResponseBody: `{"id":"x"}`,
	}, &aiproxy.Log{RequestID: "bare", CreatedAt: created, GroupID: "acme", StatusCode: 401, Error: "invalid token", Unpriced: true})

	var page logPage
	a.mustPost(t, `{ logs { edges { node { `+logFields+` } } } }`, &page)
	if len(page.Logs.Edges) != 2 {
		t.Fatalf("edges %+v", page.Logs.Edges)
	}
	bare, full := page.Logs.Edges[0].Node, page.Logs.Edges[1].Node
	want := logNode{
		ID: full.ID, RequestID: "full", CreatedAt: "2026-03-04T05:06:07.000008Z", Group: "acme", TokenID: ptr("12"), TokenName: "backend",
		ChannelID: ptr("3"), Model: "gpt-4o", UpstreamModel: "gpt-4o-2024-08-06", Endpoint: "/v1/chat/completions", Stream: true,
		StatusCode: 200, PromptTokens: 100, CompletionTokens: 20, CachedTokens: 40, TotalTokens: 120, UsageCounted: true,
		Amount: 1.234567891, TTFBMs: 250, LatencyMs: 1500, ClientIP: "10.1.2.3",
		RequestBody: ptr(`{"model":"gpt-4o"}`), ResponseBody: ptr(`{"id":"x"}`),
	}
	if got, want := asJSON(t, full), asJSON(t, want); got != want {
		t.Errorf("full log\n got %s\nwant %s", got, want)
	}
	if bare.TokenID != nil || bare.ChannelID != nil || bare.RequestBody != nil || bare.ResponseBody != nil {
		t.Errorf("zero ids and empty bodies should be null: %s", asJSON(t, bare))
	}
	if bare.Error == nil || *bare.Error != "invalid token" || !bare.Unpriced || bare.StatusCode != 401 {
		t.Errorf("bare log %s", asJSON(t, bare))
	}
}

// asJSON shows v with its pointers followed, for comparing and printing.
func asJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestLogsErrors(t *testing.T) {
	a := newAPI(t)
	a.seedLogs(t, 3)
	notACursor := base64.RawURLEncoding.EncodeToString([]byte("abc"))
	tests := []struct {
		name, args, field string
	}{
		{"first 0", `first: 0`, "first"},
		{"first negative", `first: -1`, "first"},
		{"first too big", `first: 501`, "first"},
		{"after garbage", `after: "%%%"`, "after"},
		{"after not a cursor", `after: "` + notACursor + `"`, "after"},
		{"after zero", `after: "` + base64.RawURLEncoding.EncodeToString([]byte("0")) + `"`, "after"},
		{"token id", `filter: {tokenId: "x"}`, "tokenId"},
		{"channel id", `filter: {channelId: "1e3"}`, "channelId"},
		{"bad time", `filter: {from: "yesterday"}`, "from"},
		{"empty range", `filter: {from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z"}`, "to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, a.post(t, `{ logs(`+tt.args+`) { edges { cursor } } }`, nil), "INVALID", tt.field)
		})
	}
}
