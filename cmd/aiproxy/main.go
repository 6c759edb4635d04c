// Command aiproxy runs the gateway: the relay (OpenAI, Anthropic and
// Gemini endpoints) and the GraphQL admin API at /graphql, from one binary. Configuration
// comes from the environment; see the README.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/graph/alert"
	"github.com/aiproxy/aiproxy/graph/metrics"
	"github.com/aiproxy/aiproxy/mcp"
	"github.com/aiproxy/aiproxy/mcp/embedded"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/providers"
	"github.com/aiproxy/aiproxy/static"
	"github.com/aiproxy/aiproxy/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := loadDotEnv(".env"); err != nil {
		fmt.Fprintln(os.Stderr, "aiproxy: .env:", err)
		os.Exit(2)
	}
	if len(os.Args) > 1 && os.Args[1] == "openapi2mcp" {
		os.Exit(runOpenAPI2MCP(ctx, os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aiproxy: configuration:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, os.Stdout); err != nil {
		slog.Error("aiproxy: exit", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully: in-flight
// requests are drained (up to ShutdownTimeout, then cut), and every queued
// log is written before it returns.
func run(ctx context.Context, cfg Config, stdout io.Writer) error {
	generated, err := cfg.ensureAdminKey()
	if err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(stdout, "aiproxy: generated admin key (saved in %s; shown only now):\n\n    %s\n\n", cfg.adminKeyFile(), cfg.AdminKey)
	}
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	if a.generatedKey != "" {
		fmt.Fprintf(stdout, "aiproxy: generated admin key (its hash kept in the database, so that every replica sharing it accepts the key; shown only now):\n\n    %s\n\n", a.generatedKey)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.Close(context.Background())
		return err
	}
	slog.Info("aiproxy: listening", "addr", ln.Addr().String(), "database", a.db.Dialect())
	return a.serve(ctx, ln)
}

// app is the wired gateway.
type app struct {
	cfg   Config
	db    *store.DB
	logDB *store.DB // == db unless LOG_SQL_DSN is set
	store *store.Store
	logs  *store.LogWriter
	// cleaner deletes logs past their retention (and on PostgreSQL
	// keeps the daily partitions).
	cleaner *store.LogCleaner
	// ledger updates tokens' and groups' used amounts in batches.
	ledger *store.Ledger
	// summaries aggregates the usage summaries dashboards read, written
	// in batches (closed after the log writer).
	summaries *store.Summarizer
	redis     *store.Redis    // nil unless REDIS is set
	bus       *store.RedisBus // on redis; nil without it
	// health is the channels' health routing reads: shared through Redis
	// when REDIS is set (redisHealth, closed on shutdown), else in memory.
	health interface {
		relay.Health
		graph.HealthAdmin
	}
	redisHealth *store.RedisHealth
	// live is the live traffic of the GraphQL subscriptions, shared
	// through Redis when REDIS is set; endLive ends the subscriptions
	// (on shutdown).
	live    *store.LiveHub
	endLive context.CancelFunc
	// balances reads channels' balances, every BALANCE_REFRESH_INTERVAL
	// until stopBalances.
	balances     *relay.Balances
	stopBalances context.CancelFunc // also stops the IP guard

	// alerts sends alerts to the configured sinks and the server log,
	// throttled through Redis when REDIS is set; its watcher runs until
	// stopBalances.
	alerts *alert.Notifier
	// stopAlertReload ends the notifier's subscription to changes.
	stopAlertReload func()
	watchDone       chan struct{} // closed when the watcher has stopped
	// metrics is the Prometheus collector of /metrics; nil when
	// METRICS_ENABLED is false.
	metrics *metrics.Collector

	// mcp serves the hosted MCP servers (/mcp...), its sessions shared
	// through Redis when REDIS is set (mcpSessions, closed on shutdown);
	// mcpAdmin administers them for the admin API.
	mcp         *mcp.Gateway
	mcpProxies  *mcp.ProxyBuilder
	mcpSessions io.Closer
	mcpAdmin    *mcp.Admin

	handler  http.Handler
	inflight sync.WaitGroup
	// adminKeySHA256 is the hash of the admin key kept in a shared
	// database, when ADMIN_KEY is unset; generatedKey the key, when this
	// replica generated it now.
	adminKeySHA256, generatedKey string
}

// newApp opens the databases (running migrations) and builds the router.
func newApp(ctx context.Context, cfg Config) (*app, error) {
	a := &app{cfg: cfg}
	var err error
	schema := store.SchemaAll
	if cfg.LogSQLDSN != "" {
		schema = store.SchemaMain // the logs have a database of their own
	}
	if a.db, err = store.OpenSchema(ctx, cfg.DSN(), schema); err != nil {
		return nil, err
	}
	a.logDB = a.db
	if cfg.LogSQLDSN != "" {
		if a.logDB, err = store.OpenSchema(ctx, cfg.LogSQLDSN, store.SchemaLogs); err != nil {
			a.db.Close()
			return nil, err
		}
	}
	ps := providers.Providers()
	a.store = store.New(a.db, a.logDB)
	a.store.CheckChannel = ps.Check
	a.store.MaxTokensPerGroup = cfg.MaxTokensPerGroup
	var limiter relay.Limiter = store.NewMemoryLimiter()
	var ipGroups relay.IPGroups = store.NewMemoryIPGroups()
	if cfg.Redis != "" {
		if a.redis, err = store.OpenRedis(ctx, cfg.Redis, cfg.RedisPrefix); err != nil {
			a.closeDBs()
			return nil, err
		}
		a.bus = store.NewRedisBus(a.redis)
		a.store.Bus = a.bus
		a.redisHealth = store.NewRedisHealth(a.redis)
		a.health = a.redisHealth
		limiter = store.NewRedisLimiter(a.redis)
		ipGroups = store.NewRedisIPGroups(a.redis)
	} else {
		a.health = store.NewMemoryHealth()
	}
	if err := a.store.Start(ctx); err != nil {
		a.closeRedis()
		a.closeDBs()
		return nil, err
	}
	if a.logs, err = store.OpenLogWriter(a.store, store.LogWriterOptions{SpillDir: cfg.spillDir()}); err != nil {
		a.store.Close()
		a.closeRedis()
		a.closeDBs()
		return nil, err
	}
	a.cleaner = store.NewLogCleaner(a.store, cfg.logStorage())
	a.cleaner.Start()
	a.live = store.NewLiveHub(a.redis, store.LiveOptions{})
	a.ledger = store.NewLedger(a.store, store.LedgerOptions{})
	if cfg.AdminKey == "" && cfg.SQLDSN != "" {
		key := newAdminKey()
		sum := sha256.Sum256([]byte(key))
		kept, stored, err := a.store.AdminKeyHash(ctx, hex.EncodeToString(sum[:]))
		if err != nil {
			a.Close(context.Background())
			return nil, err
		}
		a.adminKeySHA256 = kept
		if stored {
			a.generatedKey = key
		} else {
			slog.Info("aiproxy: admin key: the one the first replica on this database generated and printed (kept hashed there); set ADMIN_KEY to choose one")
		}
	}

	a.alerts = a.newNotifier()
	a.summaries = store.NewSummarizer(a.store, store.SummarizerOptions{FlushInterval: cfg.SummaryFlushInterval})
	recorders := aiproxy.Recorders{a.logs, a.summaries, a.live, a.alerts}
	if cfg.MetricsEnabled {
		a.metrics = a.newMetrics()
		recorders = append(recorders, a.metrics)
	}
	rl := &relay.Server{
		Keys:      a.store.Cache(),
		Catalog:   a.store.Cache(),
		Logs:      recorders,
		Live:      a.live,
		Providers: ps,
		Ingresses: providers.Ingresses(),
		Client: &http.Client{Transport: relay.NewTransport(relay.TransportOptions{
			DialTimeout:   cfg.DialTimeout,
			HeaderTimeout: cfg.HeaderTimeout,
		})},
		MaxBodyBytes:      cfg.MaxBodyBytes,
		StreamIdleTimeout: cfg.StreamIdleTimeout,
		SaveBodies:        cfg.SaveAllLogDetail,
		MaxSavedBody:      cfg.LogDetailMaxBytes,
		Health:            a.health,
		MaxAttempts:       cfg.MaxAttempts,
		Timeouts:          cfg.Timeouts,
		FirstEventTimeout: cfg.FirstEventTimeout,
		Breaker:           cfg.Breaker,
		Limiter:           limiter,
		Charger:           a.ledger,
		Billing:           cfg.Billing,
		QuotaLocation:     cfg.QuotaLocation,
		DefaultMaxOutput:  cfg.ReserveOutput,
		TrustedProxies:    cfg.TrustedProxies,
	}
	if a.metrics != nil {
		rl.Refusals = a.metrics
	}
	rl.Alerts = a.alerts
	if cfg.IPGroupsWarn > 0 || cfg.IPGroupsBan > 0 {
		rl.IPGuard = relay.NewIPGuard(ipGroups, cfg.IPGroupsWarn, cfg.IPGroupsBan, cfg.IPGroupsBanFor, slog.Default())
	}
	r := chi.NewRouter()
	r.Use(a.track)
	rl.Mount(r)
	a.balances = &relay.Balances{Server: rl}
	bctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopBalances = stop
	go a.refreshBalances(bctx, cfg.BalanceRefresh)
	if rl.IPGuard != nil {
		rl.IPGuard.OnAlert = a.ipAlert
		go rl.IPGuard.Run(bctx)
	}
	a.watchDone = make(chan struct{})
	go func() {
		defer close(a.watchDone)
		a.newWatcher().Run(bctx, cfg.AlertCheckInterval)
	}()
	if err := a.mountMCP(ctx, r, recorders, limiter); err != nil {
		a.Close(context.Background())
		return nil, err
	}
	liveCtx, endLive := context.WithCancel(context.Background())
	a.endLive = endLive
	gql := graph.NewHandler(graph.Config{
		Context:        liveCtx,
		Origins:        cfg.GraphQLOrigins,
		AdminKey:       cfg.AdminKey,
		AdminKeySHA256: a.adminKeySHA256,
		Keys:           a.store.Cache(),
		Resolver: graph.Resolver{
			ChannelService:     a.store,
			GroupService:       a.store,
			TokenService:       a.store,
			ModelConfigService: a.store,
			LogService:         a.store,
			AnalyticsService:   a.store,
			Providers:          ps,
			Health:             a.health,
			Tester:             rl,
			Balances:           a.balances,

			GroupModelConfigService: a.store,
			BillingService:          a.store,
			Effective:               a.store.Cache(),
			QuotaLocation:           cfg.QuotaLocation,
			Live:                    a.live,
			AlertHistory:            a.store,
			AlertService:            a.store,
			AlertAdmin:              a.alerts,
			AlertDefaults:           cfg.alertDefaults(),
			MCPAdmin:                a.mcpAdmin,
		},
	})
	r.Handle("/graphql", gql)
	r.Handle("/static/*", static.Handler()) // the admin pages' and GraphiQL's vendored assets
	a.mountViews(r, liveCtx, rl)
	r.Handle("/api/logs.csv", gql) // the logs as CSV, authenticated as the admin API
	if a.metrics != nil {
		r.Handle("/metrics", a.metrics.Handler(metrics.Auth{AdminKey: cfg.AdminKey, AdminKeySHA256: a.adminKeySHA256, Token: cfg.MetricsToken}))
	}
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	a.handler = r
	return a, nil
}

// mountMCP serves the hosted MCP servers on r: their tool calls are
// logged through recorders and admitted by limiter, like model requests.
func (a *app) mountMCP(ctx context.Context, r chi.Router, recorders aiproxy.LogRecorder, limiter relay.Limiter) error {
	cfg := a.cfg
	var sessions mcp.SessionStore = store.NewMemoryMCPSessions()
	if a.redis != nil {
		rs, err := store.NewRedisMCPSessions(ctx, a.redis)
		if err != nil {
			return err
		}
		sessions, a.mcpSessions = rs, rs
	}
	a.mcpProxies = &mcp.ProxyBuilder{}
	builders := map[aiproxy.MCPKind]mcp.ToolsetBuilder{
		aiproxy.MCPOpenAPI: &mcp.OpenAPIBuilder{},
		aiproxy.MCPProxy:   a.mcpProxies,
		aiproxy.MCPEmbedded: &mcp.EmbeddedBuilder{Deps: embedded.Deps{
			Analytics: a.store, Catalog: a.store.Cache(), Groups: a.store, Tokens: a.store, QuotaLocation: cfg.QuotaLocation,
		}},
	}
	a.mcp = &mcp.Gateway{
		Servers:        a.store.Cache(),
		Keys:           a.store.Cache(),
		Builders:       builders,
		Sessions:       sessions,
		Logs:           recorders,
		Limiter:        limiter,
		Charger:        a.ledger,
		Billing:        cfg.Billing,
		ToolRPM:        cfg.MCPToolRPM,
		QuotaLocation:  cfg.QuotaLocation,
		Origins:        cfg.MCPOrigins,
		TrustedProxies: cfg.TrustedProxies,
		SessionTTL:     cfg.MCPSessionTTL,
	}
	a.mcp.Mount(r)
	a.mcpAdmin = &mcp.Admin{Store: a.store, Builders: builders, Logs: recorders}
	return nil
}

// track counts in-flight requests, so shutdown can wait for their logs.
func (a *app) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.inflight.Add(1)
		defer a.inflight.Done()
		next.ServeHTTP(w, r)
	})
}

// serve serves on ln until ctx is done, then shuts down.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	srv.RegisterOnShutdown(a.endLive) // subscriptions never go idle: end them
	if a.mcp != nil {
		srv.RegisterOnShutdown(func() { a.mcp.Close() }) // nor do MCP's SSE streams
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case err := <-errc:
		serveErr = err
	case <-ctx.Done():
		slog.Info("aiproxy: shutting down", "timeout", a.cfg.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			// Streams still open after the grace period are cut; their
			// handlers still record what was generated so far.
			slog.Warn("aiproxy: grace period over, closing open connections", "err", err)
			srv.Close()
		}
		cancel()
		<-errc
	}
	cctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := a.Close(cctx); err != nil {
		return err
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// Close waits for in-flight handlers, flushes queued logs and closes the
// store, Redis and the databases.
func (a *app) Close(ctx context.Context) error {
	if a.stopBalances != nil {
		a.stopBalances()
	}
	done := make(chan struct{})
	go func() { a.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	a.cleaner.Close()
	err := a.logs.Close(ctx)
	if err == nil {
		slog.Info("aiproxy: logs flushed")
	}
	if a.summaries != nil {
		if serr := a.summaries.Close(ctx); serr != nil {
			err = errors.Join(err, serr)
		} else {
			slog.Info("aiproxy: usage summaries flushed")
		}
	}
	if lerr := a.ledger.Close(ctx); lerr != nil {
		err = errors.Join(err, lerr)
	} else {
		slog.Info("aiproxy: used amounts flushed")
	}
	if a.endLive != nil {
		a.endLive()
	}
	if a.mcp != nil {
		a.mcp.Close()
		a.mcpProxies.Close()
	}
	if a.mcpSessions != nil {
		a.mcpSessions.Close()
	}
	if a.live != nil {
		a.live.Close() // publishes the last events before Redis closes
	}
	if a.watchDone != nil {
		<-a.watchDone
	}
	if a.alerts != nil {
		if a.stopAlertReload != nil {
			a.stopAlertReload()
		}
		a.alerts.Close()
	}
	a.store.Close()
	a.closeRedis()
	return errors.Join(err, a.closeDBs())
}

// refreshBalances reads every channel's balance (where its provider
// exposes one) at start and then every interval, until ctx is done.
func (a *app) refreshBalances(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if chs, err := a.store.Channels(ctx); err == nil {
			a.balances.RefreshAll(ctx, chs)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newNotifier returns the notifier of the configured sinks.
func (a *app) newNotifier() *alert.Notifier {
	c := a.cfg
	hc := alert.NewClient(c.AlertAllowPrivateNetwork)
	sinks := []alert.Sink{alert.LogSink{}}
	if c.AlertWebhookURL != "" {
		sinks = append(sinks, &alert.Webhook{URL: c.AlertWebhookURL, Client: hc})
	}
	if c.AlertSlackURL != "" {
		sinks = append(sinks, &alert.Slack{URL: c.AlertSlackURL, Client: hc})
	}
	if c.AlertFeishuURL != "" {
		sinks = append(sinks, &alert.Feishu{URL: c.AlertFeishuURL, Secret: c.AlertFeishuSecret, Client: hc})
	}
	var th alert.Throttle = &store.MemoryThrottle{}
	if a.redis != nil {
		th = store.NewRedisThrottle(a.redis)
	}
	n := alert.NewNotifier(alert.Options{Sinks: sinks, Throttle: th, Window: c.AlertThrottle, History: a.store, Config: a.store})
	// The administered sinks and settings: loaded now, reloaded when any
	// replica changes them (and by the watcher's periodic check, should
	// an announcement be lost).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Reload(ctx); err != nil {
		slog.Warn("aiproxy: alert sinks", "err", err)
	}
	a.stopAlertReload = a.store.Subscribe(func(ch store.Change) {
		if ch.Kind == store.ChangeAlerts || ch.Kind == store.ChangeAll {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := n.Reload(ctx); err != nil {
					slog.Warn("aiproxy: reload alert sinks", "err", err)
				}
			}()
		}
	})
	return n
}

// alertDefaults are the ALERT_* settings, in effect where the admin API
// stored none.
func (c *Config) alertDefaults() aiproxy.AlertSettings {
	return aiproxy.AlertSettings{Throttle: c.AlertThrottle, ErrorRate: c.AlertErrorRate, SpikeFactor: c.AlertSpikeFactor, SpikeMin: 100, LogQueueWarn: 1000}
}

// newWatcher returns the watcher of breakers, error rates, the log writer,
// the database and Redis.
func (a *app) newWatcher() *alert.Watcher {
	w := alert.Watch{
		Health:    a.health,
		ErrorRate: a.cfg.AlertErrorRate,
		Spike:     a.cfg.AlertSpikeFactor,
		Logs: func() alert.LogCounts {
			st := a.logs.Stats()
			return alert.LogCounts{Queued: st.Queued, Spilled: st.Spilled, Dropped: st.Dropped, Failed: st.Failed}
		},
		DB:       a.db.Ping,
		Channels: a.store.Channels,
		Balance:  a.balances.Balance,
		Reload:   a.alerts.Reload,
		Hourly:   alert.HourlyFromSummaries(a.store, nil),
	}
	if a.redis != nil {
		w.Redis = func(ctx context.Context) error { return a.redis.Client.Ping(ctx).Err() }
	}
	return alert.NewWatcher(a.alerts, w)
}

// ipAlert sends the IP guard's alerts.
func (a *app) ipAlert(ip relay.IPAlert) {
	text := fmt.Sprintf("Used by %d groups within the hour: %s.", len(ip.Groups), strings.Join(ip.Groups, ", "))
	if ip.Banned {
		text += " Refused until " + ip.Until.UTC().Format(time.RFC3339) + "."
	}
	a.alerts.Alert(aiproxy.Alert{Kind: aiproxy.AlertIPShared, Severity: aiproxy.SeverityWarning, Key: "ip:" + ip.IP.String(),
		Title: "Address " + ip.IP.String() + " is shared across groups", Text: text})
}

// newMetrics returns the Prometheus collector of the app's health, log
// writer, database and Redis.
func (a *app) newMetrics() *metrics.Collector {
	opts := metrics.Options{
		MaxModels: a.cfg.MetricsMaxModels,
		MaxGroups: a.cfg.MetricsMaxGroups,
		Health:    a.health,
		Logs:      a.logs,
		DB:        a.db.Ping,
	}
	if a.redis != nil {
		opts.Redis = func(ctx context.Context) error { return a.redis.Client.Ping(ctx).Err() }
	}
	return metrics.New(opts)
}

// closeRedis stops the change bus and closes the Redis client, if any.
func (a *app) closeRedis() {
	if a.redisHealth != nil {
		a.redisHealth.Close()
	}
	if a.bus != nil {
		a.bus.Close()
	}
	if a.redis != nil {
		a.redis.Close()
	}
}

func (a *app) closeDBs() error {
	err := a.db.Close()
	if a.logDB != a.db {
		err = errors.Join(err, a.logDB.Close())
	}
	return err
}
