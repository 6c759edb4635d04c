package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// The MCP endpoints read servers and values through this interface
// (mcp.Servers); both the Store and its Cache serve it.
type mcpServers interface {
	MCPServer(ctx context.Context, id int64) (*aiproxy.MCPServer, error)
	MCPServers(ctx context.Context, f aiproxy.MCPServerFilter) ([]*aiproxy.MCPServer, error)
	MCPGroupValues(ctx context.Context, server int64, group string) (*aiproxy.MCPGroupValues, error)
}

var (
	_ mcpServers = (*store.Store)(nil)
	_ mcpServers = (*store.Cache)(nil)
)

// bigSpec returns a spec of at least n bytes full of what JSON escapes.
func bigSpec(n int) string {
	const line = "{\"openapi\": \"3.1.0\", \"info\": {\"title\": \"Wetter <&> \\\"ü\\\" 天气\\t\"}}\n"
	return strings.Repeat(line, n/len(line)+1)
}

func openAPIServer(name, spec string) *aiproxy.MCPServer {
	return &aiproxy.MCPServer{
		Name:                name,
		Description:         "The weather, from an OpenAPI spec.",
		Kind:                aiproxy.MCPOpenAPI,
		Scope:               aiproxy.MCPPublic,
		Enabled:             true,
		AllowPrivateNetwork: true,
		CallPrice:           1500,
		ToolPrices:          map[string]aiproxy.Amount{"forecast": 2500, "free": 0},
		OpenAPI: &aiproxy.MCPOpenAPIConfig{
			SpecURL:          "https://example.com/openapi.json?a=1&b=2",
			Spec:             spec,
			BaseURL:          "https://api.example.com/v1",
			Credentials:      []aiproxy.MCPCredential{{Scheme: "apiKey", Value: "k-secret"}, {Scheme: "basic", Value: "user:pa:ss"}},
			Timeout:          1500 * time.Millisecond,
			MaxResponseBytes: 2 << 20,
		},
		Tools: []aiproxy.MCPTool{
			{Name: "forecast", Description: "<b>Forecast</b> & more", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","pattern":"<[a-z]+>"}}}`), ReadOnly: true},
			{Name: "reset", Destructive: true},
		},
	}
}

func proxyServer(name, group string) *aiproxy.MCPServer {
	return &aiproxy.MCPServer{
		Name:      name,
		Kind:      aiproxy.MCPProxy,
		Scope:     aiproxy.MCPGroup,
		GroupID:   group,
		Enabled:   true,
		CallPrice: 7,
		Proxy: &aiproxy.MCPProxyConfig{
			URL:          "https://mcp.example.com/mcp",
			Transport:    "sse",
			Headers:      map[string]string{"Authorization": "Bearer secret", "X-Empty": ""},
			Query:        map[string]string{"key": "q-secret"},
			GroupHeaders: []string{"X-Group-Key"},
			GroupQuery:   []string{"tenant", "region"},
		},
	}
}

func embeddedServer(name string) *aiproxy.MCPServer {
	return &aiproxy.MCPServer{
		Name:     name,
		Kind:     aiproxy.MCPEmbedded,
		Scope:    aiproxy.MCPPublic,
		Embedded: &aiproxy.MCPEmbeddedConfig{Template: "time", Values: map[string]string{"timezone": "Europe/Berlin"}},
	}
}

func createMCPServer(tb testing.TB, s *store.Store, srv *aiproxy.MCPServer) *aiproxy.MCPServer {
	tb.Helper()
	if err := s.CreateMCPServer(context.Background(), srv); err != nil {
		tb.Fatal(err)
	}
	return srv
}

func serverNames(ss []*aiproxy.MCPServer) []string {
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
	}
	return names
}

// wantServer checks that the Store and its Cache both hold want, by id
// and by name.
func wantServer(tb testing.TB, s *store.Store, want *aiproxy.MCPServer) {
	tb.Helper()
	ctx := context.Background()
	for name, find := range map[string]func() (*aiproxy.MCPServer, error){
		"Store.MCPServer":       func() (*aiproxy.MCPServer, error) { return s.MCPServer(ctx, want.ID) },
		"Store.MCPServerByName": func() (*aiproxy.MCPServer, error) { return s.MCPServerByName(ctx, want.Name) },
		"Cache.MCPServer":       func() (*aiproxy.MCPServer, error) { return s.Cache().MCPServer(ctx, want.ID) },
		"Cache.MCPServerByName": func() (*aiproxy.MCPServer, error) { return s.Cache().MCPServerByName(ctx, want.Name) },
	} {
		got, err := find()
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		if !mcpEqual(got, want) {
			tb.Fatalf("%s:\ngot  %+v\nwant %+v", name, brief(got), brief(want))
		}
	}
}

// wantNoServer checks that neither the Store nor its Cache has server id.
func wantNoServer(tb testing.TB, s *store.Store, id int64) {
	tb.Helper()
	ctx := context.Background()
	_, err := s.MCPServer(ctx, id)
	wantCode(tb, err, aiproxy.ENOTFOUND, "")
	_, err = s.Cache().MCPServer(ctx, id)
	wantCode(tb, err, aiproxy.ENOTFOUND, "")
}

// wantValues checks that the Store and its Cache both return want for
// its server and group.
func wantValues(tb testing.TB, s *store.Store, want *aiproxy.MCPGroupValues) {
	tb.Helper()
	ctx := context.Background()
	for name, r := range map[string]mcpServers{"Store": s, "Cache": s.Cache()} {
		got, err := r.MCPGroupValues(ctx, want.ServerID, want.GroupID)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		if !mcpEqual(got, want) {
			tb.Fatalf("%s.MCPGroupValues:\ngot  %+v\nwant %+v", name, got, want)
		}
	}
}

// mcpEqual is reflect.DeepEqual, for callers that print a megabyte spec
// briefly.
func mcpEqual(a, b any) bool { return reflect.DeepEqual(a, b) }

// brief returns s without its spec, for messages.
func brief(s *aiproxy.MCPServer) aiproxy.MCPServer {
	c := *s
	if c.OpenAPI != nil {
		o := *c.OpenAPI
		o.Spec = "(" + strconv.Itoa(len(o.Spec)) + " bytes)"
		c.OpenAPI = &o
	}
	return c
}

func TestMCPServers(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, db := open(t, dsn)
		createGroup(t, s, "acme")
		createGroup(t, s, "other")

		spec := bigSpec(1 << 20)
		weather := createMCPServer(t, s, openAPIServer("weather", spec))
		acmeProxy := createMCPServer(t, s, proxyServer("acme-proxy", "acme"))
		clock := createMCPServer(t, s, embeddedServer("clock"))
		otherProxy := createMCPServer(t, s, proxyServer("other-proxy", "other"))

		t.Run("create and read", func(t *testing.T) {
			if weather.ID == 0 || weather.CreatedAt.IsZero() || !weather.UpdatedAt.Equal(weather.CreatedAt) {
				t.Fatalf("created: %+v", brief(weather))
			}
			want := openAPIServer("weather", spec)
			want.ID, want.CreatedAt, want.UpdatedAt = weather.ID, weather.CreatedAt, weather.UpdatedAt
			wantEqual(t, weather, want) // every field as given
			for _, srv := range []*aiproxy.MCPServer{weather, acmeProxy, clock, otherProxy} {
				wantServer(t, s, srv)
			}
			got, err := s.MCPServer(ctx, weather.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, got, want)
			if len(got.OpenAPI.Spec) < 1<<20 || got.OpenAPI.Spec != spec {
				t.Fatalf("the spec of %d bytes came back as %d bytes", len(spec), len(got.OpenAPI.Spec))
			}
			cached, _ := s.Cache().MCPServer(ctx, clock.ID)
			wantEqual(t, cached, clock)
		})

		t.Run("only the kind's config is kept", func(t *testing.T) {
			srv := embeddedServer("mixed")
			srv.OpenAPI = &aiproxy.MCPOpenAPIConfig{Spec: "{}"}
			srv.Proxy = &aiproxy.MCPProxyConfig{URL: "https://x"}
			srv.ToolPrices = map[string]aiproxy.Amount{}
			srv.Embedded.Values = map[string]string{}
			createMCPServer(t, s, srv)
			if srv.OpenAPI != nil || srv.Proxy != nil || srv.ToolPrices != nil || srv.Embedded.Values != nil || srv.Embedded.Template != "time" {
				t.Fatalf("stored: %+v %+v", srv, srv.Embedded)
			}
			wantServer(t, s, srv)
			if err := s.DeleteMCPServer(ctx, srv.ID); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("invalid", func(t *testing.T) {
			badSchema := embeddedServer("bad-schema")
			badSchema.Tools = []aiproxy.MCPTool{{Name: "x", InputSchema: json.RawMessage(`{"type":`)}}
			for _, tt := range []struct {
				name, code, field string
				srv               *aiproxy.MCPServer
			}{
				{"taken name", aiproxy.ECONFLICT, "name", embeddedServer("weather")},
				{"taken name, spaced", aiproxy.ECONFLICT, "name", embeddedServer(" clock ")},
				{"bad name", aiproxy.EINVALID, "name", embeddedServer("a b")},
				{"no config", aiproxy.EINVALID, "embedded.template", &aiproxy.MCPServer{Name: "x", Kind: aiproxy.MCPEmbedded, Scope: aiproxy.MCPPublic}},
				{"missing group", aiproxy.ENOTFOUND, "group", proxyServer("nowhere", "nope")},
				{"bad input schema", aiproxy.EINVALID, "tools", badSchema},
			} {
				t.Run(tt.name, func(t *testing.T) {
					wantCode(t, s.CreateMCPServer(ctx, tt.srv), tt.code, tt.field)
				})
			}
			if n := count(t, db, "mcp_servers"); n != 4 {
				t.Fatalf("%d servers stored", n)
			}
		})

		t.Run("filters", func(t *testing.T) {
			for _, tt := range []struct {
				name string
				f    aiproxy.MCPServerFilter
				want []string
			}{
				{"all", aiproxy.MCPServerFilter{}, []string{"weather", "acme-proxy", "clock", "other-proxy"}},
				{"acme", aiproxy.MCPServerFilter{GroupID: "acme"}, []string{"weather", "acme-proxy", "clock"}},
				{"other", aiproxy.MCPServerFilter{GroupID: "other"}, []string{"weather", "clock", "other-proxy"}},
				{"unknown group", aiproxy.MCPServerFilter{GroupID: "nobody"}, []string{"weather", "clock"}},
				{"proxy", aiproxy.MCPServerFilter{Kind: aiproxy.MCPProxy}, []string{"acme-proxy", "other-proxy"}},
				{"openapi", aiproxy.MCPServerFilter{Kind: aiproxy.MCPOpenAPI}, []string{"weather"}},
				{"group scope", aiproxy.MCPServerFilter{Scope: aiproxy.MCPGroup}, []string{"acme-proxy", "other-proxy"}},
				{"public scope", aiproxy.MCPServerFilter{Scope: aiproxy.MCPPublic}, []string{"weather", "clock"}},
				{"acme's proxies", aiproxy.MCPServerFilter{GroupID: "acme", Kind: aiproxy.MCPProxy}, []string{"acme-proxy"}},
				{"acme's public", aiproxy.MCPServerFilter{GroupID: "acme", Scope: aiproxy.MCPPublic}, []string{"weather", "clock"}},
				{"none", aiproxy.MCPServerFilter{GroupID: "acme", Kind: aiproxy.MCPEmbedded, Scope: aiproxy.MCPGroup}, nil},
			} {
				t.Run(tt.name, func(t *testing.T) {
					fromDB, err := s.MCPServers(ctx, tt.f)
					if err != nil {
						t.Fatal(err)
					}
					fromCache, err := s.Cache().MCPServers(ctx, tt.f)
					if err != nil {
						t.Fatal(err)
					}
					wantEqual(t, serverNames(fromDB), tt.want)
					wantEqual(t, serverNames(fromCache), tt.want)
					if len(fromDB) > 0 && !mcpEqual(fromDB, fromCache) {
						t.Fatal("the Store and the Cache disagree")
					}
				})
			}
		})

		t.Run("update", func(t *testing.T) {
			upd := *clock
			upd.Name = "wall-clock"
			upd.Description = "What time it is."
			upd.Enabled = true
			upd.CallPrice = 3
			upd.Embedded = &aiproxy.MCPEmbeddedConfig{Template: "time", Values: map[string]string{"timezone": "UTC", "format": "RFC3339"}}
			upd.Tools = []aiproxy.MCPTool{{Name: "now", InputSchema: json.RawMessage(`{"type":"object"}`), ReadOnly: true}}
			upd.CreatedAt = time.Time{} // kept whatever the caller says
			if err := s.UpdateMCPServer(ctx, &upd); err != nil {
				t.Fatal(err)
			}
			if !upd.CreatedAt.Equal(clock.CreatedAt) || upd.UpdatedAt.Before(clock.UpdatedAt) || upd.Name != "wall-clock" {
				t.Fatalf("updated: %+v", upd)
			}
			wantServer(t, s, &upd)
			_, err := s.Cache().MCPServerByName(ctx, "clock")
			wantCode(t, err, aiproxy.ENOTFOUND, "")
			*clock = upd

			taken := *clock
			taken.Name = "weather"
			wantCode(t, s.UpdateMCPServer(ctx, &taken), aiproxy.ECONFLICT, "name")
			missing := *clock
			missing.ID = 1 << 40
			wantCode(t, s.UpdateMCPServer(ctx, &missing), aiproxy.ENOTFOUND, "")
			moved := *clock
			moved.Scope, moved.GroupID = aiproxy.MCPGroup, "nope"
			wantCode(t, s.UpdateMCPServer(ctx, &moved), aiproxy.ENOTFOUND, "group")
			invalid := *clock
			invalid.CallPrice = -1
			wantCode(t, s.UpdateMCPServer(ctx, &invalid), aiproxy.EINVALID, "callPrice")
			wantServer(t, s, clock)
		})

		t.Run("group values", func(t *testing.T) {
			none := &aiproxy.MCPGroupValues{ServerID: weather.ID, GroupID: "acme"}
			wantValues(t, s, none)
			wantValues(t, s, &aiproxy.MCPGroupValues{ServerID: 1 << 40, GroupID: "nobody"})

			v := &aiproxy.MCPGroupValues{ServerID: weather.ID, GroupID: "acme", Values: map[string]string{"X-Group-Key": "g-secret", "tenant": "a&b"}, Disabled: true}
			if err := s.SetMCPGroupValues(ctx, v); err != nil {
				t.Fatal(err)
			}
			if v.UpdatedAt.IsZero() {
				t.Fatal("UpdatedAt not set")
			}
			wantValues(t, s, v)

			// Setting again replaces everything the group set.
			again := &aiproxy.MCPGroupValues{ServerID: weather.ID, GroupID: "acme", Values: map[string]string{"region": "eu"}}
			if err := s.SetMCPGroupValues(ctx, again); err != nil {
				t.Fatal(err)
			}
			wantValues(t, s, again)
			cleared := &aiproxy.MCPGroupValues{ServerID: weather.ID, GroupID: "acme", Values: map[string]string{}}
			if err := s.SetMCPGroupValues(ctx, cleared); err != nil || cleared.Values != nil {
				t.Fatalf("cleared: %+v, %v", cleared, err)
			}
			wantValues(t, s, cleared)
			if n := count(t, db, "mcp_group_values"); n != 1 {
				t.Fatalf("%d rows of values", n)
			}
			wantValues(t, s, &aiproxy.MCPGroupValues{ServerID: weather.ID, GroupID: "other"})

			wantCode(t, s.SetMCPGroupValues(ctx, &aiproxy.MCPGroupValues{ServerID: 1 << 40, GroupID: "acme"}), aiproxy.ENOTFOUND, "server")
			wantCode(t, s.SetMCPGroupValues(ctx, &aiproxy.MCPGroupValues{ServerID: weather.ID, GroupID: "nope"}), aiproxy.ENOTFOUND, "group")
			wantCode(t, s.SetMCPGroupValues(ctx, &aiproxy.MCPGroupValues{ServerID: weather.ID}), aiproxy.EINVALID, "group")
		})

		t.Run("delete server", func(t *testing.T) {
			values := []*aiproxy.MCPGroupValues{
				{ServerID: acmeProxy.ID, GroupID: "acme", Values: map[string]string{"X-Group-Key": "k"}},
				{ServerID: acmeProxy.ID, GroupID: "other", Disabled: true},
			}
			for _, v := range values {
				if err := s.SetMCPGroupValues(ctx, v); err != nil {
					t.Fatal(err)
				}
				wantValues(t, s, v)
			}
			if err := s.DeleteMCPServer(ctx, acmeProxy.ID); err != nil {
				t.Fatal(err)
			}
			wantNoServer(t, s, acmeProxy.ID)
			_, err := s.Cache().MCPServerByName(ctx, acmeProxy.Name)
			wantCode(t, err, aiproxy.ENOTFOUND, "")
			for _, v := range values {
				wantValues(t, s, &aiproxy.MCPGroupValues{ServerID: v.ServerID, GroupID: v.GroupID})
			}
			n, err := store.Bun(db).NewSelect().Table("mcp_group_values").Where("server_id = ?", acmeProxy.ID).Count(ctx)
			if err != nil || n != 0 {
				t.Fatalf("%d rows of values left, %v", n, err)
			}
			wantCode(t, s.DeleteMCPServer(ctx, acmeProxy.ID), aiproxy.ENOTFOUND, "")
		})

		t.Run("delete group", func(t *testing.T) {
			values := []*aiproxy.MCPGroupValues{
				{ServerID: clock.ID, GroupID: "other", Values: map[string]string{"timezone": "Asia/Tokyo"}},
				{ServerID: otherProxy.ID, GroupID: "other", Values: map[string]string{"tenant": "o"}},
				{ServerID: otherProxy.ID, GroupID: "acme", Disabled: true},
			}
			for _, v := range values {
				if err := s.SetMCPGroupValues(ctx, v); err != nil {
					t.Fatal(err)
				}
			}
			kept := &aiproxy.MCPGroupValues{ServerID: clock.ID, GroupID: "acme", Values: map[string]string{"timezone": "UTC"}}
			if err := s.SetMCPGroupValues(ctx, kept); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteGroup(ctx, "other"); err != nil {
				t.Fatal(err)
			}
			// Its GROUP server goes, with every group's values for it, and
			// its values for the other servers.
			wantNoServer(t, s, otherProxy.ID)
			for _, v := range values {
				wantValues(t, s, &aiproxy.MCPGroupValues{ServerID: v.ServerID, GroupID: v.GroupID})
			}
			wantValues(t, s, kept)
			wantServer(t, s, clock)
			wantServer(t, s, weather)
			if n := count(t, db, "mcp_group_values"); n != 2 { // weather × acme, clock × acme
				t.Fatalf("%d rows of values", n)
			}
		})
	})
}

// TestMCPCacheReplicas checks that a write through one Store shows in the
// Cache of a second one on the same database through the Bus they share,
// with no periodic refresh to help, and that the Cache answers without
// a query.
func TestMCPCacheReplicas(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		eachBus(t, func(t *testing.T, busA, busB store.Bus) {
			ctx := context.Background()
			replica := func(bus store.Bus) (*store.Store, *atomic.Int64) {
				db := storetest.OpenDB(t, dsn)
				queries := store.CountQueries(db, "") // before Start: adding a hook races with queries
				s := store.New(db, nil)
				s.RefreshInterval = time.Hour
				s.Bus = bus
				start(t, s)
				return s, queries
			}
			a, _ := replica(busA)
			b, queries := replica(busB)
			createGroup(t, a, "acme")
			c := b.Cache()

			srv := createMCPServer(t, a, openAPIServer("weather", bigSpec(64<<10)))
			waitFor(t, "the new server", func() bool { got, err := c.MCPServer(ctx, srv.ID); return err == nil && mcpEqual(got, srv) })
			group := createMCPServer(t, a, proxyServer("acme-proxy", "acme"))
			waitFor(t, "the group's server", func() bool {
				got, _ := c.MCPServers(ctx, aiproxy.MCPServerFilter{GroupID: "acme"})
				return len(got) == 2
			})

			upd := *srv
			upd.Description, upd.Enabled = "changed", false
			if err := a.UpdateMCPServer(ctx, &upd); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the update", func() bool {
				got, _ := c.MCPServer(ctx, srv.ID)
				return got != nil && got.Description == "changed" && !got.Enabled
			})

			v := &aiproxy.MCPGroupValues{ServerID: srv.ID, GroupID: "acme", Values: map[string]string{"k": "v"}, Disabled: true}
			if err := a.SetMCPGroupValues(ctx, v); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the values", func() bool { got, _ := c.MCPGroupValues(ctx, srv.ID, "acme"); return mcpEqual(got, v) })

			// The hot path never queries.
			before := queries.Load()
			for range 100 {
				c.MCPServer(ctx, srv.ID)
				c.MCPServer(ctx, 1<<40)
				c.MCPServers(ctx, aiproxy.MCPServerFilter{GroupID: "acme"})
				c.MCPGroupValues(ctx, srv.ID, "acme")
				c.MCPGroupValues(ctx, srv.ID, "nobody")
			}
			if n := queries.Load() - before; n != 0 {
				t.Errorf("cache reads made %d queries", n)
			}

			if err := a.DeleteGroup(ctx, "acme"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the group's server gone", func() bool { _, err := c.MCPServer(ctx, group.ID); return err != nil })
			waitFor(t, "the group's values gone", func() bool { got, _ := c.MCPGroupValues(ctx, srv.ID, "acme"); return got.Values == nil })
			if err := a.DeleteMCPServer(ctx, srv.ID); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the deleted server", func() bool {
				_, err := c.MCPServer(ctx, srv.ID)
				return aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND
			})
		})
	})
}

// TestMCPCacheRefresh checks the periodic refresh, the safety net for
// lost Changes: a replica with no shared Bus sees another's writes within
// its interval, and re-reads only the servers that changed.
func TestMCPCacheRefresh(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		b, _ := open(t, dsn)
		db := storetest.OpenDB(t, dsn)
		full := store.CountQueries(db, "tool_prices") // the query reading whole server rows; before Start, which races with adding a hook
		a := store.New(db, nil)
		a.RefreshInterval = 20 * time.Millisecond
		start(t, a)
		createGroup(t, b, "acme")

		srv := createMCPServer(t, b, openAPIServer("weather", bigSpec(256<<10)))
		createMCPServer(t, b, embeddedServer("clock"))
		waitFor(t, "the new servers", func() bool { got, _ := a.Cache().MCPServers(ctx, aiproxy.MCPServerFilter{}); return len(got) == 2 })

		before := full.Load()
		time.Sleep(200 * time.Millisecond) // some ten refreshes
		if n := full.Load() - before; n != 0 {
			t.Errorf("unchanged servers read again %d times", n)
		}

		upd := *srv
		upd.OpenAPI = &aiproxy.MCPOpenAPIConfig{Spec: "openapi: 3.1.0"}
		if err := b.UpdateMCPServer(ctx, &upd); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the new spec", func() bool {
			got, _ := a.Cache().MCPServer(ctx, srv.ID)
			return got != nil && got.OpenAPI.Spec == "openapi: 3.1.0"
		})
		v := &aiproxy.MCPGroupValues{ServerID: srv.ID, GroupID: "acme", Values: map[string]string{"k": "v"}}
		if err := b.SetMCPGroupValues(ctx, v); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the values", func() bool { got, _ := a.Cache().MCPGroupValues(ctx, srv.ID, "acme"); return mcpEqual(got, v) })
		if err := b.DeleteMCPServer(ctx, srv.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the deleted server", func() bool {
			got, _ := a.Cache().MCPServers(ctx, aiproxy.MCPServerFilter{})
			return len(got) == 1 && got[0].Name == "clock"
		})
		if got, _ := a.Cache().MCPGroupValues(ctx, srv.ID, "acme"); got.Values != nil {
			t.Fatalf("values of a deleted server: %+v", got)
		}
	})
}
