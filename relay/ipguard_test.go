package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/store"
)

// logRecorder is a slog.Logger whose records a test can read.
type logRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logRecorder) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// records returns the records logged with msg, decoded.
func (l *logRecorder) records(tb testing.TB, msg string) []map[string]any {
	tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestIPGuardOff(t *testing.T) {
	if g := relay.NewIPGuard(store.NewMemoryIPGroups(), 0, 0, time.Hour, nil); g != nil {
		t.Error("a guard with both thresholds 0 is not off")
	}
	if g := relay.NewIPGuard(nil, 3, 5, time.Hour, nil); g != nil {
		t.Error("a guard without shared state is not off")
	}
	var g *relay.IPGuard
	ip := netip.MustParseAddr("192.0.2.1")
	g.Seen(ip, "g1")
	g.Sync(context.Background(), time.Now())
	g.Run(context.Background())
	if g.Banned(ip, time.Now()) {
		t.Error("a nil guard bans")
	}
}

func TestIPGuardThresholds(t *testing.T) {
	ctx := context.Background()
	var rec logRecorder
	g := relay.NewIPGuard(store.NewMemoryIPGroups(), 3, 5, 30*time.Minute, rec.logger())
	var alerts []relay.IPAlert
	g.OnAlert = func(a relay.IPAlert) { alerts = append(alerts, a) }
	ip := netip.MustParseAddr("203.0.113.9")
	other := netip.MustParseAddr("203.0.113.10")
	t0 := time.Now()

	seen := func(now time.Time, groups ...string) {
		for _, gr := range groups {
			g.Seen(ip, gr)
			g.Seen(ip, gr) // deduplicated
		}
		g.Seen(other, "g1")
		g.Sync(ctx, now)
	}
	seen(t0, "g1", "g2")
	if len(alerts) != 0 || len(rec.records(t, "relay: IP shared by groups")) != 0 {
		t.Fatalf("alerts below the threshold: %v", alerts)
	}
	seen(t0.Add(time.Second), "g3")
	if len(alerts) != 1 || alerts[0].IP != ip || alerts[0].Banned || !slices.Equal(alerts[0].Groups, []string{"g1", "g2", "g3"}) {
		t.Fatalf("at the warning threshold: %+v", alerts)
	}
	logs := rec.records(t, "relay: IP shared by groups")
	if len(logs) != 1 || logs[0]["level"] != "WARN" || logs[0]["ip"] != ip.String() || len(logs[0]["groups"].([]any)) != 3 {
		t.Fatalf("warning logged: %v", logs)
	}
	// Once an hour per address.
	seen(t0.Add(2*time.Second), "g4")
	if len(alerts) != 1 {
		t.Fatalf("warned again within the hour: %+v", alerts[1:])
	}
	if g.Banned(ip, t0.Add(2*time.Second)) {
		t.Fatal("banned below the ban threshold")
	}
	// The ban, for every group that used it, on the mapped form too.
	seen(t0.Add(3*time.Second), "g5")
	if len(alerts) != 2 || !alerts[1].Banned || !alerts[1].Until.Equal(t0.Add(3*time.Second+30*time.Minute)) || len(alerts[1].Groups) != 5 {
		t.Fatalf("at the ban threshold: %+v", alerts)
	}
	if logs := rec.records(t, "relay: IP shared by groups: banned"); len(logs) != 1 || len(logs[0]["groups"].([]any)) != 5 {
		t.Fatalf("ban logged: %v", logs)
	}
	mapped := netip.AddrFrom16(ip.As16())
	if !g.Banned(ip, t0.Add(4*time.Second)) || !g.Banned(mapped, t0.Add(4*time.Second)) || g.Banned(other, t0.Add(4*time.Second)) {
		t.Error("ban not in force for the address alone")
	}
	// Banned once, not again while it lasts.
	seen(t0.Add(5*time.Second), "g6")
	if len(alerts) != 2 {
		t.Errorf("alerts while banned: %+v", alerts[2:])
	}
	end := t0.Add(3*time.Second + 30*time.Minute)
	if g.Banned(ip, end) || !g.Banned(ip, end.Add(-time.Millisecond)) {
		t.Error("the ban does not end after its duration")
	}
	// An hour after the ban's alert the warning comes again, for the
	// groups seen within that hour: g6 (at 5s) and g1..g3 again; g4 and
	// g5 were last seen more than an hour ago.
	g.Sync(ctx, end)
	seen(t0.Add(time.Hour+4*time.Second), "g1", "g2", "g3")
	if len(alerts) != 3 || alerts[2].Banned || !slices.Equal(alerts[2].Groups, []string{"g1", "g2", "g3", "g6"}) {
		t.Fatalf("an hour later: %+v", alerts)
	}
}

// failingIPGroups fails while down is set, then behaves as its
// MemoryIPGroups.
type failingIPGroups struct {
	*store.MemoryIPGroups
	mu   sync.Mutex
	down bool
}

func (f *failingIPGroups) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("unreachable")
	}
	return nil
}

func (f *failingIPGroups) Observe(ctx context.Context, seen map[netip.Addr][]string, now time.Time) (map[netip.Addr][]string, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.MemoryIPGroups.Observe(ctx, seen, now)
}

func (f *failingIPGroups) Bans(ctx context.Context, now time.Time) (map[netip.Addr]time.Time, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.MemoryIPGroups.Bans(ctx, now)
}

func TestIPGuardOutage(t *testing.T) {
	ctx := context.Background()
	var rec logRecorder
	shared := &failingIPGroups{MemoryIPGroups: store.NewMemoryIPGroups(), down: true}
	g := relay.NewIPGuard(shared, 0, 2, time.Hour, rec.logger())
	ip := netip.MustParseAddr("192.0.2.50")
	now := time.Now()
	g.Seen(ip, "g1")
	g.Sync(ctx, now)
	g.Seen(ip, "g2")
	g.Sync(ctx, now.Add(time.Second))
	if g.Banned(ip, now.Add(time.Second)) {
		t.Fatal("banned without the shared state")
	}
	if n := len(rec.records(t, "relay: IP guard: record addresses")); n != 1 {
		t.Errorf("failure logged %d times, want once", n)
	}
	// What was seen during the outage is sent once the state is back.
	shared.mu.Lock()
	shared.down = false
	shared.mu.Unlock()
	g.Sync(ctx, now.Add(2*time.Second))
	if !g.Banned(ip, now.Add(2*time.Second)) {
		t.Error("uses seen during the outage were lost")
	}
	if n := len(rec.records(t, "relay: IP guard: shared state reachable again")); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
}

// blockingIPGroups answers nothing until its caller gives up.
type blockingIPGroups struct{ calls chan struct{} }

func (b blockingIPGroups) wait(ctx context.Context) error {
	select {
	case b.calls <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func (b blockingIPGroups) Observe(ctx context.Context, _ map[netip.Addr][]string, _ time.Time) (map[netip.Addr][]string, error) {
	return nil, b.wait(ctx)
}
func (b blockingIPGroups) Ban(ctx context.Context, _ netip.Addr, _ time.Time) error {
	return b.wait(ctx)
}
func (b blockingIPGroups) Bans(ctx context.Context, _ time.Time) (map[netip.Addr]time.Time, error) {
	return nil, b.wait(ctx)
}

func TestIPGuardRunStops(t *testing.T) {
	shared := blockingIPGroups{calls: make(chan struct{}, 1)}
	g := relay.NewIPGuard(shared, 2, 0, 0, slog.New(slog.DiscardHandler))
	g.Seen(netip.MustParseAddr("192.0.2.7"), "g1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		g.Run(ctx)
		close(done)
	}()
	select {
	case <-shared.calls: // Run is waiting on the shared state
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not sync at once")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
