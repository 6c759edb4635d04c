package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// TestUsedAmountsAddUp is a property test on every database: after
// random concurrent traffic (answers, streams, streams and answers the
// client abandons, provider errors, several tokens), the logged amounts
// of each token add up to its used amount, those of the group to the
// group's, and the request counts to the requests that reached a
// provider.
func TestUsedAmountsAddUp(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		_, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"))
		gw := startGateway(t, testConfig(t, dsn))
		key := setup(t, gw.srv.URL, up.URL)
		var tok struct{ CreateToken struct{ Key string } }
		admin(t, gw.srv.URL, `mutation { createToken(input: {group: "acme", name: "second"}) { key } }`, nil, &tok)
		keys := []string{key, tok.CreateToken.Key}
		admin(t, gw.srv.URL, `mutation { createModelConfig(input: {model: "fake-hold", inputPrice: 1.5, outputPrice: 4}) { model } }`, nil, nil)
		admin(t, gw.srv.URL, `mutation($u: String!) { createChannel(input: {name: "failing", type: "openai", baseURL: $u, key: "sk-upstream-secret-key",
			models: ["fake-error-400", "fake-cut"]}) { id } }`, map[string]any{"u": up.URL + "/v1"}, nil)
		for _, k := range keys {
			for chatStatus(t, gw.srv.URL, k) != http.StatusOK { // the cache knows the tokens
				time.Sleep(5 * time.Millisecond)
			}
		}

		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					randomRequest(t, rng, gw.srv.URL, keys[rng.IntN(len(keys))])
				}
			}()
		}
		wg.Wait()

		ctx := context.Background()
		gw.app.inflight.Wait() // abandoned requests finish on the server
		if err := gw.app.logs.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := gw.app.ledger.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		st := gw.app.store
		amounts := map[int64]aiproxy.Amount{}
		reached := map[int64]int64{}
		var total aiproxy.Amount
		var rows int
		for f := (aiproxy.LogFilter{Limit: 500}); ; {
			logs, more, err := st.Logs(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range logs {
				rows++
				amounts[l.TokenID] += l.Amount
				total += l.Amount
				if len(l.Attempts) > 0 {
					reached[l.TokenID]++
				}
				if l.Amount != l.Cost.Total() {
					t.Errorf("log %s: amount %d, components %+v add up to %d", l.RequestID, l.Amount, l.Cost, l.Cost.Total())
				}
				f.Before = l.ID
			}
			if !more {
				break
			}
		}
		toks, err := st.Tokens(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		var count int64
		for _, tk := range toks {
			t.Logf("token %s: used %d in %d requests; logs %d in %d", tk.Name, tk.UsedAmount, tk.RequestCount, amounts[tk.ID], reached[tk.ID])
			if tk.UsedAmount != amounts[tk.ID] || tk.RequestCount != reached[tk.ID] {
				t.Errorf("token %s: used %d in %d requests, logs say %d in %d", tk.Name, tk.UsedAmount, tk.RequestCount, amounts[tk.ID], reached[tk.ID])
			}
			count += reached[tk.ID]
		}
		g, err := st.Group(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if g.UsedAmount != total || g.RequestCount != count || total == 0 {
			t.Errorf("group: used %d in %d requests, logs say %d in %d", g.UsedAmount, g.RequestCount, total, count)
		}
		t.Logf("%d log rows, %d reached a provider, %d nanos billed", rows, count, total)
	})
}

// randomRequest sends one request of a random kind.
func randomRequest(t *testing.T, rng *rand.Rand, url, key string) {
	model := "gpt-4o-mini"
	stream, abandon := false, false
	switch rng.IntN(6) {
	case 0:
		stream = true
	case 1:
		model, stream, abandon = relaytest.ModelHold, true, true
	case 2:
		model = relaytest.ModelBadRequest
	case 3:
		model, stream = relaytest.ModelCut, true
	case 4:
		model, stream, abandon = "gpt-4o-mini", true, true
	}
	body := `{"model": "` + model + `", "stream": ` + map[bool]string{false: "false", true: "true"}[stream] +
		`, "messages": [{"role": "user", "content": "` + strings.Repeat("word ", 1+rng.IntN(50)) + `"}]}`
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			t.Error(err)
		}
		return
	}
	defer resp.Body.Close()
	if abandon {
		resp.Body.Read(make([]byte, 16))
		cancel()
		return
	}
	io.Copy(io.Discard, resp.Body)
}
