package store_test

import (
	"context"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store/storetest"
)

func TestModelConfigs(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := storetest.Open(t, dsn)

		m := &aiproxy.ModelConfig{
			Model: " gpt-4o ",
			Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: 2_500_000_000, Output: 10_000_000_000, CachedInput: 1_250_000_000, CacheWrite1h: 5_000_000_000},
				Tiers: []aiproxy.PriceTier{{Name: "long", MinPromptTokens: 200_001, Prices: aiproxy.Prices{Input: 5_000_000_000}}}},
			SaveDetail: true,
			RPM:        600,
			TPM:        1 << 40,
		}
		if err := s.CreateModelConfig(ctx, m); err != nil {
			t.Fatal(err)
		}
		if m.Model != "gpt-4o" || m.Mode != aiproxy.ModeChat || m.CreatedAt.IsZero() {
			t.Fatalf("not normalized as stored: %+v", m)
		}
		got, err := s.ModelConfig(ctx, "gpt-4o")
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, got, m)
		if c, ok := s.Cache().ModelConfig("gpt-4o"); !ok || c.Pricing.Input != m.Pricing.Input || len(c.Pricing.Tiers) != 1 || c.Pricing.CacheWrite1h != m.Pricing.CacheWrite1h || !c.SaveDetail {
			t.Fatalf("Cache().ModelConfig = %+v, %v", c, ok)
		}

		for _, tt := range []struct {
			name, code, field string
			config            *aiproxy.ModelConfig
		}{
			{"taken", aiproxy.ECONFLICT, "model", &aiproxy.ModelConfig{Model: "gpt-4o"}},
			{"no model", aiproxy.EINVALID, "model", &aiproxy.ModelConfig{}},
			{"bad mode", aiproxy.EINVALID, "type", &aiproxy.ModelConfig{Model: "x", Mode: "dance"}},
			{"negative price", aiproxy.EINVALID, "pricing.output", &aiproxy.ModelConfig{Model: "x", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Output: -1}}}},
			{"negative rpm", aiproxy.EINVALID, "rpm", &aiproxy.ModelConfig{Model: "x", RPM: -1}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantCode(t, s.CreateModelConfig(ctx, tt.config), tt.code, tt.field)
			})
		}

		upd, err := s.UpdateModelConfig(ctx, "gpt-4o", aiproxy.ModelConfigUpdate{Mode: ptr(aiproxy.ModeResponses), RPM: ptr(int64(0))})
		if err != nil {
			t.Fatal(err)
		}
		if upd.Mode != aiproxy.ModeResponses || upd.RPM != 0 || upd.Pricing.Input != m.Pricing.Input {
			t.Fatalf("updated config: %+v", upd)
		}
		if c, _ := s.Cache().ModelConfig("gpt-4o"); c.Mode != aiproxy.ModeResponses {
			t.Fatalf("cache has the old config: %+v", c)
		}
		_, err = s.UpdateModelConfig(ctx, "nope", aiproxy.ModelConfigUpdate{RPM: ptr(int64(1))})
		wantCode(t, err, aiproxy.ENOTFOUND, "")
		_, err = s.UpdateModelConfig(ctx, "gpt-4o", aiproxy.ModelConfigUpdate{TPM: ptr(int64(-1))})
		wantCode(t, err, aiproxy.EINVALID, "tpm")

		other := &aiproxy.ModelConfig{Model: "Embed", Mode: aiproxy.ModeEmbeddings}
		if err := s.CreateModelConfig(ctx, other); err != nil {
			t.Fatal(err)
		}
		list, err := s.ModelConfigs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Model != "Embed" || list[1].Model != "gpt-4o" {
			t.Fatalf("ModelConfigs() = %+v", list)
		}

		if err := s.DeleteModelConfig(ctx, "gpt-4o"); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Cache().ModelConfig("gpt-4o"); ok {
			t.Fatal("cache still has the deleted config")
		}
		_, err = s.ModelConfig(ctx, "gpt-4o")
		wantCode(t, err, aiproxy.ENOTFOUND, "")
		wantCode(t, s.DeleteModelConfig(ctx, "gpt-4o"), aiproxy.ENOTFOUND, "")
	})
}
