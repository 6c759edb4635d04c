package models_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/models"
	"github.com/aiproxy/aiproxy/views/web"
	"github.com/aiproxy/aiproxy/views/web/webtest"
)

// memConfigs is a read-only in-memory ModelConfigService: the render's
// own cost, without a database's.
type memConfigs []*aiproxy.ModelConfig

var _ aiproxy.ModelConfigService = memConfigs(nil)

func (m memConfigs) ModelConfig(_ context.Context, model string) (*aiproxy.ModelConfig, error) {
	for _, mc := range m {
		if mc.Model == model {
			return mc, nil
		}
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "no config")
}
func (m memConfigs) ModelConfigs(context.Context) ([]*aiproxy.ModelConfig, error) { return m, nil }
func (memConfigs) CreateModelConfig(context.Context, *aiproxy.ModelConfig) error {
	return aiproxy.Errorf(aiproxy.EINTERNAL, "read-only")
}
func (memConfigs) UpdateModelConfig(context.Context, string, aiproxy.ModelConfigUpdate) (*aiproxy.ModelConfig, error) {
	return nil, aiproxy.Errorf(aiproxy.EINTERNAL, "read-only")
}
func (memConfigs) DeleteModelConfig(context.Context, string) error {
	return aiproxy.Errorf(aiproxy.EINTERNAL, "read-only")
}

// bigList returns a request handler of the table of 10,000 served
// models, one in ten with a config, on the built-in catalogue, and a
// request for one of its pages with the admin's session.
func bigList(tb testing.TB) (http.Handler, func() *http.Request) {
	tb.Helper()
	names := make(served, 10_000)
	var configs memConfigs
	for i := range names {
		names[i] = fmt.Sprintf("model-%05d", i)
		if i%10 == 0 {
			configs = append(configs, &aiproxy.ModelConfig{Model: names[i], Mode: aiproxy.ModeChat,
				Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: aiproxy.Price(i+1) * 1_000_000}}})
		}
	}
	r := chi.NewRouter()
	auth := webtest.NewAuth(nil)
	r.Use(auth.Session, auth.CSRF)
	models.Mount(r, models.Deps{Configs: configs, Served: names})
	_, s := webtest.SignIn(tb, auth, webtest.AdminKey)
	return r, func() *http.Request {
		req := httptest.NewRequest(http.MethodGet, "/admin/models?page=100", nil)
		return req.WithContext(web.WithSession(req.Context(), s))
	}
}

// BenchmarkList renders a page of the table of 10,000 models.
func BenchmarkList(b *testing.B) {
	h, req := bigList(b)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req())
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
