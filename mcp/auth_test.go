package mcp_test

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/mcp"
)

// TestGatewayTrustedProxies: X-Forwarded-For is believed only from a
// trusted proxy, and then only up to the first hop that is not one, as
// the relay decides; the address found is the one the token's subnets
// are checked against and the one logged.
func TestGatewayTrustedProxies(t *testing.T) {
	tests := []struct {
		trusted []string
		xff     string
		want    string
	}{
		{nil, "203.0.113.9", "127.0.0.1"},
		{[]string{"127.0.0.0/8"}, "203.0.113.9", "203.0.113.9"},
		{[]string{"127.0.0.0/8"}, "198.51.100.1, 203.0.113.9", "203.0.113.9"},
		{[]string{"127.0.0.0/8", "10.0.0.0/8"}, "198.51.100.1, 203.0.113.9, 10.1.2.3", "203.0.113.9"},
		{[]string{"127.0.0.0/8"}, "garbage", "127.0.0.1"},
		{[]string{"127.0.0.0/8"}, "10.9.9.9", "10.9.9.9"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.trusted, ",")+"/"+tt.xff, func(t *testing.T) {
			e := newEnv(t, func(g *mcp.Gateway) {
				for _, p := range tt.trusted {
					g.TrustedProxies = append(g.TrustedProxies, netip.MustParsePrefix(p))
				}
			})
			r := rawClient{t: t, e: e, path: "/mcp/public/1", key: keyGood, header: http.Header{"X-Forwarded-For": {tt.xff}}}
			sid, v := r.initialize("2025-06-18")
			r.post(sid, v, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"forecast"}}`)
			if l := e.mem.Logs(); len(l) != 1 || l[0].ClientIP != tt.want {
				t.Fatalf("logs %v, want one from %s", l, tt.want)
			}
			// The subnet token (10.0.0.0/8) is let in only from there.
			s := rawClient{t: t, e: e, path: "/mcp", key: keySubnet, header: r.header}
			st, _, _ := s.send(http.MethodPost, "", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`)
			if want := map[bool]int{true: 200, false: 403}[strings.HasPrefix(tt.want, "10.")]; st != want {
				t.Errorf("subnet token: %d, want %d", st, want)
			}
		})
	}
}

// TestGatewaySSEQueryKey: a stream opened with ?key= names a message
// endpoint with the key, so that a client that cannot set headers can
// post to it.
func TestGatewaySSEQueryKey(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url("/mcp/group/3/sse?key="+keyGood), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := readEvents(resp.Body)
	ev := <-events
	u, err := url.Parse(ev.data)
	if ev.name != "endpoint" || err != nil || u.Path != "/mcp/group/3/message" || u.Query().Get("key") != keyGood || u.Query().Get("sessionId") == "" {
		t.Fatalf("endpoint event %+v", ev)
	}
	post, _ := http.NewRequest(http.MethodPost, e.url(ev.data), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	pr, err := http.DefaultClient.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	pr.Body.Close()
	if pr.StatusCode != 202 {
		t.Fatalf("post: %d", pr.StatusCode)
	}
	if ev := <-events; ev.name != "message" || !strings.Contains(ev.data, `"id":1`) {
		t.Errorf("answer %+v", ev)
	}
}
