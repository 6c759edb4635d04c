package dashboard

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/views/chart"
	"github.com/aiproxy/aiproxy/views/web"
)

// liveTiles are the live figures: over the last minute, and in flight now.
type liveTiles struct {
	RPM, TPM          int64 // requests and tokens in the last 60 seconds
	Errors            int64 // failed requests in the last 60 seconds
	InFlight, Streams int64
}

// readTiles reads the live figures of f's traffic.
func readTiles(live LiveFeed, f store.LiveFilter) *liveTiles {
	t := &liveTiles{}
	for _, s := range live.Recent(f) {
		t.RPM += s.Requests
		t.TPM += s.Tokens
	}
	failed := true
	f.Failed = &failed
	for _, s := range live.Recent(f) {
		t.Errors += s.Requests
	}
	t.InFlight, t.Streams = live.InFlight(store.LiveFilter{GroupID: f.GroupID})
	return t
}

// tile is one live tile: the name of its server-sent event (which the
// htmx SSE extension swaps into the tile with sse-swap) and its text.
type tile struct {
	Event string
	Label string
	Value string
	Note  string
	Bad   bool // shown as a problem (errors)
}

// tiles returns t as the tiles the page shows.
func (t *liveTiles) tiles() []tile {
	errs := tile{Event: "errors", Label: "Errors / min", Value: count(t.Errors), Bad: t.Errors > 0}
	if t.RPM > 0 {
		// At most all: the two sums are read one after the other.
		errs.Note = chart.Percent(min(1, float64(t.Errors)/float64(t.RPM))) + " of requests"
	}
	streams := "no streams"
	if t.Streams > 0 {
		streams = count(t.Streams) + " streaming"
	}
	return []tile{
		{Event: "rpm", Label: "Requests / min", Value: count(t.RPM), Note: "last 60 seconds"},
		{Event: "tpm", Label: "Tokens / min", Value: count(t.TPM), Note: "last 60 seconds"},
		{Event: "inflight", Label: "In flight", Value: count(t.InFlight), Note: streams},
		errs,
	}
}

// live streams the live tiles to a page as server-sent events: at once,
// then every LiveInterval, one event per tile, named after it, whose data
// is the tile's HTML. It ends when the client leaves, when the session
// expires, or when Deps.Context ends, and starts no goroutine.
func (h *handler) live(w http.ResponseWriter, r *http.Request) {
	if h.d.Live == nil {
		http.NotFound(w, r)
		return
	}
	s := web.FromContext(r.Context())
	group, ok := scope(s)
	if !ok { // RequireSignedIn lets no such request through
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	f := store.LiveFilter{GroupID: group}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if h.d.Context != nil {
		stop := context.AfterFunc(h.d.Context, cancel)
		defer stop()
	}
	if !s.Expires.IsZero() {
		var cancelExp context.CancelFunc
		ctx, cancelExp = context.WithDeadline(ctx, s.Expires)
		defer cancelExp()
	}

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the stream outlives a server's write timeout; unsupported is fine
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // no proxy buffering (nginx)
	w.WriteHeader(http.StatusOK)

	interval := h.d.LiveInterval
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var buf bytes.Buffer
	for {
		buf.Reset()
		if err := writeEvents(ctx, &buf, readTiles(h.d.Live, f)); err != nil {
			if ctx.Err() == nil { // not the stream's end
				h.logger().ErrorContext(ctx, "dashboard: render live tiles", "err", err)
			}
			return
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// writeEvents writes the events of t's tiles to buf.
func writeEvents(ctx context.Context, buf *bytes.Buffer, t *liveTiles) error {
	var html bytes.Buffer
	for _, tl := range t.tiles() {
		html.Reset()
		if err := tileBody(tl).Render(ctx, &html); err != nil {
			return err
		}
		buf.WriteString("event: ")
		buf.WriteString(tl.Event)
		buf.WriteByte('\n')
		// A line break in the data would end the field: each line is a
		// data field of its own, joined again by the browser.
		for line := range bytes.Lines(html.Bytes()) {
			buf.WriteString("data: ")
			buf.Write(bytes.TrimRight(line, "\r\n"))
			buf.WriteByte('\n')
		}
		buf.WriteByte('\n')
	}
	return nil
}
