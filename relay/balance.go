package relay

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Balances reads channels' balances from their providers and keeps the
// last one read of each, for the admin API. It is safe for concurrent use.
type Balances struct {
	Server *Server // does the HTTP

	mu   sync.RWMutex
	last map[int64]aiproxy.Balance
}

// Balance returns the last balance read of channel id, if any.
func (b *Balances) Balance(id int64) (aiproxy.Balance, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	v, ok := b.last[id]
	return v, ok
}

// Refresh asks ch's provider for its balance now and keeps it. It returns
// ok false, and no error, when the channel's provider exposes no balance;
// an error (EUPSTREAM) when the provider refused or answered nonsense.
func (b *Balances) Refresh(ctx context.Context, ch *aiproxy.Channel) (aiproxy.Balance, bool, error) {
	p := b.Server.Providers[ch.Type]
	if p == nil {
		return aiproxy.Balance{}, false, nil
	}
	br, ok := p.Adaptor.(BalanceReader)
	if !ok {
		return aiproxy.Balance{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := br.BalanceRequest(ctx, ch, b.Server.Providers.BaseURL(ch))
	if err != nil || req == nil {
		return aiproxy.Balance{}, false, err
	}
	for _, h := range ch.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	resp, err := b.Server.clientFor(ch).Do(req)
	if err != nil {
		return aiproxy.Balance{}, true, aiproxy.Errorf(aiproxy.EUPSTREAM, "The balance could not be read: %v.", transportError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return aiproxy.Balance{}, true, aiproxy.Errorf(aiproxy.EUPSTREAM, "The balance could not be read: %v.", err)
	}
	if resp.StatusCode >= 300 {
		return aiproxy.Balance{}, true, aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider answered the balance request with status %d.", resp.StatusCode)
	}
	v, err := br.ParseBalance(req, body)
	if err != nil {
		return aiproxy.Balance{}, true, err
	}
	v.CheckedAt = time.Now().UTC()
	b.mu.Lock()
	if b.last == nil {
		b.last = map[int64]aiproxy.Balance{}
	}
	b.last[ch.ID] = v
	b.mu.Unlock()
	return v, true, nil
}

// RefreshAll refreshes every channel of chs whose provider exposes a
// balance, one at a time, logging failures; for a periodic loop.
func (b *Balances) RefreshAll(ctx context.Context, chs []*aiproxy.Channel) {
	for _, ch := range chs {
		if ctx.Err() != nil {
			return
		}
		if _, _, err := b.Refresh(ctx, ch); err != nil {
			b.Server.logger().Warn("relay: channel balance", "channel", ch.ID, "err", fmt.Sprint(err))
		}
	}
}
