package channels_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay/providers"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
	"github.com/aiproxy/aiproxy/views/channels"
	"github.com/aiproxy/aiproxy/views/web"
)

// memChannels is a ChannelService of channels held in memory: only
// Channels is used by the list.
type memChannels struct {
	aiproxy.ChannelService
	chs []*aiproxy.Channel
}

func (m *memChannels) Channels(context.Context) ([]*aiproxy.Channel, error) { return m.chs, nil }

// manyChannels returns n channels of a few models each, and the stats,
// health and balances of a gateway where every one of them has traffic.
func manyChannels(n int) ([]*aiproxy.Channel, *fakeStats, *fakeHealth, fakeBalances) {
	chs := make([]*aiproxy.Channel, n)
	st, h, bal := &fakeStats{}, &fakeHealth{}, fakeBalances{}
	for i := range chs {
		id := int64(i + 1)
		chs[i] = &aiproxy.Channel{ID: id, Name: fmt.Sprintf("channel-%05d", id), Type: "openai", Enabled: i%7 != 0,
			Models: []string{"gpt-4o", "gpt-4o-mini", fmt.Sprintf("model-%d", i%100), "o3", "o4-mini"}, Priority: i % 10, Weight: i % 100}
		st.rows = append(st.rows, aiproxy.ChannelStats{ChannelID: id, Stats: aiproxy.UsageStats{Requests: 100, Successes: int64(100 - i%13)}})
		state := aiproxy.HealthState{}
		if i%50 == 0 {
			state.Breaker = aiproxy.BreakerOpen
		}
		for _, m := range chs[i].Models[:2] {
			h.entries = append(h.entries, aiproxy.ChannelHealth{ChannelID: id, Model: m, State: state})
		}
		bal[id] = aiproxy.Balance{Amount: float64(i % 1000), Currency: "USD"}
	}
	return chs, st, h, bal
}

// benchRouter returns the area mounted as cmd/aiproxy mounts it on d, and
// the admin's session cookie.
func benchRouter(b *testing.B, d channels.Deps) (http.Handler, *http.Cookie) {
	auth := &web.Auth{AdminKey: adminKey}
	r := chi.NewRouter()
	r.Use(auth.Session, auth.CSRF)
	channels.Mount(r, d)
	rec := httptest.NewRecorder()
	if _, err := auth.SignIn(rec, httptest.NewRequest(http.MethodPost, "/admin/signin", nil), adminKey); err != nil {
		b.Fatal(err)
	}
	return r, rec.Result().Cookies()[0]
}

// runPages measures the list's pages under r.
func runPages(b *testing.B, r http.Handler, cookie *http.Cookie, queries []string) {
	for _, q := range queries {
		b.Run(q, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/admin/channels?"+q, nil)
			req.AddCookie(cookie)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				r.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

var benchQueries = []string{"", "page=150", "q=model-42", "sort=name&dir=desc", "sort=errors&dir=desc", "sort=balance"}

// BenchmarkChannelsPage renders pages of the list of 10,000 channels (50
// rendered) whose service answers from memory, with the error rates,
// breaker states and balances of every channel: the page's own cost.
func BenchmarkChannelsPage(b *testing.B) {
	chs, st, h, bal := manyChannels(10000)
	r, cookie := benchRouter(b, channels.Deps{Channels: &memChannels{chs: chs}, Types: providers.Providers(),
		Stats: st, Health: h, Balances: bal})
	runPages(b, r, cookie, benchQueries)
}

// BenchmarkChannelsPageSQLite is BenchmarkChannelsPage with the channels
// read from a real SQLite store on every request, as ChannelService.Channels
// does today. The store is not started: Channels reads the database, and
// the 10,000 inserts announce no change to a cache that would reload
// every channel after each.
func BenchmarkChannelsPageSQLite(b *testing.B) {
	chs, st, h, bal := manyChannels(10000)
	db := storetest.OpenDB(b, storetest.SQLiteDSN(b))
	s := store.New(db, db)
	s.CheckChannel = providers.Providers().Check
	ctx := context.Background()
	for _, c := range chs {
		c.ID = 0
		if err := s.CreateChannel(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	r, cookie := benchRouter(b, channels.Deps{Channels: s, Types: providers.Providers(), Stats: st, Health: h, Balances: bal})
	runPages(b, r, cookie, benchQueries[:1])
}
