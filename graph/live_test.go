package graph_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// liveAPI is the admin API served over HTTP (WebSockets need a real
// connection) on a live hub.
type liveAPI struct {
	*api
	hub *store.LiveHub
	url string // ws://.../graphql
}

func newLiveAPI(tb testing.TB, hub *store.LiveHub) *liveAPI {
	tb.Helper()
	if hub == nil {
		hub = store.NewLiveHub(nil, store.LiveOptions{})
		tb.Cleanup(func() { hub.Close() })
	}
	a := newAPIWith(tb, func(r *graph.Resolver) { r.Live = hub })
	srv := httptest.NewServer(a.handler)
	tb.Cleanup(srv.Close)
	return &liveAPI{api: a, hub: hub, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"}
}

// wsMsg is a graphql-transport-ws message.
type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsConn is a graphql-transport-ws client.
type wsConn struct {
	tb testing.TB
	c  *websocket.Conn
}

// dial opens a WebSocket and sends connection_init with payload; it does
// not wait for the ack.
func (a *liveAPI) dial(tb testing.TB, payload map[string]any) *wsConn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, a.url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.CloseNow() })
	w := &wsConn{tb: tb, c: c}
	p, _ := json.Marshal(payload)
	w.send(wsMsg{Type: "connection_init", Payload: p})
	return w
}

// connect dials and waits for the connection_ack.
func (a *liveAPI) connect(tb testing.TB, key string) *wsConn {
	tb.Helper()
	w := a.dial(tb, map[string]any{"Authorization": "Bearer " + key})
	if m := w.read(); m.Type != "connection_ack" {
		tb.Fatalf("got %+v, want connection_ack", m)
	}
	return w
}

func (w *wsConn) send(m wsMsg) {
	w.tb.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.tb.Fatal(err)
	}
}

func (w *wsConn) subscribe(id, query string) {
	w.tb.Helper()
	p, _ := json.Marshal(map[string]string{"query": query})
	w.send(wsMsg{ID: id, Type: "subscribe", Payload: p})
}

// readErr reads the next message other than a ping (answered), within 5s.
func (w *wsConn) readErr() (wsMsg, error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, b, err := w.c.Read(ctx)
		cancel()
		if err != nil {
			return wsMsg{}, err
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return wsMsg{}, fmt.Errorf("decode %s: %w", b, err)
		}
		if m.Type == "ping" {
			w.send(wsMsg{Type: "pong"})
			continue
		}
		return m, nil
	}
}

func (w *wsConn) read() wsMsg {
	w.tb.Helper()
	m, err := w.readErr()
	if err != nil {
		w.tb.Fatal(err)
	}
	return m
}

// next reads the next "next" message of id and decodes its data.
func (w *wsConn) next(id string, out any) {
	w.tb.Helper()
	m := w.read()
	if m.Type != "next" || m.ID != id {
		w.tb.Fatalf("got %s %s %s, want next of %s", m.Type, m.ID, m.Payload, id)
	}
	var p struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
		w.tb.Fatalf("payload %s: %v", m.Payload, err)
	}
	if err := json.Unmarshal(p.Data, out); err != nil {
		w.tb.Fatal(err)
	}
}

// waitSubscribers waits up to 3s until the hub has n subscriptions.
func waitSubscribers(tb testing.TB, h *store.LiveHub, n int) {
	tb.Helper()
	for deadline := time.Now().Add(3 * time.Second); h.Subscribers() != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("%d subscribers, want %d", h.Subscribers(), n)
		}
	}
}

func newLiveLog(group, model string, failed bool) *aiproxy.Log {
	l := &aiproxy.Log{
		RequestID: fmt.Sprintf("req-%s-%d", group, time.Now().UnixNano()), CreatedAt: time.Now().UTC(),
		GroupID: group, TokenID: 1, TokenName: "t", ChannelID: 5, Model: model, Endpoint: "/v1/chat/completions",
		ClientProtocol: aiproxy.ProtocolOpenAI, StatusCode: 200, Stream: true,
		Usage:  aiproxy.Usage{PromptTokens: 10, CompletionTokens: 4, TotalTokens: 14},
		Amount: aiproxy.AmountUnit / 100, Latency: 250 * time.Millisecond,
		RequestBody: "secret", ResponseBody: "answer",
	}
	if failed {
		l.StatusCode, l.Error = 502, "upstream failed"
	}
	return l
}

type liveLogNode struct {
	ID, RequestID, Group, Model string
	ChannelID                   *string
	StatusCode, TotalTokens     int
	Amount                      float64
	Stream                      bool
	Error, RequestBody          *string
}

const logAddedQuery = `subscription { logAdded%s { id requestId group model channelId statusCode totalTokens amount stream error requestBody } }`

func TestLogAddedWebSocket(t *testing.T) {
	a := newLiveAPI(t, nil)
	w := a.connect(t, adminKey)
	w.subscribe("1", fmt.Sprintf(logAddedQuery, `(filter: {failed: true})`))
	w.subscribe("2", fmt.Sprintf(logAddedQuery, ""))
	waitSubscribers(t, a.hub, 2)

	ok, failed := newLiveLog("acme", "m1", false), newLiveLog("beta", "m2", true)
	a.hub.Record(ok)
	a.hub.Record(failed)
	var got [3]struct{ LogAdded liveLogNode }
	for i := range got {
		m := w.read()
		if m.Type != "next" {
			t.Fatalf("got %+v", m)
		}
		var p struct{ Data json.RawMessage }
		json.Unmarshal(m.Payload, &p)
		json.Unmarshal(p.Data, &got[i])
		if m.ID == "1" && got[i].LogAdded.RequestID != failed.RequestID {
			t.Errorf("failed-only subscription got %s", got[i].LogAdded.RequestID)
		}
	}
	seen := map[string]liveLogNode{}
	for _, g := range got {
		seen[g.LogAdded.RequestID] = g.LogAdded
	}
	n := seen[ok.RequestID]
	if n.ID != ok.RequestID || n.Group != "acme" || n.Model != "m1" || *n.ChannelID != "5" || n.StatusCode != 200 ||
		n.TotalTokens != 14 || n.Amount != 0.01 || !n.Stream || n.Error != nil || n.RequestBody != nil {
		t.Errorf("log node %+v", n)
	}
	if f := seen[failed.RequestID]; f.Error == nil || *f.Error != "upstream failed" {
		t.Errorf("failed node %+v", f)
	}

	w.send(wsMsg{ID: "2", Type: "complete"})
	waitSubscribers(t, a.hub, 1)
	w.c.Close(websocket.StatusNormalClosure, "")
	waitSubscribers(t, a.hub, 0)
}

func TestLiveWebSocketAuth(t *testing.T) {
	a := newLiveAPI(t, nil)
	a.createGroup(t, `id: "acme"`)
	_, disabledKey := a.createToken(t, `group: "acme", name: "off", enabled: false`)
	_, farKey := a.createToken(t, `group: "acme", name: "far", subnets: ["10.9.0.0/16"]`)
	for _, tc := range []struct {
		name    string
		payload map[string]any
		code    websocket.StatusCode
	}{
		{"no payload", nil, 4401},
		{"no key", map[string]any{"foo": "bar"}, 4401},
		{"bad key", map[string]any{"Authorization": "Bearer nope"}, 4401},
		{"not bearer", map[string]any{"Authorization": adminKey}, 4401},
		{"disabled token", map[string]any{"authorization": "Bearer " + disabledKey}, 4401},
		{"token from another network", map[string]any{"Authorization": "Bearer " + farKey}, 4403},
		{"admin, lower case", map[string]any{"authorization": "Bearer " + adminKey}, -1},
		{"admin, upper case", map[string]any{"AUTHORIZATION": "bearer " + adminKey}, -1},
		{"admin, x-api-key", map[string]any{"x-api-key": adminKey}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := a.dial(t, tc.payload)
			m, err := w.readErr()
			if tc.code == -1 {
				if err != nil || m.Type != "connection_ack" {
					t.Fatalf("got %+v, %v; want connection_ack", m, err)
				}
				return
			}
			if got := websocket.CloseStatus(err); got != tc.code {
				t.Errorf("got %+v, %v (status %d); want closed with %d", m, err, got, tc.code)
			}
		})
	}
	t.Run("foreign origin", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, resp, err := websocket.Dial(ctx, a.url, &websocket.DialOptions{
			Subprotocols: []string{"graphql-transport-ws"},
			HTTPHeader:   http.Header{"Origin": {"https://evil.example"}},
		})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("dial from a foreign origin: %v, %v; want 403", resp, err)
		}
	})
}

func TestLiveGroupScope(t *testing.T) {
	a := newLiveAPI(t, nil)
	a.createGroup(t, `id: "acme"`)
	_, key := a.createToken(t, `group: "acme", name: "own"`)
	w := a.connect(t, key)
	w.subscribe("other", fmt.Sprintf(logAddedQuery, `(filter: {group: "beta"})`))
	m := w.read()
	if m.Type != "next" || !strings.Contains(string(m.Payload), "FORBIDDEN") {
		t.Errorf("another group's logs: %s %s, want FORBIDDEN", m.Type, m.Payload)
	}
	if m := w.read(); m.Type != "complete" {
		t.Errorf("after the error: %+v", m)
	}
	w.subscribe("own", fmt.Sprintf(logAddedQuery, ""))
	waitSubscribers(t, a.hub, 1)
	beta, acme := newLiveLog("beta", "m1", false), newLiveLog("acme", "m1", false)
	a.hub.Record(beta)
	a.hub.Record(acme)
	var got struct{ LogAdded liveLogNode }
	w.next("own", &got)
	if got.LogAdded.RequestID != acme.RequestID {
		t.Errorf("group token got %s, want only %s", got.LogAdded.RequestID, acme.RequestID)
	}
	// A group token may not use a query it could not use over POST.
	w.subscribe("q", `query { groups { id } }`)
	if m := w.read(); m.Type != "next" || !strings.Contains(string(m.Payload), "FORBIDDEN") {
		t.Errorf("groups over the WebSocket: %s %s", m.Type, m.Payload)
	}
}

type liveMetrics struct {
	IntervalSeconds, Requests, Errors, InputTokens, OutputTokens, TotalTokens, Rpm, Tpm int
	Cost                                                                                float64
	InFlight, Streams                                                                   *int
}

const liveMetricsQuery = `subscription { liveMetrics%s { intervalSeconds requests errors inputTokens outputTokens totalTokens cost rpm tpm inFlight streams } }`

func TestLiveMetricsWebSocket(t *testing.T) {
	a := newLiveAPI(t, nil)
	a.hub.Record(newLiveLog("acme", "m3", false)) // before: in rpm and tpm only
	w := a.connect(t, adminKey)
	w.subscribe("m", fmt.Sprintf(liveMetricsQuery, `(filter: {group: "acme"}, interval: 1)`))
	w.subscribe("c", fmt.Sprintf(liveMetricsQuery, `(filter: {channelId: "5"})`))
	waitSubscribers(t, a.hub, 2)
	end := a.hub.Start("acme", "m1", true)
	defer end()
	a.hub.Start("beta", "m1", false)() // ended: not in flight
	a.hub.Record(newLiveLog("acme", "m1", false))
	a.hub.Record(newLiveLog("acme", "m2", true))
	a.hub.Record(newLiveLog("beta", "m1", false))

	var sum liveMetrics
	var byChannel struct{ LiveMetrics liveMetrics }
	gotChannel := false
	for deadline := time.Now().Add(5 * time.Second); sum.Requests < 2 || !gotChannel; {
		if time.Now().After(deadline) {
			t.Fatalf("metrics %+v after 5s", sum)
		}
		m := w.read()
		var p struct {
			Data struct{ LiveMetrics liveMetrics }
		}
		json.Unmarshal(m.Payload, &p)
		lm := p.Data.LiveMetrics
		if m.ID == "c" {
			if lm.InFlight != nil || lm.Streams != nil {
				t.Errorf("in flight with a channel filter: %+v", lm)
			}
			byChannel.LiveMetrics.Requests += lm.Requests
			gotChannel = byChannel.LiveMetrics.Requests >= 3
			if lm.Rpm > 4 {
				t.Errorf("rpm by channel %d, want at most 4", lm.Rpm)
			}
			continue
		}
		if lm.IntervalSeconds != 1 || lm.InFlight == nil || *lm.InFlight != 1 || *lm.Streams != 1 {
			t.Errorf("metrics %+v, want an interval of 1 and one stream in flight", lm)
		}
		sum.Requests += lm.Requests
		sum.Errors += lm.Errors
		sum.InputTokens += lm.InputTokens
		sum.OutputTokens += lm.OutputTokens
		sum.TotalTokens += lm.TotalTokens
		sum.Cost += lm.Cost
		sum.Rpm, sum.Tpm = lm.Rpm, lm.Tpm
	}
	want := liveMetrics{Requests: 2, Errors: 1, InputTokens: 20, OutputTokens: 8, TotalTokens: 28, Rpm: 3, Tpm: 42}
	sum.Cost = float64(int(sum.Cost*100+0.5)) / 100
	if sum.Cost != 0.02 {
		t.Errorf("cost %v, want 0.02", sum.Cost)
	}
	sum.Cost = 0
	if sum != want {
		t.Errorf("metrics %+v, want %+v", sum, want)
	}

	for i, bad := range []string{`(interval: 0)`, `(interval: 3601)`, `(filter: {channelId: "x"})`} {
		id := fmt.Sprint("bad", i)
		w.subscribe(id, fmt.Sprintf(liveMetricsQuery, bad))
		for {
			m := w.read()
			if m.ID != id {
				continue
			}
			if m.Type != "next" || !strings.Contains(string(m.Payload), "INVALID") {
				t.Errorf("%s: %s %s, want INVALID", bad, m.Type, m.Payload)
			}
			break
		}
	}
}

func TestLiveSSE(t *testing.T) {
	a := newLiveAPI(t, nil)
	srvURL := "http" + strings.TrimPrefix(strings.TrimSuffix(a.url, "/graphql"), "ws") + "/graphql"
	post := func(key string) *http.Response {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"query": fmt.Sprintf(logAddedQuery, "")})
		req, _ := http.NewRequest(http.MethodPost, srvURL, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, key := range []string{"", "wrong"} {
		if resp := post(key); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("key %q: status %d, want 401", key, resp.StatusCode)
		}
	}

	resp := post(adminKey)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
	}
	waitSubscribers(t, a.hub, 1)
	l := newLiveLog("acme", "m1", false)
	a.hub.Record(l)
	events := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var event string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok && event == "next" {
				events <- v
				return
			}
		}
		close(events)
	}()
	select {
	case data := <-events:
		var p struct {
			Data struct{ LogAdded liveLogNode }
		}
		if err := json.Unmarshal([]byte(data), &p); err != nil || p.Data.LogAdded.RequestID != l.RequestID {
			t.Errorf("event %s: %v", data, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no SSE event within 5s")
	}
	resp.Body.Close()
	waitSubscribers(t, a.hub, 0)
}

func TestLiveSubscriptionsLeakNoGoroutines(t *testing.T) {
	a := newLiveAPI(t, nil)
	w := a.connect(t, adminKey)
	// Warm up: the connection's own goroutines and the HTTP server's.
	w.subscribe("warm", fmt.Sprintf(logAddedQuery, ""))
	waitSubscribers(t, a.hub, 1)
	w.send(wsMsg{ID: "warm", Type: "complete"})
	waitSubscribers(t, a.hub, 0)
	before := settledGoroutines(-1)

	for i := range 500 {
		id := fmt.Sprint(i)
		if i%2 == 0 {
			w.subscribe(id, fmt.Sprintf(logAddedQuery, ""))
		} else {
			w.subscribe(id, fmt.Sprintf(liveMetricsQuery, ""))
		}
		w.send(wsMsg{ID: id, Type: "complete"})
	}
	waitSubscribers(t, a.hub, 0)
	if after := settledGoroutines(before); after > before+2 {
		t.Errorf("%d goroutines after 500 subscriptions, %d before", after, before)
	}
	w.c.Close(websocket.StatusNormalClosure, "")
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

// A request recorded on replica A reaches a subscription held on replica
// B, and B's in-flight gauges add A's.
func TestLiveTwoInstances(t *testing.T) {
	first := storetest.Redis(t)
	second, err := store.OpenRedis(context.Background(), os.Getenv("TEST_REDIS_URL"), first.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	opts := store.LiveOptions{GaugeInterval: 100 * time.Millisecond}
	hubA, hubB := store.NewLiveHub(first, opts), store.NewLiveHub(second, opts)
	t.Cleanup(func() { hubA.Close(); hubB.Close() })
	b := newLiveAPI(t, hubB)

	w := b.connect(t, adminKey)
	w.subscribe("logs", fmt.Sprintf(logAddedQuery, ""))
	waitSubscribers(t, hubB, 1)
	l := newLiveLog("acme", "m1", false)
	hubA.Record(l)
	var got struct{ LogAdded liveLogNode }
	w.next("logs", &got)
	if got.LogAdded.RequestID != l.RequestID || got.LogAdded.TotalTokens != 14 || got.LogAdded.RequestBody != nil {
		t.Errorf("on B: %+v", got.LogAdded)
	}

	endA := hubA.Start("acme", "m1", true)
	defer endA()
	endB := hubB.Start("acme", "m1", false)
	defer endB()
	w.subscribe("metrics", fmt.Sprintf(liveMetricsQuery, `(filter: {group: "acme"})`))
	for deadline := time.Now().Add(5 * time.Second); ; {
		var m struct{ LiveMetrics liveMetrics }
		w.next("metrics", &m)
		if f := m.LiveMetrics.InFlight; f != nil && *f == 2 && *m.LiveMetrics.Streams == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("in flight on B: %+v, want 2 requests and 1 stream", m.LiveMetrics)
		}
	}
}

// A group token disabled while it holds subscriptions loses them: its
// WebSocket is closed and its SSE stream ends.
func TestLiveRevokedToken(t *testing.T) {
	graph.SetTokenRecheck(t, 50*time.Millisecond)
	a := newLiveAPI(t, nil)
	a.createGroup(t, `id: "acme"`)
	tok, key := a.createToken(t, `group: "acme", name: "own"`)
	w := a.connect(t, key)
	w.subscribe("logs", fmt.Sprintf(logAddedQuery, ""))
	waitSubscribers(t, a.hub, 1)
	time.Sleep(150 * time.Millisecond) // still admitted: still open
	if n := a.hub.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers while the token is enabled", n)
	}
	a.mustPost(t, `mutation { updateToken(id: "`+tok.ID+`", input: {enabled: false}) { id } }`, nil)
	for {
		m, err := w.readErr()
		if err != nil {
			break // closed
		}
		if m.Type == "next" {
			t.Fatalf("got %+v after the token was disabled", m)
		}
	}
	waitSubscribers(t, a.hub, 0)
}

// A WebSocket client that stops reading is dropped; recording never waits
// for it.
func TestLiveSlowWebSocketDropped(t *testing.T) {
	a := newLiveAPI(t, nil)
	w := a.connect(t, adminKey)
	w.subscribe("logs", fmt.Sprintf(logAddedQuery, ""))
	waitSubscribers(t, a.hub, 1)
	l := newLiveLog("acme", "m1", true)
	l.Error = strings.Repeat("x", 1000) // about 1.3 KB a message
	start := time.Now()
	var slowest time.Duration
	for deadline := time.Now().Add(10 * time.Second); a.hub.Subscribers() > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the subscriber that does not read was not dropped")
		}
		for range 100 { // 20,000 a second: less than a reader takes
			t0 := time.Now()
			a.hub.Record(l)
			slowest = max(slowest, time.Since(t0))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if slowest > 50*time.Millisecond || a.hub.Dropped() == 0 {
		t.Errorf("slowest Record %v, %d dropped (after %v)", slowest, a.hub.Dropped(), time.Since(start))
	}
}
