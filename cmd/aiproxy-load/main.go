// Command aiproxy-load measures the gateway against a bare reverse proxy
// on the same machine, and checks the performance targets of the
// foundation issue.
//
// It starts, each in its own process, a fake OpenAI provider
// (relay/relaytest), a bare httputil.ReverseProxy in front of it (twice:
// with the gateway's transport and with http.DefaultTransport) and the
// gateway (built from ./cmd/aiproxy, or -gateway), configured through its
// GraphQL admin API with a group, a token, channels and priced models, on a
// fresh SQLite file. Then it runs, side by side for every target:
//
//  1. throughput: non-streaming chat completions at saturation;
//  2. latency: the same at a fixed rate, open loop;
//  3. streaming: time to first event and total time of streams;
//  4. open streams: the serving process's RSS while -streams streams are
//     held open, and how long after all their clients disconnect the
//     provider sees every upstream request cancelled;
//  5. early answer: a provider that streams its answer before reading a
//     large request body;
//  6. log integrity: the gateway is stopped with SIGTERM and its log rows
//     are counted against the requests it answered.
//
// One more scenario runs only when -run names it (-run soak):
//
//  7. soak: -soak-requests requests (every fourth streamed) from
//     -soak-workers workers through the gateway alone, to a model served
//     by three channels of equal priority and weight, each pointing at an
//     endpoint of its own on the provider (/soak/<n>/v1), where a fault
//     injector fails -soak-failure-rate of the upstream requests
//     (-soak-429-share of those 429 with Retry-After: 1, the rest 500,
//     both with an OpenAI-shaped error body). The channels are created
//     through the admin API when the scenario starts. A request succeeds
//     when it is answered 200 with usage, or, streamed, 200 with data
//     events and a final "data: [DONE]"; below 99.9 % the run fails. The
//     provider counts upstream requests and injected failures per channel
//     (GET /__stats); retries are upstream requests less client requests.
//
//     The gateway has no profiling endpoint and the tool adds none, so
//     its goroutines and heap cannot be read directly. Instead, before
//     and after the soak, the gateway is brought to rest (the load's idle
//     connections closed, the provider asked to close its idle keep-alive
//     connections through POST /__drop-idle, a wait until the socket
//     count falls back or 15 s pass, then until the CPU is idle) and two
//     things are read from /proc/<pid>: VmRSS from status, standing in
//     for the heap (an upper bound: it includes freed memory the Go
//     runtime has not returned to the kernel yet), and the number of
//     sockets among fd, standing in for goroutines: every connection the
//     gateway keeps open is held by at least one goroutine, so a request
//     that leaks a goroutine blocked on a connection leaks a socket too
//     (a goroutine leaked without a connection is not seen). Threads in
//     status counts OS threads, not goroutines, and is not used. The
//     soft targets: RSS after within +20 MB of before, sockets back to
//     the count before.
//
// With -live, the throughput scenario runs with a live subscriber on the
// gateway: a GraphQL liveMetrics and a logAdded subscription held over one
// WebSocket (graphql-transport-ws, authenticated with the admin key in
// connection_init), whose events are counted and reported. A subscription
// that cannot be established stops the run (exit 2); one that ends early
// or receives nothing is a failed hard target.
//
// It prints tables (or JSON with -json) and exits 1 when a hard target is
// missed: a log row lost, a cancel slower than -cancel-limit, RSS over
// -rss-limit-mb, a stream cut short, a failed request. Throughput below
// the bare proxy's is reported, not failed: it is noisy on a shared
// machine. It exits 2 when it cannot run at all.
//
// Every byte of load goes to 127.0.0.1; every loop is bounded in count
// and time; every child process is killed and the temporary directory
// removed on exit, Ctrl-C included.
//
// Usage, from the repository root:
//
//	go run ./cmd/aiproxy-load [flags]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Target names.
const (
	nameDirect       = "direct"
	nameProxy        = "proxy"
	nameProxyDefault = "proxy-default"
	nameGateway      = "gateway"
)

// allTargets lists the targets in the order they are measured and shown.
var allTargets = []string{nameDirect, nameProxy, nameProxyDefault, nameGateway}

// Scenario names, in the order they run. Early answers run after the open
// streams because the gateway loads a tokenizer for them (the provider
// reports no usage before reading the body), which would inflate the RSS
// measured with open streams.
var allScenarios = []string{"throughput", "latency", "ttfb", "streams", "early", "logs"}

// extraScenarios run only when -run names them; scenarioOrder is the order
// every scenario runs in. The soak runs before logs, which stops the
// gateway.
var (
	extraScenarios = []string{"soak"}
	scenarioOrder  = []string{"throughput", "latency", "ttfb", "streams", "early", "soak", "logs"}
)

// config is the run's configuration, from flags.
type config struct {
	Gateway       string        `json:"gateway,omitempty"`
	Redis         string        `json:"redis,omitempty"`
	Limits        bool          `json:"limits,omitempty"`
	Scenarios     []string      `json:"scenarios"`
	Targets       []string      `json:"targets"`
	Workers       int           `json:"workers"`
	Duration      time.Duration `json:"duration"`
	Rounds        int           `json:"rounds"`
	Warmup        time.Duration `json:"warmup"`
	Rate          float64       `json:"rate"`
	RateDuration  time.Duration `json:"rate_duration"`
	StreamWorkers int           `json:"stream_workers"`
	StreamCount   int           `json:"stream_count"`
	Chunks        int           `json:"chunks"`
	ChunkDelay    time.Duration `json:"chunk_delay"`
	Streams       int           `json:"streams"`
	Hold          time.Duration `json:"hold"`
	EarlySizes    []int         `json:"early_body_sizes"`
	EarlyRuns     int           `json:"early_runs"`
	RSSLimitMB    int           `json:"rss_limit_mb"`
	CancelLimit   time.Duration `json:"cancel_limit"`
	SoakRequests  int           `json:"soak_requests"`
	SoakWorkers   int           `json:"soak_workers"`
	// SoakFailureRate is the share of the soak's upstream requests the
	// provider fails (a fifth of them 429 with Retry-After: 1, the rest
	// 500).
	SoakFailureRate float64 `json:"soak_failure_rate"`
	// Soak429Share is the share of the injected failures answered 429.
	Soak429Share float64 `json:"soak_429_share"`
	JSON         bool    `json:"-"`
	Keep         bool    `json:"-"`

	// Live holds a liveMetrics and a logAdded subscription against the
	// gateway while the throughput scenario runs (-live).
	Live bool `json:"live,omitempty"`
}

func (c *config) has(scenario string) bool { return slices.Contains(c.Scenarios, scenario) }

func (c *config) hasTarget(name string) bool { return slices.Contains(c.Targets, name) }

// MarshalJSON writes the durations as strings such as "3s".
func (c config) MarshalJSON() ([]byte, error) {
	type plain config
	return json.Marshal(struct {
		plain
		Duration     string `json:"duration"`
		Warmup       string `json:"warmup"`
		RateDuration string `json:"rate_duration"`
		ChunkDelay   string `json:"chunk_delay"`
		Hold         string `json:"hold"`
		CancelLimit  string `json:"cancel_limit"`
	}{plain(c), c.Duration.String(), c.Warmup.String(), c.RateDuration.String(), c.ChunkDelay.String(), c.Hold.String(), c.CancelLimit.String()})
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("aiproxy-load", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./cmd/aiproxy-load [flags]\n\nMeasures the gateway against a bare reverse proxy; see the package doc.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Gateway, "gateway", "", "gateway binary to run; empty builds ./cmd/aiproxy")
	fs.StringVar(&cfg.Redis, "redis", "", "a Redis URL on 127.0.0.1 (redis://127.0.0.1:6379/0) for the gateway's REDIS, under a key prefix of this run's own; empty runs it without Redis")
	run := fs.String("run", strings.Join(allScenarios, ","), "scenarios to run, comma-separated: "+strings.Join(allScenarios, ",")+"; and, only when named, "+strings.Join(extraScenarios, ","))
	targets := fs.String("targets", strings.Join(allTargets, ","), "targets to measure, comma-separated: "+strings.Join(allTargets, ",")+" (the gateway process always starts)")
	fs.BoolVar(&cfg.Limits, "limits", false, "switch limits and billing on: every model with an RPM and TPM limit so high it admits everything, the token with a quota and a period quota, the group prepaid with a concurrency cap, BILLING_ENABLED=true (each request then reserves and settles against all of them)")
	fs.BoolVar(&cfg.Live, "live", false, "during the throughput scenario, hold a GraphQL liveMetrics and a logAdded subscription over a WebSocket (graphql-transport-ws) against the gateway, and count their events; the run stops if they cannot be established")
	fs.IntVar(&cfg.Workers, "workers", 64, "concurrent workers for the throughput scenario")
	fs.DurationVar(&cfg.Duration, "duration", 2*time.Second, "length of one throughput round per target")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "throughput rounds per target")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "throughput warm-up per target")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "requests per second of the latency scenario")
	fs.DurationVar(&cfg.RateDuration, "rate-duration", 5*time.Second, "length of the latency scenario per target")
	fs.IntVar(&cfg.StreamWorkers, "stream-workers", 20, "concurrent streams of the streaming scenario")
	fs.IntVar(&cfg.StreamCount, "stream-count", 400, "streams per target of the streaming scenario")
	fs.IntVar(&cfg.Chunks, "chunks", 20, "content chunks of a stream in the streaming scenario")
	fs.DurationVar(&cfg.ChunkDelay, "chunk-delay", 2*time.Millisecond, "provider's wait before each event of a stream in the streaming scenario")
	fs.IntVar(&cfg.Streams, "streams", 2000, "streams held open at once in the open-streams scenario")
	fs.DurationVar(&cfg.Hold, "hold", time.Second, "how long the open streams stay open while memory is sampled")
	earlySizes := fs.String("early-sizes", "64k,256k,1m,8m", "request body sizes of the early-answer scenario, comma-separated, with k or m for KiB or MiB")
	fs.IntVar(&cfg.EarlyRuns, "early-runs", 10, "early-answer requests per target and body size")
	fs.IntVar(&cfg.RSSLimitMB, "rss-limit-mb", 150, "hard target: gateway RSS with the open streams, in MB")
	fs.DurationVar(&cfg.CancelLimit, "cancel-limit", time.Second, "hard target: time for every disconnected stream to be cancelled upstream")
	fs.IntVar(&cfg.SoakRequests, "soak-requests", 10000, "requests of the soak scenario")
	fs.IntVar(&cfg.SoakWorkers, "soak-workers", 32, "concurrent workers of the soak scenario")
	fs.Float64Var(&cfg.SoakFailureRate, "soak-failure-rate", 0.05, "share of the soak's upstream requests the provider fails (a fifth of them 429 with Retry-After: 1, the rest 500)")
	fs.Float64Var(&cfg.Soak429Share, "soak-429-share", 0, "share of the soak's injected failures answered 429 with Retry-After: 1 instead of 500 (a 429 parks its channel for that second: with every channel parked, requests get 429 at once)")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary directory (database, process logs)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	picked := strings.Split(*run, ",")
	for i := range picked {
		picked[i] = strings.TrimSpace(picked[i])
		if !slices.Contains(scenarioOrder, picked[i]) {
			return nil, fmt.Errorf("-run: unknown scenario %q", picked[i])
		}
	}
	for _, s := range scenarioOrder { // in their order, whatever the flag's
		if slices.Contains(picked, s) {
			cfg.Scenarios = append(cfg.Scenarios, s)
		}
	}
	if cfg.Live && !cfg.has("throughput") {
		return nil, errors.New("-live holds its subscriptions during the throughput scenario: add throughput to -run")
	}
	for _, s := range strings.Split(*targets, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allTargets, s) {
			return nil, fmt.Errorf("-targets: unknown target %q", s)
		}
		cfg.Targets = append(cfg.Targets, s)
	}
	for _, s := range strings.Split(*earlySizes, ",") {
		n, err := parseSize(s)
		if err != nil {
			return nil, fmt.Errorf("-early-sizes: %w", err)
		}
		cfg.EarlySizes = append(cfg.EarlySizes, n)
	}
	switch {
	case cfg.Workers < 1, cfg.Rounds < 1, cfg.StreamWorkers < 1, cfg.StreamCount < 1, cfg.Chunks < 1,
		cfg.Streams < 1, cfg.EarlyRuns < 1, cfg.RSSLimitMB < 1, cfg.SoakRequests < 1, cfg.SoakWorkers < 1:
		return nil, errors.New("counts and sizes must be at least 1")
	case cfg.Duration <= 0, cfg.Warmup <= 0, cfg.RateDuration <= 0, cfg.ChunkDelay < 0, cfg.Hold < 0, cfg.CancelLimit <= 0:
		return nil, errors.New("durations must be positive")
	case cfg.Rate <= 0 || cfg.Rate > 100000:
		return nil, errors.New("-rate must be in (0, 100000]")
	case cfg.Duration > 5*time.Minute || cfg.RateDuration > 5*time.Minute || cfg.Hold > 5*time.Minute || cfg.Rounds > 20:
		return nil, errors.New("a run is bounded: -duration, -rate-duration and -hold at most 5m, -rounds at most 20")
	case cfg.Streams > 8000:
		return nil, errors.New("-streams at most 8000 (ephemeral ports and file descriptors)")
	case cfg.SoakRequests > 1000000 || cfg.SoakWorkers > 1024:
		return nil, errors.New("a run is bounded: -soak-requests at most 1000000, -soak-workers at most 1024")
	case cfg.SoakFailureRate < 0 || cfg.SoakFailureRate > 0.5:
		return nil, errors.New("-soak-failure-rate must be in [0, 0.5]")
	case cfg.Soak429Share < 0 || cfg.Soak429Share > 1:
		return nil, errors.New("-soak-429-share must be in [0, 1]")
	}
	return cfg, nil
}

// parseSize parses a byte count such as "512", "64k" or "8m" (KiB, MiB),
// between 1 byte and 32 MiB (the gateway's default body limit).
func parseSize(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	unit := 1
	switch {
	case strings.HasSuffix(s, "k"):
		unit, s = 1<<10, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "m"):
		unit, s = 1<<20, strings.TrimSuffix(s, "m")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n*unit > 32<<20 {
		return 0, fmt.Errorf("bad size %q: want 1 to 32m", s)
	}
	return n * unit, nil
}

func main() {
	// Hidden roles: this binary re-executed as the provider or a proxy.
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "-role=") {
		var err error
		switch role := strings.TrimPrefix(os.Args[1], "-role="); role {
		case "provider":
			err = runProvider(os.Args[2:])
		case "proxy":
			err = runProxy(os.Args[2:])
		default:
			err = fmt.Errorf("unknown role %q", role)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "aiproxy-load:", err)
			os.Exit(2)
		}
		return
	}

	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aiproxy-load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aiproxy-load:", err)
		os.Exit(2)
	}
	if cfg.JSON {
		rep.writeJSON(os.Stdout)
	} else {
		rep.writeText(os.Stdout)
	}
	if rep.failed() {
		os.Exit(1)
	}
}

// run starts the processes, runs the scenarios and judges the results.
// Progress goes to progress; the processes are stopped and the temporary
// directory removed before it returns.
func run(ctx context.Context, cfg *config, progress io.Writer) (*Report, error) {
	say := func(format string, args ...any) {
		fmt.Fprintf(progress, "aiproxy-load: "+format+"\n", args...)
	}
	fileLimit, err := raiseFileLimit()
	if err != nil {
		return nil, fmt.Errorf("raise open-file limit: %w", err)
	}
	if need := uint64(2*cfg.Streams + 512); fileLimit < need && cfg.has("streams") {
		return nil, fmt.Errorf("open-file limit %d is below the %d that %d streams need", fileLimit, need, cfg.Streams)
	}
	rep := &Report{Command: strings.Join(append([]string{"go run ./cmd/aiproxy-load"}, os.Args[1:]...), " "),
		Started: time.Now().UTC(), Machine: machine(fileLimit), Config: cfg}

	dir, err := os.MkdirTemp("", "aiproxy-load-")
	if err != nil {
		return nil, err
	}
	if cfg.Keep {
		say("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ps := &procs{dir: dir}
	defer ps.Close()
	b, err := setUp(ctx, cfg, ps, say)
	if err != nil {
		return nil, err
	}

	cpuStart := sampleCPU(b.procs)
	measured := func() { rep.Machine.OtherCPU = otherShare(cpuStart, sampleCPU(b.procs)) }
	for _, s := range cfg.Scenarios {
		if ctx.Err() != nil {
			break
		}
		if s == "logs" {
			measured() // before the gateway exits and its CPU time is lost
		} else if b.gw.proc.exited() {
			return nil, fmt.Errorf("the gateway exited during the run (%v):\n%s", b.gw.proc.err, b.gw.proc.tail(4096))
		}
		say("scenario %s", s)
		switch s {
		case "throughput":
			var live *liveSubscriber
			if cfg.Live {
				if live, err = subscribeLive(ctx, b.gw.base, b.admin.key); err != nil {
					return nil, fmt.Errorf("%w\n%s", err, b.gw.proc.tail(2048))
				}
				say("live: liveMetrics and logAdded subscriptions held")
			}
			rep.Throughput = b.runThroughput(ctx, b.targets(true))
			if live != nil {
				rep.Live = live.Close(10*time.Second, b.gwSent.Load())
			}
		case "latency":
			rep.Latency = b.runLatency(ctx, b.targets(false))
		case "ttfb":
			rep.TTFB = b.runTTFB(ctx, b.targets(false))
		case "streams":
			for _, t := range b.targets(false) {
				rep.Streams = append(rep.Streams, b.runOpenStreams(ctx, t))
			}
		case "early":
			rep.Early = b.runEarly(ctx, b.targets(false))
		case "soak":
			rep.Soak = b.runSoak(ctx)
		case "logs":
			rep.Logs = runLogs(ctx, b.gw, filepath.Join(dir, "aiproxy.db"))
		}
		b.c.hc.CloseIdleConnections()
	}
	if ctx.Err() != nil {
		return nil, errors.New("interrupted")
	}
	if !cfg.has("logs") {
		measured()
	}
	rep.judge(cfg)
	if rep.failed() {
		say("logs of the gateway (last 2 KiB):\n%s", b.gw.proc.tail(2048))
	}
	return rep, nil
}

// setUp builds the gateway unless cfg names one, starts the provider, the
// proxies and the gateway, configures the gateway and waits until it
// routes the load.
func setUp(ctx context.Context, cfg *config, ps *procs, say func(string, ...any)) (*bench, error) {
	bin := cfg.Gateway
	var err error
	if bin == "" {
		say("building ./cmd/aiproxy")
		if bin, err = buildGateway(ctx, ps.dir); err != nil {
			return nil, err
		}
	} else if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	provider, err := ps.startRole(ctx, "provider", "-role=provider",
		"-chunks", strconv.Itoa(cfg.Chunks), "-chunk-delay", cfg.ChunkDelay.String(),
		"-soak-failure-rate", strconv.FormatFloat(cfg.SoakFailureRate, 'g', -1, 64),
		"-soak-429-share", strconv.FormatFloat(cfg.Soak429Share, 'g', -1, 64))
	if err != nil {
		return nil, err
	}
	proxy, err := ps.startRole(ctx, nameProxy, "-role=proxy", "-upstream", provider.url(), "-transport=fair")
	if err != nil {
		return nil, err
	}
	proxyDefault, err := ps.startRole(ctx, nameProxyDefault, "-role=proxy", "-upstream", provider.url(), "-transport=default")
	if err != nil {
		return nil, err
	}
	adminKey := randomKey()
	if cfg.Redis != "" {
		u, err := url.Parse(cfg.Redis)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Hostname() != loopback {
			return nil, fmt.Errorf("-redis: want a redis:// URL on 127.0.0.1, got %q", cfg.Redis)
		}
	}
	gwProc, err := ps.startGateway(ctx, bin, ps.dir, adminKey, cfg.Redis, cfg.Limits)
	if err != nil {
		return nil, err
	}
	say("provider %s, proxy %s, proxy-default %s, gateway %s (pid %d)",
		provider.addr, proxy.addr, proxyDefault.addr, gwProc.addr, gwProc.cmd.Process.Pid)

	ad := &admin{hc: newClient("").hc, url: gwProc.url() + "/graphql", key: adminKey}
	token, err := setupGateway(ctx, ad, provider.url(), cfg.Limits)
	if err != nil {
		return nil, fmt.Errorf("set up the gateway: %w\n%s", err, gwProc.tail(2048))
	}
	b := &bench{
		cfg:          cfg,
		c:            newClient(token),
		admin:        ad,
		provider:     provider,
		procs:        []*proc{provider, proxy, proxyDefault, gwProc},
		direct:       &target{name: nameDirect, base: provider.url(), proc: provider},
		proxy:        &target{name: nameProxy, base: proxy.url(), proc: proxy},
		proxyDefault: &target{name: nameProxyDefault, base: proxyDefault.url(), proc: proxyDefault},
		gw:           &target{name: nameGateway, base: gwProc.url(), gateway: true, proc: gwProc},
	}
	if err := waitRoutable(ctx, b.c, b.gw); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, gwProc.tail(2048))
	}
	return b, nil
}

// randomKey returns a fresh admin key.
func randomKey() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "load-" + hex.EncodeToString(b)
}
