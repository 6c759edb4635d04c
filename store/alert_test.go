package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store/storetest"
)

func TestAlertHistory(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		s := storetest.Open(t, dsn)
		ctx := context.Background()
		at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
		for i, a := range []aiproxy.Alert{
			{Kind: aiproxy.AlertBreakerOpen, Severity: aiproxy.SeverityWarning, Key: "breaker:1:m", Title: "open", Text: "why", ChannelID: 1, Model: "m", At: at},
			{Kind: aiproxy.AlertGroupBalance, Severity: aiproxy.SeverityWarning, Title: "low", GroupID: "acme", At: at},
			{Kind: aiproxy.AlertBreakerOpen, Severity: aiproxy.SeverityWarning, Key: "breaker:2:m", Title: "open 2", ChannelID: 2, Model: "m", At: at},
		} {
			r := &aiproxy.AlertRecord{Alert: a, Delivered: i != 1}
			if err := s.RecordAlert(ctx, r); err != nil {
				t.Fatal(err)
			}
			if r.ID == 0 {
				t.Fatal("no id set")
			}
		}
		all, more, err := s.Alerts(ctx, aiproxy.AlertFilter{})
		if err != nil || more || len(all) != 3 {
			t.Fatalf("all: %d records, more %v, err %v", len(all), more, err)
		}
		if all[0].Title != "open 2" || all[2].Title != "open" || !all[2].At.Equal(at) || all[2].Key != "breaker:1:m" || all[1].Delivered || all[1].Key != "group_balance_low" {
			t.Errorf("records %+v %+v %+v", *all[0], *all[1], *all[2])
		}
		page, more, err := s.Alerts(ctx, aiproxy.AlertFilter{Kind: aiproxy.AlertBreakerOpen, Limit: 1})
		if err != nil || !more || len(page) != 1 || page[0].ChannelID != 2 {
			t.Fatalf("first page: %+v more %v err %v", page, more, err)
		}
		page, more, err = s.Alerts(ctx, aiproxy.AlertFilter{Kind: aiproxy.AlertBreakerOpen, Limit: 1, Before: page[0].ID})
		if err != nil || more || len(page) != 1 || page[0].ChannelID != 1 {
			t.Fatalf("second page: %+v more %v err %v", page, more, err)
		}
		if ch, _, _ := s.Alerts(ctx, aiproxy.AlertFilter{ChannelID: 1}); len(ch) != 1 || ch[0].Title != "open" {
			t.Errorf("channel 1: %+v", ch)
		}
	})
}
