package store

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisIPGroups is the IP-sharing state shared by every replica using the
// same Redis server and key prefix: a sorted set per address (member:
// group, score: its last use in unix ms, kept an hour after the last use)
// and one hash of bans (field: address, value: the ban's end in unix ms).
// Errors are Redis's, wrapped. The zero RedisIPGroups is not ready for
// use; call NewRedisIPGroups. It is safe for concurrent use.
type RedisIPGroups struct{ r *Redis }

// NewRedisIPGroups returns the state on r. It does not take ownership of
// r.
func NewRedisIPGroups(r *Redis) *RedisIPGroups { return &RedisIPGroups{r: r} }

func (s *RedisIPGroups) bansKey() string { return s.r.Prefix + "ipbans" }

// Observe records that each group of seen[ip] used ip at now, and returns
// for each ip of seen the distinct groups that used it within the hour
// before now, sorted, in one pipeline. A use is recorded with the later
// of its times, whichever replica saw it.
func (s *RedisIPGroups) Observe(ctx context.Context, seen map[netip.Addr][]string, now time.Time) (map[netip.Addr][]string, error) {
	if len(seen) == 0 {
		return map[netip.Addr][]string{}, nil
	}
	ms := now.UnixMilli()
	cutoff := strconv.FormatInt(ms-ipWindow.Milliseconds(), 10)
	ips := make([]netip.Addr, 0, len(seen))
	cmds := make([]*redis.StringSliceCmd, 0, len(seen))
	_, err := s.r.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for ip, gs := range seen {
			key := s.r.Prefix + "ipgroups:" + ip.String()
			if len(gs) > 0 {
				zs := make([]redis.Z, len(gs))
				for i, g := range gs {
					zs[i] = redis.Z{Score: float64(ms), Member: g}
				}
				p.ZAddGT(ctx, key, zs...)
			}
			p.ZRemRangeByScore(ctx, key, "-inf", cutoff) // an hour old or older
			p.PExpire(ctx, key, ipWindow)
			ips = append(ips, ip)
			cmds = append(cmds, p.ZRange(ctx, key, 0, -1))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: observe client addresses: %w", err)
	}
	out := make(map[netip.Addr][]string, len(ips))
	for i, ip := range ips {
		gs := cmds[i].Val()
		slices.Sort(gs)
		out[ip] = gs
	}
	return out, nil
}

// banScript sets the ban of ARGV[1] in the hash KEYS[1] to end at
// ARGV[2] (unix ms), unless it ends later already.
var banScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
`)

// unbanScript removes from the hash KEYS[1] the bans of ARGV[2:] that
// end by ARGV[1] (unix ms) or are malformed, leaving any another replica
// renewed meanwhile.
var unbanScript = redis.NewScript(`
local now = tonumber(ARGV[1])
for i = 2, #ARGV do
  local v = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if v == nil or v <= now then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 1
`)

// Ban refuses ip until until, for every replica; a ban in force that ends
// later stays.
func (s *RedisIPGroups) Ban(ctx context.Context, ip netip.Addr, until time.Time) error {
	if err := banScript.Run(ctx, s.r.Client, []string{s.bansKey()}, ip.String(), strconv.FormatInt(until.UnixMilli(), 10)).Err(); err != nil {
		return fmt.Errorf("store: ban client address: %w", err)
	}
	return nil
}

// Bans returns the bans in force at now, and removes those that ended.
func (s *RedisIPGroups) Bans(ctx context.Context, now time.Time) (map[netip.Addr]time.Time, error) {
	all, err := s.r.Client.HGetAll(ctx, s.bansKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("store: read client address bans: %w", err)
	}
	out := make(map[netip.Addr]time.Time, len(all))
	var ended []string
	for k, v := range all {
		ip, err1 := netip.ParseAddr(k)
		ms, err2 := strconv.ParseInt(v, 10, 64)
		if err1 != nil || err2 != nil || ms <= now.UnixMilli() {
			ended = append(ended, k)
			continue
		}
		out[ip] = time.UnixMilli(ms)
	}
	if len(ended) > 0 {
		args := make([]any, 0, 1+len(ended))
		args = append(args, strconv.FormatInt(now.UnixMilli(), 10))
		for _, k := range ended {
			args = append(args, k)
		}
		if err := unbanScript.Run(ctx, s.r.Client, []string{s.bansKey()}, args...).Err(); err != nil {
			return nil, fmt.Errorf("store: drop ended client address bans: %w", err)
		}
	}
	return out, nil
}
