package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/store"
)

// liveGateway serves the GraphQL admin API, with the admin key "admin",
// on a live hub the test records logs to.
func liveGateway(tb testing.TB) (*store.LiveHub, string) {
	tb.Helper()
	hub := store.NewLiveHub(nil, store.LiveOptions{})
	tb.Cleanup(func() { hub.Close() })
	srv := httptest.NewServer(graph.NewHandler(graph.Config{AdminKey: "admin", Resolver: graph.Resolver{Live: hub}}))
	tb.Cleanup(srv.Close)
	return hub, srv.URL
}

// The live subscriber counts every logAdded event and the liveMetrics
// events of its intervals, and refuses to start without the subscriptions.
func TestLiveSubscriber(t *testing.T) {
	hub, url := liveGateway(t)
	ctx := context.Background()
	for _, key := range []string{"", "wrong"} {
		if s, err := subscribeLive(ctx, url, key); err == nil || !strings.Contains(err.Error(), "live:") {
			if s != nil {
				s.Close(0, 0)
			}
			t.Errorf("key %q: subscribed (%v), want an error", key, err)
		}
	}
	if _, err := subscribeLive(ctx, strings.Replace(url, "127.0.0.1", "127.0.0.2", 1)+"/nowhere", "admin"); err == nil {
		t.Error("no gateway: subscribed")
	}

	s, err := subscribeLive(ctx, url, "admin")
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		hub.Record(&aiproxy.Log{RequestID: fmt.Sprintf("r%d", i), CreatedAt: time.Now(), GroupID: "g", Model: "m", StatusCode: 200})
	}
	res := s.Close(5*time.Second, n)
	if res.LogEvents != n || res.GatewayRequests != n || res.MetricsEvents < 2 || res.MetricsRequests != n || res.Ended != "" {
		t.Errorf("result %+v, want %d logs and requests and at least 2 metrics events", res, n)
	}
}
