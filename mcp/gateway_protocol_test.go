package mcp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// rawClient posts JSON-RPC by hand, for what the SDKs do not let a test
// choose.
type rawClient struct {
	t    testing.TB
	e    *env
	path string
	key  string
	// header is added to every request.
	header http.Header
}

// do sends one request and returns its status.
func (c rawClient) do(method, sid, version, body string) int {
	st, _, _ := c.send(method, sid, version, body)
	return st
}

func (c rawClient) send(method, sid, version, body string) (int, http.Header, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.e.url(c.path), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range c.header {
		req.Header[k] = v
	}
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	if version != "" {
		req.Header.Set("Mcp-Protocol-Version", version)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// post sends a POST and decodes its JSON-RPC answer (nil for none).
func (c rawClient) post(sid, version, body string) (int, map[string]any) {
	c.t.Helper()
	st, _, b := c.send(http.MethodPost, sid, version, body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return st, m
}

// initialize opens a session asking for version; it returns the session
// id and the negotiated version.
func (c rawClient) initialize(version string) (string, string) {
	c.t.Helper()
	st, h, b := c.send(http.MethodPost, "", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+version+`","gatewayCapabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if st != 200 {
		c.t.Fatalf("initialize: %d %s", st, b)
	}
	var m struct {
		Result mcpgo.InitializeResult `json:"result"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("initialize answer %s: %v", b, err)
	}
	sid := h.Get("Mcp-Session-Id")
	if sid == "" {
		c.t.Fatal("initialize: no Mcp-Session-Id")
	}
	if st := c.do(http.MethodPost, sid, m.Result.ProtocolVersion, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); st != 202 {
		c.t.Fatalf("notifications/initialized: %d, want 202", st)
	}
	return sid, m.Result.ProtocolVersion
}

// TestGatewayRevisions speaks each revision by hand over Streamable
// HTTP: initialize (with MCP-Protocol-Version on later requests from
// 2025-06-18), or for 2026-07-28 the sessionless server/discover with
// _meta, then tools/list and tools/call.
func TestGatewayRevisions(t *testing.T) {
	e := newEnv(t)
	c := rawClient{t: t, e: e, path: "/mcp", key: keyGood}
	tests := []struct {
		ask, want string
		header    bool // later requests carry MCP-Protocol-Version
	}{
		{mcpgo.ProtocolVersion20241105, mcpgo.ProtocolVersion20241105, false},
		{mcpgo.ProtocolVersion20250326, mcpgo.ProtocolVersion20250326, false},
		{mcpgo.ProtocolVersion20250618, mcpgo.ProtocolVersion20250618, true},
		{mcpgo.ProtocolVersion20251125, mcpgo.ProtocolVersion20251125, true},
		{"2099-01-01", mcpgo.ProtocolVersion20251125, true},
	}
	for _, tt := range tests {
		t.Run(tt.ask, func(t *testing.T) {
			sid, got := c.initialize(tt.ask)
			if got != tt.want {
				t.Fatalf("negotiated %q, want %q", got, tt.want)
			}
			hv := ""
			if tt.header {
				hv = got
			}
			st, m := c.post(sid, hv, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
			if st != 200 || !strings.Contains(toJSON(m), "weather__forecast") {
				t.Fatalf("list: %d %v", st, m)
			}
			st, m = c.post(sid, hv, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"weather__forecast","arguments":{"city":"Rome"}}}`)
			if st != 200 || !strings.Contains(toJSON(m), "weather/forecast by g1: Rome") {
				t.Fatalf("call: %d %v", st, m)
			}
			if tt.want == mcpgo.ProtocolVersion20250326 {
				st, _, b := c.send(http.MethodPost, sid, "", `[{"jsonrpc":"2.0","id":4,"method":"ping"},{"jsonrpc":"2.0","id":5,"method":"tools/list"}]`)
				var batch []map[string]any
				if st != 200 || json.Unmarshal(b, &batch) != nil || len(batch) != 2 {
					t.Errorf("batch: %d %s", st, b)
				}
			}
			if st := c.do(http.MethodPost, sid, "1999-01-01", `{"jsonrpc":"2.0","id":6,"method":"ping"}`); st != 400 {
				t.Errorf("an unknown MCP-Protocol-Version: %d, want 400", st)
			}
		})
	}
	t.Run(mcpgo.ProtocolVersion20260728, func(t *testing.T) {
		v := mcpgo.ProtocolVersion20260728
		meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"` + v + `","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}`
		st, h, b := c.send(http.MethodPost, "", v, `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{`+meta+`}}`)
		if st != 200 || h.Get("Mcp-Session-Id") != "" || !strings.Contains(string(b), `"supportedVersions"`) || !strings.Contains(string(b), `"resultType":"complete"`) {
			t.Fatalf("discover: %d %q %s", st, h.Get("Mcp-Session-Id"), b)
		}
		st, m := c.post("", v, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"notes__add",`+meta+`}}`)
		if st != 200 || !strings.Contains(toJSON(m), "notes/add by g1") {
			t.Fatalf("call: %d %v", st, m)
		}
		st, _, b = c.send(http.MethodPost, "", "2030-01-01", `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2030-01-01"}}}`)
		if st != 400 || !strings.Contains(string(b), "supported") {
			t.Errorf("an unsupported modern version: %d %s", st, b)
		}
	})
	t.Run("GET has no stream", func(t *testing.T) {
		if st := c.do(http.MethodGet, "", "", ""); st != 405 {
			t.Errorf("GET: %d, want 405", st)
		}
	})
	t.Run("not JSON-RPC", func(t *testing.T) {
		if st := c.do(http.MethodPost, "", "", `{"hello":1}`); st != 400 {
			t.Errorf("status %d, want 400", st)
		}
	})
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestGatewayTwoInstances runs two gateways sharing a Redis session
// store: a Streamable HTTP session opened on A is used and ended on B,
// and an SSE stream held by A gets the answers to messages posted to B.
func TestGatewayTwoInstances(t *testing.T) {
	r := storetest.Redis(t)
	sessions := func() *store.RedisMCPSessions {
		s, err := store.NewRedisMCPSessions(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newEnvOn(t, sessions()), newEnvOn(t, sessions())

	t.Run("streamable", func(t *testing.T) {
		ra := rawClient{t: t, e: a, path: "/mcp/public/1", key: keyGood}
		rb := rawClient{t: t, e: b, path: "/mcp/public/1", key: keyGood}
		sid, v := ra.initialize(mcpgo.ProtocolVersion20250618)
		st, m := rb.post(sid, v, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"forecast","arguments":{"city":"Lima"}}}`)
		if st != 200 || !strings.Contains(toJSON(m), "Lima") {
			t.Fatalf("call on B: %d %v", st, m)
		}
		if st := rb.do(http.MethodDelete, sid, v, ""); st != 204 {
			t.Fatalf("delete on B: %d", st)
		}
		if st, _ := ra.post(sid, v, `{"jsonrpc":"2.0","id":3,"method":"ping"}`); st != 404 {
			t.Errorf("on A after delete on B: %d, want 404", st)
		}
	})

	t.Run("streamable with SDK clients", func(t *testing.T) {
		// The session is opened on A by the SDK, then its requests go to B:
		// the client's base URL is A's, its transport rewrites later
		// requests to B.
		for _, k := range clientKinds {
			if strings.HasSuffix(k.name, "/sse") {
				continue
			}
			for _, v := range []string{mcpgo.ProtocolVersion20251125, mcpgo.ProtocolVersion20250326} {
				flip := &flipper{to: b.srv.URL}
				ea := &env{g: a.g, srv: a.srv, mem: a.mem}
				s := connectVia(t, k, ea, flip, v)
				flip.on.Store(true)
				text, isErr, err := s.call(context.Background(), "weather__forecast", map[string]any{"city": "Kyiv"})
				if err != nil || isErr || !strings.Contains(text, "Kyiv") {
					t.Errorf("%s %s: call on B: %q %v %v", k.name, v, text, isErr, err)
				}
				if flip.n.Load() == 0 {
					t.Errorf("%s %s: no request went to B", k.name, v)
				}
			}
		}
	})

	t.Run("sse", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url("/mcp/sse"), nil)
		req.Header.Set("Authorization", "Bearer "+keyGood)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events := readEvents(resp.Body)
		ev := <-events
		if ev.name != "endpoint" || !strings.HasPrefix(ev.data, "/mcp/message?sessionId=") {
			t.Fatalf("first event %+v", ev)
		}
		post := func(body string) int {
			req, _ := http.NewRequest(http.MethodPost, b.url(ev.data), strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+keyGood)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		for i, body := range []string{
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","gatewayCapabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"weather__forecast","arguments":{"city":"Baku"}}}`,
		} {
			if st := post(body); st != 202 {
				t.Fatalf("post %d to B: %d", i, st)
			}
			select {
			case ev := <-events:
				want := []string{`"protocolVersion":"2024-11-05"`, "Baku"}[i]
				if ev.name != "message" || !strings.Contains(ev.data, want) {
					t.Fatalf("event %d on A: %+v, want %s", i, ev, want)
				}
			case <-ctx.Done():
				t.Fatalf("no answer %d on A's stream", i)
			}
		}
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for post(`{"jsonrpc":"2.0","id":3,"method":"ping"}`) != 404 {
			if time.Now().After(deadline) {
				t.Fatal("the session outlived its stream")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("sse with SDK clients", func(t *testing.T) {
		for _, k := range clientKinds {
			if !strings.HasSuffix(k.name, "/sse") {
				continue
			}
			flip := &flipper{to: b.srv.URL, postsOnly: true}
			flip.on.Store(true)
			ea := &env{g: a.g, srv: a.srv, mem: a.mem}
			s := connectVia(t, k, ea, flip, "")
			text, isErr, err := s.call(context.Background(), "notes__add", nil)
			if err != nil || isErr || !strings.Contains(text, "notes/add") {
				t.Errorf("%s: %q %v %v", k.name, text, isErr, err)
			}
			if flip.n.Load() == 0 {
				t.Errorf("%s: no message went to B", k.name)
			}
		}
	})
}

type event struct{ name, data string }

// readEvents parses a text/event-stream into events, until it ends.
func readEvents(r io.Reader) <-chan event {
	ch := make(chan event, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || ev.data != "" {
					ch <- ev
				}
				ev = event{}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data += line[6:]
			}
		}
	}()
	return ch
}

// flipper sends requests to another server once on: every request, or
// only POSTs (the messages of an SSE session, whose stream stays).
type flipper struct {
	to        string
	postsOnly bool
	on        atomic.Bool
	n         atomic.Int64
}

func (f *flipper) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.on.Load() && (!f.postsOnly || r.Method == http.MethodPost) {
		u, _ := url.Parse(f.to)
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
		f.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// connectVia connects a client of kind k to e's aggregate endpoint, its
// requests going through f.
func connectVia(tb testing.TB, k clientKind, e *env, f *flipper, version string) session {
	tb.Helper()
	e.transport = f
	return mustConnect(tb, k, e, "/mcp", keyGood, version)
}
