package mcp

import (
	"context"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/mcp/embedded"
	"github.com/aiproxy/aiproxy/store"
)

// The store satisfies what the embedded servers read, as cmd/aiproxy
// wires it.
var (
	_ embedded.Analytics = (*store.Store)(nil)
	_ embedded.Groups    = (*store.Store)(nil)
	_ embedded.Tokens    = (*store.Store)(nil)
	_ embedded.Catalog   = (*store.Cache)(nil)
)

// embeddedGroups is a Groups and Tokens of the embedded package that
// records the groups it was asked about.
type embeddedGroups struct{ asked []string }

func (g *embeddedGroups) Group(_ context.Context, id string) (*aiproxy.Group, error) {
	g.asked = append(g.asked, id)
	return &aiproxy.Group{ID: id, Enabled: true}, nil
}

func (g *embeddedGroups) Token(_ context.Context, id int64) (*aiproxy.Token, error) {
	return &aiproxy.Token{ID: id, GroupID: "acme", Name: "t"}, nil
}

func (g *embeddedGroups) Tokens(_ context.Context, group string) ([]*aiproxy.Token, error) {
	g.asked = append(g.asked, group)
	return []*aiproxy.Token{{ID: 1, GroupID: group, Name: "t", Prefix: "sk-123", KeyHash: "HASH", Enabled: true}}, nil
}

func TestEmbeddedBuilder(t *testing.T) {
	groups := &embeddedGroups{}
	b := &EmbeddedBuilder{Deps: embedded.Deps{Groups: groups, Tokens: groups,
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}}
	server := func(template string, values map[string]string) *aiproxy.MCPServer {
		return &aiproxy.MCPServer{ID: 1, Name: "srv", Kind: aiproxy.MCPEmbedded,
			Embedded: &aiproxy.MCPEmbeddedConfig{Template: template, Values: values}}
	}
	tests := []struct {
		name    string
		server  *aiproxy.MCPServer
		field   string // of the EINVALID build error
		tool    string
		args    map[string]any
		want    string
		notWant string
		tools   []string
	}{
		{name: "no config", server: &aiproxy.MCPServer{Name: "srv", Kind: aiproxy.MCPEmbedded}, field: "embedded.template"},
		{name: "unknown template", server: server("weather", nil), field: "embedded.template"},
		{name: "bad value", server: server("time", map[string]string{"default_timezone": "Nowhere"}), field: "default_timezone"},
		{name: "time", server: server("time", map[string]string{"default_timezone": "Europe/Paris"}),
			tools: []string{"current_time", "convert_time"}, tool: "current_time", want: `"datetime": "2026-01-02T04:04:05+01:00"`},
		{name: "aiproxy scoped to the caller", server: server("aiproxy", nil), tools: []string{"usage", "models", "quota", "tokens"},
			tool: "tokens", args: map[string]any{"group": "evil"}, want: `"group": "acme"`, notWant: "HASH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := b.Build(context.Background(), tt.server, &aiproxy.MCPGroupValues{GroupID: "acme"})
			if tt.field != "" {
				if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != tt.field {
					t.Fatalf("got %v, want EINVALID naming %s", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ts.Close()
			tools, err := ts.Tools(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range tools {
				names = append(names, tl.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.tools, ",") {
				t.Fatalf("tools %v, want %v", names, tt.tools)
			}
			var req mcpgo.CallToolRequest
			req.Params.Name, req.Params.Arguments = tt.tool, tt.args
			res, err := ts.Call(context.Background(), Caller{GroupID: "acme", Token: &aiproxy.Token{ID: 1, GroupID: "acme"}}, req)
			if err != nil || res.IsError {
				t.Fatalf("call: %v %+v", err, res)
			}
			text := res.Content[0].(mcpgo.TextContent).Text
			if !strings.Contains(text, tt.want) || (tt.notWant != "" && strings.Contains(text, tt.notWant)) {
				t.Fatalf("got %s, want %s and not %q", text, tt.want, tt.notWant)
			}
		})
	}
	for _, g := range groups.asked {
		if g != "acme" {
			t.Errorf("group %q was read, want only the caller's", g)
		}
	}
	if len(b.Templates()) < 3 {
		t.Errorf("templates: %v", b.Templates())
	}
}
