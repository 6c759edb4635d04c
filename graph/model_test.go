package graph_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/aiproxy/aiproxy"
)

type modelConfig struct {
	Model       string  `json:"model"`
	Type        string  `json:"type"`
	InputPrice  float64 `json:"inputPrice"`
	OutputPrice float64 `json:"outputPrice"`
	CachedPrice float64 `json:"cachedPrice"`
	RPM         int64   `json:"rpm"`
	TPM         int64   `json:"tpm"`
	CreatedAt   string  `json:"createdAt"`
	UpdatedAt   string  `json:"updatedAt"`
}

const modelConfigFields = `model type inputPrice outputPrice cachedPrice rpm tpm createdAt updatedAt`

func (a *api) createModelConfig(tb testing.TB, input string) modelConfig {
	tb.Helper()
	var out struct{ CreateModelConfig modelConfig }
	a.mustPost(tb, `mutation { createModelConfig(input: {`+input+`}) { `+modelConfigFields+` } }`, &out)
	return out.CreateModelConfig
}

func (a *api) storedModelConfig(tb testing.TB, model string) *aiproxy.ModelConfig {
	tb.Helper()
	m, err := a.svc.ModelConfig(context.Background(), model)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestCreateModelConfig(t *testing.T) {
	a := newAPI(t)
	m := a.createModelConfig(t, `model: "gpt-4o-mini"`)
	if m != (modelConfig{Model: "gpt-4o-mini", Type: "CHAT", CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}) || m.CreatedAt == "" {
		t.Errorf("defaults: %+v", m)
	}

	m = a.createModelConfig(t, `model: "text-embedding-3-small", type: EMBEDDINGS, inputPrice: 0.02, outputPrice: 2.5, cachedPrice: 0.0000000015, rpm: 600, tpm: 1000000`)
	if m.Type != "EMBEDDINGS" || m.InputPrice != 0.02 || m.OutputPrice != 2.5 || m.CachedPrice != 2e-9 || m.RPM != 600 || m.TPM != 1000000 {
		t.Errorf("model config %+v", m)
	}
	stored := a.storedModelConfig(t, "text-embedding-3-small")
	want := aiproxy.ModelConfig{Model: "text-embedding-3-small", Mode: aiproxy.ModeEmbeddings,
		Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: 20_000_000, Output: 2_500_000_000, CachedInput: 2}}, RPM: 600, TPM: 1000000,
		CreatedAt: stored.CreatedAt, UpdatedAt: stored.UpdatedAt}
	if !reflect.DeepEqual(*stored, want) {
		t.Errorf("stored %+v, want %+v", *stored, want)
	}
}

func TestModelTypes(t *testing.T) {
	a := newAPI(t)
	for gql, mode := range map[string]aiproxy.Mode{
		"CHAT": aiproxy.ModeChat, "COMPLETIONS": aiproxy.ModeCompletions, "EMBEDDINGS": aiproxy.ModeEmbeddings,
		"IMAGES": aiproxy.ModeImages, "AUDIO": aiproxy.ModeAudio, "MODERATION": aiproxy.ModeModeration,
		"RERANK": aiproxy.ModeRerank, "RESPONSES": aiproxy.ModeResponses,
	} {
		m := a.createModelConfig(t, `model: "m-`+gql+`", type: `+gql)
		if m.Type != gql {
			t.Errorf("type %s came back as %s", gql, m.Type)
		}
		if got := a.storedModelConfig(t, "m-"+gql).Mode; got != mode {
			t.Errorf("type %s stored as %q, want %q", gql, got, mode)
		}
	}
	if len(aiproxy.Modes) != 8 {
		t.Errorf("the root package has %d modes; map the new ones to ModelType", len(aiproxy.Modes))
	}
}

func TestUpdateModelConfig(t *testing.T) {
	a := newAPI(t)
	a.createModelConfig(t, `model: "gpt-4o", inputPrice: 2.5, outputPrice: 10, rpm: 60`)
	var out struct{ UpdateModelConfig modelConfig }
	a.mustPost(t, `mutation { updateModelConfig(model: "gpt-4o", input: {type: RESPONSES, outputPrice: 12.345678901, tpm: 5000}) { `+modelConfigFields+` } }`, &out)
	m := out.UpdateModelConfig
	if m.Type != "RESPONSES" || m.InputPrice != 2.5 || m.OutputPrice != 12.345678901 || m.RPM != 60 || m.TPM != 5000 {
		t.Errorf("model config %+v", m)
	}
	if got := a.storedModelConfig(t, "gpt-4o").Pricing.Output; got != 12_345_678_901 {
		t.Errorf("stored outputPrice %d", got)
	}
}

func TestModelConfigErrors(t *testing.T) {
	a := newAPI(t)
	a.createModelConfig(t, `model: "gpt-4o"`)
	tests := []struct {
		name, query, code, field string
	}{
		{"taken", `mutation { createModelConfig(input: {model: "gpt-4o"}) { model } }`, "CONFLICT", "model"},
		{"blank model", `mutation { createModelConfig(input: {model: " "}) { model } }`, "INVALID", "model"},
		{"negative price", `mutation { createModelConfig(input: {model: "x", inputPrice: -1}) { model } }`, "INVALID", "inputPrice"},
		{"huge price", `mutation { createModelConfig(input: {model: "x", outputPrice: 1e30}) { model } }`, "INVALID", "outputPrice"},
		{"negative rpm", `mutation { createModelConfig(input: {model: "x", rpm: -1}) { model } }`, "INVALID", "rpm"},
		{"update negative price", `mutation { updateModelConfig(model: "gpt-4o", input: {cachedPrice: -0.5}) { model } }`, "INVALID", "cachedPrice"},
		{"update missing", `mutation { updateModelConfig(model: "nope", input: {rpm: 1}) { model } }`, "NOT_FOUND", ""},
		{"delete missing", `mutation { deleteModelConfig(model: "nope") }`, "NOT_FOUND", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, a.post(t, tt.query, nil), tt.code, tt.field)
		})
	}
}

func TestListAndDeleteModelConfigs(t *testing.T) {
	a := newAPI(t)
	a.createModelConfig(t, `model: "b"`)
	a.createModelConfig(t, `model: "a"`)
	var list struct{ ModelConfigs []modelConfig }
	a.mustPost(t, `{ modelConfigs { model } }`, &list)
	if len(list.ModelConfigs) != 2 || list.ModelConfigs[0].Model != "a" || list.ModelConfigs[1].Model != "b" {
		t.Errorf("model configs %+v", list.ModelConfigs)
	}
	var del struct{ DeleteModelConfig string }
	a.mustPost(t, `mutation { deleteModelConfig(model: "a") }`, &del)
	if del.DeleteModelConfig != "a" {
		t.Errorf("deleteModelConfig = %q", del.DeleteModelConfig)
	}
	var one struct{ ModelConfig *modelConfig }
	a.mustPost(t, `{ modelConfig(model: "a") { model } }`, &one)
	if one.ModelConfig != nil {
		t.Errorf("deleted config still found: %+v", one.ModelConfig)
	}
	var other struct{ ModelConfig *modelConfig }
	a.mustPost(t, `{ modelConfig(model: "b") { model } }`, &other)
	if other.ModelConfig == nil || other.ModelConfig.Model != "b" {
		t.Errorf("modelConfig(b) = %+v", other.ModelConfig)
	}
}

// A model's retry and timeout overrides, and a channel's breaker
// threshold, round-trip.
func TestRoutingOverrides(t *testing.T) {
	a := newAPI(t)
	var mc struct {
		CreateModelConfig struct {
			MaxAttempts              int
			TimeoutSeconds           float64
			FirstEventTimeoutSeconds float64
		}
	}
	a.mustPost(t, `mutation { createModelConfig(input: {model: "m", maxAttempts: 2, timeoutSeconds: 1.5, firstEventTimeoutSeconds: 20}) { maxAttempts timeoutSeconds firstEventTimeoutSeconds } }`, &mc)
	if c := mc.CreateModelConfig; c.MaxAttempts != 2 || c.TimeoutSeconds != 1.5 || c.FirstEventTimeoutSeconds != 20 {
		t.Errorf("created %+v", c)
	}
	var up struct {
		UpdateModelConfig struct{ TimeoutSeconds float64 }
	}
	a.mustPost(t, `mutation { updateModelConfig(model: "m", input: {timeoutSeconds: 0}) { timeoutSeconds } }`, &up)
	if up.UpdateModelConfig.TimeoutSeconds != 0 {
		t.Errorf("updated %+v", up)
	}
	if errs := a.post(t, `mutation { updateModelConfig(model: "m", input: {maxAttempts: 9}) { model } }`, nil); len(errs) != 1 || errs[0].Extensions["field"] != "maxAttempts" {
		t.Errorf("maxAttempts 9: %+v", errs)
	}
	var ch struct {
		CreateChannel struct{ BreakerThreshold float64 }
	}
	a.mustPost(t, `mutation { createChannel(input: {name: "b", type: "openai", key: "k", models: ["m"], breakerThreshold: 0.25}) { breakerThreshold } }`, &ch)
	if ch.CreateChannel.BreakerThreshold != 0.25 {
		t.Errorf("breakerThreshold %v", ch.CreateChannel.BreakerThreshold)
	}
}
