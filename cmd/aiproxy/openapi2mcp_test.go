package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// openAPIFake is an API for the CLI tests: it records the requests to
// /v1/... and serves a spec at /openapi.json whose server is relative.
type openAPIFake struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
}

const cliSpec = `{
  "openapi": "3.0.3",
  "info": {"title": "CLI test API", "version": "1"},
  "servers": [{"url": "%s"}],
  "paths": {
    "/v1/pets/{petId}": {"get": {"operationId": "showPet",
      "security": [{"bearer": []}],
      "parameters": [{"name": "petId", "in": "path", "required": true, "schema": {"type": "integer"}}],
      "responses": {"200": {"description": "ok"}}}}
  },
  "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
}`

func newOpenAPIFake(tb testing.TB) *openAPIFake {
	tb.Helper()
	f := &openAPIFake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/openapi.json" {
			fmt.Fprintf(w, cliSpec, "/")
			return
		}
		f.mu.Lock()
		f.got = append(f.got, r.Clone(context.Background()))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"auth_seen":%t}`, strings.TrimPrefix(r.URL.Path, "/v1/pets/"), r.Header.Get("Authorization") != "")
	}))
	tb.Cleanup(f.Close)
	return f
}

func (f *openAPIFake) last(tb testing.TB) *http.Request {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		tb.Fatal("the fake API received nothing")
	}
	return f.got[len(f.got)-1]
}

// writeSpec writes the CLI spec with server base to a file.
func writeSpec(tb testing.TB, base string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "spec.json")
	if err := os.WriteFile(path, fmt.Appendf(nil, cliSpec, base), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// rpcSession drives runOpenAPI2MCP over stdio with raw JSON-RPC lines.
type rpcSession struct {
	in     *io.PipeWriter
	out    *bufio.Reader
	stderr *bytes.Buffer
	code   chan int
}

func startStdio(tb testing.TB, args ...string) *rpcSession {
	tb.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &rpcSession{in: inW, out: bufio.NewReader(outR), stderr: &bytes.Buffer{}, code: make(chan int, 1)}
	go func() {
		code := runOpenAPI2MCP(context.Background(), args, inR, outW, s.stderr)
		outW.Close()
		s.code <- code
	}()
	return s
}

// call sends a request and returns the result of its response.
func (s *rpcSession) call(tb testing.TB, id int, method string, params any) json.RawMessage {
	tb.Helper()
	req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if _, err := s.in.Write(append(req, '\n')); err != nil {
		tb.Fatalf("write %s: %v (stderr: %s)", method, err, s.stderr)
	}
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		tb.Fatalf("read %s: %v", method, err)
	}
	var resp struct {
		ID     int             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(line, &resp); err != nil || resp.ID != id || resp.Error != nil {
		tb.Fatalf("%s: response %s (%v)", method, line, err)
	}
	return resp.Result
}

func (s *rpcSession) notify(tb testing.TB, method string) {
	tb.Helper()
	if _, err := fmt.Fprintf(s.in, `{"jsonrpc":"2.0","method":%q}`+"\n", method); err != nil {
		tb.Fatal(err)
	}
}

func (s *rpcSession) close(tb testing.TB) int {
	tb.Helper()
	s.in.Close()
	select {
	case code := <-s.code:
		return code
	case <-time.After(10 * time.Second):
		tb.Fatal("runOpenAPI2MCP did not return after stdin closed")
		return -1
	}
}

func TestOpenAPI2MCPStdio(t *testing.T) {
	api := newOpenAPIFake(t)
	tests := []struct {
		name string
		args []string
	}{
		{"file with base URL override", []string{writeSpec(t, "https://unused.example.com"), "--base-url", api.URL, "--header", "X-Team: blue", "--credential", "bearer=cli-secret-42"}},
		{"URL with relative server, flags first", []string{"--credential=bearer=cli-secret-42", "--header=X-Team:blue", api.URL + "/openapi.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStdio(t, tt.args...)
			init := s.call(t, 1, "initialize", map[string]any{
				"protocolVersion": "2025-06-18",
				"capabilities":    map[string]any{},
				"clientInfo":      map[string]any{"name": "test", "version": "1"},
			})
			if !strings.Contains(string(init), `"CLI test API"`) {
				t.Errorf("initialize result %s, want the spec's title as server name", init)
			}
			s.notify(t, "notifications/initialized")

			list := s.call(t, 2, "tools/list", map[string]any{})
			var tools struct{ Tools []mcpgo.Tool }
			if err := json.Unmarshal(list, &tools); err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "showPet" {
				t.Fatalf("tools/list %s (%v)", list, err)
			}
			if strings.Contains(string(list), "cli-secret-42") || strings.Contains(string(list), "blue") {
				t.Errorf("the tool list holds a secret: %s", list)
			}

			res := s.call(t, 3, "tools/call", map[string]any{"name": "showPet", "arguments": map[string]any{"petId": 5}})
			var out mcpgo.CallToolResult
			if err := json.Unmarshal(res, &out); err != nil {
				t.Fatal(err)
			}
			if out.IsError || !strings.Contains(string(res), `HTTP 200 OK`) || !strings.Contains(string(res), `\"auth_seen\": true`) {
				t.Errorf("tools/call %s", res)
			}
			got := api.last(t)
			if got.URL.Path != "/v1/pets/5" || got.Header.Get("Authorization") != "Bearer cli-secret-42" || got.Header.Get("X-Team") != "blue" {
				t.Errorf("the API got %s %v", got.URL, got.Header)
			}

			bad := s.call(t, 4, "tools/call", map[string]any{"name": "showPet", "arguments": map[string]any{"petId": "five"}})
			if !strings.Contains(string(bad), `"isError":true`) || !strings.Contains(string(bad), "petId") {
				t.Errorf("a mistyped argument: %s", bad)
			}
			if code := s.close(t); code != 0 {
				t.Errorf("exit status %d, stderr %s", code, s.stderr)
			}
		})
	}
}

func TestOpenAPI2MCPHTTP(t *testing.T) {
	api := newOpenAPIFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	stderrR, stderrW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- runOpenAPI2MCP(ctx, []string{writeSpec(t, api.URL), "--http", "127.0.0.1:0", "--credential", "bearer=http-secret-7"}, strings.NewReader(""), io.Discard, stderrW)
		stderrW.Close()
	}()
	line, err := bufio.NewReader(stderrR).ReadString('\n')
	if err != nil {
		t.Fatalf("no address announced: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stderrR) }()
	m := regexp.MustCompile(`http://\S+/mcp`).FindString(line)
	if m == "" {
		t.Fatalf("stderr %q names no URL", line)
	}

	c, err := mcpclient.NewStreamableHttpClient(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcpgo.InitializeRequest{}
	init.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcpgo.Implementation{Name: "test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	tools, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil || len(tools.Tools) != 1 {
		t.Fatalf("tools %v, %v", tools, err)
	}
	req := mcpgo.CallToolRequest{}
	req.Params.Name = "showPet"
	req.Params.Arguments = map[string]any{"petId": 8}
	res, err := c.CallTool(ctx, req)
	if err != nil || res.IsError {
		t.Fatalf("call %v, %v", res, err)
	}
	if got := api.last(t); got.URL.Path != "/v1/pets/8" || got.Header.Get("Authorization") != "Bearer http-secret-7" {
		t.Errorf("the API got %s %v", got.URL, got.Header)
	}
	_ = c.Close()
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit status %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop")
	}
}

func TestOpenAPI2MCPUsage(t *testing.T) {
	spec := writeSpec(t, "https://api.example.com")
	relative := writeSpec(t, "/v1")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no spec", nil, 2, "SPEC is missing"},
		{"two specs", []string{spec, spec}, 2, "one SPEC expected"},
		{"unknown flag", []string{spec, "--nope"}, 2, "flag provided but not defined"},
		{"bad header", []string{spec, "--header", "novalue"}, 2, "--header"},
		{"bad credential", []string{spec, "--credential", "bearer"}, 2, "--credential"},
		{"unknown scheme", []string{spec, "--credential", "other=x"}, 2, `no security scheme "other"`},
		{"relative server", []string{relative}, 2, "--base-url"},
		{"bad base URL", []string{spec, "--base-url", "ftp://x"}, 2, "base URL"},
		{"missing file", []string{filepath.Join(t.TempDir(), "none.json")}, 1, "read spec"},
		{"not a spec", []string{writeFile(t, "garbage: [")}, 1, "parse spec"},
		{"help", []string{"-h"}, 0, "usage: aiproxy openapi2mcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := runOpenAPI2MCP(context.Background(), tt.args, strings.NewReader(""), io.Discard, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
}

func writeFile(tb testing.TB, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "file.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
