package graph_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// fullLogNode is a Log with every field the schema has.
type fullLogNode struct {
	ID                    string           `json:"id"`
	RequestID             string           `json:"requestId"`
	CreatedAt             string           `json:"createdAt"`
	Group                 string           `json:"group"`
	TokenID               *string          `json:"tokenId"`
	TokenName             string           `json:"tokenName"`
	ChannelID             *string          `json:"channelId"`
	Model                 string           `json:"model"`
	UpstreamModel         string           `json:"upstreamModel"`
	Endpoint              string           `json:"endpoint"`
	ClientProtocol        string           `json:"clientProtocol"`
	ChannelProtocol       *string          `json:"channelProtocol"`
	Stream                bool             `json:"stream"`
	StatusCode            int              `json:"statusCode"`
	PromptTokens          int              `json:"promptTokens"`
	CompletionTokens      int              `json:"completionTokens"`
	CachedTokens          int              `json:"cachedTokens"`
	CacheCreationTokens   int              `json:"cacheCreationTokens"`
	ReasoningTokens       int              `json:"reasoningTokens"`
	TotalTokens           int              `json:"totalTokens"`
	UsageCounted          bool             `json:"usageCounted"`
	Amount                float64          `json:"amount"`
	Cost                  logCostNode      `json:"cost"`
	Unpriced              bool             `json:"unpriced"`
	TTFBMs                int              `json:"ttfbMs"`
	LatencyMs             int              `json:"latencyMs"`
	ClientIP              string           `json:"clientIp"`
	Error                 *string          `json:"error"`
	UpstreamRequestID     *string          `json:"upstreamRequestId"`
	User                  *string          `json:"user"`
	Metadata              *string          `json:"metadata"`
	RequestBody           *string          `json:"requestBody"`
	ResponseBody          *string          `json:"responseBody"`
	RequestBodyTruncated  bool             `json:"requestBodyTruncated"`
	ResponseBodyTruncated bool             `json:"responseBodyTruncated"`
	Attempts              []logAttemptNode `json:"attempts"`
}

type logCostNode struct {
	Input, CachedInput, CacheWrite, CacheWrite1h, ImageInput, AudioInput float64
	Output, Reasoning, ImageOutput, AudioOutput, Request                 float64
}

type logAttemptNode struct {
	ChannelID string  `json:"channelId"`
	Status    *int    `json:"status"`
	Error     *string `json:"error"`
	LatencyMs int     `json:"latencyMs"`
}

// fullLogFields selects every field of Log; bodies is the detail part,
// which logAdded never carries.
const (
	fullLogFields = `id requestId createdAt group tokenId tokenName channelId model upstreamModel endpoint clientProtocol channelProtocol
	stream statusCode promptTokens completionTokens cachedTokens cacheCreationTokens reasoningTokens totalTokens usageCounted amount unpriced
	cost { input cachedInput cacheWrite cacheWrite1h imageInput audioInput output reasoning imageOutput audioOutput request }
	ttfbMs latencyMs clientIp error upstreamRequestId user metadata attempts { channelId status error latencyMs }`
	bodyFields = `requestBody responseBody requestBodyTruncated responseBodyTruncated`
)

// fieldLogs returns two logs using every field: acme's converted
// Anthropic request that a second channel answered after a first one
// failed, its bodies cut; and beta's failed OpenAI request, with none of
// the optional fields and its bodies whole.
func fieldLogs(created time.Time) (acme, beta *aiproxy.Log) {
	acme = &aiproxy.Log{
		RequestID: fmt.Sprintf("fields-acme-%d", created.UnixNano()), CreatedAt: created, GroupID: "acme", TokenID: 12, TokenName: "backend",
		ChannelID: 5, Model: "claude-x", UpstreamModel: "gpt-4o-2024-08-06", Endpoint: "/v1/messages", Mode: aiproxy.ModeChat,
		ClientProtocol: aiproxy.ProtocolAnthropic, ChannelProtocol: aiproxy.ProtocolOpenAI, Stream: true, StatusCode: 200,
		Usage: aiproxy.Usage{PromptTokens: 100, CompletionTokens: 30, CachedTokens: 40, CacheCreationTokens: 10, ReasoningTokens: 12,
			TotalTokens: 130, Requests: 1},
		Cost:   aiproxy.Cost{Input: 500_000_000, CachedInput: 20_000_000, CacheWrite: 30_000_000, Output: 600_000_000, Reasoning: 84_567_891},
		Amount: 1_234_567_891, TTFB: 250*time.Millisecond + 900*time.Microsecond, Latency: 1500 * time.Millisecond, ClientIP: "10.1.2.3",
		UpstreamRequestID: "req_upstream_123", User: "user-42", Metadata: `{"user_id":"user-42","trace":"t-1"}`,
		RequestBody: `{"model":"claude-x","messages":[`, ResponseBody: `{"id":"msg_1","content":[`,
		RequestBodyTruncated: true, ResponseBodyTruncated: true,
		Attempts: []aiproxy.LogAttempt{
			{ChannelID: 3, Status: 502, Error: "upstream 502: bad gateway", Latency: 120 * time.Millisecond},
			{ChannelID: 5, Status: 200, Latency: 80*time.Millisecond + 700*time.Microsecond},
		},
	}
	beta = &aiproxy.Log{
		RequestID: fmt.Sprintf("fields-beta-%d", created.UnixNano()), CreatedAt: created.Add(time.Second), GroupID: "beta", TokenID: 13,
		TokenName: "other", Model: "gpt-4o-mini", Endpoint: "/v1/chat/completions", Mode: aiproxy.ModeChat,
		ClientProtocol: aiproxy.ProtocolOpenAI, StatusCode: 502, Error: "every channel failed", Unpriced: true, UsageCounted: true,
		Usage:       aiproxy.Usage{PromptTokens: 7, TotalTokens: 7},
		RequestBody: `{"model":"gpt-4o-mini"}`, ResponseBody: `{"error":{"message":"every channel failed"}}`,
		Attempts: []aiproxy.LogAttempt{{ChannelID: 9, Error: "dial tcp: connection refused", Latency: 3 * time.Millisecond}},
	}
	return acme, beta
}

// TestLogFields records two logs using every Log field (attempts, usage
// and cost components, upstream request id, user, metadata, protocols,
// bodies with their truncated flags), reads them back through the logs
// query, all fields selected, and checks each; a group token may not read
// the logs query at all, and its logAdded subscription gets its own
// group's logs only, with the same fields (bodies and metadata excepted).
func TestLogFields(t *testing.T) {
	a := newLiveAPI(t, nil)
	a.createGroup(t, `id: "acme"`)
	a.createGroup(t, `id: "beta"`)
	_, acmeKey := a.createToken(t, `group: "acme", name: "backend"`)

	created := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)
	acme, beta := fieldLogs(created)
	a.record(t, acme, beta)

	var page struct {
		Logs struct {
			Edges []struct{ Node fullLogNode }
		}
	}
	a.mustPost(t, `{ logs { edges { node { `+fullLogFields+` `+bodyFields+` } } } }`, &page)
	if len(page.Logs.Edges) != 2 {
		t.Fatalf("%d logs, want 2", len(page.Logs.Edges))
	}
	gotBeta, gotAcme := page.Logs.Edges[0].Node, page.Logs.Edges[1].Node
	wantAcme := fullLogNode{
		ID: gotAcme.ID, RequestID: acme.RequestID, CreatedAt: "2026-03-04T05:06:07.000008Z", Group: "acme", TokenID: ptr("12"),
		TokenName: "backend", ChannelID: ptr("5"), Model: "claude-x", UpstreamModel: "gpt-4o-2024-08-06", Endpoint: "/v1/messages",
		ClientProtocol: "ANTHROPIC", ChannelProtocol: ptr("OPENAI"), Stream: true, StatusCode: 200,
		PromptTokens: 100, CompletionTokens: 30, CachedTokens: 40, CacheCreationTokens: 10, ReasoningTokens: 12, TotalTokens: 130,
		Amount: 1.234567891, TTFBMs: 250, LatencyMs: 1500, ClientIP: "10.1.2.3",
		Cost:              logCostNode{Input: 0.5, CachedInput: 0.02, CacheWrite: 0.03, Output: 0.6, Reasoning: 0.084567891},
		UpstreamRequestID: ptr("req_upstream_123"), User: ptr("user-42"), Metadata: ptr(`{"user_id":"user-42","trace":"t-1"}`),
		RequestBody: ptr(acme.RequestBody), ResponseBody: ptr(acme.ResponseBody), RequestBodyTruncated: true, ResponseBodyTruncated: true,
		Attempts: []logAttemptNode{
			{ChannelID: "3", Status: ptr(502), Error: ptr("upstream 502: bad gateway"), LatencyMs: 120},
			{ChannelID: "5", Status: ptr(200), LatencyMs: 80},
		},
	}
	wantBeta := fullLogNode{
		ID: gotBeta.ID, RequestID: beta.RequestID, CreatedAt: "2026-03-04T05:06:08.000008Z", Group: "beta", TokenID: ptr("13"),
		TokenName: "other", Model: "gpt-4o-mini", Endpoint: "/v1/chat/completions", ClientProtocol: "OPENAI", StatusCode: 502,
		PromptTokens: 7, TotalTokens: 7, UsageCounted: true, Unpriced: true, Error: ptr("every channel failed"),
		RequestBody: ptr(beta.RequestBody), ResponseBody: ptr(beta.ResponseBody),
		Attempts: []logAttemptNode{{ChannelID: "9", Error: ptr("dial tcp: connection refused"), LatencyMs: 3}},
	}
	if gotAcme.ID == "" || gotAcme.ID == gotBeta.ID {
		t.Errorf("ids %q and %q", gotAcme.ID, gotBeta.ID)
	}
	for _, tt := range []struct {
		name      string
		got, want fullLogNode
	}{{"acme", gotAcme, wantAcme}, {"beta", gotBeta, wantBeta}} {
		if got, want := asJSON(t, tt.got), asJSON(t, tt.want); got != want {
			t.Errorf("%s log\n got %s\nwant %s", tt.name, got, want)
		}
	}
	// Without the body fields, the same logs (the detail table is not read).
	var bare struct {
		Logs struct {
			Edges []struct{ Node fullLogNode }
		}
	}
	a.mustPost(t, `{ logs(filter: {group: "acme"}) { edges { node { `+fullLogFields+` } } } }`, &bare)
	if len(bare.Logs.Edges) != 1 {
		t.Fatalf("acme's logs: %d, want 1", len(bare.Logs.Edges))
	}
	noBodies := wantAcme
	noBodies.RequestBody, noBodies.ResponseBody, noBodies.RequestBodyTruncated, noBodies.ResponseBodyTruncated = nil, nil, false, false
	if got, want := asJSON(t, bare.Logs.Edges[0].Node), asJSON(t, noBodies); got != want {
		t.Errorf("acme log without bodies\n got %s\nwant %s", got, want)
	}

	// A group token may not read the logs query, for its group or any.
	for _, q := range []string{`{ logs { edges { node { requestId } } } }`, `{ logs(filter: {group: "acme"}) { edges { node { requestId } } } }`} {
		w := a.do(http.MethodPost, "/graphql", gqlBody(t, q), map[string]string{"Authorization": "Bearer " + acmeKey, "Content-Type": "application/json"})
		ans := decodeAnswer(t, w.Body.String())
		wantError(t, ans.Errors, "FORBIDDEN", "")
		if contains(string(ans.Data), "fields-") {
			t.Errorf("%s as a group token: rows in %s", q, ans.Data)
		}
	}

	// Its logAdded subscription sees its group's logs only, every field
	// but the bodies and the metadata (the live hub strips both, see
	// store/live.go) and the row id (the request id, as the row's is
	// assigned only when written).
	ws := a.connect(t, acmeKey)
	ws.subscribe("own", `subscription { logAdded { `+fullLogFields+` `+bodyFields+` } }`)
	waitSubscribers(t, a.hub, 1)
	liveAcme, liveBeta := fieldLogs(time.Now().UTC().Truncate(time.Microsecond))
	a.hub.Record(liveBeta)
	a.hub.Record(liveAcme)
	a.hub.Record(liveBeta)
	var got struct{ LogAdded fullLogNode }
	ws.next("own", &got)
	want := noBodies
	want.Metadata = nil
	want.ID, want.RequestID, want.CreatedAt = liveAcme.RequestID, liveAcme.RequestID, liveAcme.CreatedAt.Format("2006-01-02T15:04:05.999999Z07:00")
	if got, want := asJSON(t, got.LogAdded), asJSON(t, want); got != want {
		t.Errorf("logAdded as acme's token\n got %s\nwant %s", got, want)
	}
	a.hub.Record(liveAcme) // a marker: the next event must be it, not beta's
	ws.next("own", &got)
	if got.LogAdded.RequestID != liveAcme.RequestID || got.LogAdded.Group != "acme" {
		t.Errorf("a group token's logAdded got %s of %s", got.LogAdded.RequestID, got.LogAdded.Group)
	}
}
