package dashboard

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/views/web"
)

// event is one server-sent event.
type event struct{ Name, Data string }

// liveServer serves fx's dashboard as s, counting the live streams whose
// handler is still running.
func liveServer(t *testing.T, fx *fixture, s *web.Session) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var running atomic.Int64
	h := fx.router(s)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		running.Add(1)
		defer running.Add(-1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &running
}

// openStream opens the live stream and returns its events, read until
// the stream ends, and a function that leaves.
func openStream(t *testing.T, url string) (<-chan event, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/admin/dashboard/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("status %d, %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan event, 64)
	go func() {
		defer close(events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var e event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				select {
				case events <- e:
				case <-ctx.Done():
					return
				}
				e = event{}
			case strings.HasPrefix(line, "event: "):
				e.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.Data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return events, cancel
}

// next returns the next event, failing after 5s.
func next(t *testing.T, events <-chan event) event {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return event{}
}

// waitFor waits up to 5s for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still %s after 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLiveEvents(t *testing.T) {
	fx := newFixture()
	fx.deps.LiveInterval = 20 * time.Millisecond
	srv, running := liveServer(t, fx, admin)
	events, leave := openStream(t, srv.URL)

	var names []string
	first := map[string]string{}
	for range 4 {
		e := next(t, events)
		names = append(names, e.Name)
		first[e.Name] = e.Data
	}
	if want := []string{"rpm", "tpm", "inflight", "errors"}; !slices.Equal(names, want) {
		t.Fatalf("events %q, want %q", names, want)
	}
	for name, want := range map[string]string{"rpm": ">6<", "tpm": ">60<", "inflight": ">3<", "errors": ">3<"} {
		if !strings.Contains(first[name], `data-testid="live-`+name+`"`) || !strings.Contains(first[name], want) {
			t.Errorf("%s event %q, want %s", name, first[name], want)
		}
	}
	if !strings.Contains(first["errors"], "tile-error") || !strings.Contains(first["inflight"], "1 streaming") {
		t.Errorf("errors %q, in flight %q", first["errors"], first["inflight"])
	}

	// The next events follow the feed.
	fx.live.set(100, 0, 0)
	waitFor(t, "without the new rpm", func() bool {
		e := next(t, events)
		return e.Name == "rpm" && strings.Contains(e.Data, ">300<")
	})

	leave()
	waitFor(t, "streaming after the client left", func() bool { return running.Load() == 0 })
}

func TestLiveEnds(t *testing.T) {
	t.Run("on shutdown", func(t *testing.T) {
		fx := newFixture()
		ctx, shutdown := context.WithCancel(context.Background())
		fx.deps.Context, fx.deps.LiveInterval = ctx, 20*time.Millisecond
		srv, running := liveServer(t, fx, admin)
		events, leave := openStream(t, srv.URL)
		defer leave()
		next(t, events)
		shutdown()
		waitFor(t, "streaming after shutdown", func() bool { return running.Load() == 0 })
		for range events { // the body ends
		}
	})
	t.Run("when the session expires", func(t *testing.T) {
		fx := newFixture()
		fx.deps.LiveInterval = 20 * time.Millisecond
		s := *admin
		s.Expires = time.Now().Add(200 * time.Millisecond)
		srv, running := liveServer(t, fx, &s)
		events, leave := openStream(t, srv.URL)
		defer leave()
		next(t, events)
		waitFor(t, "streaming after the session's expiry", func() bool { return running.Load() == 0 })
	})
	t.Run("without a live feed", func(t *testing.T) {
		fx := newFixture()
		fx.deps.Live = nil
		rec, doc := fx.get(t, admin, "/admin/dashboard/live")
		if rec.Code != http.StatusNotFound {
			t.Errorf("status %d", rec.Code)
		}
		if _, doc = fx.get(t, admin, "/admin"); doc.Find(testid("live")).Length() != 0 {
			t.Error("live tiles without a feed")
		}
	})
}

// A group session's stream shows its own group's traffic.
func TestLiveGroup(t *testing.T) {
	fx := newFixture()
	fx.deps.LiveInterval = 20 * time.Millisecond
	srv, running := liveServer(t, fx, group)
	events, leave := openStream(t, srv.URL)
	for range 8 {
		next(t, events)
	}
	leave()
	waitFor(t, "streaming", func() bool { return running.Load() == 0 })
	filters := fx.live.Filters()
	if len(filters) < 6 {
		t.Fatalf("%d filters", len(filters))
	}
	for _, f := range filters {
		if f.GroupID != "acme" {
			t.Errorf("filter %+v", f)
		}
	}
}

func TestLiveLeaksNoGoroutines(t *testing.T) {
	fx := newFixture()
	fx.deps.LiveInterval = 10 * time.Millisecond
	srv, running := liveServer(t, fx, admin)
	// Warm up: the client's and the server's connection goroutines.
	events, leave := openStream(t, srv.URL)
	next(t, events)
	leave()
	waitFor(t, "streaming", func() bool { return running.Load() == 0 })
	before := settledGoroutines(-1)

	for range 100 {
		events, leave := openStream(t, srv.URL)
		next(t, events)
		leave()
		for range events {
		}
	}
	waitFor(t, "streaming", func() bool { return running.Load() == 0 })
	http.DefaultClient.CloseIdleConnections()
	if after := settledGoroutines(before); after > before+2 {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after 100 streams, %d before:\n%s", after, before, buf[:runtime.Stack(buf, true)])
	}
}

// settledGoroutines waits up to 5s for the goroutine count to reach want
// (or, with want -1, to stop changing) and returns it.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if (want >= 0 && m <= want) || (want < 0 && m == n) {
			return m
		}
		n = m
	}
	return n
}
