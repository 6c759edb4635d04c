package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis bus timings.
const (
	busPublishTimeout = 2 * time.Second
	busPingInterval   = 5 * time.Second // a silent subscription is pinged after this
	busMinBackoff     = 100 * time.Millisecond
	busMaxBackoff     = 5 * time.Second
	busMaxPending     = 1000 // more distinct changes waiting than this become one resync
)

// RedisBus is a Bus shared by every replica subscribed to the same Redis
// key prefix, through Redis pub/sub on the channel r.Key("changes").
//
// Publish delivers to this bus's own subscribers synchronously, as a
// MemoryBus does, and then to the other replicas' buses, which deliver in
// a goroutine of their own; a bus ignores its own messages coming back.
// Changes that arrive in a burst are delivered once each, a resync
// (ChangeAll) standing for all of them when there are too many.
//
// When Redis cannot be reached, failures are logged and counted
// (Failures), the subscription is retried with backoff, and once it is
// back the bus delivers a ChangeAll to its subscribers, and publishes one
// to the others if a Publish failed meanwhile, so that nothing missed
// stays stale. It is safe for concurrent use. The zero RedisBus is not
// usable: call NewRedisBus.
type RedisBus struct {
	r       *Redis
	channel string
	origin  string // this bus's id in its messages

	subs     subscribers
	up       atomic.Bool // subscribed: Redis answers
	failures atomic.Int64
	missed   atomic.Bool // a Publish failed: the others must resync

	pendingMu sync.Mutex
	pending   map[Change]struct{} // received, not yet delivered
	wake      chan struct{}       // a change is pending

	psMu   sync.Mutex
	ps     *redis.PubSub // the current subscription; nil between them
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// errUnsubscribed is the error of a Publish while the subscription is
// down.
var errUnsubscribed = errors.New("redis unreachable (subscription down), not tried")

// busMessage is a Change on the wire.
type busMessage struct {
	Origin string     `json:"o"`
	Kind   ChangeKind `json:"k"`
	ID     string     `json:"i,omitempty"`
}

// NewRedisBus returns a bus on r and subscribes to it, waiting for the
// first attempt to succeed or fail (a failed one is retried in the
// background). r stays the caller's: Close does not close it.
func NewRedisBus(r *Redis) *RedisBus {
	var id [8]byte
	rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	b := &RedisBus{
		r:       r,
		channel: r.Key("changes"),
		origin:  hex.EncodeToString(id[:]),
		pending: map[Change]struct{}{},
		wake:    make(chan struct{}, 1),
		cancel:  cancel,
	}
	first := make(chan struct{})
	b.done.Add(2)
	go func() { defer b.done.Done(); b.receive(ctx, sync.OnceFunc(func() { close(first) })) }()
	go func() { defer b.done.Done(); b.deliver(ctx) }()
	<-first
	return b
}

// Publish delivers c to this bus's subscribers, then publishes it to the
// other replicas. An error means the other replicas did not get c; it is
// also logged and counted, and they get a resync once Redis answers again.
// While the subscription is down Publish does not try Redis and fails at
// once.
func (b *RedisBus) Publish(ctx context.Context, c Change) error {
	b.subs.deliver(c)
	if !b.up.Load() { // fail fast, not one dial timeout per admin write
		b.missed.Store(true)
		err := errUnsubscribed
		b.fail("publish", err)
		return fmt.Errorf("store: publish change: %w", err)
	}
	if err := b.publish(ctx, c); err != nil {
		b.missed.Store(true)
		b.fail("publish", err)
		return fmt.Errorf("store: publish change: %w", err)
	}
	b.flushMissed(ctx)
	return nil
}

// Subscribe calls fn with every Change published from now on, by this bus
// or another one on the same channel, until stop is called.
func (b *RedisBus) Subscribe(fn func(Change)) (stop func()) { return b.subs.add(fn) }

// Failures returns the number of failed publishes and subscription
// attempts since NewRedisBus; zero when Redis never failed.
func (b *RedisBus) Failures() int64 { return b.failures.Load() }

// Close stops the subscription and waits for its goroutines. It does not
// close the Redis client. It returns nil.
func (b *RedisBus) Close() error {
	b.cancel()
	b.psMu.Lock()
	if b.ps != nil {
		b.ps.Close() // unblocks a pending receive
	}
	b.psMu.Unlock()
	b.done.Wait()
	return nil
}

func (b *RedisBus) publish(ctx context.Context, c Change) error {
	msg, err := json.Marshal(busMessage{Origin: b.origin, Kind: c.Kind, ID: c.ID})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, busPublishTimeout)
	defer cancel()
	return b.r.Client.Publish(ctx, b.channel, msg).Err()
}

// flushMissed publishes a resync if a Publish failed since the last one.
func (b *RedisBus) flushMissed(ctx context.Context) {
	if !b.missed.CompareAndSwap(true, false) {
		return
	}
	if err := b.publish(ctx, Change{Kind: ChangeAll}); err != nil {
		b.missed.Store(true)
		b.fail("publish resync", err)
	}
}

func (b *RedisBus) fail(op string, err error) {
	n := b.failures.Add(1)
	slog.Warn("store: change bus: redis "+op+" failed", "channel", b.channel, "failures", n, "err", err)
}

// receive keeps a subscription open until ctx is done, retrying with
// backoff; after every subscription but an uninterrupted first one, it
// queues a resync. It calls attempted once the first attempt has ended
// one way or the other.
func (b *RedisBus) receive(ctx context.Context, attempted func()) {
	defer attempted()
	backoff := busMinBackoff
	for sessions := 0; ; {
		err := b.session(ctx, func() {
			if sessions > 0 || b.failures.Load() > 0 {
				b.queue(Change{Kind: ChangeAll})
			}
			sessions++
			backoff = busMinBackoff
			b.up.Store(true)
			attempted()
			b.flushMissed(ctx)
		})
		b.up.Store(false)
		if ctx.Err() != nil {
			return
		}
		b.fail("subscribe", err)
		attempted()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, busMaxBackoff)
	}
}

// session subscribes, calls subscribed once Redis has confirmed, and
// queues the changes received until the connection fails.
func (b *RedisBus) session(ctx context.Context, subscribed func()) error {
	ps := b.r.Client.Subscribe(ctx) // no channel yet: no I/O
	b.psMu.Lock()
	if ctx.Err() != nil { // closed meanwhile
		b.psMu.Unlock()
		ps.Close()
		return ctx.Err()
	}
	b.ps = ps
	b.psMu.Unlock()
	defer func() {
		b.psMu.Lock()
		b.ps = nil
		b.psMu.Unlock()
		ps.Close()
	}()
	if err := ps.Subscribe(ctx, b.channel); err != nil {
		return err
	}
	for {
		m, err := ps.ReceiveTimeout(ctx, busPingInterval)
		if err != nil {
			return err
		}
		if _, ok := m.(*redis.Subscription); ok {
			break
		}
	}
	subscribed()
	pinged := false
	for {
		m, err := ps.ReceiveTimeout(ctx, busPingInterval)
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout() && !pinged:
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			continue
		case err != nil && pinged && errors.As(err, &ne) && ne.Timeout():
			return errors.New("no answer to ping")
		default:
			return err
		}
		pinged = false
		msg, ok := m.(*redis.Message)
		if !ok {
			continue // a pong or a subscription notice
		}
		var bm busMessage
		if err := json.Unmarshal([]byte(msg.Payload), &bm); err != nil {
			slog.Warn("store: change bus: malformed message, resyncing", "channel", b.channel, "err", err)
			bm = busMessage{Kind: ChangeAll}
		}
		if bm.Origin != b.origin {
			b.queue(Change{Kind: bm.Kind, ID: bm.ID})
		}
	}
}

// queue adds c to the changes waiting for delivery.
func (b *RedisBus) queue(c Change) {
	b.pendingMu.Lock()
	if len(b.pending) >= busMaxPending {
		clear(b.pending)
		c = Change{Kind: ChangeAll}
	}
	b.pending[c] = struct{}{}
	b.pendingMu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// deliver hands the queued changes to the subscribers until ctx is done:
// each distinct change once, or only a resync when one is queued.
func (b *RedisBus) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
		b.pendingMu.Lock()
		batch := b.pending
		b.pending = map[Change]struct{}{}
		b.pendingMu.Unlock()
		if _, ok := batch[Change{Kind: ChangeAll}]; ok {
			batch = map[Change]struct{}{{Kind: ChangeAll}: {}}
		}
		for c := range batch {
			if ctx.Err() != nil {
				return
			}
			b.subs.deliver(c)
		}
	}
}
