package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/aiproxy/aiproxy"
)

// Cache answers the relay's per-request questions from memory: which
// token a key belongs to, which channels serve a model, what a model
// costs, and the MCP endpoints' per-call ones: an MCP server and what a
// group set for it (MCPServer, MCPServers, MCPGroupValues in mcp.go). It
// holds every token (by the hash of its key: never a key itself) with
// its group, a snapshot of the channels and model configs, and every MCP
// server and group's values for them, all loaded by Store.Start,
// reloaded every Store.RefreshInterval and, value by value, on every
// Change its Store's Bus delivers. Everything it returns is shared with
// other callers and must be treated as read-only. It is safe for
// concurrent use.
type Cache struct {
	s *Store

	catalog      atomic.Pointer[catalog]
	catalogMu    sync.Mutex    // one catalog load at a time, so an older load never replaces a newer one
	catalogAsked atomic.Uint64 // catalog loads asked for so far
	catalogDone  uint64        // asks served by the loads done; under catalogMu

	loadMu sync.Mutex // one token load at a time, for the same reason
	mu     sync.RWMutex
	tokens map[[sha256.Size]byte]*aiproxy.Token // by hash of the key
	byID   map[int64][sha256.Size]byte          // key hashes by token id
	groups map[string]*aiproxy.Group

	mcp mcpCache // MCP servers and groups' values for them (mcp.go)
}

// catalog is an immutable snapshot of the channels and model configs.
type catalog struct {
	channels map[string][]*aiproxy.Channel // enabled channels by model, best first
	all      []*aiproxy.Channel            // every channel, by id
	configs  map[string]*aiproxy.ModelConfig
	models   []string
	// overrides are the groups' model overrides, by group and model.
	overrides map[[2]string]*aiproxy.GroupModelConfig
}

// AllChannels returns every channel, enabled or not, ordered by id, from
// memory (kept as current as Channels: every change reloads it). The
// values are shared and read-only. The admin pages list channels from it.
func (c *Cache) AllChannels() []*aiproxy.Channel {
	if cat := c.catalog.Load(); cat != nil {
		return cat.all
	}
	return nil
}

// AllGroups returns every group, ordered by id, from memory (refreshed on
// every change and every RefreshInterval). The values are shared and
// read-only: the admin pages list groups from it.
func (c *Cache) AllGroups() []*aiproxy.Group {
	c.mu.RLock()
	out := make([]*aiproxy.Group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b *aiproxy.Group) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AllTokens returns every token, ordered by id, from memory, as
// AllGroups does. Used amounts may lag the database by the ledger's
// flush and the refresh interval.
func (c *Cache) AllTokens() []*aiproxy.Token {
	c.mu.RLock()
	out := make([]*aiproxy.Token, 0, len(c.tokens))
	for _, t := range c.tokens {
		out = append(out, t)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b *aiproxy.Token) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Cache limits.
const (
	maxKeyLen     = 256              // longer keys are refused without a lookup
	lookupTimeout = 10 * time.Second // for loads no caller waits on alone
)

// invalidKey returns the error for a key that opens no token.
func invalidKey() error { return aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "invalid API key") }

func newCache(s *Store) *Cache {
	return &Cache{
		s:      s,
		tokens: map[[sha256.Size]byte]*aiproxy.Token{},
		byID:   map[int64][sha256.Size]byte{},
		groups: map[string]*aiproxy.Group{},
	}
}

// TokenByKey returns the token of a key and its group, or an error with
// code EUNAUTHORIZED ("invalid API key") when no token has this key. It
// does not check whether the token or group is enabled or expired: the
// caller does.
//
// It never queries the database: every token is in memory, so a key
// missing there is unknown. Changes made through this Store show when
// the write returns; those of other replicas when their Change arrives on
// the Bus, or at the latest on the next periodic refresh.
func (c *Cache) TokenByKey(ctx context.Context, key string) (*aiproxy.Token, *aiproxy.Group, error) {
	if len(key) > maxKeyLen || !strings.HasPrefix(key, aiproxy.TokenKeyPrefix) {
		return nil, nil, invalidKey()
	}
	// The key is only read: hashing it in place saves a copy per request.
	h := sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
	c.mu.RLock()
	t := c.tokens[h]
	var g *aiproxy.Group
	if t != nil {
		g = c.groups[t.GroupID]
	}
	c.mu.RUnlock()
	if t == nil || g == nil {
		return nil, nil, invalidKey()
	}
	return t, g, nil
}

// apply reloads what c says changed. A failure is logged: the periodic
// refresh catches up.
func (c *Cache) apply(ch Change) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	var err error
	switch ch.Kind {
	case "":
		return
	case ChangeToken:
		id, perr := strconv.ParseInt(ch.ID, 10, 64)
		if perr != nil {
			err = c.reload(ctx)
			break
		}
		err = c.reloadToken(ctx, id)
	case ChangeGroup: // its overrides and MCP servers and values too: deleting a group deletes them
		err = errors.Join(c.reloadGroup(ctx, ch.ID), c.refreshCatalog(ctx), c.mcp.reload(ctx, c.s.db.ro))
	case ChangeMCPServer, ChangeMCPGroupValues:
		err = c.mcp.apply(ctx, c.s.db.ro, ch)
	case ChangeChannel, ChangeModelConfig, ChangeGroupModelConfig:
		err = c.refreshCatalog(ctx)
	default: // ChangeAll, or a kind this version does not know
		err = c.reload(ctx)
	}
	if err != nil {
		slog.Warn("store: apply change to the cache", "kind", ch.Kind, "id", ch.ID, "err", err)
	}
}

// reload loads everything again.
func (c *Cache) reload(ctx context.Context) error {
	return errors.Join(c.refreshCatalog(ctx), c.reloadTokens(ctx), c.mcp.reload(ctx, c.s.db.ro))
}

// reloadTokens replaces every token and group.
func (c *Cache) reloadTokens(ctx context.Context) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	groups, err := c.s.Groups(ctx)
	if err != nil {
		return err
	}
	tokens, err := c.s.Tokens(ctx, "")
	if err != nil {
		return err
	}
	gs := make(map[string]*aiproxy.Group, len(groups))
	for _, g := range groups {
		gs[g.ID] = g
	}
	byHash := make(map[[sha256.Size]byte]*aiproxy.Token, len(tokens))
	byID := make(map[int64][sha256.Size]byte, len(tokens))
	for _, t := range tokens {
		if h, ok := keyHash(t); ok {
			byHash[h], byID[t.ID] = t, h
		}
	}
	c.mu.Lock()
	c.tokens, c.byID, c.groups = byHash, byID, gs
	c.mu.Unlock()
	return nil
}

// reloadToken reloads one token and its group.
func (c *Cache) reloadToken(ctx context.Context, id int64) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	t, err := findToken(ctx, c.s.db.ro, id, false)
	var g *aiproxy.Group
	if err == nil {
		g, err = findGroup(ctx, c.s.db.ro, t.GroupID, false)
	}
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		t, err = nil, nil // deleted, maybe with its group
	} else if err != nil {
		return wrap("reload token", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeToken(id)
	if t != nil {
		c.groups[g.ID] = g
		c.putToken(t)
	}
	return nil
}

// reloadGroup reloads a group and its tokens.
func (c *Cache) reloadGroup(ctx context.Context, id string) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	g, err := findGroup(ctx, c.s.db.ro, id, false)
	var tokens []*aiproxy.Token
	if err == nil {
		tokens, err = c.s.Tokens(ctx, id)
	}
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		g, err = nil, nil
	} else if err != nil {
		return wrap("reload group", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for tid, h := range c.byID { // group changes are rare: a scan is fine
		if c.tokens[h].GroupID == id {
			c.removeToken(tid)
		}
	}
	delete(c.groups, id)
	if g != nil {
		c.groups[id] = g
		for _, t := range tokens {
			c.putToken(t)
		}
	}
	return nil
}

// putToken adds or replaces t; c.mu must be held.
func (c *Cache) putToken(t *aiproxy.Token) {
	if h, ok := keyHash(t); ok {
		c.tokens[h], c.byID[t.ID] = t, h
	}
}

// removeToken forgets a token; c.mu must be held.
func (c *Cache) removeToken(id int64) {
	if h, ok := c.byID[id]; ok {
		delete(c.tokens, h)
		delete(c.byID, id)
	}
}

// keyHash decodes t.KeyHash.
func keyHash(t *aiproxy.Token) (h [sha256.Size]byte, ok bool) {
	if n, err := hex.Decode(h[:], []byte(t.KeyHash)); err != nil || n != sha256.Size {
		slog.Warn("store: token with a malformed key hash, ignored", "token", t.ID)
		return h, false
	}
	return h, true
}

// Channels returns the enabled channels serving model, highest Priority
// first and then by ID; nil when there are none.
func (c *Cache) Channels(model string) []*aiproxy.Channel {
	if cat := c.catalog.Load(); cat != nil {
		return cat.channels[model]
	}
	return nil
}

// ModelConfig returns the config of model, if it has one.
func (c *Cache) ModelConfig(model string) (*aiproxy.ModelConfig, bool) {
	if cat := c.catalog.Load(); cat != nil {
		m, ok := cat.configs[model]
		return m, ok
	}
	return nil, false
}

// Override returns group's override of model, if it has one.
func (c *Cache) Override(groupID, model string) (*aiproxy.GroupModelConfig, bool) {
	if cat := c.catalog.Load(); cat != nil {
		o, ok := cat.overrides[[2]string{groupID, model}]
		return o, ok
	}
	return nil, false
}

// Effective returns what applies to group g's requests for model (g nil:
// no group): the group's override, the model config and the price
// catalogue's entry, from memory.
func (c *Cache) Effective(g *aiproxy.Group, model string) aiproxy.EffectiveModel {
	var mc *aiproxy.ModelConfig
	var o *aiproxy.GroupModelConfig
	if cat := c.catalog.Load(); cat != nil {
		mc = cat.configs[model]
		if g != nil && len(cat.overrides) > 0 {
			o = cat.overrides[[2]string{g.ID, model}]
		}
	}
	var ce *aiproxy.CatalogueEntry
	if mc == nil || !mc.Pricing.Priced() {
		ce, _ = c.s.catalogue().Lookup(model)
	}
	return aiproxy.Effective(model, g, mc, o, ce)
}

// Models returns every model served by an enabled channel, sorted.
func (c *Cache) Models() []string {
	if cat := c.catalog.Load(); cat != nil {
		return cat.models
	}
	return nil
}

// refreshCatalog reloads the channels and model configs. Concurrent
// calls share loads: a call returns once a load that began after it was
// made has finished.
func (c *Cache) refreshCatalog(ctx context.Context) error {
	ask := c.catalogAsked.Add(1)
	c.catalogMu.Lock()
	defer c.catalogMu.Unlock()
	if c.catalogDone >= ask {
		return nil
	}
	serves := c.catalogAsked.Load()
	channels, err := listChannels(ctx, c.s.db.ro)
	if err != nil {
		return wrap("load channels", err)
	}
	configs, err := listModelConfigs(ctx, c.s.db.ro)
	if err != nil {
		return wrap("load model configs", err)
	}
	overrides, err := listGroupModelConfigs(ctx, c.s.db.ro, "")
	if err != nil {
		return wrap("load group model configs", err)
	}
	cat := newCatalog(channels, configs)
	for _, o := range overrides {
		cat.overrides[[2]string{o.GroupID, o.Model}] = o
	}
	c.catalog.Store(cat)
	c.catalogDone = serves
	return nil
}

func newCatalog(channels []*aiproxy.Channel, configs []*aiproxy.ModelConfig) *catalog {
	cat := &catalog{
		all:       channels,
		channels:  map[string][]*aiproxy.Channel{},
		configs:   make(map[string]*aiproxy.ModelConfig, len(configs)),
		overrides: map[[2]string]*aiproxy.GroupModelConfig{},
	}
	for _, ch := range channels {
		if !ch.Enabled {
			continue
		}
		for _, m := range ch.Models {
			cat.channels[m] = append(cat.channels[m], ch)
		}
	}
	for m, chs := range cat.channels {
		slices.SortFunc(chs, func(a, b *aiproxy.Channel) int {
			return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.ID, b.ID))
		})
		cat.channels[m] = slices.Clip(chs) // an append by a caller must copy
		cat.models = append(cat.models, m)
	}
	slices.Sort(cat.models)
	cat.models = slices.Clip(cat.models)
	for _, m := range configs {
		cat.configs[m.Model] = m
	}
	return cat
}
