package mcp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/mcp"
	"github.com/aiproxy/aiproxy/mcp/mcptest"
)

// BenchmarkToolCall measures tools/call through the gateway over
// Streamable HTTP (one session, parallel POSTs): to a fake toolset, and
// to a toolset that calls a fake HTTP API in httptest. It reports
// calls/s.
func BenchmarkToolCall(b *testing.B) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"forecast":"sunny"}`)
	}))
	defer api.Close()
	apiClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	viaHTTP := func(s *aiproxy.MCPServer, v *aiproxy.MCPGroupValues) (*mcptest.Toolset, error) {
		return &mcptest.Toolset{List: []mcptest.Tool{{
			Tool: mcpgo.NewTool("forecast"),
			Func: func(ctx context.Context, _ mcp.Caller, _ mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL, nil)
				resp, err := apiClient.Do(req)
				if err != nil {
					return nil, aiproxy.Errorf(aiproxy.EUPSTREAM, "api: %v", err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return mcpgo.NewToolResultText(string(body)), nil
			},
		}}}, nil
	}
	for _, bc := range []struct {
		name  string
		build func(*aiproxy.MCPServer, *aiproxy.MCPGroupValues) (*mcptest.Toolset, error)
	}{
		{"fake", toolsetOf},
		{"http-api", viaHTTP},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, func(g *mcp.Gateway) {
				g.Builders[aiproxy.MCPEmbedded] = &mcptest.Builder{Func: bc.build}
				g.Logs = discard{}
			})
			r := rawClient{t: b, e: e, path: "/mcp/public/1", key: keyGood}
			sid, v := r.initialize(mcpgo.ProtocolVersion20251125)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"forecast","arguments":{"city":"Paris"}}}`
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, e.url("/mcp/public/1"), strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+keyGood)
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Mcp-Session-Id", sid)
					req.Header.Set("Mcp-Protocol-Version", v)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
		})
	}
}

// discard is a LogRecorder that keeps nothing.
type discard struct{}

func (discard) Record(*aiproxy.Log) {}
