package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/aiproxy/aiproxy"
)

// fakeMCP is an aiproxy.MCPAdmin in memory that records what it was
// asked. It validates servers as the real one does (MCPServer.Validate,
// unique names) and answers previews and tool calls with what the test
// set.
type fakeMCP struct {
	mu        sync.Mutex
	servers   map[int64]*aiproxy.MCPServer
	values    map[string]*aiproxy.MCPGroupValues // by "server/group"
	templates []aiproxy.MCPTemplate
	// preview is PreviewOpenAPI's answer; schemes OpenAPIInfo's.
	preview *aiproxy.MCPOpenAPIPreview
	schemes []aiproxy.MCPSecurityScheme
	// result and callErr are CallMCPTool's answer.
	result  *aiproxy.MCPCallResult
	callErr error
	nextID  int64
	// validateTemplates checks an EMBEDDED server's values against its
	// template's fields, as the real service does.
	validateTemplates bool

	calls     []string // method names, in order
	previews  []previewCall
	toolCalls []toolCall
}

type previewCall struct{ specURL, spec string }

type toolCall struct {
	server int64
	tool   string
	args   map[string]any
	group  string
}

var _ aiproxy.MCPAdmin = (*fakeMCP)(nil)

func newFakeMCP() *fakeMCP {
	return &fakeMCP{servers: map[int64]*aiproxy.MCPServer{}, values: map[string]*aiproxy.MCPGroupValues{}}
}

func (f *fakeMCP) record(name string) { f.calls = append(f.calls, name) }

// called returns the names of the methods called (reads excepted).
func (f *fakeMCP) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		switch c {
		case "MCPServer", "MCPServers", "MCPGroupValues", "MCPTemplates", "OpenAPIInfo":
		default:
			out = append(out, c)
		}
	}
	return out
}

// add stores s as it is (an ID given is kept) and returns it.
func (f *fakeMCP) add(s *aiproxy.MCPServer) *aiproxy.MCPServer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.ID == 0 {
		f.nextID++
		s.ID = f.nextID
	} else if s.ID > f.nextID {
		f.nextID = s.ID
	}
	f.servers[s.ID] = clone(s)
	return s
}

// stored returns a copy of server id as stored.
func (f *fakeMCP) stored(id int64) *aiproxy.MCPServer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.servers[id]; ok {
		return clone(s)
	}
	return nil
}

func clone(s *aiproxy.MCPServer) *aiproxy.MCPServer {
	b, _ := json.Marshal(s)
	var c aiproxy.MCPServer
	json.Unmarshal(b, &c)
	return &c
}

func notFound() error { return aiproxy.Errorf(aiproxy.ENOTFOUND, "MCP server not found") }

func (f *fakeMCP) checkName(s *aiproxy.MCPServer) error {
	for _, o := range f.servers {
		if o.Name == s.Name && o.ID != s.ID {
			return aiproxy.Errorf(aiproxy.ECONFLICT, "the name %s is taken", s.Name)
		}
	}
	return nil
}

func (f *fakeMCP) CreateMCPServer(_ context.Context, s *aiproxy.MCPServer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateMCPServer")
	if err := s.Validate(); err != nil {
		return err
	}
	if err := f.checkName(s); err != nil {
		return err
	}
	if f.validateTemplates && s.Embedded != nil {
		for _, t := range f.templates {
			for _, fld := range t.Fields {
				if t.Name == s.Embedded.Template && !fld.PerGroup {
					if err := fld.Validate(s.Embedded.Values[fld.Name]); err != nil {
						return err
					}
				}
			}
		}
	}
	if s.Kind == aiproxy.MCPOpenAPI && f.preview != nil {
		s.Tools = f.preview.Tools
	}
	f.nextID++
	s.ID = f.nextID
	f.servers[s.ID] = clone(s)
	return nil
}

func (f *fakeMCP) UpdateMCPServer(_ context.Context, id int64, change func(*aiproxy.MCPServer)) (*aiproxy.MCPServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("UpdateMCPServer")
	s, ok := f.servers[id]
	if !ok {
		return nil, notFound()
	}
	c := clone(s)
	change(c)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := f.checkName(c); err != nil {
		return nil, err
	}
	f.servers[id] = clone(c)
	return c, nil
}

func (f *fakeMCP) DeleteMCPServer(_ context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DeleteMCPServer")
	if _, ok := f.servers[id]; !ok {
		return notFound()
	}
	delete(f.servers, id)
	return nil
}

func (f *fakeMCP) RefreshMCPServer(_ context.Context, id int64) (*aiproxy.MCPServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RefreshMCPServer")
	s, ok := f.servers[id]
	if !ok {
		return nil, notFound()
	}
	return clone(s), nil
}

func (f *fakeMCP) MCPServer(_ context.Context, id int64) (*aiproxy.MCPServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("MCPServer")
	s, ok := f.servers[id]
	if !ok {
		return nil, notFound()
	}
	return clone(s), nil
}

func (f *fakeMCP) MCPServers(_ context.Context, flt aiproxy.MCPServerFilter) ([]*aiproxy.MCPServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("MCPServers")
	var out []*aiproxy.MCPServer
	for _, id := range slices.Sorted(maps.Keys(f.servers)) {
		s := f.servers[id]
		if flt.GroupID != "" && s.Scope == aiproxy.MCPGroup && s.GroupID != flt.GroupID {
			continue
		}
		c := *s // the handlers only read a list: a shallow copy does
		out = append(out, &c)
	}
	return out, nil
}

func (f *fakeMCP) MCPTemplates() []aiproxy.MCPTemplate {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("MCPTemplates")
	return f.templates
}

func (f *fakeMCP) PreviewOpenAPI(_ context.Context, specURL, spec string, _ bool) (*aiproxy.MCPOpenAPIPreview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("PreviewOpenAPI")
	f.previews = append(f.previews, previewCall{specURL, spec})
	if spec == "not a spec" {
		return nil, aiproxy.FieldErrorf("spec", "the spec is neither JSON nor YAML")
	}
	if f.preview == nil {
		return nil, aiproxy.FieldErrorf("specURL", "no preview set")
	}
	return f.preview, nil
}

func (f *fakeMCP) OpenAPIInfo(s *aiproxy.MCPServer) ([]string, []aiproxy.MCPSecurityScheme) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("OpenAPIInfo")
	if s.OpenAPI == nil {
		return nil, nil
	}
	return []string{"https://api.example.com"}, f.schemes
}

func valuesKey(server int64, group string) string { return fmt.Sprintf("%d/%s", server, group) }

func (f *fakeMCP) SetMCPGroupValues(_ context.Context, v *aiproxy.MCPGroupValues) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("SetMCPGroupValues")
	if _, ok := f.servers[v.ServerID]; !ok {
		return notFound()
	}
	for name, val := range v.Values {
		if val == "bad" {
			return aiproxy.FieldErrorf(name, "%s does not match", name)
		}
	}
	c := *v
	c.Values = maps.Clone(v.Values)
	f.values[valuesKey(v.ServerID, v.GroupID)] = &c
	return nil
}

func (f *fakeMCP) MCPGroupValues(_ context.Context, server int64, group string) (*aiproxy.MCPGroupValues, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("MCPGroupValues")
	if v, ok := f.values[valuesKey(server, group)]; ok {
		c := *v
		c.Values = maps.Clone(v.Values)
		return &c, nil
	}
	return &aiproxy.MCPGroupValues{ServerID: server, GroupID: group}, nil
}

func (f *fakeMCP) CallMCPTool(_ context.Context, server int64, tool string, args map[string]any, group string) (*aiproxy.MCPCallResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CallMCPTool")
	f.toolCalls = append(f.toolCalls, toolCall{server, tool, args, group})
	if f.callErr != nil {
		return nil, f.callErr
	}
	return f.result, nil
}
