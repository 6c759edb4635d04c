package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/alert"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// hook is a fake webhook server keeping every body it gets.
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	answer string // the body it answers with; "" means {}
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &v) != nil {
			http.Error(w, "bad request", 400)
			return
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, v)
		answer := h.answer
		h.mu.Unlock()
		io.WriteString(w, map[bool]string{true: "{}", false: answer}[answer == ""])
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) got() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.bodies...)
}

var breaker = aiproxy.Alert{
	Kind: aiproxy.AlertBreakerOpen, Severity: aiproxy.SeverityWarning, Key: "breaker:3:gpt-4o",
	Title: "Channel 3: breaker open for gpt-4o", Text: "Reason: error rate 0.80.", ChannelID: 3, Model: "gpt-4o",
	At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
}

func TestSinkPayloads(t *testing.T) {
	private := alert.NewClient(true) // the fake servers listen on loopback
	ctx := context.Background()

	t.Run("webhook", func(t *testing.T) {
		h := newHook(t)
		if err := (&alert.Webhook{URL: h.URL, Client: private}).Send(ctx, &breaker); err != nil {
			t.Fatal(err)
		}
		b := h.got()
		want := map[string]any{"kind": "breaker_open", "severity": "warning", "key": "breaker:3:gpt-4o", "title": breaker.Title,
			"text": breaker.Text, "channelId": float64(3), "model": "gpt-4o", "at": "2026-01-02T03:04:05Z"}
		if len(b) != 1 || len(b[0]) != len(want) {
			t.Fatalf("bodies %v, want one like %v", b, want)
		}
		for k, v := range want {
			if b[0][k] != v {
				t.Errorf("%s = %v, want %v", k, b[0][k], v)
			}
		}
	})
	t.Run("slack", func(t *testing.T) {
		h := newHook(t)
		if err := (&alert.Slack{URL: h.URL, Client: private}).Send(ctx, &breaker); err != nil {
			t.Fatal(err)
		}
		b := h.got()
		if len(b) != 1 || len(b[0]) != 1 || b[0]["text"] != "[warning] Channel 3: breaker open for gpt-4o\nReason: error rate 0.80." {
			t.Errorf("bodies %v", b)
		}
	})
	t.Run("feishu signed", func(t *testing.T) {
		h := newHook(t)
		now := time.Unix(1700000000, 0)
		f := &alert.Feishu{URL: h.URL, Secret: "bot-secret", Client: private, Now: func() time.Time { return now }}
		if err := f.Send(ctx, &breaker); err != nil {
			t.Fatal(err)
		}
		b := h.got()
		if len(b) != 1 {
			t.Fatalf("bodies %v", b)
		}
		m := b[0]
		content, _ := m["content"].(map[string]any)
		if m["msg_type"] != "text" || !strings.Contains(content["text"].(string), "breaker open") || m["timestamp"] != "1700000000" {
			t.Errorf("message %v", m)
		}
		// The signature as Feishu verifies it, computed independently:
		// HMAC-SHA256 keyed "1700000000\nbot-secret" over nothing, base64.
		if m["sign"] != "9nxw44BYFqLId3YDAt3hLwRtcLlmdqIxMtemCu1LJXk=" {
			t.Errorf("sign = %v", m["sign"])
		}
	})
	t.Run("feishu unsigned", func(t *testing.T) {
		h := newHook(t)
		if err := (&alert.Feishu{URL: h.URL, Client: private}).Send(ctx, &breaker); err != nil {
			t.Fatal(err)
		}
		if b := h.got(); len(b) != 1 || b[0]["sign"] != nil || b[0]["timestamp"] != nil {
			t.Errorf("bodies %v", b)
		}
	})
	t.Run("feishu refusal", func(t *testing.T) {
		h := newHook(t)
		h.answer = `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`
		err := (&alert.Feishu{URL: h.URL, Secret: "x", Client: private}).Send(ctx, &breaker)
		if err == nil || !strings.Contains(err.Error(), "19021") {
			t.Errorf("err = %v, want Feishu's code", err)
		}
	})
}

func TestPrivateNetworkRefused(t *testing.T) {
	h := newHook(t)
	for _, url := range []string{h.URL, "http://169.254.169.254/latest/meta-data", "http://10.1.2.3:9/x"} {
		err := (&alert.Webhook{URL: url, Client: alert.NewClient(false)}).Send(context.Background(), &breaker)
		if err == nil || !strings.Contains(err.Error(), "private") {
			t.Errorf("%s: err = %v, want the private-network refusal", url, err)
		}
	}
	if n := len(h.got()); n != 0 {
		t.Errorf("the loopback server got %d posts", n)
	}
}

// sink records what it is sent.
type sink struct {
	mu   sync.Mutex
	got  []aiproxy.Alert
	fail bool
}

func (s *sink) Name() string { return "test" }

func (s *sink) Send(_ context.Context, a *aiproxy.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("down")
	}
	s.got = append(s.got, *a)
	return nil
}

func (s *sink) alerts() []aiproxy.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]aiproxy.Alert(nil), s.got...)
}

// TestThrottling: a flapping key alerts once per window, on one notifier
// or two sharing a throttle (two replicas on one Redis).
func TestThrottling(t *testing.T) {
	for _, tc := range []struct {
		name     string
		throttle func(t *testing.T) (a, b alert.Throttle)
	}{
		{"memory", func(t *testing.T) (alert.Throttle, alert.Throttle) { m := &store.MemoryThrottle{}; return m, m }},
		{"redis", func(t *testing.T) (alert.Throttle, alert.Throttle) {
			r := storetest.Redis(t)
			return store.NewRedisThrottle(r), store.NewRedisThrottle(r)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta, tb := tc.throttle(t)
			s := &sink{}
			a := alert.NewNotifier(alert.Options{Sinks: []alert.Sink{s}, Throttle: ta, Window: 400 * time.Millisecond})
			b := alert.NewNotifier(alert.Options{Sinks: []alert.Sink{s}, Throttle: tb, Window: 400 * time.Millisecond})
			other := breaker
			other.Key = "breaker:4:gpt-4o"
			for range 5 {
				a.Alert(breaker)
				b.Alert(breaker)
			}
			a.Alert(other)
			a.Close()
			b.Close()
			if got := s.alerts(); len(got) != 2 || got[0].Key == got[1].Key {
				t.Errorf("sent %d alerts %v, want one per key", len(got), got)
			}
			sa, ha, _, _ := a.Stats()
			sb, hb, _, _ := b.Stats()
			if sa+sb != 2 || ha+hb != 9 {
				t.Errorf("sent %d, throttled %d; want 2 and 9", sa+sb, ha+hb)
			}

			time.Sleep(500 * time.Millisecond)
			c := alert.NewNotifier(alert.Options{Sinks: []alert.Sink{s}, Throttle: tb, Window: 400 * time.Millisecond})
			c.Alert(breaker)
			c.Close()
			if got := s.alerts(); len(got) != 3 {
				t.Errorf("after the window: %d alerts, want 3", len(got))
			}
		})
	}
}

func TestRecordTriggers(t *testing.T) {
	s := &sink{}
	n := alert.NewNotifier(alert.Options{Sinks: []alert.Sink{s}, Throttle: &store.MemoryThrottle{}})
	for range 3 {
		n.Record(&aiproxy.Log{Model: "gpt-4o", RequestID: "r1", StatusCode: 200, Usage: aiproxy.Usage{Requests: 1},
			Attempts: []aiproxy.LogAttempt{{ChannelID: 5, Status: 401}, {ChannelID: 6, Status: 500}, {ChannelID: 7, Status: 200}}})
		n.Record(&aiproxy.Log{Model: "free-model", GroupID: "acme", StatusCode: 200, Unpriced: true, Usage: aiproxy.Usage{Requests: 1}})
		n.Record(&aiproxy.Log{Model: "refused", StatusCode: 404, Unpriced: true}) // never reached a provider
	}
	n.Close()
	got := s.alerts()
	if len(got) != 2 {
		t.Fatalf("alerts %v, want 2", got)
	}
	if a := got[0]; a.Kind != aiproxy.AlertProviderAuth || a.ChannelID != 5 || a.Severity != aiproxy.SeverityCritical || !strings.Contains(a.Title, "401") {
		t.Errorf("first alert %+v", a)
	}
	if a := got[1]; a.Kind != aiproxy.AlertUnpricedModel || a.Model != "free-model" {
		t.Errorf("second alert %+v", a)
	}
}

type health struct {
	mu sync.Mutex
	hs []aiproxy.ChannelHealth
}

func (h *health) Snapshot() []aiproxy.ChannelHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hs
}

func TestWatcher(t *testing.T) {
	s := &sink{}
	n := alert.NewNotifier(alert.Options{Sinks: []alert.Sink{s}})
	h := &health{}
	counts := alert.LogCounts{}
	dbErr := error(nil)
	w := alert.NewWatcher(n, alert.Watch{
		Health: h, ErrorRate: 0.3,
		Logs: func() alert.LogCounts { return counts },
		DB:   func(context.Context) error { return dbErr },
	})
	ctx := context.Background()
	kinds := func() []aiproxy.AlertKind {
		var out []aiproxy.AlertKind
		for _, a := range s.alerts() {
			out = append(out, a.Kind)
		}
		return out
	}
	steps := []struct {
		name  string
		set   func()
		want  []aiproxy.AlertKind
		title string
	}{
		{"all well", func() { h.hs = []aiproxy.ChannelHealth{{ChannelID: 1, Model: "m"}} }, nil, ""},
		{"error rate", func() { h.hs[0].State.ErrorRate = 0.4 }, []aiproxy.AlertKind{aiproxy.AlertErrorRate}, "40%"},
		{"breaker opens", func() {
			h.hs[0].State.Breaker, h.hs[0].OpenReason = aiproxy.BreakerOpen, "provider refused the credentials (401)"
		}, []aiproxy.AlertKind{aiproxy.AlertBreakerOpen}, "breaker open"},
		{"still open", func() { h.hs[0].State.Breaker = aiproxy.BreakerHalfOpen }, nil, ""},
		{"closes", func() { h.hs[0].State = aiproxy.HealthState{} }, []aiproxy.AlertKind{aiproxy.AlertBreakerClosed}, "closed"},
		{"spill", func() { counts.Spilled = 10 }, []aiproxy.AlertKind{aiproxy.AlertLogs}, "spill"},
		{"drop", func() { counts.Dropped = 1 }, []aiproxy.AlertKind{aiproxy.AlertLogs}, "lost"},
		{"queue", func() { counts.Queued = 5000 }, []aiproxy.AlertKind{aiproxy.AlertLogs}, "queueing"},
		{"database down", func() { counts.Queued = 0; dbErr = errors.New("connection refused") }, []aiproxy.AlertKind{aiproxy.AlertDatabaseDown}, "unreachable"},
		{"still down", nil, nil, ""},
		{"database back", func() { dbErr = nil }, []aiproxy.AlertKind{aiproxy.AlertDatabaseDown}, "answers again"},
	}
	seen := 0
	for _, st := range steps {
		if st.set != nil {
			h.mu.Lock()
			st.set()
			h.mu.Unlock()
		}
		w.Check(ctx)
		// The notifier delivers asynchronously: wait for the alerts.
		deadline := time.Now().Add(2 * time.Second)
		for len(kinds()) < seen+len(st.want) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		got := kinds()[seen:]
		if len(got) != len(st.want) || (len(got) > 0 && got[0] != st.want[0]) {
			t.Fatalf("%s: alerts %v, want %v", st.name, got, st.want)
		}
		if len(got) > 0 && !strings.Contains(s.alerts()[seen].Title, st.title) {
			t.Errorf("%s: title %q, want %q in it", st.name, s.alerts()[seen].Title, st.title)
		}
		seen += len(got)
	}
	n.Close()
}

func TestUsageSpike(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 7, 1, 0, 30, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := &sink{}
	n := alert.NewNotifier(alert.Options{Sinks: []alert.Sink{s}, Now: clock})
	w := alert.NewWatcher(n, alert.Watch{Spike: 3, SpikeMin: 20})
	l := &aiproxy.Log{StatusCode: 200}
	for hour := range 3 { // 10 requests an hour for three hours
		mu.Lock()
		now = time.Date(2026, 7, 1, hour, 30, 0, 0, time.UTC)
		mu.Unlock()
		for range 10 {
			n.Record(l)
		}
		w.Check(context.Background())
	}
	mu.Lock()
	now = time.Date(2026, 7, 1, 3, 10, 0, 0, time.UTC)
	mu.Unlock()
	for i := range 31 {
		n.Record(l)
		if i == 29 { // 30: not over 3 × 10
			w.Check(context.Background())
		}
	}
	w.Check(context.Background())
	n.Close()
	got := s.alerts()
	if len(got) != 1 || got[0].Kind != aiproxy.AlertUsageSpike || !strings.Contains(got[0].Text, "31 requests") {
		t.Errorf("alerts %+v, want one usage spike at 31 requests", got)
	}
}
