package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// TestMain lets a test run the real main() in a child process (for signal
// handling), by re-executing the test binary with AIPROXY_RUN_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("AIPROXY_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const adminKey = "admin-test-key"

// testConfig is the configuration the gateway has with an empty
// environment, on the database at dsn.
func testConfig(tb testing.TB, dsn string) Config {
	tb.Helper()
	cfg, err := loadConfig(func(k string) string {
		switch k {
		case "SQL_DSN":
			return dsn
		case "ADMIN_KEY":
			return adminKey
		case "SQLITE_PATH":
			return filepath.Join(tb.TempDir(), "aiproxy.db")
		}
		return ""
	})
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// gateway is the wired app behind a test server.
type gateway struct {
	app *app
	srv *httptest.Server
}

func startGateway(tb testing.TB, cfg Config) *gateway {
	tb.Helper()
	a, err := newApp(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(a.handler)
	tb.Cleanup(func() {
		srv.Close()
		if err := a.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return &gateway{app: a, srv: srv}
}

type gqlError struct {
	Message    string
	Extensions map[string]any
}

// graphql posts a query with key; it returns the HTTP status, data and errors.
func graphql(tb testing.TB, url, key, query string, vars map[string]any) (int, json.RawMessage, []gqlError) {
	tb.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		tb.Fatalf("GraphQL answer is not JSON (%d): %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out.Data, out.Errors
}

// admin runs an admin query that must succeed and decodes its data into v.
func admin(tb testing.TB, url, query string, vars map[string]any, v any) {
	tb.Helper()
	st, data, errs := graphql(tb, url, adminKey, query, vars)
	if st != 200 || len(errs) > 0 {
		tb.Fatalf("%s: status %d, errors %+v", query, st, errs)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			tb.Fatalf("decode %s: %v", data, err)
		}
	}
}

// setup creates, through the admin API, a channel to the provider at
// upstream, a group "acme", a token for it, and a price for gpt-4o-mini.
// It returns the token's key.
func setup(tb testing.TB, url, upstream string) string {
	tb.Helper()
	admin(tb, url, `mutation($u: String!) { createChannel(input: {name: "fake", type: "openai", baseURL: $u, key: "sk-upstream-secret-key",
		models: ["gpt-4o-mini", "mini", "text-embedding-3-small", "gpt-3.5-turbo-instruct", "fake-hold"],
		modelMapping: [{from: "mini", to: "gpt-4o-mini"}]}) { id } }`, map[string]any{"u": upstream + "/v1"}, nil)
	admin(tb, url, `mutation { createGroup(input: {id: "acme"}) { id } }`, nil, nil)
	admin(tb, url, `mutation { createModelConfig(input: {model: "gpt-4o-mini", inputPrice: 0.15, outputPrice: 0.6}) { model } }`, nil, nil)
	var tok struct{ CreateToken struct{ Key string } }
	admin(tb, url, `mutation { createToken(input: {group: "acme", name: "backend"}) { key } }`, nil, &tok)
	if !strings.HasPrefix(tok.CreateToken.Key, "sk-") {
		tb.Fatalf("token key %q", tok.CreateToken.Key)
	}
	return tok.CreateToken.Key
}

type logNode struct {
	RequestID        string
	Group            string
	TokenName        string
	ChannelID        *string
	Model            string
	UpstreamModel    string
	Endpoint         string
	Stream           bool
	StatusCode       int
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
	UsageCounted     bool
	Amount           float64
	Unpriced         bool
	TtfbMs           int64
	LatencyMs        int64
	ClientIP         string
	Error            *string
}

// waitLogs pages through the logs until n have been written (the writer
// is asynchronous) and returns them, newest first.
func waitLogs(tb testing.TB, url string, n int) []logNode {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var out []logNode
		after := ""
		for {
			var page struct {
				Logs struct {
					Edges    []struct{ Node logNode }
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
			admin(tb, url, `query($after: String) { logs(first: 2, after: $after) {
				edges { node { requestId group tokenName channelId model upstreamModel endpoint stream statusCode
					promptTokens completionTokens totalTokens usageCounted amount unpriced ttfbMs latencyMs clientIp error } }
				pageInfo { hasNextPage endCursor } } }`, map[string]any{"after": nilIfEmpty(after)}, &page)
			for _, e := range page.Logs.Edges {
				out = append(out, e.Node)
			}
			if !page.Logs.PageInfo.HasNextPage {
				break
			}
			after = page.Logs.PageInfo.EndCursor
		}
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) != n {
				tb.Fatalf("%d logs, want %d", len(out), n)
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestEndToEnd drives the gateway as a user would, on every database:
// set up through GraphQL, call the relay with the official OpenAI SDK,
// read the logs back through GraphQL.
func TestEndToEnd(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		p, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"), relaytest.WithChunks(6))
		g := startGateway(t, testConfig(t, dsn))
		key := setup(t, g.srv.URL, up.URL)
		client := openai.NewClient(option.WithBaseURL(g.srv.URL+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
		ctx := context.Background()

		chat, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello gateway")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if chat.Model != "mini" || !strings.Contains(chat.Choices[0].Message.Content, "hello gateway") {
			t.Errorf("chat answer: model %q content %q", chat.Model, chat.Choices[0].Message.Content)
		}
		if reqs := p.Requests(); reqs[len(reqs)-1].JSON["model"] != "gpt-4o-mini" {
			t.Errorf("upstream got model %v, want the mapped gpt-4o-mini", reqs[len(reqs)-1].JSON["model"])
		}

		st := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "gpt-4o-mini",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream it")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for st.Next() {
			acc.AddChunk(st.Current())
			chunks++
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if chunks != 9 || !strings.Contains(acc.Choices[0].Message.Content, "stream it") || acc.Usage.TotalTokens == 0 {
			t.Errorf("stream: %d chunks, content %q, usage %+v", chunks, acc.Choices[0].Message.Content, acc.Usage)
		}

		emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "text-embedding-3-small",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("embed me")},
		})
		if err != nil || len(emb.Data) != 1 {
			t.Fatalf("embeddings: %v %+v", err, emb)
		}
		comp, err := client.Completions.New(ctx, openai.CompletionNewParams{
			Model:  "gpt-3.5-turbo-instruct",
			Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon")},
		})
		if err != nil || comp.Choices[0].Text == "" {
			t.Fatalf("completions: %v %+v", err, comp)
		}
		models, err := client.Models.List(ctx)
		if err != nil || len(models.Data) != 5 {
			t.Fatalf("models: %v %+v", err, models)
		}
		_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "no-such-model",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Fatalf("unknown model: %v", err)
		}

		logs := waitLogs(t, g.srv.URL, 5)
		byModel := map[string]logNode{}
		for _, l := range logs {
			byModel[l.Model] = l
			if l.Group != "acme" || l.TokenName != "backend" || l.ClientIP != "127.0.0.1" || l.RequestID == "" {
				t.Errorf("log %+v", l)
			}
		}
		if l := byModel["mini"]; l.UpstreamModel != "gpt-4o-mini" || l.StatusCode != 200 || l.TotalTokens != chat.Usage.TotalTokens || !l.Unpriced || l.ChannelID == nil {
			t.Errorf("mapped chat log %+v", l)
		}
		want := 0.15*float64(acc.Usage.PromptTokens)/1e6 + 0.6*float64(acc.Usage.CompletionTokens)/1e6
		if l := byModel["gpt-4o-mini"]; !l.Stream || l.TotalTokens != acc.Usage.TotalTokens || l.Unpriced || fmt.Sprintf("%.9f", l.Amount) != fmt.Sprintf("%.9f", want) {
			t.Errorf("priced stream log %+v, want amount %.9f", l, want)
		}
		if l := byModel["text-embedding-3-small"]; l.Endpoint != "/v1/embeddings" || l.PromptTokens != emb.Usage.PromptTokens {
			t.Errorf("embeddings log %+v", l)
		}
		if l := byModel["no-such-model"]; l.StatusCode != 404 || l.Error == nil || l.ChannelID != nil {
			t.Errorf("failed request log %+v", l)
		}

		// Secrets stay secret: the provider key is masked and token keys
		// are never readable again.
		st2, data, _ := graphql(t, g.srv.URL, adminKey, `{ channels { key } tokens { prefix } }`, nil)
		if st2 != 200 || bytes.Contains(data, []byte("sk-upstream-secret-key")) || bytes.Contains(data, []byte(key)) {
			t.Errorf("secrets in admin answers: %s", data)
		}
	})
}

func TestAdminAPIRequiresTheKey(t *testing.T) {
	g := startGateway(t, testConfig(t, ""))
	for _, key := range []string{"", "wrong"} {
		st, data, errs := graphql(t, g.srv.URL, key, `mutation { createGroup(input: {id: "intruders"}) { id } }`, nil)
		if st != http.StatusUnauthorized || len(errs) == 0 || (len(data) > 0 && string(data) != "null") {
			t.Errorf("key %q: status %d data %s errors %+v", key, st, data, errs)
		}
	}
	var out struct{ Groups []struct{ ID string } }
	admin(t, g.srv.URL, `{ groups { id } }`, nil, &out)
	if len(out.Groups) != 0 {
		t.Errorf("an unauthorized mutation ran: %+v", out.Groups)
	}
	// Invalid input names the field.
	_, _, errs := graphql(t, g.srv.URL, adminKey, `mutation { createChannel(input: {name: "x", type: "openai", key: "k", models: ["m"], baseURL: "not a url"}) { id } }`, nil)
	if len(errs) != 1 || errs[0].Extensions["field"] != "baseURL" || !strings.Contains(errs[0].Message, "baseURL") {
		t.Errorf("invalid baseURL: %+v", errs)
	}
}

func TestSeparateLogDatabase(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.LogSQLDSN = filepath.Join(t.TempDir(), "logs.db")
	_, up := relaytest.Start(t)
	g := startGateway(t, cfg)
	key := setup(t, g.srv.URL, up.URL)
	client := openai.NewClient(option.WithBaseURL(g.srv.URL+"/v1"), option.WithAPIKey(key))
	if _, err := client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}}); err != nil {
		t.Fatal(err)
	}
	waitLogs(t, g.srv.URL, 1)
	if n := countLogs(t, cfg.LogSQLDSN); n != 1 {
		t.Errorf("%d logs in LOG_SQL_DSN, want 1", n)
	}
	// The main database has no logs table at all, the log one nothing else.
	for _, tt := range []struct {
		path, table string
	}{{cfg.SQLitePath, "logs"}, {cfg.LogSQLDSN, "tokens"}} {
		db, err := sql.Open("sqlite", tt.path)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, tt.table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s has a %s table (%v)", tt.path, tt.table, err)
		}
		db.Close()
	}
}

// countLogs counts the log rows of the database at dsn.
func countLogs(tb testing.TB, dsn string) int {
	tb.Helper()
	db, err := store.OpenSchema(context.Background(), dsn, store.SchemaLogs)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	s := store.New(db, db)
	n := 0
	var before int64
	for {
		logs, more, err := s.Logs(context.Background(), aiproxyFilter(before))
		if err != nil {
			tb.Fatal(err)
		}
		n += len(logs)
		if !more {
			return n
		}
		before = logs[len(logs)-1].ID
	}
}

// freeAddr returns a loopback address with a free port.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSIGTERMDrainsAndFlushes runs the real binary's main(), keeps
// streams and plain requests in flight, sends SIGTERM, and checks that
// every stream completed and every request is in the database afterwards.
func TestSIGTERMDrainsAndFlushes(t *testing.T) {
	p, up := relaytest.Start(t, relaytest.WithChunks(20), relaytest.WithChunkDelay(50*time.Millisecond))
	dir := t.TempDir()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AIPROXY_RUN_MAIN=1", "LISTEN="+addr, "ADMIN_KEY="+adminKey,
		"SQLITE_PATH="+filepath.Join(dir, "aiproxy.db"), "SQL_DSN=", "LOG_SQL_DSN=")
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

	const streams, plain = 10, 200
	var wg sync.WaitGroup
	complete := make(chan bool, streams)
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions",
				strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"slow"}]}`))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				complete <- false
				return
			}
			defer resp.Body.Close()
			last := ""
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if sc.Text() != "" {
					last = sc.Text()
				}
			}
			complete <- last == "data: [DONE]"
		}()
	}
	p.WaitActive(t, streams)
	client := openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
	for range plain {
		if _, err := client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "text-embedding-3-small",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(complete)
	for ok := range complete {
		if !ok {
			t.Error("a stream in flight at SIGTERM was cut short")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, out.String())
	}
	if n := countLogs(t, filepath.Join(dir, "aiproxy.db")); n != streams+plain {
		t.Fatalf("%d logs after shutdown, want %d\n%s", n, streams+plain, out.String())
	}
	if !strings.Contains(out.String(), "logs flushed") {
		t.Errorf("shutdown output:\n%s", out.String())
	}
}

func TestAdminKeyGeneratedOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "")
	cfg.AdminKey, cfg.SQLitePath = "", filepath.Join(dir, "aiproxy.db")
	// start serves until the gateway answers, then stops it, and returns
	// what it printed.
	start := func() string {
		cfg.Listen = freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		var out bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- run(ctx, cfg, &out) }()
		for i := 0; ; i++ {
			if resp, err := http.Get("http://" + cfg.Listen + "/healthz"); err == nil {
				resp.Body.Close()
				break
			}
			if i > 1200 {
				t.Fatal("gateway did not start")
			}
			time.Sleep(25 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	first := start()
	b, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	if len(key) < 32 || !strings.Contains(first, key) {
		t.Fatalf("generated key %q not printed: %q", key, first)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "admin.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.key mode %v, want 0600", fi.Mode().Perm())
	}
	if second := start(); strings.Contains(second, key) {
		t.Error("the admin key was printed again on the second start")
	}
	// The key works, and only it.
	cfg.AdminKey = ""
	if _, err := cfg.ensureAdminKey(); err != nil || cfg.AdminKey != key {
		t.Errorf("key read back %q, %v", cfg.AdminKey, err)
	}
}

// Replicas sharing a database without ADMIN_KEY accept one admin key: the
// first one generates it (and run prints it), the others find its hash in
// the database.
func TestAdminKeySharedByReplicas(t *testing.T) {
	for _, dsn := range []func(testing.TB) string{storetest.PostgresDSN, storetest.MySQLDSN} {
		cfg := testConfig(t, dsn(t))
		cfg.AdminKey = ""
		a, b := startGateway(t, cfg), startGateway(t, cfg)
		key := a.app.generatedKey
		if !strings.HasPrefix(key, "admin-") || b.app.generatedKey != "" {
			t.Fatalf("generated keys %q and %q: want one, from the first replica", key, b.app.generatedKey)
		}
		for _, g := range []*gateway{a, b} {
			if status, _, errs := graphql(t, g.srv.URL, key, `{ channelTypes { name } }`, nil); status != 200 || len(errs) != 0 {
				t.Errorf("the shared key: status %d, errors %+v", status, errs)
			}
			if status, _, _ := graphql(t, g.srv.URL, "admin-wrong", `{ channelTypes { name } }`, nil); status != http.StatusUnauthorized {
				t.Errorf("a wrong key: status %d", status)
			}
		}
	}
}
