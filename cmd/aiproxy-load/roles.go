package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// The load tool re-executes itself in these roles, so that the provider
// and the bare proxies each have a process of their own, as the gateway
// does: none of them shares a heap, a garbage collector or a scheduler
// with the load generator.

// providerStats is what GET /__stats of the provider role answers: the
// relaytest counters of each of its providers and, for the soak
// endpoints ("soak-1" ...), the fault injector's counters.
type providerStats map[string]providerCounters

// providerCounters are one provider's counters. Requests, Failed500 and
// Failed429 are counted only by the soak endpoints' fault injectors.
type providerCounters struct {
	Active    int   `json:"active"`
	Cancelled int64 `json:"cancelled"`
	Requests  int64 `json:"requests,omitempty"`
	Failed500 int64 `json:"injected_500,omitempty"`
	Failed429 int64 `json:"injected_429,omitempty"`
}

// The early provider's answer: earlyChunks content chunks, each event
// (the first included) earlyDelay after the previous one. The delay lets
// part of the request body reach the proxy before the answer starts,
// which is when a bare httputil.ReverseProxy loses streams.
const (
	earlyChunks = 8
	earlyDelay  = 5 * time.Millisecond
)

// runProvider serves three relaytest providers on one loopback port, each
// with recording off (memory stays flat under load):
//
//	/v1/...        fast: no delays; for throughput, latency and held streams
//	/slow/v1/...   streams of exactly -chunks content chunks, -chunk-delay apart
//	/early/v1/...  answers chat completions before reading the body, and
//	               never reads it (relaytest.EarlyIgnore): earlyChunks
//	               chunks, -early-delay apart
//	/soak/<n>/v1/... for n from 1 to soakChannels: each its own fast
//	               provider behind a faultInjector that fails
//	               -soak-failure-rate of the requests
//	/__stats       providerStats as JSON
//	/__drop-idle   (POST) closes every idle keep-alive connection, so that
//	               the soak can count the gateway's sockets at rest
func runProvider(args []string) error {
	fs := flag.NewFlagSet("provider", flag.ContinueOnError)
	chunks := fs.Int("chunks", 20, "content chunks of a slow stream")
	delay := fs.Duration("chunk-delay", 2*time.Millisecond, "wait before each event of a slow stream")
	earlyWait := fs.Duration("early-delay", earlyDelay, "wait before each event of an early answer")
	failureRate := fs.Float64("soak-failure-rate", 0.05, "share of the soak endpoints' requests answered with an injected failure")
	share429 := fs.Float64("soak-429-share", 0, "share of the injected failures answered 429 with Retry-After: 1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fast := relaytest.NewProvider(relaytest.WithoutRecording())
	slow := relaytest.NewProvider(relaytest.WithoutRecording(),
		relaytest.WithChunks(*chunks), relaytest.WithChunkDelay(*delay))
	early := relaytest.NewProvider(relaytest.WithoutRecording(),
		relaytest.WithEarlyAnswer(relaytest.EarlyIgnore),
		relaytest.WithReply(strings.TrimSpace(strings.Repeat("early ", earlyChunks))),
		relaytest.WithChunks(earlyChunks), relaytest.WithChunkDelay(*earlyWait))
	all := map[string]*relaytest.Provider{"fast": fast, "slow": slow, "early": early}

	mux := http.NewServeMux()
	mux.Handle("/v1/", fast)
	mux.Handle("/slow/", http.StripPrefix("/slow", slow))
	mux.Handle("/early/", http.StripPrefix("/early", early))
	faults := map[string]*faultInjector{}
	for n := 1; n <= soakChannels; n++ {
		p := relaytest.NewProvider(relaytest.WithoutRecording())
		all[soakName(n)] = p
		f := &faultInjector{next: p, rate: *failureRate, share429: *share429}
		faults[soakName(n)] = f
		mux.Handle(soakPrefix(n)+"/", http.StripPrefix(soakPrefix(n), f))
	}
	mux.HandleFunc("GET /__stats", func(w http.ResponseWriter, r *http.Request) {
		st := providerStats{}
		for name, p := range all {
			e := st[name]
			e.Cancelled = p.Cancelled() // before Active: see Provider.Cancelled
			e.Active = p.Active()
			if f := faults[name]; f != nil {
				e.Requests, e.Failed500, e.Failed429 = f.requests.Load(), f.failed500.Load(), f.failed429.Load()
			}
			st[name] = e
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
	var srv atomic.Pointer[http.Server]
	mux.HandleFunc("POST /__drop-idle", func(w http.ResponseWriter, r *http.Request) {
		if s := srv.Load(); s != nil {
			s.SetKeepAlivesEnabled(false) // closes the idle connections
			s.SetKeepAlivesEnabled(true)
		}
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusNoContent)
	})
	return serveRole(mux, srv.Store, func() {
		for _, p := range all {
			p.Close()
		}
	})
}

// runProxy serves a bare httputil.ReverseProxy in front of -upstream: no
// authentication, no parsing, no logging. With -transport=fair its
// transport is the gateway's own (relay.NewTransport: 1024 idle
// connections per host); with -transport=default it is
// http.DefaultTransport, which keeps only 2 idle connections per host.
func runProxy(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	upstream := fs.String("upstream", "", "base URL of the provider")
	transport := fs.String("transport", "fair", "fair or default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*upstream)
	if err != nil || u.Scheme != "http" || u.Hostname() != loopback {
		return fmt.Errorf("proxy: -upstream must be http://%s:port, not %q", loopback, *upstream)
	}
	var rt http.RoundTripper
	switch *transport {
	case "fair":
		rt = relay.NewTransport(relay.TransportOptions{})
	case "default":
		rt = http.DefaultTransport
	default:
		return fmt.Errorf("proxy: -transport must be fair or default, not %q", *transport)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: rt,
		ErrorLog:  log.New(os.Stderr, "proxy: ", log.LstdFlags),
	}
	return serveRole(rp, nil, nil)
}

// serveRole serves h on a free loopback port with the gateway's server
// timeouts, prints the ready line, and shuts down on SIGTERM or SIGINT,
// calling release first (to let held requests go). It hands the server to
// serving, unless nil, before it serves.
func serveRole(h http.Handler, serving func(*http.Server), release func()) error {
	if _, err := raiseFileLimit(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(os.Stderr, "server: ", log.LstdFlags),
	}
	if serving != nil {
		serving(srv)
	}
	fmt.Println(readyLine + ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if release != nil {
		release()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
