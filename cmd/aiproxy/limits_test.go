package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// burst sends n concurrent chat requests for model, alternating between
// the gateways, and returns how many were answered 200 and how many 429.
func burst(t *testing.T, gws []*gateway, key, model string, n int) (ok, limited int64) {
	t.Helper()
	var okN, limitedN atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	body := `{"model": "` + model + `", "max_tokens": 16, "messages": [{"role": "user", "content": "hello replica"}]}`
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(gw *gateway) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, gw.srv.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				okN.Add(1)
			case http.StatusTooManyRequests:
				limitedN.Add(1)
			default:
				t.Errorf("status %d", resp.StatusCode)
			}
		}(gws[i%len(gws)])
	}
	wg.Wait()
	return okN.Load(), limitedN.Load()
}

// waitEffective waits until gw's cache has what pred wants.
func waitEffective(t *testing.T, gw *gateway, what string, pred func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !pred() {
		if time.Now().After(deadline) {
			t.Fatalf("replica did not see %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fixedUsage is an OpenAI-compatible upstream whose every answer reports
// prompt tokens of *prompt and 16 completion tokens.
func fixedUsage(t *testing.T, prompt *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		p := prompt.Load()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":%d,"completion_tokens":16,"total_tokens":%d}}`, p, p+16)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestReplicasLimitsExact runs two gateways on one PostgreSQL database
// and one Redis and sends 500 concurrent requests split across them
// against an RPM limit of 100, a TPM limit worth 100 requests and a token
// quota worth 100 requests: exactly 100 succeed each time, and the used
// amounts in the database are exactly the sum of the logged amounts.
func TestReplicasLimitsExact(t *testing.T) {
	var prompt atomic.Int64
	prompt.Store(10)
	up := fixedUsage(t, &prompt)
	a, b := replicas(t, func(c *Config) { c.Billing = true })
	gws := []*gateway{a, b}
	key := setup(t, a.srv.URL, up.URL)
	ctx := context.Background()
	st := a.app.store

	t.Run("rpm", func(t *testing.T) {
		admin(t, a.srv.URL, `mutation { updateModelConfig(model: "gpt-4o-mini", input: {rpm: 100}) { rpm } }`, nil, nil)
		for _, gw := range gws {
			waitEffective(t, gw, "the RPM limit", func() bool {
				g, _ := gw.app.store.Group(ctx, "acme")
				return gw.app.store.Cache().Effective(g, "gpt-4o-mini").RPM == 100
			})
		}
		ok, limited := burst(t, gws, key, "gpt-4o-mini", 500)
		t.Logf("RPM 100, 500 concurrent requests over two replicas: %d succeeded, %d got 429", ok, limited)
		if ok != 100 || limited != 400 {
			t.Fatalf("succeeded %d, limited %d; want exactly 100 and 400", ok, limited)
		}
	})

	t.Run("tpm", func(t *testing.T) {
		// Learn what one request reserves (its counted prompt plus
		// max_tokens) on a model of its own, then make the upstream report
		// exactly that, so each admitted request holds what it reserved.
		admin(t, a.srv.URL, `mutation { createModelConfig(input: {model: "mini", tpm: 1000000}) { model } }`, nil, nil)
		waitEffective(t, a, "mini's TPM", func() bool {
			return a.app.store.Cache().Effective(nil, "mini").TPM == 1_000_000
		})
		req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model": "mini", "max_tokens": 16, "messages": [{"role": "user", "content": "hello replica"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		rem, _ := strconv.ParseInt(resp.Header.Get("x-ratelimit-remaining-tokens"), 10, 64)
		reserved := 1_000_000 - rem
		if resp.StatusCode != 200 || reserved <= 16 {
			t.Fatalf("calibration: status %d, reserved %d", resp.StatusCode, reserved)
		}
		prompt.Store(reserved - 16)
		admin(t, a.srv.URL, `mutation($tpm: Int!) { updateModelConfig(model: "gpt-4o-mini", input: {rpm: 0, tpm: $tpm}) { tpm } }`,
			map[string]any{"tpm": 100 * reserved}, nil)
		for _, gw := range gws {
			waitEffective(t, gw, "the TPM limit", func() bool {
				e := gw.app.store.Cache().Effective(nil, "gpt-4o-mini")
				return e.TPM == 100*reserved && e.RPM == 0
			})
		}
		ok, limited := burst(t, gws, key, "gpt-4o-mini", 500)
		t.Logf("TPM %d (100 requests of %d tokens), 500 concurrent requests over two replicas: %d succeeded, %d got 429", 100*reserved, reserved, ok, limited)
		if ok != 100 || limited != 400 {
			t.Fatalf("succeeded %d, limited %d; want exactly 100 and 400", ok, limited)
		}
	})

	t.Run("quota", func(t *testing.T) {
		unit := aiproxy.AmountUnit / 100
		if _, err := st.UpdateModelConfig(ctx, "gpt-4o-mini", aiproxy.ModelConfigUpdate{
			TPM: new(int64), Pricing: &aiproxy.Pricing{Prices: aiproxy.Prices{PerRequest: unit}}}); err != nil {
			t.Fatal(err)
		}
		toks, err := st.Tokens(ctx, "acme")
		if err != nil || len(toks) != 1 {
			t.Fatalf("tokens: %v %v", toks, err)
		}
		tok := toks[0]
		// The requests so far cost nothing at this price; what the token
		// has used stays, and the quota allows 100 requests more.
		if err := a.app.ledger.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.app.ledger.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		tok, _ = st.Token(ctx, tok.ID)
		quota := tok.UsedAmount + 100*unit
		if _, err := st.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{Quota: &quota}); err != nil {
			t.Fatal(err)
		}
		for _, gw := range gws {
			waitEffective(t, gw, "the quota and price", func() bool {
				tk, g, err := gw.app.store.Cache().TokenByKey(ctx, key)
				p := gw.app.store.Cache().Effective(g, "gpt-4o-mini").Pricing
				return err == nil && tk.Quota == quota && p != nil && p.PerRequest == unit
			})
		}
		ok, limited := burst(t, gws, key, "gpt-4o-mini", 500)
		t.Logf("token quota worth 100 requests, 500 concurrent requests over two replicas: %d succeeded, %d got insufficient_quota", ok, limited)
		if ok != 100 || limited != 400 {
			t.Fatalf("succeeded %d, refused %d; want exactly 100 and 400", ok, limited)
		}
		if st := chatStatus(t, b.srv.URL, key); st != http.StatusTooManyRequests {
			t.Errorf("after the quota is used: %d", st)
		}
	})

	// Every request that reached the provider was logged and charged
	// once: the logged amounts add up to the used amounts.
	for _, gw := range gws {
		gw.app.inflight.Wait() // abandoned requests finish on the server
		if err := gw.app.logs.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := gw.app.ledger.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var logged aiproxy.Amount
	var reached, rows int64
	for f := (aiproxy.LogFilter{Limit: 500}); ; {
		logs, more, err := st.Logs(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range logs {
			rows++
			logged += l.Amount
			if l.ChannelID != 0 {
				reached++
			}
			f.Before = l.ID
		}
		if !more {
			break
		}
	}
	toks, _ := st.Tokens(ctx, "acme")
	g, _ := st.Group(ctx, "acme")
	t.Logf("%d log rows, %d reached the provider, logged amount %d; token used %d in %d requests; group used %d in %d",
		rows, reached, logged, toks[0].UsedAmount, toks[0].RequestCount, g.UsedAmount, g.RequestCount)
	if toks[0].UsedAmount != logged || g.UsedAmount != logged || toks[0].RequestCount != reached || g.RequestCount != reached {
		t.Errorf("used amounts do not add up to the logs")
	}
	if reached != 301 {
		t.Errorf("%d requests reached the provider, want 301 (100 + 1 + 100 + 100; the refused ones none)", reached)
	}
}
