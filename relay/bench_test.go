package relay_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store"
)

const benchBody = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello to the benchmark"}],"temperature":0.2}`

// BenchmarkRelay compares a non-streaming chat request through the relay
// (auth, routing, JSON parsing, usage extraction, log recording) with the
// same request through a bare httputil.ReverseProxy, both in front of the
// same fake provider over loopback. The load tool (cmd/aiproxy-load)
// measures the same with separate processes.
func BenchmarkRelay(b *testing.B) {
	for _, stream := range []bool{false, true} {
		body := benchBody
		name := "chat"
		if stream {
			body = strings.Replace(benchBody, `"temperature"`, `"stream":true,"temperature"`, 1)
			name = "stream"
		}
		b.Run(name+"/gateway", func(b *testing.B) {
			f := newBenchFixture(b)
			run(b, f.srv.URL, body)
		})
		b.Run(name+"/gateway-limits", func(b *testing.B) {
			// Every limit on and admitting everything: group × model RPM
			// and TPM, the token's RPM and TPM, a concurrency cap, a
			// quota, a daily quota and a prepaid balance.
			h := &relay.Server{Limiter: store.NewMemoryLimiter(), Billing: true}
			f := newFixture(b, h, relaytest.WithoutRecording())
			f.mem.DiscardLogs()
			h.Charger = discardCharges{}
			f.mem.SetModelConfig(&aiproxy.ModelConfig{Model: "gpt-4o-mini", RPM: 1 << 40, TPM: 1 << 50,
				Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: 150_000_000, Output: 600_000_000}}})
			f.token.RPM, f.token.TPM = 1<<40, 1<<50
			f.token.Quota, f.token.PeriodQuota, f.token.Period = 1<<60, 1<<60, aiproxy.PeriodDaily
			f.group.MaxConcurrency, f.group.Prepaid, f.group.Credit = 1<<30, true, 1<<60
			run(b, f.srv.URL, body)
		})
		b.Run(name+"/reverseproxy", func(b *testing.B) {
			_, up := relaytest.Start(b, relaytest.WithoutRecording())
			target, _ := url.Parse(up.URL)
			rp := httputil.NewSingleHostReverseProxy(target)
			rp.Transport = relay.NewTransport(relay.TransportOptions{})
			rp.FlushInterval = -1
			srv := httptest.NewServer(rp)
			b.Cleanup(srv.Close)
			run(b, srv.URL, body)
		})
	}
}

type discardCharges struct{}

func (discardCharges) Charge(aiproxy.Charge) {}

func newBenchFixture(b *testing.B) *fixture {
	f := newFixture(b, nil, relaytest.WithoutRecording())
	f.mem.DiscardLogs()
	return f
}

func run(b *testing.B, base, body string) {
	client := &http.Client{Transport: relay.NewTransport(relay.TransportOptions{})}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 4096)
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
