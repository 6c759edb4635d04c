package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// upstreamTally wraps a fake provider and keeps the id (x-request-id) of
// every answer it began, so that a test can tell which requests reached
// the provider, and counts the requests it is serving.
type upstreamTally struct {
	next     http.Handler
	mu       sync.Mutex
	ids      map[string]int // upstream id -> times seen
	noID     int            // requests that reached it but got no id
	inflight atomic.Int64
}

// ServeHTTP serves r with the provider and notes the id of a chat answer.
func (u *upstreamTally) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.inflight.Add(1)
	defer u.inflight.Add(-1)
	u.next.ServeHTTP(w, r)
	if r.URL.Path != "/v1/chat/completions" {
		return
	}
	id := w.Header().Get("X-Request-Id")
	u.mu.Lock()
	defer u.mu.Unlock()
	if id == "" {
		u.noID++
		return
	}
	u.ids[id]++
}

// settle waits until the provider serves nothing, failing tb after 10s.
func (u *upstreamTally) settle(tb testing.TB) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); u.inflight.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("the provider still serves %d requests", u.inflight.Load())
		}
	}
}

// outcome is what one client saw of one request.
type outcome struct {
	id       string // the gateway's X-Request-Id; "" when no answer came
	stream   bool
	hold     bool // a stream the provider holds open until it is cut
	answered bool // status 200 and a complete body: the JSON completion, or a stream ending in [DONE]
}

// TestSIGTERMUnderLoad runs the real main() in a child process with 32
// clients sending streamed and plain chat requests and three streams the
// provider never ends, sends SIGTERM while they run, and checks, on the
// database the gateway leaves behind, that the log rows are exactly the
// requests that reached the provider: every answered request has exactly
// one row, no request id has two, and the rows beyond the answered ones
// are the requests the provider got whose answer the client did not get
// (here the held streams the shutdown cut after SHUTDOWN_TIMEOUT).
func TestSIGTERMUnderLoad(t *testing.T) {
	for _, tt := range []struct {
		name  string
		logDB func(tb testing.TB, dir string) string // the LOG_SQL_DSN; "" keeps the logs in the SQLite file
	}{
		{"sqlite", func(testing.TB, string) string { return "" }},
		{"postgres", func(tb testing.TB, _ string) string { return storetest.PostgresDSN(tb) }},
		{"mariadb", func(tb testing.TB, _ string) string { return storetest.MySQLDSN(tb) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sigtermUnderLoad(t, dir, tt.logDB(t, dir))
		})
	}
}

func sigtermUnderLoad(t *testing.T, dir, logDSN string) {
	p := relaytest.NewProvider(relaytest.WithChunks(8), relaytest.WithoutRecording())
	tally := &upstreamTally{next: p, ids: map[string]int{}}
	up := httptest.NewServer(tally)
	t.Cleanup(func() { p.Close(); up.Close() })

	addr := freeAddr(t)
	mainDB := filepath.Join(dir, "aiproxy.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AIPROXY_RUN_MAIN=1", "LISTEN="+addr, "ADMIN_KEY="+adminKey,
		"SQLITE_PATH="+mainDB, "SQL_DSN=", "LOG_SQL_DSN="+logDSN, "REDIS=", "SHUTDOWN_TIMEOUT=1s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	url := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 1200 {
			t.Fatalf("gateway did not start: %s", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	key := setup(t, url, up.URL)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 15 * time.Second}
	defer client.CloseIdleConnections()
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
		stopped  atomic.Bool // SIGTERM sent: the clients stop after their next failure
	)
	keep := func(o outcome) {
		mu.Lock()
		outcomes = append(outcomes, o)
		mu.Unlock()
	}
	const clients, holds = 32, 3
	for c := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				o := call(client, url, key, "gpt-4o-mini", (c+i)%2 == 0)
				keep(o)
				if !o.answered && stopped.Load() {
					return
				}
				if !o.answered && o.id == "" && !stopped.Load() {
					time.Sleep(time.Millisecond) // a refused request before the signal: try again
				}
			}
		})
	}
	time.Sleep(time.Second)
	headers := make(chan struct{}, holds)
	for range holds {
		wg.Go(func() { keep(callHold(client, url, key, headers)) })
	}
	for range holds {
		select {
		case <-headers:
		case <-time.After(5 * time.Second):
			t.Fatal("the held streams got no answer headers")
		}
	}
	time.Sleep(500 * time.Millisecond)
	stopped.Store(true)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the gateway did not exit within 15s of SIGTERM\n%s", out.String())
	}
	wg.Wait()
	tally.settle(t)

	var rows []*aiproxy.Log
	if logDSN == "" {
		rows = allLogs(t, mainDB)
	} else {
		rows = allLogs(t, logDSN)
	}

	answered := map[string]outcome{}
	var plain, streamed, heldAnswered, failed int
	for _, o := range outcomes {
		switch {
		case o.answered && o.hold:
			heldAnswered++
		case o.answered:
			if _, dup := answered[o.id]; dup || o.id == "" {
				t.Errorf("two answers with request id %q", o.id)
			}
			answered[o.id] = o
			if o.stream {
				streamed++
			} else {
				plain++
			}
		default:
			failed++
		}
	}
	if plain == 0 || streamed == 0 || heldAnswered != 0 {
		t.Fatalf("%d plain and %d streamed requests answered, %d held streams completed: the load did not run", plain, streamed, heldAnswered)
	}

	byID := map[string]*aiproxy.Log{}
	byUpstream := map[string]int{}
	held := 0
	for _, l := range rows {
		if byID[l.RequestID] != nil {
			t.Errorf("request id %s logged twice", l.RequestID)
		}
		byID[l.RequestID] = l
		byUpstream[l.UpstreamRequestID]++
		if l.Model == relaytest.ModelHold {
			held++
		}
	}
	// Every answered request has its row, as it was answered.
	for id, o := range answered {
		l := byID[id]
		if l == nil {
			t.Errorf("answered request %s (stream %v) has no log row", id, o.stream)
			continue
		}
		if l.StatusCode != http.StatusOK || l.Stream != o.stream || l.Model != "gpt-4o-mini" || l.Error != "" || l.UpstreamRequestID == "" {
			t.Errorf("answered request %s: log %+v", id, l)
		}
	}
	// Every request that reached the provider has exactly one row, and no
	// row is for a request that did not reach it.
	tally.mu.Lock()
	reached, noID := len(tally.ids), tally.noID
	for id, n := range tally.ids {
		if n != 1 || byUpstream[id] != 1 {
			t.Errorf("upstream answer %s: began %d times, %d log rows", id, n, byUpstream[id])
		}
	}
	for id := range byUpstream {
		if tally.ids[id] == 0 {
			t.Errorf("%d log rows with upstream id %q, which the provider never gave", byUpstream[id], id)
		}
	}
	tally.mu.Unlock()
	if noID != 0 {
		t.Errorf("%d requests reached the provider without getting an upstream id", noID)
	}
	if len(rows) != reached {
		t.Errorf("%d log rows, %d requests reached the provider", len(rows), reached)
	}
	// The rows beyond the answered requests are the requests the provider
	// got whose answer the client did not get: the held streams cut at the
	// end of the grace period, and any request in flight then.
	if extra := len(rows) - len(answered); extra != reached-len(answered) || held != holds || extra < holds || extra > failed {
		t.Errorf("%d rows − %d answered = %d; %d reached the provider; %d held streams logged (want %d); %d requests failed",
			len(rows), len(answered), extra, reached, held, holds, failed)
	}
	for _, o := range outcomes {
		if !o.answered && o.id != "" && byID[o.id] == nil {
			t.Errorf("request %s got an answer's headers but no log row", o.id)
		}
	}
	t.Logf("%d requests answered (%d plain, %d streamed), %d not (%d held streams cut); %d log rows",
		len(answered), plain, streamed, failed, holds, len(rows))
	if !strings.Contains(out.String(), "logs flushed") || !strings.Contains(out.String(), "grace period over") {
		t.Errorf("shutdown output:\n%s", out.String())
	}
}

// call sends one chat request to the gateway at url and reports what the
// client got.
func call(client *http.Client, url, key, model string, stream bool) outcome {
	body, _ := json.Marshal(map[string]any{"model": model, "stream": stream,
		"messages": []map[string]string{{"role": "user", "content": "hello under load"}}})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	o := outcome{stream: stream}
	resp, err := client.Do(req)
	if err != nil {
		return o
	}
	defer resp.Body.Close()
	o.id = resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return o
	}
	if stream {
		o.answered = endsWithDone(resp.Body)
		return o
	}
	var chat struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	o.answered = json.NewDecoder(resp.Body).Decode(&chat) == nil && len(chat.Choices) == 1 &&
		strings.Contains(chat.Choices[0].Message.Content, "hello under load")
	return o
}

// callHold opens a stream the provider holds open, signals headers once
// the answer's headers came, and reads it until it ends.
func callHold(client *http.Client, url, key string, headers chan<- struct{}) outcome {
	o := outcome{stream: true, hold: true}
	body := `{"model":"` + relaytest.ModelHold + `","stream":true,"messages":[{"role":"user","content":"hold"}]}`
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return o
	}
	defer resp.Body.Close()
	o.id = resp.Header.Get("X-Request-Id")
	headers <- struct{}{}
	o.answered = resp.StatusCode == http.StatusOK && endsWithDone(resp.Body)
	return o
}

// endsWithDone reads a stream to its end and reports whether its last
// event is [DONE].
func endsWithDone(r io.Reader) bool {
	last := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if sc.Text() != "" {
			last = sc.Text()
		}
	}
	return sc.Err() == nil && last == "data: [DONE]"
}

// allLogs returns every log row of the log database at dsn.
func allLogs(tb testing.TB, dsn string) []*aiproxy.Log {
	tb.Helper()
	db, err := store.OpenSchema(context.Background(), dsn, store.SchemaLogs)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	s := store.New(db, db)
	var all []*aiproxy.Log
	var before int64
	for {
		logs, more, err := s.Logs(context.Background(), aiproxyFilter(before))
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, logs...)
		if !more {
			return all
		}
		before = logs[len(logs)-1].ID
	}
}
