package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy"
)

// RedisLimiter keeps limits in Redis, shared by every replica: each
// admission and each settlement is one Lua script, run atomically by
// Redis, so a limit holds across replicas as it does in one process
// (the semantics aiproxy.LimitKind documents). Windows are hashes of 60
// slots (field: slot number, value: the costs counted in it);
// besides, field "s" keeps their running total and "o" the oldest slot
// that may be non-empty, so that an admission reads two fields and drops
// the slots that left, instead of totalling 60 (a third of the cost);
// concurrency slots are sorted sets of reservation ids scored by when
// they lapse; budgets are counters that start at the database's value.
//
// Scripts of concurrent requests share round trips (scriptBatcher).
type RedisLimiter struct {
	r *Redis
	b scriptBatcher
}

// NewRedisLimiter returns a limiter on r, under r.Prefix.
func NewRedisLimiter(r *Redis) *RedisLimiter {
	return &RedisLimiter{r: r, b: scriptBatcher{c: r.Client}}
}

// reserveScript checks every limit, then (if all admit) applies them.
// KEYS: one per limit. ARGV: now in ms, the reservation id, then per
// limit kind, max, cost, window in ms, base. It returns
// {ok, denied (1-based, 0 none), retry after ms, remaining1, reset1 ms, ...}.
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local id = ARGV[2]
local n = #KEYS
local out = {1, 0, 0}
local state = {}
for i = 1, n do
  local a = 2 + (i - 1) * 5
  local kind, max, cost, win, base = tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3]), tonumber(ARGV[a+4]), tonumber(ARGV[a+5])
  local key = KEYS[i]
  local remaining, reset = 0, 0
  if kind == 0 then
    local width = math.max(math.floor(win / 60), 1)
    local slot = math.floor(now / width)
    local cut = slot - 60 -- slots up to cut have left the window
    local hv = redis.call('HMGET', key, 's', 'o')
    local sum, low = tonumber(hv[1]), tonumber(hv[2])
    local was = low
    if low == nil then
      -- New, or kept by a version without the running total: total it.
      sum, low = 0, slot
      local h = redis.call('HGETALL', key)
      for j = 1, #h, 2 do
        local s = tonumber(h[j])
        if s ~= nil then
          if s <= cut then
            redis.call('HDEL', key, h[j])
          else
            sum = sum + tonumber(h[j+1])
            if s < low then low = s end
          end
        end
      end
    elseif cut >= low + 59 then
      -- Every slot it can hold (low to low+59) has left: start over.
      redis.call('DEL', key)
      sum, low = 0, slot
    end
    -- Drop the slots that left; low becomes the oldest slot kept and
    -- first the oldest non-empty one: usually one or two reads.
    local s, oldest, first = low, nil, nil
    while s <= slot do
      local v = tonumber(redis.call('HGET', key, s))
      if v ~= nil then
        if s <= cut then
          sum = sum - v
          redis.call('HDEL', key, s)
        else
          if oldest == nil then oldest = s end
          if v ~= 0 then
            first = s
            break
          end
        end
      end
      s = s + 1
    end
    low = oldest or (slot + 1)
    if low ~= was then redis.call('HSET', key, 's', sum, 'o', low) end
    remaining = max - sum
    if first ~= nil then reset = math.max((first + 60) * width - now, 0) end
    if sum + cost > max and out[2] == 0 then
      out[1], out[2] = 0, i
      if cost <= max then
        local left = sum
        for t = low, slot do
          left = left - (tonumber(redis.call('HGET', key, t)) or 0)
          if left + cost <= max then
            out[3] = math.max((t + 60) * width - now, 1)
            break
          end
        end
        if out[3] == 0 then out[3] = width end
      end
    end
    state[i] = {slot, width, sum, low}
  elseif kind == 1 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local open = redis.call('ZCARD', key)
    remaining = max - open
    if open >= max and out[2] == 0 then
      out[1], out[2], out[3] = 0, i, 1000
    end
  else
    local used = tonumber(redis.call('GET', key) or base)
    state[i] = used
    remaining = max - used
    if (used >= max or used + cost > max) and out[2] == 0 then
      out[1], out[2] = 0, i
    end
  end
  out[#out+1] = remaining
  out[#out+1] = reset
end
if out[1] == 0 then return out end
for i = 1, n do
  local a = 2 + (i - 1) * 5
  local kind, cost, win, base = tonumber(ARGV[a+1]), tonumber(ARGV[a+3]), tonumber(ARGV[a+4]), ARGV[a+5]
  local key = KEYS[i]
  if kind == 0 then
    local st = state[i]
    -- A new slot sets the expiry: the key outlives its last slot's window.
    if redis.call('HINCRBY', key, st[1], cost) == cost then redis.call('PEXPIRE', key, win + st[2]) end
    redis.call('HSET', key, 's', st[3] + cost, 'o', math.min(st[4], st[1]))
    if out[3 + 2*i] == 0 then out[3 + 2*i] = math.max((st[1] + 60) * st[2] - now, 0) end
  elseif kind == 1 then
    redis.call('ZADD', key, now + win, id)
    redis.call('PEXPIRE', key, win)
  else
    redis.call('SET', key, state[i] + cost, 'PX', win)
  end
  out[2 + 2*i] = out[2 + 2*i] - cost
end
return out
`)

// settleScript corrects each limit. KEYS: one per limit. ARGV: the
// reservation's time in ms, its id, then per limit kind, window in ms,
// the difference between actual and reserved cost.
var settleScript = redis.NewScript(`
local at = tonumber(ARGV[1])
local id = ARGV[2]
for i = 1, #KEYS do
  local a = 2 + (i - 1) * 3
  local kind, win, delta = tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3])
  local key = KEYS[i]
  if kind == 0 then
    if delta ~= 0 then
      local slot = tostring(math.floor(at / math.max(math.floor(win / 60), 1)))
      if redis.call('HEXISTS', key, slot) == 1 then
        redis.call('HINCRBY', key, slot, delta)
        redis.call('HINCRBY', key, 's', delta)
      end
    end
  elseif kind == 1 then
    redis.call('ZREM', key, id)
  elseif delta ~= 0 and redis.call('EXISTS', key) == 1 then
    redis.call('INCRBY', key, delta)
  end
end
return 1
`)

// Reserve implements relay.Limiter, in one round trip (shared).
func (l *RedisLimiter) Reserve(ctx context.Context, lims []aiproxy.Limit, now time.Time) (*aiproxy.Reservation, error) {
	r := &aiproxy.Reservation{Limits: lims, Denied: -1, At: now, States: make([]aiproxy.LimitState, len(lims))}
	keys := make([]string, len(lims))
	args := make([]any, 2, 2+5*len(lims))
	args[0] = now.UnixMilli()
	for i := range lims {
		lm := &lims[i]
		keys[i] = l.r.Prefix + "limit:" + lm.Key
		if lm.Kind == aiproxy.LimitConcurrent && r.ID == "" {
			r.ID = newReservationID()
		}
		args = append(args, int(lm.Kind), lm.Max, lm.Cost, lm.Window.Milliseconds(), lm.Base)
	}
	args[1] = r.ID
	res, err := l.b.run(ctx, reserveScript, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("store: reserve limits: %w", err)
	}
	if len(res) != 3+2*len(lims) {
		return nil, fmt.Errorf("store: reserve limits: %d values from the script", len(res))
	}
	r.OK = res[0] == 1
	r.Denied = int(res[1]) - 1
	r.RetryAfter = time.Duration(res[2]) * time.Millisecond
	for i := range lims {
		r.States[i] = aiproxy.LimitState{Remaining: res[3+2*i], Reset: time.Duration(res[4+2*i]) * time.Millisecond}
	}
	return r, nil
}

// Settle implements relay.Limiter, in one round trip (shared).
func (l *RedisLimiter) Settle(ctx context.Context, r *aiproxy.Reservation, costs []int64) error {
	if r == nil || !r.OK {
		return nil
	}
	if !settleNeeded(r, costs) {
		return nil // every cost as reserved, no slot to free: no round trip
	}
	keys := make([]string, len(r.Limits))
	args := make([]any, 2, 2+3*len(r.Limits))
	args[0], args[1] = r.At.UnixMilli(), r.ID
	for i := range r.Limits {
		lm := &r.Limits[i]
		keys[i] = l.r.Prefix + "limit:" + lm.Key
		delta := int64(0)
		if i < len(costs) {
			delta = costs[i] - lm.Cost
		}
		args = append(args, int(lm.Kind), lm.Window.Milliseconds(), strconv.FormatInt(delta, 10))
	}
	if err := l.b.run(ctx, settleScript, keys, args...).Err(); err != nil {
		return fmt.Errorf("store: settle limits: %w", err)
	}
	return nil
}

// settleNeeded reports whether settling r changes anything: a cost other
// than reserved, or a concurrency slot to free. (A budget's counter stays
// alive for its idle window from its last reservation, as in memory.)
func settleNeeded(r *aiproxy.Reservation, costs []int64) bool {
	for i := range r.Limits {
		if r.Limits[i].Kind == aiproxy.LimitConcurrent || (i < len(costs) && costs[i] != r.Limits[i].Cost) {
			return true
		}
	}
	return false
}
