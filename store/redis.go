package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aiproxy/aiproxy"
)

// OpenRedis connects to the Redis server of url (redis://, rediss:// or
// unix://, as REDIS takes it) and checks it answers. Keys the gateway
// writes all start with prefix ("aiproxy:" when empty), so that one server
// can serve several deployments or tests. It returns EINVALID for a
// malformed url; the password never appears in an error.
func OpenRedis(ctx context.Context, url, prefix string) (*Redis, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "malformed REDIS URL: %s", scrubRedis(err.Error(), url))
	}
	opts.DialTimeout = 5 * time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: open redis %s: %s", opts.Addr, scrubRedis(err.Error(), url))
	}
	if prefix == "" {
		prefix = "aiproxy:"
	}
	return &Redis{Client: c, Prefix: prefix}, nil
}

// Redis is a connected Redis client and the prefix of the gateway's keys.
type Redis struct {
	Client *redis.Client
	Prefix string
}

// Key returns the name of the gateway's key made of parts.
func (r *Redis) Key(parts ...string) string { return r.Prefix + strings.Join(parts, ":") }

// Close closes the client.
func (r *Redis) Close() error { return r.Client.Close() }

// scrubRedis removes the password of url from msg.
func scrubRedis(msg, url string) string {
	if opts, err := redis.ParseURL(url); err == nil && opts.Password != "" {
		msg = strings.ReplaceAll(msg, opts.Password, "xxxxx")
	}
	return msg
}
