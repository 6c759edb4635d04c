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
// relaytest counters of each of its providers.
type providerStats map[string]struct {
	Active    int   `json:"active"`
	Cancelled int64 `json:"cancelled"`
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
//	/__stats       providerStats as JSON
func runProvider(args []string) error {
	fs := flag.NewFlagSet("provider", flag.ContinueOnError)
	chunks := fs.Int("chunks", 20, "content chunks of a slow stream")
	delay := fs.Duration("chunk-delay", 2*time.Millisecond, "wait before each event of a slow stream")
	earlyWait := fs.Duration("early-delay", earlyDelay, "wait before each event of an early answer")
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
	mux.HandleFunc("GET /__stats", func(w http.ResponseWriter, r *http.Request) {
		st := providerStats{}
		for name, p := range all {
			e := st[name]
			e.Cancelled = p.Cancelled() // before Active: see Provider.Cancelled
			e.Active = p.Active()
			st[name] = e
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
	return serveRole(mux, func() {
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
	return serveRole(rp, nil)
}

// serveRole serves h on a free loopback port with the gateway's server
// timeouts, prints the ready line, and shuts down on SIGTERM or SIGINT,
// calling release first (to let held requests go).
func serveRole(h http.Handler, release func()) error {
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
