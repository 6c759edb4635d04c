package openai

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

var _ relay.BalanceReader = (*Adaptor)(nil)

// balanceAPIs are the OpenAI-compatible providers whose balance the
// gateway reads, by host: the endpoint (from the host's root) and how to
// read its answer.
var balanceAPIs = map[string]struct {
	path  string
	parse func(gjson.Result) (aiproxy.Balance, bool)
}{
	// GET /user/balance: {"is_available", "balance_infos": [{"currency",
	// "total_balance": "110.00", ...}]}; the USD entry when there is one.
	"api.deepseek.com": {"/user/balance", func(r gjson.Result) (aiproxy.Balance, bool) {
		var b aiproxy.Balance
		found := false
		r.Get("balance_infos").ForEach(func(_, e gjson.Result) bool {
			if v, err := strconv.ParseFloat(e.Get("total_balance").String(), 64); err == nil && (!found || e.Get("currency").Str == "USD") {
				b, found = aiproxy.Balance{Amount: v, Currency: e.Get("currency").Str}, true
			}
			return true
		})
		return b, found
	}},
	// GET /v1/users/me/balance: {"code": 0, "data": {"available_balance",
	// "voucher_balance", "cash_balance"}}; CNY on .cn, USD on .ai.
	"api.moonshot.cn": {"/v1/users/me/balance", moonshotBalance("CNY")},
	"api.moonshot.ai": {"/v1/users/me/balance", moonshotBalance("USD")},
	// GET /api/v1/credits: {"data": {"total_credits", "total_usage"}}, in
	// USD; OpenRouter asks for a management key there.
	"openrouter.ai": {"/api/v1/credits", func(r gjson.Result) (aiproxy.Balance, bool) {
		d := r.Get("data")
		if !d.Get("total_credits").Exists() {
			return aiproxy.Balance{}, false
		}
		return aiproxy.Balance{Amount: d.Get("total_credits").Float() - d.Get("total_usage").Float(), Currency: "USD"}, true
	}},
}

func moonshotBalance(currency string) func(gjson.Result) (aiproxy.Balance, bool) {
	return func(r gjson.Result) (aiproxy.Balance, bool) {
		v := r.Get("data.available_balance")
		return aiproxy.Balance{Amount: v.Float(), Currency: currency}, v.Exists()
	}
}

// BalanceRequest returns the balance request of a channel at DeepSeek,
// Moonshot (Kimi) or OpenRouter, chosen by the host of its base URL; nil
// for other servers, which have no balance endpoint the gateway knows.
func (*Adaptor) BalanceRequest(ctx context.Context, ch *aiproxy.Channel, baseURL string) (*http.Request, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, nil
	}
	api, ok := balanceAPIs[strings.ToLower(u.Hostname())]
	if !ok {
		return nil, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+api.path, nil)
	if err != nil {
		return nil, fmt.Errorf("openai: balance request: %w", err)
	}
	req.Header = http.Header{"Authorization": {"Bearer " + ch.Key}, "Accept": {"application/json"}}
	return req, nil
}

// ParseBalance reads the answer to a request of BalanceRequest.
func (*Adaptor) ParseBalance(req *http.Request, body []byte) (aiproxy.Balance, error) {
	if api, ok := balanceAPIs[strings.ToLower(req.URL.Hostname())]; ok {
		if b, ok := api.parse(gjson.ParseBytes(body)); ok {
			return b, nil
		}
	}
	return aiproxy.Balance{}, aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider's balance answer could not be read.")
}
