package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/store"
)

// TestAnalytics reads summaries through the API: totals, a series and a
// ranking as the admin sees them, and a group token held to its own
// group.
func TestAnalytics(t *testing.T) {
	a := newAPIWith(t, func(r *graph.Resolver) { r.AnalyticsService = r.LogService.(aiproxy.AnalyticsService) })
	a.createGroup(t, `id: "acme"`)
	a.createGroup(t, `id: "beta"`)
	_, acmeKey := a.createToken(t, `group: "acme", name: "own"`)

	at := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	z := store.NewSummarizer(a.svc, store.SummarizerOptions{})
	for i := range 30 {
		l := &aiproxy.Log{
			RequestID: fmt.Sprint("r", i), CreatedAt: at.Add(time.Duration(i) * time.Minute), GroupID: "acme", TokenID: 1, ChannelID: 7,
			Model: "m1", Mode: aiproxy.ModeChat, StatusCode: 200, Latency: 80 * time.Millisecond,
			Usage: aiproxy.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}, Amount: aiproxy.AmountUnit / 100,
			Cost: aiproxy.Cost{Input: aiproxy.AmountUnit / 100},
		}
		if i < 10 {
			l.GroupID, l.TokenID = "beta", 2
		}
		if i%10 == 9 {
			l.StatusCode, l.Error = http.StatusTooManyRequests, "slow down"
		}
		z.Record(l)
	}
	if err := z.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	from, to := at.Format(time.RFC3339), at.Add(time.Hour).Format(time.RFC3339)
	rng := fmt.Sprintf(`from: "%s", to: "%s"`, from, to)

	var tot struct {
		UsageTotals struct {
			Requests, Errors429, TotalTokens int
			Cost, P50LatencyMs               float64
		}
	}
	a.mustPost(t, `{ usageTotals(filter: {`+rng+`}) { requests errors429 totalTokens cost p50LatencyMs } }`, &tot)
	if got := tot.UsageTotals; got.Requests != 30 || got.Errors429 != 3 || got.TotalTokens != 450 || got.Cost < 0.2999 || got.Cost > 0.3001 || got.P50LatencyMs <= 50 || got.P50LatencyMs > 100 {
		t.Errorf("totals %+v, want 30 requests, 3 429s, 450 tokens, $0.30, p50 in (50, 100] ms", got)
	}

	var rank struct {
		UsageRanking []struct {
			Group string
			Stats struct{ Requests int }
		}
	}
	a.mustPost(t, `{ usageRanking(filter: {`+rng+`}, by: GROUP, order: REQUESTS) { group stats { requests } } }`, &rank)
	if r := rank.UsageRanking; len(r) != 2 || r[0].Group != "acme" || r[0].Stats.Requests != 20 || r[1].Group != "beta" || r[1].Stats.Requests != 10 {
		t.Errorf("ranking %+v", r)
	}

	var series struct {
		UsageSeries []struct {
			Start string
			Stats struct{ Requests int }
		}
	}
	a.mustPost(t, `{ usageSeries(filter: {group: "acme", `+rng+`}, granularity: MINUTE) { start stats { requests } } }`, &series)
	if s := series.UsageSeries; len(s) != 60 || s[10].Stats.Requests != 1 || s[9].Stats.Requests != 0 || s[10].Start != at.Add(10*time.Minute).Format(time.RFC3339) {
		t.Errorf("series of %d points, %+v", len(s), s)
	}

	// A group token: its own group whatever it asks, never another's,
	// never the channels.
	for _, tc := range []struct {
		query, code string
		requests    int
	}{
		{`{ usageTotals(filter: {` + rng + `}) { requests } }`, "", 20},
		{`{ usageTotals(filter: {group: "acme", ` + rng + `}) { requests } }`, "", 20},
		{`{ usageTotals(filter: {group: "beta", ` + rng + `}) { requests } }`, "FORBIDDEN", 0},
		{`{ channelStats(filter: {` + rng + `}) { channelId } }`, "FORBIDDEN", 0},
	} {
		w := a.do(http.MethodPost, "/graphql", gqlBody(t, tc.query), map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + acmeKey})
		ans := decodeAnswer(t, w.Body.String())
		if tc.code != "" {
			if len(ans.Errors) != 1 || ans.Errors[0].Extensions["code"] != tc.code {
				t.Errorf("%s: %s, want %s", tc.query, w.Body, tc.code)
			}
			continue
		}
		var got struct{ UsageTotals struct{ Requests int } }
		if decodeData(t, ans.Data, &got); len(ans.Errors) != 0 || got.UsageTotals.Requests != tc.requests {
			t.Errorf("%s: %s, want %d requests", tc.query, w.Body, tc.requests)
		}
	}
}
