package main

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/static"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/views/alerts"
	"github.com/aiproxy/aiproxy/views/auth"
	"github.com/aiproxy/aiproxy/views/channels"
	"github.com/aiproxy/aiproxy/views/dashboard"
	"github.com/aiproxy/aiproxy/views/groups"
	"github.com/aiproxy/aiproxy/views/logs"
	mcpviews "github.com/aiproxy/aiproxy/views/mcp"
	"github.com/aiproxy/aiproxy/views/models"
	"github.com/aiproxy/aiproxy/views/settings"
	"github.com/aiproxy/aiproxy/views/web"
)

// mountViews serves the admin pages under /admin (and / → /admin),
// signed in with the admin key or a group token (a session cookie),
// behind the CSP and the CSRF check; every area checks who may see it.
// live ends the pages' event streams on shutdown; rl is the relay, which
// tests channels.
func (a *app) mountViews(r chi.Router, live context.Context, rl *relay.Server) {
	cfg := a.cfg
	var throttle web.Throttle = &store.MemoryThrottle{}
	if a.redis != nil {
		throttle = store.NewRedisThrottle(a.redis)
	}
	ui := &web.Auth{
		AdminKey: cfg.AdminKey, AdminKeySHA256: a.adminKeySHA256,
		Keys: a.store.Cache(), Tokens: a.store,
		Throttle: throttle, TrustedProxies: cfg.TrustedProxies,
	}
	r.Group(func(r chi.Router) {
		r.Use(static.SecurityHeaders, ui.Session, ui.CSRF)
		auth.Mount(r, ui)
		dashboard.Mount(r, dashboard.Deps{
			Analytics: a.store, Live: a.live, Health: a.health, Channels: a.store, Tokens: a.store, Context: live,
		})
		channels.Mount(r, channels.Deps{
			Channels: a.store, Lister: a.store.Cache(), Types: rl.Providers, Tester: rl, Balances: a.balances, Health: a.health, Stats: a.store,
		})
		groups.Mount(r, groups.Deps{Groups: a.store, Tokens: a.store, Lister: a.store.Cache(), Billing: a.store, QuotaLocation: cfg.QuotaLocation})
		logs.Mount(r, logs.Deps{Logs: a.store, Live: a.live, CSVPath: "/admin/logs.csv", Context: live})
		mcpviews.Mount(r, mcpviews.Deps{MCP: a.mcpAdmin, BaseURL: a.publicBaseURL})
		models.Mount(r, models.Deps{Configs: a.store, Overrides: a.store, Served: a.store.Cache(), Catalogue: a.store.Catalogue})
		var tester alerts.Tester
		if a.alerts != nil { // a nil *alert.Notifier must not become a non-nil interface
			tester = a.alerts
		}
		alerts.Mount(r, alerts.Deps{Alerts: a.store, History: a.store, Tester: tester, Defaults: cfg.alertDefaults()})
		settings.Mount(r, settings.Deps{Settings: cfg.adminSettings(), Metrics: a.metrics != nil})
		r.With(web.RequireSignedIn).Get("/admin/logs.csv", graph.LogsCSV(a.store, func(r *http.Request) string {
			if s := web.FromContext(r.Context()); !s.Admin {
				return s.GroupID
			}
			return ""
		}).ServeHTTP)
	})
}

// publicBaseURL returns the scheme and host the browser reached the
// gateway at, for the MCP pages' client snippets: https over TLS, or
// behind a trusted proxy that sent "X-Forwarded-Proto: https".
func (a *app) publicBaseURL(r *http.Request) string {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	} else if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil &&
		slices.ContainsFunc(a.cfg.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(ap.Addr().Unmap()) }) &&
		strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https") {
		scheme = "https://"
	}
	return scheme + r.Host
}
