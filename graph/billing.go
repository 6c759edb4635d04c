package graph

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/model"
)

// maxBalanceEntries bounds one page of a group's balance entries.
const maxBalanceEntries = 500

// effective returns what applies to group id's requests for m: from the
// cache when the Resolver has one, else from the stored configs and the
// catalogue. ENOTFOUND when the group does not exist.
func (r *Resolver) effective(ctx context.Context, g *aiproxy.Group, m string) (*aiproxy.EffectiveModel, error) {
	if r.Effective != nil {
		e := r.Effective.Effective(g, m)
		return &e, nil
	}
	mc, err := r.ModelConfigService.ModelConfig(ctx, m)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		mc, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var o *aiproxy.GroupModelConfig
	if r.GroupModelConfigService != nil {
		os, err := r.GroupModelConfigService.GroupModelConfigs(ctx, g.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range os {
			if c.Model == m {
				o = c
			}
		}
	}
	ce, _ := r.catalogue().Lookup(m)
	e := aiproxy.Effective(m, g, mc, o, ce)
	return &e, nil
}

// catalogue returns the Resolver's catalogue, or the built-in one.
func (r *Resolver) catalogue() *aiproxy.Catalogue {
	if r.Catalogue != nil {
		return r.Catalogue
	}
	return aiproxy.BuiltinCatalogue()
}

// now returns the current time in the quota time zone.
func (r *Resolver) now() time.Time { return time.Now().In(r.quotaLocation()) }

func (r *Resolver) quotaLocation() *time.Location {
	if r.QuotaLocation != nil {
		return r.QuotaLocation
	}
	return time.UTC
}

// groupModelConfigs returns the GroupModelConfigService, or an EINTERNAL
// error when the API runs without one.
func (r *Resolver) groupModelConfigs() (aiproxy.GroupModelConfigService, error) {
	if r.GroupModelConfigService == nil {
		return nil, aiproxy.Errorf(aiproxy.EINTERNAL, "group model configs are not available")
	}
	return r.GroupModelConfigService, nil
}

// changeBalance converts amount and records the change as the admin.
func (r *Resolver) changeBalance(ctx context.Context, group, kind string, amount float64, reason string) (*aiproxy.BalanceEntry, error) {
	if r.BillingService == nil {
		return nil, aiproxy.Errorf(aiproxy.EINTERNAL, "billing is not available")
	}
	a, err := model.AmountFromFloat("amount", amount)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(reason) == "" {
		return nil, aiproxy.FieldErrorf("reason", "reason is required")
	}
	return r.BillingService.ChangeBalance(ctx, group, kind, a, reason, "admin")
}

// balanceEntries reads one page of a group's balance entries.
func (r *Resolver) balanceEntries(ctx context.Context, group string, first *int, after *string) (*model.BalanceEntryConnection, error) {
	limit := 50
	if first != nil {
		limit = *first
	}
	if limit < 1 || limit > maxBalanceEntries {
		return nil, aiproxy.FieldErrorf("first", "first must be between 1 and %d", maxBalanceEntries)
	}
	var before int64
	if after != nil && *after != "" {
		n, err := strconv.ParseInt(*after, 10, 64)
		if err != nil || n <= 0 {
			return nil, aiproxy.FieldErrorf("after", "after must be an endCursor of balanceEntries")
		}
		before = n
	}
	conn := &model.BalanceEntryConnection{Edges: []*model.BalanceEntryEdge{}, PageInfo: &model.PageInfo{}}
	if r.BillingService == nil {
		return conn, nil
	}
	es, err := r.BillingService.BalanceEntries(ctx, group, before, limit+1)
	if err != nil {
		return nil, err
	}
	if len(es) > limit {
		es, conn.PageInfo.HasNextPage = es[:limit], true
	}
	for _, e := range es {
		conn.Edges = append(conn.Edges, &model.BalanceEntryEdge{Cursor: strconv.FormatInt(e.ID, 10), Node: e})
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, nil
}

// priceFromFloat reads a price component given as a Float argument.
func priceFromFloat(field string, f float64) (aiproxy.Price, error) {
	a, err := model.AmountFromFloat(field, f)
	return aiproxy.Price(a), err
}

// optionalSeconds reads a nullable duration in seconds.
func optionalSeconds(field string, data *float64) (*time.Duration, error) {
	if data == nil {
		return nil, nil
	}
	d, err := seconds(field, *data)
	return &d, err
}

func optionalSecondsOf(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	s := d.Seconds()
	return &s
}

// nonNegative returns max(a, 0) in currency units.
func nonNegative(a aiproxy.Amount) *float64 {
	f := max(a, 0).Float()
	return &f
}

// setPrice sets *dst from a nullable Float argument in currency units per
// million tokens.
func setPrice(field string, dst *aiproxy.Price, data *float64) error {
	if data == nil {
		return nil
	}
	p, err := priceFromFloat(field, *data)
	if err == nil && p < 0 {
		err = aiproxy.FieldErrorf(field, "%s must not be negative", field)
	}
	*dst = p
	return err
}

// updateModelConfig applies input to the config of name, the single price
// components over the stored price unless input replaces it.
func (r *Resolver) updateModelConfig(ctx context.Context, name string, input model.ModelConfigUpdate) (*aiproxy.ModelConfig, error) {
	upd := input.ModelConfigUpdate
	if input.InputPrice != nil || input.OutputPrice != nil || input.CachedPrice != nil {
		if upd.Pricing == nil {
			// A single component changes the stored price's.
			mc, err := r.ModelConfigService.ModelConfig(ctx, name)
			if err != nil {
				return nil, err
			}
			upd.Pricing = &mc.Pricing
		}
		for _, c := range []struct {
			field string
			dst   *aiproxy.Price
			v     *aiproxy.Price
		}{{"inputPrice", &upd.Pricing.Input, input.InputPrice}, {"outputPrice", &upd.Pricing.Output, input.OutputPrice},
			{"cachedPrice", &upd.Pricing.CachedInput, input.CachedPrice}} {
			if c.v != nil && *c.v < 0 {
				return nil, aiproxy.FieldErrorf(c.field, "%s must not be negative", c.field)
			}
			if c.v != nil {
				*c.dst = *c.v
			}
		}
	}
	return r.ModelConfigService.UpdateModelConfig(ctx, name, upd)
}

// finiteRatios refuses a NaN or infinite rpmRatio or tpmRatio (nil: not
// given), which a Float sent as a string can be, with an EINVALID error.
func finiteRatios(rpm, tpm *float64) error {
	for _, r := range []struct {
		field string
		v     *float64
	}{{"rpmRatio", rpm}, {"tpmRatio", tpm}} {
		if r.v != nil && (math.IsNaN(*r.v) || math.IsInf(*r.v, 0)) {
			return aiproxy.FieldErrorf(r.field, "%s must be between 0 (meaning 1) and 1000000", r.field)
		}
	}
	return nil
}
