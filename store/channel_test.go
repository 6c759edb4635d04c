package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store/storetest"
)

func newChannel(name string, priority int, enabled bool, models ...string) *aiproxy.Channel {
	return &aiproxy.Channel{
		Name:     name,
		Type:     aiproxy.ChannelType("openai"),
		Key:      "sk-upstream-" + name,
		Models:   models,
		Priority: priority,
		Enabled:  enabled,
	}
}

func TestChannels(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := storetest.Open(t, dsn)
		// The provider registry's check, as cmd/aiproxy wires it: only
		// "openai" exists, and its config takes a string version.
		s.CheckChannel = func(c *aiproxy.Channel) error {
			if c.Type != "openai" {
				return aiproxy.FieldErrorf("type", "unknown channel type %q", c.Type)
			}
			if v := gjson.GetBytes(c.Config, "version"); v.Exists() && v.Type != gjson.String {
				return aiproxy.FieldErrorf("config.version", "version must be a string")
			}
			return nil
		}

		t.Run("create and read", func(t *testing.T) {
			c := &aiproxy.Channel{
				Name:         " main ",
				Type:         aiproxy.ChannelType("openai"),
				BaseURL:      "https://example.com/v1/",
				Key:          "sk-upstream-secret",
				Models:       []string{"gpt-4o", " gpt-4o-mini", "gpt-4o", ""},
				ModelMapping: []aiproxy.ModelMapping{{From: "gpt-4o", To: "gpt-4o-2024-08-06"}},
				Config:       []byte(` {"version":"2023-06-01","beta":["a","b"]} `),
				Priority:     -3,
				Enabled:      true,
			}
			if err := s.CreateChannel(ctx, c); err != nil {
				t.Fatal(err)
			}
			if c.ID == 0 || c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) {
				t.Fatalf("ID and times not set: %+v", c)
			}
			if c.Name != "main" || c.BaseURL != "https://example.com/v1" || len(c.Models) != 2 || c.Weight != 0 || string(c.Config) != `{"version":"2023-06-01","beta":["a","b"]}` {
				t.Fatalf("not normalized as stored: %+v", c)
			}
			got, err := s.Channel(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, got, c) // the key is returned in full
			list, err := s.Channels(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, list, []*aiproxy.Channel{c})
		})

		t.Run("invalid", func(t *testing.T) {
			for _, tt := range []struct {
				field  string
				change func(*aiproxy.Channel)
			}{
				{"name", func(c *aiproxy.Channel) { c.Name = " " }},
				{"type", func(c *aiproxy.Channel) { c.Type = "Bad Type!" }},
				{"type", func(c *aiproxy.Channel) { c.Type = "bogus" }}, // refused by CheckChannel
				{"config", func(c *aiproxy.Channel) { c.Config = []byte(`[1]`) }},
				{"config.version", func(c *aiproxy.Channel) { c.Config = []byte(`{"version":1}`) }},
				{"baseURL", func(c *aiproxy.Channel) { c.BaseURL = "ftp://example.com" }},
				{"models", func(c *aiproxy.Channel) { c.Models = []string{" "} }},
				{"weight", func(c *aiproxy.Channel) { c.Weight = -1 }},
			} {
				t.Run(tt.field, func(t *testing.T) {
					c := newChannel("bad", 0, true, "m")
					tt.change(c)
					wantCode(t, s.CreateChannel(ctx, c), aiproxy.EINVALID, tt.field)
				})
			}
		})

		t.Run("update", func(t *testing.T) {
			c := newChannel("before", 1, true, "a")
			if err := s.CreateChannel(ctx, c); err != nil {
				t.Fatal(err)
			}
			got, err := s.UpdateChannel(ctx, c.ID, aiproxy.ChannelUpdate{
				Name:    ptr("after"),
				Models:  []string{"b", "c"},
				Weight:  ptr(5),
				Enabled: ptr(false),
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "after" || got.Weight != 5 || got.Enabled || got.Priority != 1 || len(got.Models) != 2 || got.Key != c.Key {
				t.Fatalf("updated channel: %+v", got)
			}
			if !got.CreatedAt.Equal(c.CreatedAt) || got.UpdatedAt.Before(c.UpdatedAt) {
				t.Fatalf("times: %+v", got)
			}
			read, err := s.Channel(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, read, got)

			_, err = s.UpdateChannel(ctx, c.ID, aiproxy.ChannelUpdate{Models: []string{}})
			wantCode(t, err, aiproxy.EINVALID, "models")
			_, err = s.UpdateChannel(ctx, c.ID, aiproxy.ChannelUpdate{Type: ptr(aiproxy.ChannelType("bogus"))})
			wantCode(t, err, aiproxy.EINVALID, "type")
			cfg := json.RawMessage(`{"version":"x"}`)
			if got, err = s.UpdateChannel(ctx, c.ID, aiproxy.ChannelUpdate{Config: cfg}); err != nil || string(got.Config) != `{"version":"x"}` {
				t.Fatalf("config update: %v %s", err, got.Config)
			}
			cfg = json.RawMessage(`null`)
			if got, err = s.UpdateChannel(ctx, c.ID, aiproxy.ChannelUpdate{Config: cfg}); err != nil || got.Config != nil {
				t.Fatalf("config reset: %v %s", err, got.Config)
			}
			_, err = s.UpdateChannel(ctx, 1<<40, aiproxy.ChannelUpdate{Name: ptr("x")})
			wantCode(t, err, aiproxy.ENOTFOUND, "")
		})

		t.Run("delete", func(t *testing.T) {
			c := newChannel("doomed", 0, true, "a")
			if err := s.CreateChannel(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteChannel(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			_, err := s.Channel(ctx, c.ID)
			wantCode(t, err, aiproxy.ENOTFOUND, "")
			err = s.DeleteChannel(ctx, c.ID)
			wantCode(t, err, aiproxy.ENOTFOUND, "")
			if want := fmt.Sprintf("channel %d not found", c.ID); aiproxy.ErrorMessage(err) != want {
				t.Errorf("message = %q, want %q", aiproxy.ErrorMessage(err), want)
			}
		})
	})
}
