package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
)

func TestAlertHistoryQuery(t *testing.T) {
	h := &history{}
	a := newAPIWith(t, func(r *graph.Resolver) { r.AlertHistory = h })
	h.AlertHistory = a.svc // the store the API was built on
	ctx := context.Background()
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, al := range []aiproxy.Alert{
		{Kind: aiproxy.AlertBreakerOpen, Severity: aiproxy.SeverityWarning, Key: "breaker:1:m", Title: "first", ChannelID: 1, Model: "m", At: at},
		{Kind: aiproxy.AlertGroupBalance, Severity: aiproxy.SeverityWarning, Title: "second", GroupID: "acme", At: at},
		{Kind: aiproxy.AlertBreakerOpen, Severity: aiproxy.SeverityCritical, Key: "breaker:2:m", Title: "third", ChannelID: 2, Model: "m", At: at},
	} {
		if err := a.svc.RecordAlert(ctx, &aiproxy.AlertRecord{Alert: al, Delivered: true}); err != nil {
			t.Fatal(err)
		}
	}
	type page struct {
		Alerts struct {
			Edges []struct {
				Node struct {
					Kind, Severity, Key, Title string
					ChannelID                  *string
					Group, Model               *string
					Delivered                  bool
					At                         string
				}
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
	}
	const q = `query($kind: String, $after: String) { alerts(kind: $kind, first: 1, after: $after) {
		edges { node { kind severity key title channelId group model delivered at } } pageInfo { hasNextPage endCursor } } }`
	var p1 page
	a.mustPost(t, q, &p1, client.Var("kind", "breaker_open"))
	if len(p1.Alerts.Edges) != 1 || !p1.Alerts.PageInfo.HasNextPage || p1.Alerts.PageInfo.EndCursor == nil {
		t.Fatalf("first page %+v", p1)
	}
	if n := p1.Alerts.Edges[0].Node; n.Title != "third" || n.Severity != "critical" || n.Key != "breaker:2:m" || n.ChannelID == nil || *n.ChannelID != "2" || n.Group != nil || n.At != at.Format(time.RFC3339) || !n.Delivered {
		t.Errorf("first node %+v", n)
	}
	var p2 page
	a.mustPost(t, q, &p2, client.Var("kind", "breaker_open"), client.Var("after", *p1.Alerts.PageInfo.EndCursor))
	if len(p2.Alerts.Edges) != 1 || p2.Alerts.PageInfo.HasNextPage || p2.Alerts.Edges[0].Node.Title != "first" {
		t.Errorf("second page %+v", p2)
	}
	var all page
	a.mustPost(t, `{ alerts { edges { node { title group } } } }`, &all)
	if len(all.Alerts.Edges) != 3 || all.Alerts.Edges[1].Node.Group == nil || *all.Alerts.Edges[1].Node.Group != "acme" {
		t.Errorf("all %+v", all)
	}
	wantError(t, a.post(t, `{ alerts(first: 0) { pageInfo { hasNextPage } } }`, nil), "INVALID", "first")
}

// history is an AlertHistory set once the API's store exists.
type history struct{ aiproxy.AlertHistory }
