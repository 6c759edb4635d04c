package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// BenchmarkMCPToolCall compares, in one run, a local fake API called
// directly with the same API called as an MCP tool through the wired
// gateway (an OPENAPI server on SQLite, auth, argument validation, limits,
// logs and billing on), over Streamable HTTP with one session. It reports
// calls/s for each.
func BenchmarkMCPToolCall(b *testing.B) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"city": "Oslo", "days": 2, "sky": "clear"}`)
	}))
	defer api.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	run := func(b *testing.B, req func() *http.Request) {
		start := time.Now()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Do(req())
				if err != nil {
					b.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(body, []byte("clear")) {
					b.Errorf("status %d: %s", resp.StatusCode, body)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	}
	b.Run("direct", func(b *testing.B) {
		run(b, func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, api.URL+"/forecast/Oslo?days=2", nil)
			r.Header.Set("Authorization", "Bearer upstream-token")
			return r
		})
	})
	b.Run("gateway", func(b *testing.B) {
		_, up := relaytest.Start(b)
		g := startGateway(b, testConfig(b, ""))
		key := setup(b, g.srv.URL, up.URL)
		var created struct{ CreateMCPServer struct{ ID string } }
		admin(b, g.srv.URL, `mutation($spec: String!, $base: String!) { createMCPServer(input: {name: "weather", kind: OPENAPI, scope: PUBLIC,
			allowPrivateNetwork: true, callPrice: 0.001, openapi: {spec: $spec, baseURL: $base, credentials: [{scheme: "bearer", value: "upstream-token"}]}}) { id } }`,
			map[string]any{"spec": weatherSpec, "base": api.URL}, &created)
		url := g.srv.URL + "/mcp/public/" + created.CreateMCPServer.ID
		init, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
		init.Header.Set("Authorization", "Bearer "+key)
		init.Header.Set("Content-Type", "application/json")
		init.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := client.Do(init)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sid := resp.Header.Get("Mcp-Session-Id")
		if resp.StatusCode != 200 || sid == "" {
			b.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
		}
		call, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call",
			"params": map[string]any{"name": "forecast", "arguments": map[string]any{"city": "Oslo", "days": 2}}})
		run(b, func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(call))
			r.Header.Set("Authorization", "Bearer "+key)
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Accept", "application/json, text/event-stream")
			r.Header.Set("Mcp-Session-Id", sid)
			r.Header.Set("Mcp-Protocol-Version", "2025-11-25")
			return r
		})
	})
}
