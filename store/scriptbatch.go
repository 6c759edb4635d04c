package store

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scriptBatcher runs Lua scripts for many goroutines, pipelining the ones
// that arrive while a round trip is under way into the next: a group
// commit. Each call still returns only once its own script has run, so
// callers see the semantics of one script per call, in fewer round trips
// (under load, one per batch instead of one per call) and fewer system
// calls. There is no goroutine of its own: the caller that finds no batch
// in flight runs one, and hands the lead to the next caller waiting when
// it is done, so that no caller serves more than one batch.
type scriptBatcher struct {
	c *redis.Client

	mu      sync.Mutex
	queue   []*scriptCall
	running bool
}

// maxScriptBatch bounds the scripts of one pipeline.
const maxScriptBatch = 128

type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	res    *redis.Cmd
	done   chan bool // true: lead the next batch; false: res is set
}

// run runs script with keys and args and returns its result.
func (b *scriptBatcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	call := &scriptCall{script: script, keys: keys, args: args, done: make(chan bool, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, call)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if !lead && !<-call.done {
		return call.res
	}
	b.mu.Lock()
	n := min(len(b.queue), maxScriptBatch)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()
	b.exec(ctx, batch)
	b.mu.Lock()
	if len(b.queue) > 0 {
		b.queue[0].done <- true // its own call is in the queue it takes
	} else {
		b.running = false
		b.queue = nil
	}
	b.mu.Unlock()
	<-call.done // in this batch, or a batch of others: it ran
	return call.res
}

// exec runs batch in one pipeline and gives each call its result. A script
// Redis has not cached (after a restart or SCRIPT FLUSH) is run again on
// its own, which loads it.
func (b *scriptBatcher) exec(ctx context.Context, batch []*scriptCall) {
	if len(batch) == 1 {
		c := batch[0]
		c.res = c.script.Run(ctx, b.c, c.keys, c.args...)
		c.done <- false
		return
	}
	cmds, _ := b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range batch {
			c.script.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range batch {
		var res *redis.Cmd
		if i < len(cmds) {
			res, _ = cmds[i].(*redis.Cmd)
		}
		if res == nil || isNoScript(res.Err()) {
			res = c.script.Run(ctx, b.c, c.keys, c.args...)
		}
		c.res = res
		c.done <- false
	}
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}
