package main

import (
	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy/static"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/views/auth"
	"github.com/aiproxy/aiproxy/views/groups"
	"github.com/aiproxy/aiproxy/views/web"
)

// mountViews serves the admin pages under /admin, signed in with the
// admin key or a group token (a session cookie), behind the CSP and the
// CSRF check; every area checks who may see it.
func (a *app) mountViews(r chi.Router) {
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
		groups.Mount(r, groups.Deps{Groups: a.store, Tokens: a.store, Billing: a.store, QuotaLocation: cfg.QuotaLocation})
	})
}
