package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy"
)

// Intervals of RedisHealth's background loop.
const (
	healthFlushEvery   = 100 * time.Millisecond
	healthRefreshEvery = 300 * time.Millisecond
	healthRedisTimeout = time.Second
)

// RedisHealth is the health of every channel × model shared by every
// replica using the same Redis server and key prefix. It follows the rules
// of MemoryHealth (windows, breakers, probes, parking), steering by a
// mirror in memory: Check never waits for the network, and Report updates
// the mirror at once and leaves its increments for a background goroutine
// that ships them to Redis in one pipeline every 100 ms. Every 300 ms the
// same goroutine reads back the shared counts, breakers, parks and resets
// of every channel × model any replica reported (a Redis set lists them)
// and refreshes the mirror. Probe is the one call that waits for Redis
// (SET NX PX, so that one replica alone probes a half-open breaker), and
// only when the breaker is half-open.
//
// Deadlines are stored as unix milliseconds; key TTLs only clean up. When
// Redis is unreachable every method keeps answering from the mirror, the
// errors are logged and counted (Failures), and the shared state catches
// up once Redis is back. The zero RedisHealth is not ready for use; call
// NewRedisHealth, and Close when done. It is safe for concurrent use.
type RedisHealth struct {
	r  *Redis
	id string // of this replica, the value of its probe claims
	c  healthCore
	// Guarded by c.mu:
	sides  map[healthKey]*redisSide
	epochs map[int64]int64 // of the channels whose epoch was read
	resets uint64          // Reset calls so far

	failures atomic.Uint64
	down     atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{}
	once     sync.Once
}

// redisSide is what RedisHealth knows of one channel × model's shared
// counts, by bucket index.
type redisSide struct {
	remote   map[int64]counts // last read from Redis, plus what was shipped since
	pending  map[int64]counts // not shipped yet
	inflight map[int64]counts // being shipped
	dirty    bool             // breaker, park or last error to ship
	brkDirty bool             // the breaker to ship
}

// NewRedisHealth returns the RedisHealth of r and starts its background
// goroutine. It does not take ownership of r: Close leaves it open.
func NewRedisHealth(r *Redis) *RedisHealth {
	b := make([]byte, 8)
	rand.Read(b)
	ctx, cancel := context.WithCancel(context.Background())
	h := &RedisHealth{
		r:      r,
		id:     hex.EncodeToString(b),
		c:      healthCore{entries: map[healthKey]*healthEntry{}},
		sides:  map[healthKey]*redisSide{},
		epochs: map[int64]int64{},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go h.loop(ctx)
	return h
}

// Close stops the background goroutine after a last attempt to ship what
// is pending. It is safe to call more than once.
func (h *RedisHealth) Close() {
	h.once.Do(func() {
		h.cancel()
		<-h.done
		ctx, cancel := context.WithTimeout(context.Background(), healthRedisTimeout)
		defer cancel()
		h.flush(ctx)
	})
}

// Failures returns how many Redis operations failed so far.
func (h *RedisHealth) Failures() uint64 { return h.failures.Load() }

// Check returns the state of channel ch with model at now, as this replica
// last learnt it; a channel × model never reported is closed, unparked,
// with an error rate of 0.
func (h *RedisHealth) Check(ch int64, model string, now time.Time) aiproxy.HealthState {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.check(healthKey{ch, model}, now)
}

// Probe claims the one probe of a half-open breaker at now, across every
// replica; it reports false when the breaker is not half-open or the claim
// is held. When Redis cannot be reached, the claim is this replica's only.
func (h *RedisHealth) Probe(ch int64, model string, now time.Time) bool {
	k := healthKey{ch, model}
	h.c.mu.Lock()
	e, ok := h.c.halfOpen(k, now)
	var until time.Time
	if ok {
		until = e.openUntil
	}
	h.c.mu.Unlock()
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthRedisTimeout)
	defer cancel()
	key := h.r.Key("health", "probe", healthMember(k), strconv.FormatInt(until.UnixMilli(), 10))
	won, err := h.r.Client.SetNX(ctx, key, h.id, probeTimeout).Result()
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if err != nil {
		h.fail("claim probe", err)
		return h.c.probe(k, now)
	}
	h.ok()
	if !won {
		return false
	}
	if e := h.c.entries[k]; e != nil {
		e.probeUntil = now.Add(probeTimeout)
	}
	return true
}

// Report records outcome o of one attempt on channel ch with model, under
// policy p (zero fields take the defaults), in the mirror at once and in
// Redis within about 100 ms.
func (h *RedisHealth) Report(ch int64, model string, o aiproxy.Outcome, p aiproxy.BreakerPolicy) {
	k := healthKey{ch, model}
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	c := h.c.report(k, o, p)
	s := h.side(k)
	s.dirty = true
	if c.breaker {
		s.brkDirty = true
	}
	if c.cleared {
		clear(s.remote)
		clear(s.pending)
		clear(s.inflight)
		return
	}
	if c.counted {
		n := s.pending[c.bucket]
		n.req++
		if c.failed {
			n.fail++
		}
		s.pending[c.bucket] = n
	}
}

// Snapshot returns the health of every channel × model this replica
// reported or learnt of from Redis, as of the current time, sorted by
// channel then model; nil when none.
func (h *RedisHealth) Snapshot() []aiproxy.ChannelHealth {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.snapshot(time.Now())
}

// Reset forgets everything about channel ch on every replica: its
// breakers close, its parks end and its windows empty. The other replicas
// learn it within about 300 ms. When Redis cannot be reached only this
// replica forgets.
func (h *RedisHealth) Reset(ch int64) {
	h.c.mu.Lock()
	h.forget(ch)
	h.c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), healthRedisTimeout)
	defer cancel()
	members, err := h.r.Client.SMembers(ctx, h.keysKey()).Result()
	if err != nil {
		h.fail("reset", err)
		return
	}
	prefix := strconv.FormatInt(ch, 10) + ":"
	var epoch *redis.IntCmd
	_, err = h.r.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range members {
			if strings.HasPrefix(m, prefix) {
				p.Del(ctx, h.r.Key("health", "h", m))
				p.SRem(ctx, h.keysKey(), m)
			}
		}
		epoch = p.Incr(ctx, h.epochKey(ch))
		return nil
	})
	if err != nil {
		h.fail("reset", err)
		return
	}
	h.ok()
	h.c.mu.Lock()
	h.forget(ch) // what was reported meanwhile went to the old epoch
	h.epochs[ch] = epoch.Val()
	h.c.mu.Unlock()
}

// forget drops the mirror of channel ch; h.c.mu must be held.
func (h *RedisHealth) forget(ch int64) {
	h.resets++
	h.c.reset(ch)
	for k := range h.sides {
		if k.ch == ch {
			delete(h.sides, k)
		}
	}
}

// side returns the redisSide of k, created when missing; h.c.mu must be
// held.
func (h *RedisHealth) side(k healthKey) *redisSide {
	s := h.sides[k]
	if s == nil {
		s = &redisSide{remote: map[int64]counts{}, pending: map[int64]counts{}, inflight: map[int64]counts{}}
		h.sides[k] = s
	}
	return s
}

func (h *RedisHealth) keysKey() string { return h.r.Key("health", "keys") }

func (h *RedisHealth) epochKey(ch int64) string {
	return h.r.Key("health", "epoch", strconv.FormatInt(ch, 10))
}

// healthMember names k in the set of known channel × models.
func healthMember(k healthKey) string { return strconv.FormatInt(k.ch, 10) + ":" + k.model }

// parseHealthMember is the inverse of healthMember.
func parseHealthMember(m string) (healthKey, bool) {
	chs, model, ok := strings.Cut(m, ":")
	ch, err := strconv.ParseInt(chs, 10, 64)
	return healthKey{ch, model}, ok && err == nil
}

// fail counts and, when Redis was fine until now, logs a failed operation.
func (h *RedisHealth) fail(op string, err error) {
	h.failures.Add(1)
	if !h.down.Swap(true) {
		slog.Warn("store: redis health unavailable, steering by local state", "op", op, "err", err)
	}
}

// ok notes a successful operation, logging that Redis is back.
func (h *RedisHealth) ok() {
	if h.down.Swap(false) {
		slog.Info("store: redis health reachable again")
	}
}

// loop ships increments every healthFlushEvery and refreshes the mirror
// every healthRefreshEvery, one after the other, until ctx is done.
func (h *RedisHealth) loop(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(healthFlushEvery)
	defer t.Stop()
	var lastRefresh time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		octx, cancel := context.WithTimeout(ctx, healthRedisTimeout)
		h.flush(octx)
		if time.Since(lastRefresh) >= healthRefreshEvery {
			h.refresh(octx)
			lastRefresh = time.Now()
		}
		cancel()
	}
}

// healthFlush is one channel × model's changes, as the flush script takes
// them.
type healthFlush struct {
	Epoch   int64          `json:"ep"` // -1: not known yet
	Member  string         `json:"m"`
	TTL     int64          `json:"ttl"`
	Prune   int64          `json:"prune"` // bucket indexes below it are dropped
	Inc     [][3]int64     `json:"inc"`   // bucket index, requests, failures
	Breaker *healthBreaker `json:"brk,omitempty"`
	Park    int64          `json:"park"`
	LastErr string         `json:"lerr"`
	LastAt  int64          `json:"lat"`
	Policy  string         `json:"pol"`
}

// healthBreaker is a breaker as stored in Redis, times in unix ms.
type healthBreaker struct {
	Open     int    `json:"open"`
	Until    int64  `json:"u"`
	Cooldown int64  `json:"cd"`
	At       int64  `json:"at"`
	Reason   string `json:"why"`
}

// healthPolicy is a policy as stored in Redis, durations in ns.
type healthPolicy struct {
	Threshold   float64 `json:"t"`
	MinRequests int     `json:"n"`
	Window      int64   `json:"w"`
	Cooldown    int64   `json:"c"`
	MaxCooldown int64   `json:"mc"`
}

// flushScript applies one healthFlush to the hash KEYS[1], unless the
// channel's epoch KEYS[3] moved on (a Reset: it returns -1), and lists the
// channel × model in the set KEYS[2]; it returns the epoch. The hash holds bucket counts as r<index> and
// f<index>, the breaker (open, u, cd, at, why), the park, the last error
// (lerr, lat) and the policy (pol); the later breaker transition, park and
// error win.
var flushScript = redis.NewScript(`
local a = cjson.decode(ARGV[1])
local ep = tonumber(redis.call('GET', KEYS[3]) or '0')
if a.ep >= 0 and ep ~= a.ep then return -1 end
local h = KEYS[1]
redis.call('SADD', KEYS[2], a.m)
if redis.call('PTTL', KEYS[2]) < a.ttl then redis.call('PEXPIRE', KEYS[2], a.ttl) end
redis.call('HSET', h, 'pol', a.pol)
local closed = false
if a.brk then
  local at = tonumber(redis.call('HGET', h, 'at') or '-1')
  if a.brk.at >= at then
    redis.call('HSET', h, 'open', a.brk.open, 'u', a.brk.u, 'cd', a.brk.cd, 'at', a.brk.at, 'why', a.brk.why)
    closed = a.brk.open == 0
  end
end
for _, f in ipairs(redis.call('HKEYS', h)) do
  local c = string.sub(f, 1, 1)
  if (c == 'r' or c == 'f') and (closed or tonumber(string.sub(f, 2)) < a.prune) then
    redis.call('HDEL', h, f)
  end
end
for _, x in ipairs(a.inc) do
  redis.call('HINCRBY', h, 'r' .. string.format('%d', x[1]), x[2])
  redis.call('HINCRBY', h, 'f' .. string.format('%d', x[1]), x[3])
end
if a.park > tonumber(redis.call('HGET', h, 'park') or '0') then
  redis.call('HSET', h, 'park', a.park)
end
if a.lat > tonumber(redis.call('HGET', h, 'lat') or '0') then
  redis.call('HSET', h, 'lerr', a.lerr, 'lat', a.lat)
end
redis.call('PEXPIRE', h, a.ttl)
return ep
`)

// flush ships what was reported since the last flush in one pipeline.
func (h *RedisHealth) flush(ctx context.Context) {
	type item struct {
		k   healthKey
		f   healthFlush
		brk bool
		cmd *redis.Cmd
	}
	var items []*item
	h.c.mu.Lock()
	for k, s := range h.sides {
		e := h.c.entries[k]
		if e == nil || (!s.dirty && len(s.pending) == 0) {
			continue
		}
		it := &item{k: k, brk: s.brkDirty}
		it.f = healthFlush{
			Epoch:   -1,
			Member:  healthMember(k),
			TTL:     (2*e.policy.Window + 2*e.policy.MaxCooldown + time.Minute).Milliseconds(),
			LastErr: e.lastError,
			Policy:  encodePolicy(e.policy),
			Inc:     [][3]int64{},
		}
		if ep, ok := h.epochs[k.ch]; ok {
			it.f.Epoch = ep
		}
		if !e.parkedUntil.IsZero() {
			it.f.Park = e.parkedUntil.UnixMilli()
		}
		if !e.lastErrorAt.IsZero() {
			it.f.LastAt = e.lastErrorAt.UnixMilli()
		}
		latest := int64(0)
		for i, n := range s.pending {
			it.f.Inc = append(it.f.Inc, [3]int64{i, n.req, n.fail})
			latest = max(latest, i)
			addCounts(s.inflight, i, n)
		}
		it.f.Prune = latest - 2*healthBuckets
		clear(s.pending)
		if s.brkDirty {
			it.f.Breaker = &healthBreaker{Until: unixMS(e.openUntil), Cooldown: e.cooldown.Milliseconds(), At: unixMS(e.changedAt), Reason: e.reason}
			if e.open {
				it.f.Breaker.Open = 1
			}
		}
		s.dirty, s.brkDirty = false, false
		items = append(items, it)
	}
	h.c.mu.Unlock()
	if len(items) == 0 {
		return
	}

	_, err := h.r.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, it := range items {
			arg, _ := json.Marshal(it.f)
			keys := []string{h.r.Key("health", "h", it.f.Member), h.keysKey(), h.epochKey(it.k.ch)}
			it.cmd = flushScript.Eval(ctx, p, keys, arg)
		}
		return nil
	})
	if err != nil {
		h.fail("flush", err)
	} else {
		h.ok()
	}

	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	for _, it := range items {
		s := h.sides[it.k]
		if s == nil {
			continue // reset meanwhile
		}
		n, cerr := it.cmd.Int()
		switch {
		case cerr != nil && !errors.Is(cerr, redis.Nil):
			for i, c := range s.inflight { // ship again next time
				addCounts(s.pending, i, c)
			}
			s.dirty = true
			s.brkDirty = s.brkDirty || it.brk
		case n >= 0:
			for i, c := range s.inflight {
				addCounts(s.remote, i, c)
			}
			if _, ok := h.epochs[it.k.ch]; !ok {
				h.epochs[it.k.ch] = int64(n) // what was shipped belongs to it
			}
		}
		clear(s.inflight)
	}
}

// refresh reads the shared state of every channel × model known to any
// replica into the mirror.
func (h *RedisHealth) refresh(ctx context.Context) {
	members, err := h.r.Client.SMembers(ctx, h.keysKey()).Result()
	if err != nil {
		h.fail("refresh", err)
		return
	}
	keys := map[healthKey]bool{}
	h.c.mu.Lock()
	resets := h.resets
	for k := range h.c.entries {
		keys[k] = true
	}
	h.c.mu.Unlock()
	for _, m := range members {
		if k, ok := parseHealthMember(m); ok {
			keys[k] = true
		}
	}
	if len(keys) == 0 {
		h.ok()
		return
	}
	hashes := map[healthKey]*redis.MapStringStringCmd{}
	epochs := map[int64]*redis.StringCmd{}
	_, err = h.r.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k := range keys {
			if epochs[k.ch] == nil {
				epochs[k.ch] = p.Get(ctx, h.epochKey(k.ch))
			}
			hashes[k] = p.HGetAll(ctx, h.r.Key("health", "h", healthMember(k)))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		h.fail("refresh", err)
		return
	}
	h.ok()

	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	if h.resets != resets {
		return // what was read may predate the reset
	}
	for ch, cmd := range epochs {
		ep, err := cmd.Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			continue
		}
		if known, ok := h.epochs[ch]; ok && known != ep {
			h.forget(ch) // another replica reset it
		}
		h.epochs[ch] = ep
	}
	for k, cmd := range hashes {
		if v, err := cmd.Result(); err == nil && len(v) > 0 {
			h.apply(k, v)
		}
	}
}

// apply merges hash v, the shared state of k, into the mirror; h.c.mu must
// be held.
func (h *RedisHealth) apply(k healthKey, v map[string]string) {
	p, ok := decodePolicy(v["pol"])
	if !ok {
		return
	}
	e := h.c.entries[k]
	if e == nil {
		e = h.c.entry(k, p)
	}
	s := h.side(k)

	if at, err := strconv.ParseInt(v["at"], 10, 64); err == nil && at > unixMS(e.changedAt) {
		e.changedAt = time.UnixMilli(at)
		e.open = v["open"] == "1"
		e.reason = v["why"]
		e.probeUntil = time.Time{}
		e.openUntil, e.cooldown = time.Time{}, 0
		if e.open {
			u, _ := strconv.ParseInt(v["u"], 10, 64)
			cd, _ := strconv.ParseInt(v["cd"], 10, 64)
			e.openUntil, e.cooldown = time.UnixMilli(u), time.Duration(cd)*time.Millisecond
		} else {
			clear(s.pending)
		}
	}
	if park, err := strconv.ParseInt(v["park"], 10, 64); err == nil && park > unixMS(e.parkedUntil) {
		e.parkedUntil = time.UnixMilli(park)
	}
	if lat, err := strconv.ParseInt(v["lat"], 10, 64); err == nil && lat > unixMS(e.lastErrorAt) {
		e.lastError, e.lastErrorAt = v["lerr"], time.UnixMilli(lat)
	}

	if p.Window/healthBuckets != e.width {
		return // reported with another window here: the counts do not compare
	}
	clear(s.remote)
	for f, val := range v {
		if len(f) < 2 || (f[0] != 'r' && f[0] != 'f') {
			continue
		}
		i, err1 := strconv.ParseInt(f[1:], 10, 64)
		n, err2 := strconv.ParseInt(val, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		c := s.remote[i]
		if f[0] == 'r' {
			c.req = n
		} else {
			c.fail = n
		}
		s.remote[i] = c
	}
	clear(e.buckets)
	for _, m := range []map[int64]counts{s.remote, s.pending, s.inflight} {
		for i, c := range m {
			addCounts(e.buckets, i, c)
		}
	}
}

// addCounts adds c to m[i].
func addCounts(m map[int64]counts, i int64, c counts) {
	n := m[i]
	n.req += c.req
	n.fail += c.fail
	m[i] = n
}

// unixMS returns t in unix milliseconds, 0 for the zero time.
func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func encodePolicy(p aiproxy.BreakerPolicy) string {
	b, _ := json.Marshal(healthPolicy{p.Threshold, p.MinRequests, int64(p.Window), int64(p.Cooldown), int64(p.MaxCooldown)})
	return string(b)
}

func decodePolicy(s string) (aiproxy.BreakerPolicy, bool) {
	var hp healthPolicy
	if err := json.Unmarshal([]byte(s), &hp); err != nil {
		return aiproxy.BreakerPolicy{}, false
	}
	return aiproxy.BreakerPolicy{
		Threshold:   hp.Threshold,
		MinRequests: hp.MinRequests,
		Window:      time.Duration(hp.Window),
		Cooldown:    time.Duration(hp.Cooldown),
		MaxCooldown: time.Duration(hp.MaxCooldown),
	}.WithDefaults(), true
}
