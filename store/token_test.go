package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/store"
	"github.com/aiproxy/aiproxy/store/storetest"
)

func createGroup(tb testing.TB, s *store.Store, id string) *aiproxy.Group {
	tb.Helper()
	g := &aiproxy.Group{ID: id, Enabled: true}
	if err := s.CreateGroup(context.Background(), g); err != nil {
		tb.Fatal(err)
	}
	return g
}

func createToken(tb testing.TB, s *store.Store, groupID, name string) (*aiproxy.Token, string) {
	tb.Helper()
	t := &aiproxy.Token{GroupID: groupID, Name: name, Enabled: true}
	key, err := s.CreateToken(context.Background(), t)
	if err != nil {
		tb.Fatal(err)
	}
	return t, key
}

func TestGroups(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := storetest.Open(t, dsn)

		g := &aiproxy.Group{ID: "acme", Description: "ACME Inc.", Enabled: true}
		if err := s.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		createGroup(t, s, "Acme") // ids are case-sensitive everywhere
		got, err := s.Group(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, got, g)

		for _, tt := range []struct {
			name, code, field string
			group             *aiproxy.Group
		}{
			{"taken id", aiproxy.ECONFLICT, "id", &aiproxy.Group{ID: "acme"}},
			{"empty id", aiproxy.EINVALID, "id", &aiproxy.Group{ID: ""}},
			{"bad id", aiproxy.EINVALID, "id", &aiproxy.Group{ID: "a b"}},
			{"long description", aiproxy.EINVALID, "description", &aiproxy.Group{ID: "x", Description: strings.Repeat("d", 1025)}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantCode(t, s.CreateGroup(ctx, tt.group), tt.code, tt.field)
			})
		}

		upd, err := s.UpdateGroup(ctx, "acme", aiproxy.GroupUpdate{Description: ptr("changed"), Enabled: ptr(false)})
		if err != nil {
			t.Fatal(err)
		}
		if upd.Description != "changed" || upd.Enabled || !upd.CreatedAt.Equal(g.CreatedAt) {
			t.Fatalf("updated group: %+v", upd)
		}
		_, err = s.UpdateGroup(ctx, "nope", aiproxy.GroupUpdate{Enabled: ptr(true)})
		wantCode(t, err, aiproxy.ENOTFOUND, "")
		_, err = s.UpdateGroup(ctx, "acme", aiproxy.GroupUpdate{Description: ptr(strings.Repeat("d", 1025))})
		wantCode(t, err, aiproxy.EINVALID, "description")

		list, err := s.Groups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != "Acme" || list[1].ID != "acme" {
			t.Fatalf("Groups() = %+v", list)
		}
		_, err = s.Group(ctx, "nope")
		wantCode(t, err, aiproxy.ENOTFOUND, "")
		if want := `group "nope" not found`; aiproxy.ErrorMessage(err) != want {
			t.Errorf("message = %q, want %q", aiproxy.ErrorMessage(err), want)
		}
	})
}

func TestTokens(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, db := open(t, dsn)
		createGroup(t, s, "acme")
		createGroup(t, s, "other")

		t.Run("create", func(t *testing.T) {
			expires := time.Date(2031, 2, 3, 4, 5, 6, 789_123_000, time.FixedZone("X", 3600))
			tok := &aiproxy.Token{
				GroupID:   "acme",
				Name:      " ci ",
				Models:    []string{"gpt-4o", "gpt-4o"},
				Subnets:   []string{"10.0.0.1", "192.168.1.7/24"},
				ExpiresAt: &expires,
				Enabled:   true,
			}
			key, err := s.CreateToken(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(key, aiproxy.TokenKeyPrefix) || tok.KeyHash != aiproxy.HashKey(key) || tok.Prefix != aiproxy.KeyPrefix(key) {
				t.Fatalf("key %q, token %+v", key, tok)
			}
			if tok.Name != "ci" || len(tok.Models) != 1 || tok.Subnets[1] != "192.168.1.0/24" || !tok.ExpiresAt.Equal(expires) {
				t.Fatalf("not normalized as stored: %+v", tok)
			}
			got, err := s.Token(ctx, tok.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, got, tok)

			// Only the hash and the prefix of the key are stored.
			var rows []map[string]any
			if err := store.Bun(db).NewSelect().Table("tokens").Where("id = ?", tok.ID).Scan(ctx, &rows); err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 {
				t.Fatalf("%d rows", len(rows))
			}
			for col, v := range rows[0] {
				if s := fmt.Sprintf("%s", v); strings.Contains(s, key) || strings.Contains(s, key[len(key)-20:]) {
					t.Errorf("column %s holds the key: %q", col, s)
				}
			}

			tg, g, err := s.Cache().TokenByKey(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, tg, tok)
			if g.ID != "acme" {
				t.Fatalf("group %+v", g)
			}
		})

		t.Run("invalid", func(t *testing.T) {
			for _, tt := range []struct {
				name, code, field string
				token             *aiproxy.Token
			}{
				{"no group", aiproxy.EINVALID, "group", &aiproxy.Token{Name: "x"}},
				{"no name", aiproxy.EINVALID, "name", &aiproxy.Token{GroupID: "acme"}},
				{"bad subnet", aiproxy.EINVALID, "subnets", &aiproxy.Token{GroupID: "acme", Name: "x", Subnets: []string{"10.0.0.0/33"}}},
				{"missing group", aiproxy.ENOTFOUND, "group", &aiproxy.Token{GroupID: "nope", Name: "x"}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					key, err := s.CreateToken(ctx, tt.token)
					wantCode(t, err, tt.code, tt.field)
					if key != "" {
						t.Errorf("key %q returned with an error", key)
					}
				})
			}
		})

		t.Run("update and delete", func(t *testing.T) {
			tok, key := createToken(t, s, "acme", "temp")
			until := time.Now().Add(time.Hour)
			got, err := s.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{
				Name:      ptr("renamed"),
				Models:    ptr([]string{"m"}),
				ExpiresAt: ptr(&until),
				Enabled:   ptr(false),
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "renamed" || got.Enabled || got.ExpiresAt == nil || got.KeyHash != tok.KeyHash || got.GroupID != "acme" {
				t.Fatalf("updated token: %+v", got)
			}
			read, err := s.Token(ctx, tok.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, read, got)
			got, err = s.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{ExpiresAt: ptr[*time.Time](nil)})
			if err != nil || got.ExpiresAt != nil {
				t.Fatalf("clearing the expiry: %+v, %v", got, err)
			}
			_, err = s.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{Subnets: ptr([]string{"nonsense"})})
			wantCode(t, err, aiproxy.EINVALID, "subnets")
			_, err = s.UpdateToken(ctx, 1<<40, aiproxy.TokenUpdate{Name: ptr("x")})
			wantCode(t, err, aiproxy.ENOTFOUND, "")

			if err := s.DeleteToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
			_, err = s.Token(ctx, tok.ID)
			wantCode(t, err, aiproxy.ENOTFOUND, "")
			wantCode(t, s.DeleteToken(ctx, tok.ID), aiproxy.ENOTFOUND, "")
			_, _, err = s.Cache().TokenByKey(ctx, key)
			wantCode(t, err, aiproxy.EUNAUTHORIZED, "")
		})

		t.Run("MCP tools", func(t *testing.T) {
			tok := &aiproxy.Token{GroupID: "acme", Name: "mcp", Enabled: true, MCPTools: []string{" weather ", "weather/forecast", "weather", ""}}
			key, err := s.CreateToken(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, tok.MCPTools, []string{"weather", "weather/forecast"})
			// check reads the token every way and wants tools.
			check := func(t *testing.T, tools []string) {
				t.Helper()
				got, err := s.Token(ctx, tok.ID)
				if err != nil {
					t.Fatal(err)
				}
				wantEqual(t, got.MCPTools, tools)
				list, err := s.Tokens(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				for _, lt := range list {
					if lt.ID == tok.ID {
						wantEqual(t, lt.MCPTools, tools)
					}
				}
				cached, _, err := s.Cache().TokenByKey(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				wantEqual(t, cached.MCPTools, tools)
			}
			check(t, []string{"weather", "weather/forecast"})

			upd, err := s.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{MCPTools: ptr([]string{"clock/now", "clock/now"})})
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, upd.MCPTools, []string{"clock/now"})
			check(t, []string{"clock/now"})
			// Another field's update leaves them.
			if _, err := s.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{Name: ptr("mcp2")}); err != nil {
				t.Fatal(err)
			}
			check(t, []string{"clock/now"})
			if _, err := s.UpdateToken(ctx, tok.ID, aiproxy.TokenUpdate{MCPTools: ptr([]string{})}); err != nil {
				t.Fatal(err)
			}
			check(t, nil)

			// A token stored before the column (NULL) may call every tool.
			if _, err := store.Bun(db).NewUpdate().Table("tokens").Set("mcp_tools = NULL").Where("id = ?", tok.ID).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := s.Token(ctx, tok.ID)
			if err != nil || got.MCPTools != nil || !got.AllowsMCPTool("any", "tool") {
				t.Fatalf("token with NULL mcp_tools: %+v, %v", got, err)
			}
		})

		t.Run("list and delete group", func(t *testing.T) {
			doomed := createGroup(t, s, "doomed")
			t1, k1 := createToken(t, s, doomed.ID, "one")
			t2, _ := createToken(t, s, doomed.ID, "two")
			kept, keptKey := createToken(t, s, "other", "kept")
			if _, _, err := s.Cache().TokenByKey(ctx, k1); err != nil {
				t.Fatal(err)
			}

			list, err := s.Tokens(ctx, doomed.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, list, []*aiproxy.Token{t1, t2})
			all, err := s.Tokens(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(all) < 3 || all[len(all)-1].ID != kept.ID {
				t.Fatalf("Tokens(\"\") = %+v", all)
			}

			if err := s.DeleteGroup(ctx, doomed.ID); err != nil {
				t.Fatal(err)
			}
			list, err = s.Tokens(ctx, doomed.ID)
			if err != nil || len(list) != 0 {
				t.Fatalf("tokens left: %+v, %v", list, err)
			}
			_, err = s.Token(ctx, t2.ID)
			wantCode(t, err, aiproxy.ENOTFOUND, "")
			_, _, err = s.Cache().TokenByKey(ctx, k1)
			wantCode(t, err, aiproxy.EUNAUTHORIZED, "")
			if _, _, err := s.Cache().TokenByKey(ctx, keptKey); err != nil {
				t.Fatal(err)
			}
			_, err = s.Group(ctx, doomed.ID)
			wantCode(t, err, aiproxy.ENOTFOUND, "")
			wantCode(t, s.DeleteGroup(ctx, doomed.ID), aiproxy.ENOTFOUND, "")
		})
	})
}
