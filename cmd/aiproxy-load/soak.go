package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The soak scenario: many requests through the gateway to a model served
// by soakChannels channels of equal priority and weight, each pointing at
// its own endpoint of the provider role (/soak/<n>/v1), where a fault
// injector fails a share of the upstream requests.
const (
	soakChannels = 3
	modelSoak    = "bench-soak"
)

// soakPrefix returns the path prefix of the nth soak endpoint (1-based) on
// the provider's port.
func soakPrefix(n int) string { return "/soak/" + strconv.Itoa(n) }

// Bodies of the injected failures, shaped as OpenAI shapes its errors.
const (
	injected500Body = `{"error":{"message":"injected failure","type":"server_error","param":null,"code":null}}`
	injected429Body = `{"error":{"message":"injected rate limit","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
)

// faultInjector wraps a provider and fails a share of the requests it
// sees: with probability rate it answers without calling next, a 429 with
// "Retry-After: 1" for the first share429 of that share and a 500 for
// the rest; otherwise next answers. Every request is counted.
type faultInjector struct {
	next http.Handler
	rate float64
	// share429 is the share of the injected failures answered 429.
	share429 float64
	// roll returns a number in [0, 1) for each request; nil means
	// math/rand/v2's global source.
	roll func() float64

	requests, failed500, failed429 atomic.Int64
}

// ServeHTTP answers r, or fails it; see faultInjector.
func (f *faultInjector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	x := rand.Float64()
	if f.roll != nil {
		x = f.roll()
	}
	if x >= f.rate {
		f.next.ServeHTTP(w, r)
		return
	}
	// Read the body as a provider would, so the connection stays usable.
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if x < f.rate*f.share429 {
		f.failed429.Add(1)
		h.Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, injected429Body)
		return
	}
	f.failed500.Add(1)
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, injected500Body)
}

// SoakChannel is what the provider saw of one soak channel.
type SoakChannel struct {
	Name     string `json:"name"`
	Upstream int64  `json:"upstream_requests"`
	Failed   int64  `json:"injected_failures"`
	Of429    int64  `json:"injected_429"` // of Failed, answered 429 with Retry-After: 1
}

// SoakFailure is one kind of failed request and how often it came.
type SoakFailure struct {
	Error string `json:"error"`
	Count int    `json:"count"`
}

// SoakResult is the soak scenario: requests through the gateway while
// the provider fails a share of the upstream requests, and the gateway
// process's resident memory and open sockets before and after.
type SoakResult struct {
	Requests    int           `json:"requests"`
	Streams     int           `json:"streams"` // of Requests, streamed
	Succeeded   int           `json:"succeeded"`
	Failed      int           `json:"failed"`
	SuccessRate float64       `json:"success_rate"`
	FailureRate float64       `json:"injected_failure_rate"`
	Channels    []SoakChannel `json:"channels"`
	Upstream    int64         `json:"upstream_requests"`
	// Retries is upstream requests less client requests: the attempts
	// the gateway made on another channel after a failure.
	Retries   int64         `json:"retries"`
	Elapsed   Duration      `json:"elapsed"`
	ReqPerSec float64       `json:"req_per_sec"`
	Latency   Dist          `json:"latency"` // of succeeded requests
	Failures  []SoakFailure `json:"failures,omitempty"`

	// The gateway process after an idle wait (see gatewayIdle), before
	// and after the soak: VmRSS from /proc/<pid>/status and the number
	// of sockets among /proc/<pid>/fd.
	RSSBefore     int64 `json:"rss_before_bytes"`
	RSSAfter      int64 `json:"rss_after_bytes"`
	SocketsBefore int   `json:"sockets_before"`
	SocketsAfter  int   `json:"sockets_after"`
	// SocketsLeft describes the gateway's TCP sockets at rest after the
	// soak ("local-port remote-port state"), when more are open than
	// before.
	SocketsLeft []string `json:"sockets_left,omitempty"`
	IdleWait    Duration `json:"idle_wait_after"`
	Err         string   `json:"error,omitempty"`
}

// setupSoak creates, through the admin API, the soak channels (one per
// soak endpoint of the provider, equal priority and weight, serving only
// modelSoak) and a priced model config for modelSoak.
func setupSoak(ctx context.Context, a *admin, providerURL string) error {
	for n := 1; n <= soakChannels; n++ {
		in := map[string]any{
			"name":    "load-soak-" + strconv.Itoa(n),
			"type":    "openai",
			"baseURL": providerURL + soakPrefix(n) + "/v1",
			"key":     "sk-load",
			"models":  []string{modelSoak},
		}
		if err := a.do(ctx, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { id } }`,
			map[string]any{"in": in}, nil); err != nil {
			return fmt.Errorf("create channel soak-%d: %w", n, err)
		}
	}
	in := map[string]any{"model": modelSoak, "type": "CHAT", "inputPrice": 0.15, "outputPrice": 0.6}
	if err := a.do(ctx, `mutation($in: CreateModelConfigInput!) { createModelConfig(input: $in) { model } }`,
		map[string]any{"in": in}, nil); err != nil {
		return fmt.Errorf("create model config %s: %w", modelSoak, err)
	}
	return nil
}

// soakStream reports whether the ith request of the soak streams: every
// fourth does.
func soakStream(i int) bool { return i%4 == 3 }

// runSoak sets the soak channels up, waits until the gateway routes the
// soak model, measures the gateway at rest, sends cfg.SoakRequests
// requests from cfg.SoakWorkers workers, and measures the gateway at rest
// again.
func (b *bench) runSoak(ctx context.Context) *SoakResult {
	cfg, c, gw := b.cfg, b.c, b.gw
	res := &SoakResult{Requests: cfg.SoakRequests, FailureRate: cfg.SoakFailureRate}
	if err := setupSoak(ctx, b.admin, b.provider.url()); err != nil {
		res.Err = err.Error()
		return res
	}
	if err := b.waitSoakRoutable(ctx); err != nil {
		res.Err = err.Error()
		return res
	}
	b.settle(ctx)
	res.SocketsBefore, _ = b.gatewayIdle(ctx, -1)
	res.RSSBefore, _, _ = gw.proc.memory()
	before, err := b.soakStats(ctx)
	if err != nil {
		res.Err = err.Error()
		return res
	}

	plain, streamed := chatBody(modelSoak, false), chatBody(modelSoak, true)
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, cfg.SoakRequests)
		failures = map[string]int{}
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range cfg.SoakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= cfg.SoakRequests {
					return
				}
				t0 := time.Now()
				var err error
				if soakStream(i) {
					if r := c.stream(ctx, gw, routeFast, streamed); r.Err != nil || !r.Done || r.Events == 0 {
						err = fmt.Errorf("stream: %s", r.describe(r.Events))
					}
				} else {
					err = c.chat(ctx, gw, plain)
				}
				d := time.Since(t0)
				mu.Lock()
				if soakStream(i) {
					res.Streams++
				}
				if err != nil {
					res.Failed++
					failures[failureKind(err)]++
				} else {
					res.Succeeded++
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.Elapsed = Duration(elapsed)
	sent := res.Succeeded + res.Failed
	res.Requests = sent
	if sent > 0 {
		res.SuccessRate = float64(res.Succeeded) / float64(sent)
		res.ReqPerSec = float64(sent) / elapsed.Seconds()
	}
	res.Latency = summarize(lat)
	for msg, n := range failures {
		res.Failures = append(res.Failures, SoakFailure{Error: msg, Count: n})
	}
	slices.SortFunc(res.Failures, func(a, b SoakFailure) int { return b.Count - a.Count })

	after, err := b.soakStats(ctx)
	if err != nil {
		res.Err = err.Error()
	}
	for n := 1; n <= soakChannels; n++ {
		name := soakName(n)
		x, y := before[name], after[name]
		ch := SoakChannel{Name: name, Upstream: y.Requests - x.Requests,
			Failed: (y.Failed500 + y.Failed429) - (x.Failed500 + x.Failed429), Of429: y.Failed429 - x.Failed429}
		res.Channels = append(res.Channels, ch)
		res.Upstream += ch.Upstream
	}
	res.Retries = res.Upstream - int64(sent)

	c.hc.CloseIdleConnections()
	idleStart := time.Now()
	res.SocketsAfter, _ = b.gatewayIdle(ctx, res.SocketsBefore)
	b.settle(ctx)
	res.IdleWait = Duration(time.Since(idleStart))
	res.RSSAfter, _, _ = gw.proc.memory()
	if res.SocketsAfter > res.SocketsBefore {
		res.SocketsLeft = describeSockets(gw.proc.cmd.Process.Pid)
	}
	return res
}

// failureKind shortens a failed request's error to its kind: status and
// message without the ids that differ from one request to the next.
func failureKind(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, `"request_id"`); i > 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// soakName is the provider's name for the nth soak endpoint in /__stats.
func soakName(n int) string { return "soak-" + strconv.Itoa(n) }

// waitSoakRoutable sends soak requests until one is answered 200, so that
// the soak starts once the gateway's caches know the new channels. They
// are sent before the provider's counters are read, and so not counted.
func (b *bench) waitSoakRoutable(ctx context.Context) error {
	body := chatBody(modelSoak, false)
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err = b.c.chat(ctx, b.gw, body); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("gateway does not route %s within 15s: %w", modelSoak, err)
}

// soakStats reads the provider's counters.
func (b *bench) soakStats(ctx context.Context) (providerStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.provider.url()+"/__stats", nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("provider stats: %w", err)
	}
	defer resp.Body.Close()
	var st providerStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("provider stats: %w", err)
	}
	return st, nil
}

// gatewayIdle brings the gateway to rest and returns its socket count
// then. The load's own idle connections are closed and the provider is
// asked to close its idle ones (POST /__drop-idle), so that the gateway
// keeps no pooled connection at either side; what remains is its
// listener, its Redis connections and whatever a request left open.
// With want >= 0 it waits up to 15s for the count to fall to want;
// otherwise until it has not changed for half a second (at most 5s).
func (b *bench) gatewayIdle(ctx context.Context, want int) (int, error) {
	b.c.hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.provider.url()+"/__drop-idle", nil)
	if err != nil {
		return 0, err
	}
	resp, err := b.c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("drop idle connections: %w", err)
	}
	resp.Body.Close()
	b.c.hc.CloseIdleConnections()
	pid := b.gw.proc.cmd.Process.Pid
	limit := 5 * time.Second
	if want >= 0 {
		limit = 15 * time.Second
	}
	deadline := time.Now().Add(limit)
	last, stable := -1, time.Now()
	for {
		n, err := countSockets(pid)
		if err != nil {
			return 0, err
		}
		if n != last {
			last, stable = n, time.Now()
		}
		switch {
		case want >= 0 && n <= want:
			return n, nil
		case want < 0 && time.Since(stable) >= 500*time.Millisecond:
			return n, nil
		case time.Now().After(deadline) || ctx.Err() != nil:
			return n, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describeSockets returns the process's TCP sockets as "local remote
// state" lines, from /proc/<pid>/fd and /proc/<pid>/net/tcp{,6}, for a
// report of sockets left open; sockets of other kinds are left out.
func describeSockets(pid int) []string {
	dir := "/proc/" + strconv.Itoa(pid)
	ents, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return nil
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/fd/" + e.Name()); err == nil {
			if ino, ok := strings.CutPrefix(l, "socket:["); ok {
				inodes[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	states := map[string]string{"01": "ESTABLISHED", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "0A": "LISTEN"}
	var out []string
	for _, name := range []string{"/net/tcp", "/net/tcp6"} {
		b, err := os.ReadFile(dir + name)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			st := states[f[3]]
			if st == "" {
				st = "state " + f[3]
			}
			out = append(out, fmt.Sprintf("%s %s %s", hexPort(f[1]), hexPort(f[2]), st))
		}
	}
	return out
}

// hexPort formats an address of /proc/net/tcp ("0100007F:1F90") as its
// port only (":8080"): every socket of the run is on loopback.
func hexPort(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	n, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return addr
	}
	return ":" + strconv.FormatUint(n, 10)
}

// countSockets returns how many of the process's file descriptors are
// sockets ("socket:[inode]" links in /proc/<pid>/fd).
func countSockets(pid int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("count sockets: %w", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n, nil
}
