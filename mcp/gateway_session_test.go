package mcp_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/mcp"
	"github.com/aiproxy/aiproxy/mcp/mcptest"
)

// TestGatewaySessionScope: a session is usable only by its token, on its
// endpoint, with its transport.
func TestGatewaySessionScope(t *testing.T) {
	e := newEnv(t)
	owner := rawClient{t: t, e: e, path: "/mcp/public/1", key: keyGood}
	sid, v := owner.initialize(mcpgo.ProtocolVersion20251125)
	ping := `{"jsonrpc":"2.0","id":9,"method":"ping"}`
	tests := []struct {
		name string
		c    rawClient
		want int
	}{
		{"owner", owner, 200},
		{"another token of the group", rawClient{t: t, e: e, path: "/mcp/public/1", key: keyLimited}, 404},
		{"another endpoint", rawClient{t: t, e: e, path: "/mcp/public/2", key: keyGood}, 404},
		{"the aggregate endpoint", rawClient{t: t, e: e, path: "/mcp", key: keyGood}, 404},
		{"no key", rawClient{t: t, e: e, path: "/mcp/public/1", key: ""}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if st, _ := tt.c.post(sid, v, ping); st != tt.want {
				t.Errorf("status %d, want %d", st, tt.want)
			}
		})
	}
	t.Run("as an SSE session", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url("/mcp/public/1/message?sessionId="+sid), strings.NewReader(ping))
		req.Header.Set("Authorization", "Bearer "+keyGood)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})
}

// TestGatewayAggregateRouting: on /mcp a name is routed to the server
// with the longest name that prefixes it, so that server names holding
// the separator still work.
func TestGatewayAggregateRouting(t *testing.T) {
	e := newEnv(t)
	e.servers.Put(&aiproxy.MCPServer{ID: 8, Name: "a", Kind: aiproxy.MCPEmbedded, Scope: aiproxy.MCPPublic, Enabled: true})
	s := mustConnect(t, clientKinds[2], e, "/mcp", keyGood, "")
	ctx := context.Background()
	tests := []struct{ name, want string }{
		{"a__b__secret", "a__b/secret by g1"},
		{"a__secret", "a/secret by g1"},
		{"private__c", "private/c by g1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr, err := s.call(ctx, tt.name, nil)
			if err != nil || isErr || !strings.HasPrefix(text, tt.want) {
				t.Errorf("%q %v %v, want %q", text, isErr, err, tt.want)
			}
		})
	}
	if l := e.mem.Logs()[0]; l.Model != "mcp/a__b/secret" {
		t.Errorf("logged model %q", l.Model)
	}
}

// TestGatewayReplacedToolsetInUse: a toolset replaced while a call runs
// on it is closed only once the call is done.
func TestGatewayReplacedToolsetInUse(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	slow := &mcptest.Builder{Func: func(s *aiproxy.MCPServer, v *aiproxy.MCPGroupValues) (*mcptest.Toolset, error) {
		return &mcptest.Toolset{List: []mcptest.Tool{{Tool: mcpgo.NewTool("slow"), Func: func(ctx context.Context, _ mcp.Caller, _ mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			select {
			case started <- struct{}{}:
				<-finish
			default:
			}
			return mcpgo.NewToolResultText("done"), nil
		}}}}, nil
	}}
	var once sync.Once
	release := func() { once.Do(func() { close(finish) }) }
	e := newEnv(t, func(g *mcp.Gateway) { g.Builders[aiproxy.MCPEmbedded] = slow })
	t.Cleanup(release) // registered after newEnv's, so it runs first: no call is left blocked
	s := mustConnect(t, clientKinds[0], e, "/mcp/public/2", keyGood, "")
	done := make(chan error, 1)
	go func() {
		_, _, err := s.call(context.Background(), "slow", nil)
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("the first call ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the first call did not start")
	}
	changed := *testServers()[1]
	changed.UpdatedAt = time.Now().Add(time.Minute)
	e.servers.Put(&changed)
	if text, _, err := s.call(context.Background(), "slow", nil); err != nil || text != "done" {
		t.Fatalf("call on the new toolset: %q %v", text, err)
	}
	built := slow.Built()
	time.Sleep(50 * time.Millisecond)
	if len(built) != 2 || built[0].Closed() != 0 {
		t.Fatalf("%d built; the old one closed %d times while in use", len(built), built[0].Closed())
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for built[0].Closed() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the old toolset was not closed after its call")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGatewayCloseEndsStreams: Close ends the open SSE streams, as a
// shutdown needs.
func TestGatewayCloseEndsStreams(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url("/mcp/sse"), nil)
	req.Header.Set("Authorization", "Bearer "+keyGood)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := readEvents(resp.Body)
	if ev := <-events; ev.name != "endpoint" {
		t.Fatalf("first event %+v", ev)
	}
	e.g.Close()
	for range events {
	}
	if ctx.Err() != nil {
		t.Fatal("the stream did not end on Close")
	}
}
