package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sync/singleflight"

	"github.com/aiproxy/aiproxy"
)

// Cache answers the relay's per-request questions from memory: which
// token a key belongs to, which channels serve a model, what a model
// costs. Everything it returns is shared with other callers and must be
// treated as read-only. It is safe for concurrent use.
type Cache struct {
	s *Store

	catalog   atomic.Pointer[catalog]
	refreshMu sync.Mutex // one refresh at a time, so an older load never replaces a newer one

	mu   sync.RWMutex
	keys map[[sha256.Size]byte]*keyEntry // by hash of the key
	gen  uint64                          // bumped by every eviction; loads started before one are dropped

	unknownMu sync.Mutex
	unknown   map[[sha256.Size]byte]time.Time // hashes of unknown keys, until when they are known to be unknown

	flight singleflight.Group
}

// keyEntry is a token found by its key, with its group.
type keyEntry struct {
	token   *aiproxy.Token
	group   *aiproxy.Group
	expires time.Time
}

// catalog is an immutable snapshot of the channels and model configs.
type catalog struct {
	channels map[string][]*aiproxy.Channel // enabled channels by model, best first
	configs  map[string]*aiproxy.ModelConfig
	models   []string
}

// Cache limits.
const (
	maxUnknownKeys = 10_000
	maxKeyLen      = 256              // longer keys are refused without a lookup
	lookupTimeout  = 10 * time.Second // for queries no caller waits on alone
)

// invalidKey returns the error for a key that opens no token.
func invalidKey() error { return aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "invalid API key") }

func newCache(s *Store) *Cache {
	return &Cache{
		s:       s,
		keys:    map[[sha256.Size]byte]*keyEntry{},
		unknown: map[[sha256.Size]byte]time.Time{},
	}
}

// TokenByKey returns the token of a key and its group, or an error with
// code EUNAUTHORIZED ("invalid API key") when no token has this key. It
// does not check whether the token or group is enabled or expired: the
// caller does.
//
// A token found is kept for Store.TokenTTL, so that changes made by other
// replicas show within that time; changes made through this Store show at
// once. A key found unknown is remembered for Store.NegativeTTL (at most
// 10,000 such keys), so repeating a bad key does not reach the database.
// Concurrent lookups of one key share a single query.
func (c *Cache) TokenByKey(ctx context.Context, key string) (*aiproxy.Token, *aiproxy.Group, error) {
	if len(key) > maxKeyLen || !strings.HasPrefix(key, aiproxy.TokenKeyPrefix) {
		return nil, nil, invalidKey()
	}
	// The key is only read: hashing it in place saves a copy per request.
	h := sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
	c.mu.RLock()
	e := c.keys[h]
	c.mu.RUnlock()
	if e != nil && time.Now().Before(e.expires) {
		return e.token, e.group, nil
	}
	return c.lookup(ctx, h)
}

// lookup answers a key that is not cached, from the unknown keys or the
// database.
func (c *Cache) lookup(ctx context.Context, h [sha256.Size]byte) (*aiproxy.Token, *aiproxy.Group, error) {
	c.unknownMu.Lock()
	until, ok := c.unknown[h]
	c.unknownMu.Unlock()
	if ok && time.Now().Before(until) {
		return nil, nil, invalidKey()
	}
	ch := c.flight.DoChan(string(h[:]), func() (any, error) { return c.load(h) })
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, nil, r.Err
		}
		e := r.Val.(*keyEntry)
		return e.token, e.group, nil
	}
}

// load looks a key hash up in the database and caches the answer. It runs
// detached from any one caller's context, since several may be waiting.
func (c *Cache) load(h [sha256.Size]byte) (*keyEntry, error) {
	c.mu.RLock()
	gen := c.gen
	c.mu.RUnlock()
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	t, g, err := findKey(ctx, c.s.db.ro, hex.EncodeToString(h[:]))
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		c.mu.Lock()
		delete(c.keys, h)
		c.mu.Unlock()
		c.rememberUnknown(h)
		return nil, invalidKey()
	} else if err != nil {
		return nil, wrap("find token by key", err)
	}
	e := &keyEntry{token: t, group: g, expires: time.Now().Add(cmp.Or(c.s.TokenTTL, time.Minute))}
	c.mu.Lock()
	if c.gen == gen {
		c.keys[h] = e
	}
	c.mu.Unlock()
	return e, nil
}

func (c *Cache) rememberUnknown(h [sha256.Size]byte) {
	c.unknownMu.Lock()
	defer c.unknownMu.Unlock()
	if len(c.unknown) >= maxUnknownKeys {
		for k := range c.unknown { // an arbitrary one: no scan under attack
			delete(c.unknown, k)
			break
		}
	}
	c.unknown[h] = time.Now().Add(cmp.Or(c.s.NegativeTTL, 5*time.Second))
}

// evictToken forgets a token, so its next use reads the database.
func (c *Cache) evictToken(id int64) {
	c.evict(func(e *keyEntry) bool { return e.token.ID == id })
}

// evictGroup forgets the tokens of a group.
func (c *Cache) evictGroup(id string) {
	c.evict(func(e *keyEntry) bool { return e.group.ID == id })
}

func (c *Cache) evict(match func(*keyEntry) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for h, e := range c.keys {
		if match(e) {
			delete(c.keys, h)
		}
	}
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

// Models returns every model served by an enabled channel, sorted.
func (c *Cache) Models() []string {
	if cat := c.catalog.Load(); cat != nil {
		return cat.models
	}
	return nil
}

// refresh reloads the channels and model configs.
func (c *Cache) refresh(ctx context.Context) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	channels, err := listChannels(ctx, c.s.db.ro)
	if err != nil {
		return wrap("load channels", err)
	}
	configs, err := listModelConfigs(ctx, c.s.db.ro)
	if err != nil {
		return wrap("load model configs", err)
	}
	c.catalog.Store(newCatalog(channels, configs))
	return nil
}

// changed refreshes the catalog after a write through the Store, even when
// the writer's ctx has ended. A failure is logged, not returned: the write
// is done, and the next periodic refresh catches up.
func (c *Cache) changed(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	if err := c.refresh(ctx); err != nil {
		slog.Warn("store: refresh cache after a write", "err", err)
	}
}

func newCatalog(channels []*aiproxy.Channel, configs []*aiproxy.ModelConfig) *catalog {
	cat := &catalog{
		channels: map[string][]*aiproxy.Channel{},
		configs:  make(map[string]*aiproxy.ModelConfig, len(configs)),
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
