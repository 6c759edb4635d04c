package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// TestAlertSinksAndSettings stores, updates and deletes alert sinks and
// the alert settings on every database, each write announcing a change.
func TestAlertSinksAndSettings(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		s := storetest.Open(t, dsn)
		ctx := context.Background()
		var changes atomic.Int64
		stop := s.Subscribe(func(c store.Change) {
			if c.Kind == store.ChangeAlerts {
				changes.Add(1)
			}
		})
		defer stop()

		sink := &aiproxy.AlertSink{Name: " ops ", Kind: aiproxy.SinkFeishu, URL: "https://open.feishu.cn/hook/x", Secret: "sec",
			Enabled: true, Kinds: []aiproxy.AlertKind{aiproxy.AlertLogs, aiproxy.AlertBreakerOpen}, MinSeverity: aiproxy.SeverityWarning}
		if err := s.CreateAlertSink(ctx, sink); err != nil {
			t.Fatal(err)
		}
		if sink.ID == 0 || sink.Name != "ops" {
			t.Fatalf("created %+v", sink)
		}
		got, err := s.AlertSink(ctx, sink.ID)
		if err != nil || got.Secret != "sec" || len(got.Kinds) != 2 || got.Kinds[1] != aiproxy.AlertBreakerOpen || got.MinSeverity != aiproxy.SeverityWarning || !got.Enabled {
			t.Fatalf("read %+v, %v", got, err)
		}
		off, none := false, []aiproxy.AlertKind{}
		upd, err := s.UpdateAlertSink(ctx, sink.ID, aiproxy.AlertSinkUpdate{Enabled: &off, Kinds: &none})
		if err != nil || upd.Enabled || upd.Kinds != nil || upd.Secret != "sec" || !upd.UpdatedAt.After(sink.CreatedAt) && !upd.UpdatedAt.Equal(sink.CreatedAt) {
			t.Fatalf("updated %+v, %v", upd, err)
		}
		bad := "ftp://x"
		if _, err := s.UpdateAlertSink(ctx, sink.ID, aiproxy.AlertSinkUpdate{URL: &bad}); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("bad url: %v", err)
		}
		list, err := s.AlertSinks(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("list %v, %v", list, err)
		}
		if err := s.DeleteAlertSink(ctx, sink.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAlertSink(ctx, sink.ID); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
			t.Errorf("second delete: %v", err)
		}

		st, err := s.AlertSettings(ctx)
		if err != nil || *st != (aiproxy.AlertSettings{}) {
			t.Fatalf("settings before any: %+v, %v", st, err)
		}
		for _, want := range []aiproxy.AlertSettings{
			{Throttle: 90 * time.Second, ErrorRate: 0.4, SpikeFactor: -1, SpikeMin: 7, LogQueueWarn: 500},
			{ErrorRate: 0.2},
		} {
			if err := s.SetAlertSettings(ctx, &want); err != nil {
				t.Fatal(err)
			}
			st, err = s.AlertSettings(ctx)
			want.UpdatedAt = st.UpdatedAt
			if err != nil || *st != want {
				t.Errorf("settings %+v, %v; want %+v", st, err, want)
			}
		}
		if n := changes.Load(); n != 5 {
			t.Errorf("%d changes announced, want 5 (create, update, delete, two settings)", n)
		}
	})
}

// TestChannelLowBalance keeps a channel's balance threshold.
func TestChannelLowBalance(t *testing.T) {
	s := storetest.Open(t, storetest.SQLiteDSN(t))
	ctx := context.Background()
	ch := &aiproxy.Channel{Name: "c", Type: "openai", Key: "k", Models: []string{"m"}, LowBalance: 12.5, Enabled: true, Weight: 1}
	if err := s.CreateChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}
	v := 3.0
	got, err := s.UpdateChannel(ctx, ch.ID, aiproxy.ChannelUpdate{LowBalance: &v})
	if err != nil || got.LowBalance != 3 {
		t.Fatalf("updated %+v, %v", got, err)
	}
	v = -1
	if _, err := s.UpdateChannel(ctx, ch.ID, aiproxy.ChannelUpdate{LowBalance: &v}); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("negative threshold: %v", err)
	}
}
