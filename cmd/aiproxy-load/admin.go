package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// admin talks to the gateway's GraphQL admin API.
type admin struct {
	hc  *http.Client
	url string // .../graphql
	key string
}

// gqlError is one entry of a GraphQL answer's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// do runs one operation and decodes its data into out.
func (a *admin) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	var ans struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("status %d: %.300s", resp.StatusCode, raw)
	}
	if len(ans.Errors) > 0 {
		var msgs []string
		for _, e := range ans.Errors {
			msgs = append(msgs, fmt.Sprintf("%s %v", e.Message, e.Extensions))
		}
		return fmt.Errorf("graphql: %s", strings.Join(msgs, "; "))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(ans.Data, out)
}

// benchGroup is the group the load's token belongs to.
const benchGroup = "bench"

// setupGateway creates, through the admin API, a group with a token, one
// channel per provider of the provider role (each serving its models),
// and a priced model config for each model, so that every relayed request
// is authenticated, routed, priced and logged. It returns the token's key.
//
// With limits, every limit is on and admits everything: an RPM and TPM
// on each model, a quota and a daily quota on the token, a prepaid group
// with a balance and a concurrency cap.
func setupGateway(ctx context.Context, a *admin, providerURL string, limits bool) (string, error) {
	grp := map[string]any{"id": benchGroup, "description": "aiproxy-load"}
	if limits {
		grp["maxConcurrency"] = 1_000_000
	}
	if err := a.do(ctx, `mutation($in: CreateGroupInput!) { createGroup(input: $in) { id } }`,
		map[string]any{"in": grp}, nil); err != nil {
		return "", fmt.Errorf("create group: %w", err)
	}
	if limits {
		if err := a.do(ctx, `mutation { updateGroup(id: "`+benchGroup+`", input: {prepaid: true}) { id } }`, nil, nil); err != nil {
			return "", fmt.Errorf("make the group prepaid: %w", err)
		}
		if err := a.do(ctx, `mutation { topUpBalance(group: "`+benchGroup+`", amount: 1000000000, reason: "aiproxy-load") { id } }`, nil, nil); err != nil {
			return "", fmt.Errorf("top up the group: %w", err)
		}
	}
	var tok struct {
		CreateToken struct {
			Key string `json:"key"`
		} `json:"createToken"`
	}
	if err := a.do(ctx, `mutation($in: CreateTokenInput!) { createToken(input: $in) { key token { id } } }`,
		map[string]any{"in": tokenInput(limits)}, &tok); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	channels := []struct {
		name   string
		route  route
		models []string
	}{
		{"fast", routeFast, []string{modelFast, modelHold}},
		{"slow", routeSlow, []string{modelSlow}},
		{"early", routeEarly, []string{modelEarly}},
	}
	for _, ch := range channels {
		in := map[string]any{
			"name":    "load-" + ch.name,
			"type":    "openai",
			"baseURL": providerURL + ch.route.prefix() + "/v1",
			"key":     "sk-load",
			"models":  ch.models,
		}
		if err := a.do(ctx, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { id } }`,
			map[string]any{"in": in}, nil); err != nil {
			return "", fmt.Errorf("create channel %s: %w", ch.name, err)
		}
		for _, m := range ch.models {
			in := map[string]any{"model": m, "type": "CHAT", "inputPrice": 0.15, "outputPrice": 0.6}
			if limits {
				in["rpm"], in["tpm"] = 1_000_000_000, 1_000_000_000_000
			}
			if err := a.do(ctx, `mutation($in: CreateModelConfigInput!) { createModelConfig(input: $in) { model } }`,
				map[string]any{"in": in}, nil); err != nil {
				return "", fmt.Errorf("create model config %s: %w", m, err)
			}
		}
	}
	return tok.CreateToken.Key, nil
}

// tokenInput is the load's token: with limits, with a quota and a daily
// quota far beyond what a run uses.
func tokenInput(limits bool) map[string]any {
	in := map[string]any{"group": benchGroup, "name": "load"}
	if limits {
		in["quota"], in["periodQuota"], in["period"] = 1e9, 1e9, "DAILY"
	}
	return in
}

// waitRoutable sends chat completions through the gateway until one is
// answered 200, so that the load starts only once the gateway's caches
// know the token and the channels. These requests are logged and
// counted like any other.
func waitRoutable(ctx context.Context, c *client, gw *target) error {
	body := chatBody(modelFast, false)
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err = c.chat(ctx, gw, body); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("gateway does not route the load within 15s: %w", err)
}
