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
	"sync"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/providers"
	"github.com/aiproxy/aiproxy/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := loadDotEnv(".env"); err != nil {
		fmt.Fprintln(os.Stderr, "aiproxy: .env:", err)
		os.Exit(2)
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
	// ledger updates tokens' and groups' used amounts in batches.
	ledger *store.Ledger
	redis  *store.Redis    // nil unless REDIS is set
	bus    *store.RedisBus // on redis; nil without it
	// health is the channels' health routing reads: shared through Redis
	// when REDIS is set (redisHealth, closed on shutdown), else in memory.
	health interface {
		relay.Health
		graph.HealthAdmin
	}
	redisHealth *store.RedisHealth
	// balances reads channels' balances, every BALANCE_REFRESH_INTERVAL
	// until stopBalances.
	balances     *relay.Balances
	stopBalances context.CancelFunc // also stops the IP guard

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
	a.logs = store.NewLogWriter(a.store, store.LogWriterOptions{})
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

	rl := &relay.Server{
		Keys:      a.store.Cache(),
		Catalog:   a.store.Cache(),
		Logs:      a.logs,
		Providers: ps,
		Ingresses: providers.Ingresses(),
		Client: &http.Client{Transport: relay.NewTransport(relay.TransportOptions{
			DialTimeout:   cfg.DialTimeout,
			HeaderTimeout: cfg.HeaderTimeout,
		})},
		MaxBodyBytes:      cfg.MaxBodyBytes,
		StreamIdleTimeout: cfg.StreamIdleTimeout,
		SaveBodies:        cfg.SaveAllLogDetail,
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
		go rl.IPGuard.Run(bctx)
	}
	gql := graph.NewHandler(graph.Config{
		AdminKey:       cfg.AdminKey,
		AdminKeySHA256: a.adminKeySHA256,
		Keys:           a.store.Cache(),
		Resolver: graph.Resolver{
			ChannelService:     a.store,
			GroupService:       a.store,
			TokenService:       a.store,
			ModelConfigService: a.store,
			LogService:         a.store,
			Providers:          ps,
			Health:             a.health,
			Tester:             rl,
			Balances:           a.balances,

			GroupModelConfigService: a.store,
			BillingService:          a.store,
			Effective:               a.store.Cache(),
			QuotaLocation:           cfg.QuotaLocation,
		},
	})
	r.Handle("/graphql", gql)
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	a.handler = r
	return a, nil
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
	err := a.logs.Close(ctx)
	if err == nil {
		slog.Info("aiproxy: logs flushed")
	}
	if lerr := a.ledger.Close(ctx); lerr != nil {
		err = errors.Join(err, lerr)
	} else {
		slog.Info("aiproxy: used amounts flushed")
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
