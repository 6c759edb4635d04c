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
// concurrency slots are sorted sets of reservation ids scored by when
// they lapse; budgets are counters that start at the database's value.
type RedisLimiter struct {
	r *Redis
}

// NewRedisLimiter returns a limiter on r, under r.Prefix.
func NewRedisLimiter(r *Redis) *RedisLimiter { return &RedisLimiter{r: r} }

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
    local h = redis.call('HGETALL', key)
    local sum, list = 0, {}
    for j = 1, #h, 2 do
      local s, v = tonumber(h[j]), tonumber(h[j+1])
      if s <= slot - 60 then
        redis.call('HDEL', key, h[j])
      elseif v ~= 0 then
        sum = sum + v
        list[#list+1] = {s, v}
      end
    end
    table.sort(list, function(x, y) return x[1] < y[1] end)
    remaining = max - sum
    if #list > 0 then reset = math.max((list[1][1] + 60) * width - now, 0) end
    if sum + cost > max and out[2] == 0 then
      out[1], out[2] = 0, i
      if cost <= max then
        local left = sum
        for _, e in ipairs(list) do
          left = left - e[2]
          if left + cost <= max then
            out[3] = math.max((e[1] + 60) * width - now, 1)
            break
          end
        end
        if out[3] == 0 then out[3] = width end
      end
    end
    state[i] = {kind, slot, width}
  elseif kind == 1 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local open = redis.call('ZCARD', key)
    remaining = max - open
    if open >= max and out[2] == 0 then
      out[1], out[2], out[3] = 0, i, 1000
    end
  else
    local used = tonumber(redis.call('GET', key) or base)
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
    redis.call('HINCRBY', key, st[2], cost)
    redis.call('PEXPIRE', key, win + st[3])
    if out[3 + 2*i] == 0 then out[3 + 2*i] = math.max((st[2] + 60) * st[3] - now, 0) end
  elseif kind == 1 then
    redis.call('ZADD', key, now + win, id)
    redis.call('PEXPIRE', key, win)
  else
    redis.call('SET', key, base, 'NX')
    redis.call('INCRBY', key, cost)
    redis.call('PEXPIRE', key, win)
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
      if redis.call('HEXISTS', key, slot) == 1 then redis.call('HINCRBY', key, slot, delta) end
    end
  elseif kind == 1 then
    redis.call('ZREM', key, id)
  elseif redis.call('EXISTS', key) == 1 then
    if delta ~= 0 then redis.call('INCRBY', key, delta) end
    redis.call('PEXPIRE', key, win)
  end
end
return 1
`)

// Reserve implements relay.Limiter, in one round trip.
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
	res, err := reserveScript.Run(ctx, l.r.Client, keys, args...).Int64Slice()
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

// Settle implements relay.Limiter, in one round trip.
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
	if err := settleScript.Run(ctx, l.r.Client, keys, args...).Err(); err != nil {
		return fmt.Errorf("store: settle limits: %w", err)
	}
	return nil
}

// settleNeeded reports whether settling r changes anything: a cost other
// than reserved, or a concurrency slot to free. Budgets are settled
// regardless, to keep their counters alive for their idle window.
func settleNeeded(r *aiproxy.Reservation, costs []int64) bool {
	for i := range r.Limits {
		if r.Limits[i].Kind != aiproxy.LimitWindow || (i < len(costs) && costs[i] != r.Limits[i].Cost) {
			return true
		}
	}
	return false
}
