package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.MCPService = (*Store)(nil)

// mcpServerRow holds an MCP server. Its secrets (credentials, proxy header
// and query values, embedded values) are stored as given, like channel
// keys.
type mcpServerRow struct {
	bun.BaseModel `bun:"table:mcp_servers"`

	ID                  int64     `bun:"id,pk,autoincrement"`
	Name                string    `bun:"name"`
	Description         string    `bun:"description"`
	Kind                string    `bun:"kind"`
	Scope               string    `bun:"scope"`
	GroupID             string    `bun:"group_id,nullzero"` // NULL for a PUBLIC server
	Enabled             bool      `bun:"enabled"`
	AllowPrivateNetwork bool      `bun:"allow_private_network"`
	CallPrice           int64     `bun:"call_price"`
	ToolPrices          string    `bun:"tool_prices"` // JSON object: tool name to price
	Config              string    `bun:"config"`      // JSON mcpConfig: the config of the server's kind
	Tools               string    `bun:"tools"`       // JSON array of mcpTool
	CreatedAt           time.Time `bun:"created_at"`
	UpdatedAt           time.Time `bun:"updated_at"`
}

// mcpConfig is the stored form of a server's kind-specific config: one
// field set, that of its kind. Empty fields are left out, and read back
// as nil.
type mcpConfig struct {
	OpenAPI  *mcpOpenAPI  `json:"openapi,omitempty"`
	Proxy    *mcpProxy    `json:"proxy,omitempty"`
	Embedded *mcpEmbedded `json:"embedded,omitempty"`
}

type mcpOpenAPI struct {
	SpecURL          string          `json:"specUrl,omitempty"`
	Spec             string          `json:"spec,omitempty"`
	BaseURL          string          `json:"baseUrl,omitempty"`
	Credentials      []mcpCredential `json:"credentials,omitempty"`
	Timeout          time.Duration   `json:"timeoutNs,omitempty"`
	MaxResponseBytes int64           `json:"maxResponseBytes,omitempty"`
}

// mcpCredential, mcpProxy, mcpEmbedded and mcpTool have the fields of
// their aiproxy types, so that they convert to and from them (and stop
// compiling when a field is added there).
type mcpCredential struct {
	Scheme string `json:"scheme"`
	Value  string `json:"value"`
}

type mcpProxy struct {
	URL          string            `json:"url"`
	Transport    string            `json:"transport,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Query        map[string]string `json:"query,omitempty"`
	GroupHeaders []string          `json:"groupHeaders,omitempty"`
	GroupQuery   []string          `json:"groupQuery,omitempty"`
}

type mcpEmbedded struct {
	Template string            `json:"template"`
	Values   map[string]string `json:"values,omitempty"`
}

type mcpTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema,omitempty"`
	ReadOnly    bool            `json:"readOnly,omitempty"`
	Destructive bool            `json:"destructive,omitempty"`
}

// toMCPServerRow returns the row of s, keeping only the config of its
// Kind. It returns EINVALID when a tool's InputSchema is not JSON.
func toMCPServerRow(s *aiproxy.MCPServer) (*mcpServerRow, error) {
	var cfg mcpConfig
	switch {
	case s.Kind == aiproxy.MCPOpenAPI && s.OpenAPI != nil:
		o := s.OpenAPI
		cfg.OpenAPI = &mcpOpenAPI{SpecURL: o.SpecURL, Spec: o.Spec, BaseURL: o.BaseURL, Timeout: o.Timeout, MaxResponseBytes: o.MaxResponseBytes}
		for _, c := range o.Credentials {
			cfg.OpenAPI.Credentials = append(cfg.OpenAPI.Credentials, mcpCredential(c))
		}
	case s.Kind == aiproxy.MCPProxy && s.Proxy != nil:
		p := mcpProxy(*s.Proxy)
		cfg.Proxy = &p
	case s.Kind == aiproxy.MCPEmbedded && s.Embedded != nil:
		e := mcpEmbedded(*s.Embedded)
		cfg.Embedded = &e
	}
	tools := make([]mcpTool, len(s.Tools))
	for i, t := range s.Tools {
		if len(t.InputSchema) > 0 && !json.Valid(t.InputSchema) {
			return nil, aiproxy.FieldErrorf("tools", "the input schema of tool %s is not JSON", t.Name)
		}
		tools[i] = mcpTool(t)
	}
	prices := s.ToolPrices
	if prices == nil {
		prices = map[string]aiproxy.Amount{}
	}
	r := &mcpServerRow{
		ID:                  s.ID,
		Name:                s.Name,
		Description:         s.Description,
		Kind:                string(s.Kind),
		Scope:               string(s.Scope),
		GroupID:             s.GroupID,
		Enabled:             s.Enabled,
		AllowPrivateNetwork: s.AllowPrivateNetwork,
		CallPrice:           int64(s.CallPrice),
		ToolPrices:          encodeJSON(prices),
		Config:              encodeJSON(cfg),
		Tools:               encodeJSON(tools),
		CreatedAt:           utc(s.CreatedAt),
		UpdatedAt:           utc(s.UpdatedAt),
	}
	return r, nil
}

func (r *mcpServerRow) server() (*aiproxy.MCPServer, error) {
	s := &aiproxy.MCPServer{
		ID:                  r.ID,
		Name:                r.Name,
		Description:         r.Description,
		Kind:                aiproxy.MCPKind(r.Kind),
		Scope:               aiproxy.MCPScope(r.Scope),
		GroupID:             r.GroupID,
		Enabled:             r.Enabled,
		AllowPrivateNetwork: r.AllowPrivateNetwork,
		CallPrice:           aiproxy.Amount(r.CallPrice),
		CreatedAt:           r.CreatedAt.UTC(),
		UpdatedAt:           r.UpdatedAt.UTC(),
	}
	var (
		cfg   mcpConfig
		tools []mcpTool
	)
	if err := json.Unmarshal([]byte(r.ToolPrices), &s.ToolPrices); err != nil {
		return nil, fmt.Errorf("MCP server %d: tool prices: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Config), &cfg); err != nil {
		return nil, fmt.Errorf("MCP server %d: config: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Tools), &tools); err != nil {
		return nil, fmt.Errorf("MCP server %d: tools: %w", r.ID, err)
	}
	if len(s.ToolPrices) == 0 {
		s.ToolPrices = nil
	}
	if o := cfg.OpenAPI; o != nil {
		s.OpenAPI = &aiproxy.MCPOpenAPIConfig{SpecURL: o.SpecURL, Spec: o.Spec, BaseURL: o.BaseURL, Timeout: o.Timeout, MaxResponseBytes: o.MaxResponseBytes}
		for _, c := range o.Credentials {
			s.OpenAPI.Credentials = append(s.OpenAPI.Credentials, aiproxy.MCPCredential(c))
		}
	}
	if p := cfg.Proxy; p != nil {
		v := aiproxy.MCPProxyConfig(*p)
		s.Proxy = &v
	}
	if e := cfg.Embedded; e != nil {
		v := aiproxy.MCPEmbeddedConfig(*e)
		s.Embedded = &v
	}
	for _, t := range tools {
		s.Tools = append(s.Tools, aiproxy.MCPTool(t))
	}
	return s, nil
}

// mcpGroupValuesRow holds what one group set for one server.
type mcpGroupValuesRow struct {
	bun.BaseModel `bun:"table:mcp_group_values"`

	ServerID  int64     `bun:"server_id,pk"`
	GroupID   string    `bun:"group_id,pk"`
	Values    string    `bun:"values"` // JSON object; secret values, stored as given
	Disabled  bool      `bun:"disabled"`
	UpdatedAt time.Time `bun:"updated_at"`
}

func (r *mcpGroupValuesRow) groupValues() (*aiproxy.MCPGroupValues, error) {
	v := &aiproxy.MCPGroupValues{ServerID: r.ServerID, GroupID: r.GroupID, Disabled: r.Disabled, UpdatedAt: r.UpdatedAt.UTC()}
	if err := json.Unmarshal([]byte(r.Values), &v.Values); err != nil {
		return nil, fmt.Errorf("MCP values of group %q for server %d: %w", r.GroupID, r.ServerID, err)
	}
	if len(v.Values) == 0 {
		v.Values = nil
	}
	return v, nil
}

// encodeJSON encodes a JSON column, leaving <, > and & as they are (a
// spec is full of them).
func encodeJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // strings, numbers and valid raw JSON always encode
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// mcpWriteError translates the constraint violations of writing s: a
// name taken (ECONFLICT) or a group that does not exist (ENOTFOUND).
func mcpWriteError(err error, s *aiproxy.MCPServer) error {
	switch violation(err) {
	case violationUnique:
		return &aiproxy.Error{Code: aiproxy.ECONFLICT, Field: "name", Message: fmt.Sprintf("an MCP server is named %s already", s.Name)}
	case violationForeignKey:
		return groupNotFound(s.GroupID)
	}
	return err
}

func groupNotFound(id string) error {
	return &aiproxy.Error{Code: aiproxy.ENOTFOUND, Field: "group", Message: fmt.Sprintf("group %q not found", id)}
}

// CreateMCPServer validates srv, stores it and sets it as stored, with
// its ID and times: only the config of its Kind is kept, tools' input
// schemas are compacted, and empty maps and lists read back as nil. It
// returns EINVALID, ECONFLICT (Field "name") when the name is taken, or
// ENOTFOUND (Field "group") when a GROUP server's group does not exist.
// The Cache serves the server when it returns.
func (s *Store) CreateMCPServer(ctx context.Context, srv *aiproxy.MCPServer) error {
	if err := srv.Validate(); err != nil {
		return err
	}
	row, err := toMCPServerRow(srv)
	if err != nil {
		return err
	}
	row.ID = 0
	row.CreatedAt = now()
	row.UpdatedAt = row.CreatedAt
	if _, err := s.db.rw.NewInsert().Model(row).Exec(ctx); err != nil {
		return wrap("create MCP server", mcpWriteError(err, srv))
	}
	stored, err := row.server()
	if err != nil {
		return wrap("create MCP server", err)
	}
	*srv = *stored
	s.announce(ctx, ChangeMCPServer, strconv.FormatInt(srv.ID, 10))
	return nil
}

// UpdateMCPServer replaces the stored server srv.ID with srv, secrets
// included (the caller merges those left unchanged), keeping its
// CreatedAt, and sets srv as stored. It returns ENOTFOUND for an unknown
// id, and the errors of CreateMCPServer. The Cache serves the change when
// it returns.
func (s *Store) UpdateMCPServer(ctx context.Context, srv *aiproxy.MCPServer) error {
	if err := srv.Validate(); err != nil {
		return err
	}
	row, err := toMCPServerRow(srv)
	if err != nil {
		return err
	}
	row.UpdatedAt = now()
	err = s.db.rw.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var old mcpServerRow
		q := tx.NewSelect().Model(&old).Column("id", "created_at").Where("id = ?", srv.ID)
		if err := forUpdate(q).Scan(ctx); err != nil {
			return notFound(err, "MCP server %d not found", srv.ID)
		}
		row.CreatedAt = old.CreatedAt.UTC()
		_, err := tx.NewUpdate().Model(row).WherePK().Exec(ctx)
		return mcpWriteError(err, srv)
	})
	if err != nil {
		return wrap("update MCP server", err)
	}
	stored, err := row.server()
	if err != nil {
		return wrap("update MCP server", err)
	}
	*srv = *stored
	s.announce(ctx, ChangeMCPServer, strconv.FormatInt(srv.ID, 10))
	return nil
}

// DeleteMCPServer removes a server and every group's values for it, or
// returns ENOTFOUND. The Cache stops serving it when it returns.
func (s *Store) DeleteMCPServer(ctx context.Context, id int64) error {
	err := s.db.rw.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// The server's row first, as SetMCPGroupValues locks it, so that
		// the two never wait on each other's rows.
		if err := lockMCPServer(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*mcpGroupValuesRow)(nil)).Where("server_id = ?", id).Exec(ctx); err != nil {
			return err
		}
		return mustDelete(ctx, tx.NewDelete().Model((*mcpServerRow)(nil)).Where("id = ?", id), "MCP server %d not found", id)
	})
	if err != nil {
		return wrap("delete MCP server", err)
	}
	s.announce(ctx, ChangeMCPServer, strconv.FormatInt(id, 10))
	return nil
}

// lockMCPServer locks the row of server id until the transaction db ends,
// or returns ENOTFOUND (Field "server").
func lockMCPServer(ctx context.Context, db bun.IDB, id int64) error {
	var row mcpServerRow
	err := forUpdate(db.NewSelect().Model(&row).Column("id").Where("id = ?", id)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return &aiproxy.Error{Code: aiproxy.ENOTFOUND, Field: "server", Message: fmt.Sprintf("MCP server %d not found", id)}
	}
	return err
}

// MCPServer returns one server, or ENOTFOUND, from the database. The MCP
// endpoints read Cache.MCPServer instead.
func (s *Store) MCPServer(ctx context.Context, id int64) (*aiproxy.MCPServer, error) {
	srv, err := findMCPServer(ctx, s.db.ro, "id", id, "MCP server %d not found")
	return srv, wrap("find MCP server", err)
}

// MCPServerByName returns the server named name, or ENOTFOUND, from the
// database.
func (s *Store) MCPServerByName(ctx context.Context, name string) (*aiproxy.MCPServer, error) {
	srv, err := findMCPServer(ctx, s.db.ro, "name", name, "MCP server %q not found")
	return srv, wrap("find MCP server", err)
}

// MCPServers returns the servers f selects, disabled ones included,
// ordered by id, from the database.
func (s *Store) MCPServers(ctx context.Context, f aiproxy.MCPServerFilter) ([]*aiproxy.MCPServer, error) {
	var rows []mcpServerRow
	q := s.db.ro.NewSelect().Model(&rows).Order("id")
	if f.GroupID != "" {
		q = q.Where("scope = ? OR (scope = ? AND group_id = ?)", string(aiproxy.MCPPublic), string(aiproxy.MCPGroup), f.GroupID)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", string(f.Kind))
	}
	if f.Scope != "" {
		q = q.Where("scope = ?", string(f.Scope))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrap("list MCP servers", err)
	}
	out := make([]*aiproxy.MCPServer, len(rows))
	for i := range rows {
		srv, err := rows[i].server()
		if err != nil {
			return nil, wrap("list MCP servers", err)
		}
		out[i] = srv
	}
	return out, nil
}

func findMCPServer(ctx context.Context, db bun.IDB, column string, key any, format string) (*aiproxy.MCPServer, error) {
	row, err := findRow[mcpServerRow](ctx, db, column, key, false, format)
	if err != nil {
		return nil, err
	}
	return row.server()
}

// SetMCPGroupValues stores v, replacing what v.GroupID set for v.ServerID
// before, and sets v.UpdatedAt; empty Values read back as nil. It returns
// EINVALID without a group, or ENOTFOUND (Field "server" or "group") when
// the server or the group does not exist. The Cache serves the values
// when it returns.
func (s *Store) SetMCPGroupValues(ctx context.Context, v *aiproxy.MCPGroupValues) error {
	if v.GroupID == "" {
		return aiproxy.FieldErrorf("group", "group is required")
	}
	values := v.Values
	if values == nil {
		values = map[string]string{}
	}
	row := &mcpGroupValuesRow{ServerID: v.ServerID, GroupID: v.GroupID, Values: encodeJSON(values), Disabled: v.Disabled, UpdatedAt: now()}
	err := s.db.rw.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// Locking the server serializes the writes of its values.
		if err := lockMCPServer(ctx, tx, v.ServerID); err != nil {
			return err
		}
		if _, err := findGroup(ctx, tx, v.GroupID, false); aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
			return groupNotFound(v.GroupID)
		} else if err != nil {
			return err
		}
		exists, err := tx.NewSelect().Model((*mcpGroupValuesRow)(nil)).Where("server_id = ? AND group_id = ?", v.ServerID, v.GroupID).Exists(ctx)
		if err != nil {
			return err
		}
		if exists {
			_, err = tx.NewUpdate().Model(row).WherePK().Exec(ctx)
		} else {
			_, err = tx.NewInsert().Model(row).Exec(ctx)
		}
		if violation(err) == violationForeignKey { // the group deleted meanwhile
			return groupNotFound(v.GroupID)
		}
		return err
	})
	if err != nil {
		return wrap("set MCP group values", err)
	}
	stored, err := row.groupValues()
	if err != nil {
		return wrap("set MCP group values", err)
	}
	*v = *stored
	s.announce(ctx, ChangeMCPGroupValues, mcpValuesID(v.ServerID, v.GroupID))
	return nil
}

// MCPGroupValues returns what group set for server, from the database: an
// empty value (Values nil, UpdatedAt zero), not an error, when it set
// nothing, even for a server or group that does not exist.
func (s *Store) MCPGroupValues(ctx context.Context, server int64, group string) (*aiproxy.MCPGroupValues, error) {
	v, err := findMCPGroupValues(ctx, s.db.ro, server, group)
	if err != nil {
		return nil, wrap("find MCP group values", err)
	}
	if v == nil {
		v = &aiproxy.MCPGroupValues{ServerID: server, GroupID: group}
	}
	return v, nil
}

// findMCPGroupValues returns what group set for server, or nil when it
// set nothing.
func findMCPGroupValues(ctx context.Context, db bun.IDB, server int64, group string) (*aiproxy.MCPGroupValues, error) {
	var row mcpGroupValuesRow
	err := db.NewSelect().Model(&row).Where("server_id = ? AND group_id = ?", server, group).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return row.groupValues()
}

// mcpValuesID is the ID of a ChangeMCPGroupValues.
func mcpValuesID(server int64, group string) string {
	return strconv.FormatInt(server, 10) + "/" + group
}

// mcpCache is the Cache's MCP part: every MCP server and every group's
// values for them, which the MCP endpoints read on every call. Like the
// tokens, it is complete: a server or value missing there does not exist,
// and no read queries the database.
//
// A full load (Store.Start, each refresh, a ChangeAll or ChangeGroup)
// reads every server's id and update time, and then only the rows of the
// servers that are new or changed, so that large specs are not read again
// every RefreshInterval; groups' values are small and read in full. A
// ChangeMCPServer or ChangeMCPGroupValues reloads that one row.
//
// Its maps are replaced or changed under both loadMu and mu, so that a
// load, which holds loadMu, may read them without mu; the values in them
// are never changed once stored. The zero mcpCache is empty and ready.
type mcpCache struct {
	loadMu  sync.Mutex // one load at a time, so an older one never replaces a newer one
	mu      sync.RWMutex
	servers map[int64]*aiproxy.MCPServer
	byName  map[string]*aiproxy.MCPServer
	list    []*aiproxy.MCPServer                         // by id
	values  map[int64]map[string]*aiproxy.MCPGroupValues // by server, then group
}

// MCPServer returns one MCP server, or ENOTFOUND, from memory. The
// signature is aiproxy.MCPService's, so that the Cache and the Store
// serve one reader interface; ctx is not used.
//
// Changes made through this Store show when the write returns; those of
// other replicas when their Change arrives on the Bus, or at the latest
// on the next periodic refresh. The server is shared: treat it as
// read-only.
func (c *Cache) MCPServer(_ context.Context, id int64) (*aiproxy.MCPServer, error) {
	c.mcp.mu.RLock()
	srv := c.mcp.servers[id]
	c.mcp.mu.RUnlock()
	if srv == nil {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "MCP server %d not found", id)
	}
	return srv, nil
}

// MCPServerByName returns the MCP server named name, or ENOTFOUND, from
// memory, as MCPServer does.
func (c *Cache) MCPServerByName(_ context.Context, name string) (*aiproxy.MCPServer, error) {
	c.mcp.mu.RLock()
	srv := c.mcp.byName[name]
	c.mcp.mu.RUnlock()
	if srv == nil {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "MCP server %q not found", name)
	}
	return srv, nil
}

// MCPServers returns the MCP servers f selects, disabled ones included,
// ordered by id, from memory, as MCPServer does; it never fails. The
// slice is the caller's, the servers shared.
func (c *Cache) MCPServers(_ context.Context, f aiproxy.MCPServerFilter) ([]*aiproxy.MCPServer, error) {
	c.mcp.mu.RLock()
	defer c.mcp.mu.RUnlock()
	var out []*aiproxy.MCPServer
	for _, srv := range c.mcp.list {
		if (f.GroupID == "" || srv.Scope == aiproxy.MCPPublic || (srv.Scope == aiproxy.MCPGroup && srv.GroupID == f.GroupID)) &&
			(f.Kind == "" || srv.Kind == f.Kind) && (f.Scope == "" || srv.Scope == f.Scope) {
			out = append(out, srv)
		}
	}
	return out, nil
}

// MCPGroupValues returns what group set for server, from memory, as
// MCPServer does: an empty value (Values nil), not an error, when it set
// nothing. It never fails.
func (c *Cache) MCPGroupValues(_ context.Context, server int64, group string) (*aiproxy.MCPGroupValues, error) {
	c.mcp.mu.RLock()
	v := c.mcp.values[server][group]
	c.mcp.mu.RUnlock()
	if v == nil {
		return &aiproxy.MCPGroupValues{ServerID: server, GroupID: group}, nil
	}
	return v, nil
}

// apply reloads what a ChangeMCPServer or ChangeMCPGroupValues names; an
// ID it cannot parse reloads everything.
func (m *mcpCache) apply(ctx context.Context, db bun.IDB, ch Change) error {
	switch ch.Kind {
	case ChangeMCPServer:
		if id, err := strconv.ParseInt(ch.ID, 10, 64); err == nil {
			return m.reloadServer(ctx, db, id)
		}
	case ChangeMCPGroupValues:
		server, group, _ := strings.Cut(ch.ID, "/")
		if id, err := strconv.ParseInt(server, 10, 64); err == nil && group != "" {
			return m.reloadValues(ctx, db, id, group)
		}
	}
	return m.reload(ctx, db)
}

// reload loads every server that is new or changed since the last load,
// forgets the deleted ones, and loads every group's values.
func (m *mcpCache) reload(ctx context.Context, db bun.IDB) error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	var stamps []mcpServerRow
	if err := db.NewSelect().Model(&stamps).Column("id", "updated_at").Scan(ctx); err != nil {
		return wrap("load MCP servers", err)
	}
	servers := make(map[int64]*aiproxy.MCPServer, len(stamps))
	var stale []int64
	for _, r := range stamps {
		if old := m.servers[r.ID]; old != nil && old.UpdatedAt.Equal(r.UpdatedAt) {
			servers[r.ID] = old
		} else {
			stale = append(stale, r.ID)
		}
	}
	if len(stale) > 0 {
		var rows []mcpServerRow
		if err := db.NewSelect().Model(&rows).Where("id IN (?)", bun.List(stale)).Scan(ctx); err != nil {
			return wrap("load MCP servers", err)
		}
		for i := range rows { // a server deleted meanwhile is not there
			srv, err := rows[i].server()
			if err != nil {
				return wrap("load MCP servers", err)
			}
			servers[srv.ID] = srv
		}
	}
	var rows []mcpGroupValuesRow
	if err := db.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return wrap("load MCP group values", err)
	}
	values := map[int64]map[string]*aiproxy.MCPGroupValues{}
	for i := range rows {
		v, err := rows[i].groupValues()
		if err != nil {
			return wrap("load MCP group values", err)
		}
		if values[v.ServerID] == nil {
			values[v.ServerID] = map[string]*aiproxy.MCPGroupValues{}
		}
		values[v.ServerID][v.GroupID] = v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.servers, m.values = servers, values
	m.index()
	return nil
}

// reloadServer reloads one server; a deleted one goes with its values.
func (m *mcpCache) reloadServer(ctx context.Context, db bun.IDB, id int64) error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	srv, err := findMCPServer(ctx, db, "id", id, "MCP server %d not found")
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		srv, err = nil, nil
	} else if err != nil {
		return wrap("reload MCP server", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.servers == nil {
		m.servers = map[int64]*aiproxy.MCPServer{}
	}
	if srv != nil {
		m.servers[id] = srv
	} else {
		delete(m.servers, id)
		delete(m.values, id)
	}
	m.index()
	return nil
}

// reloadValues reloads what group set for server.
func (m *mcpCache) reloadValues(ctx context.Context, db bun.IDB, server int64, group string) error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	v, err := findMCPGroupValues(ctx, db, server, group)
	if err != nil {
		return wrap("reload MCP group values", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v == nil {
		delete(m.values[server], group)
		return nil
	}
	if m.values == nil {
		m.values = map[int64]map[string]*aiproxy.MCPGroupValues{}
	}
	if m.values[server] == nil {
		m.values[server] = map[string]*aiproxy.MCPGroupValues{}
	}
	m.values[server][group] = v
	return nil
}

// index rebuilds list and byName from servers; m.mu must be held. There
// are few servers: rebuilding is simpler than keeping them in step.
func (m *mcpCache) index() {
	m.list = make([]*aiproxy.MCPServer, 0, len(m.servers))
	m.byName = make(map[string]*aiproxy.MCPServer, len(m.servers))
	for _, srv := range m.servers {
		m.list = append(m.list, srv)
	}
	slices.SortFunc(m.list, func(a, b *aiproxy.MCPServer) int { return cmp.Compare(a.ID, b.ID) })
	for _, srv := range m.list {
		m.byName[srv.Name] = srv
	}
}
