package graph_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/aiproxy/aiproxy"
)

type token struct {
	ID        string   `json:"id"`
	Group     string   `json:"group"`
	Name      string   `json:"name"`
	Prefix    string   `json:"prefix"`
	Models    []string `json:"models"`
	Subnets   []string `json:"subnets"`
	ExpiresAt *string  `json:"expiresAt"`
	Enabled   bool     `json:"enabled"`
	CreatedAt string   `json:"createdAt"`
	UpdatedAt string   `json:"updatedAt"`
}

const tokenFields = `id group name prefix models subnets expiresAt enabled createdAt updatedAt`

// createToken creates a token and returns it with its key.
func (a *api) createToken(tb testing.TB, input string) (token, string) {
	tb.Helper()
	var out struct {
		CreateToken struct {
			Token token
			Key   string
		}
	}
	a.mustPost(tb, `mutation { createToken(input: {`+input+`}) { key token { `+tokenFields+` } } }`, &out)
	return out.CreateToken.Token, out.CreateToken.Key
}

func (a *api) storedToken(tb testing.TB, id string) *aiproxy.Token {
	tb.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	t, err := a.svc.Token(context.Background(), n)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestCreateToken(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	tok, key := a.createToken(t, `group: "acme", name: " backend "`)
	if !strings.HasPrefix(key, aiproxy.TokenKeyPrefix) || len(key) < 40 {
		t.Errorf("key %q", key)
	}
	if tok.ID == "" || tok.Group != "acme" || tok.Name != "backend" || tok.Prefix != aiproxy.KeyPrefix(key) {
		t.Errorf("token %+v", tok)
	}
	if !tok.Enabled || tok.ExpiresAt != nil || tok.Models == nil || len(tok.Models) != 0 || len(tok.Subnets) != 0 {
		t.Errorf("defaults: %+v", tok)
	}
	if stored := a.storedToken(t, tok.ID); stored.KeyHash != aiproxy.HashKey(key) {
		t.Errorf("stored hash %q does not match the key", stored.KeyHash)
	}

	tok, _ = a.createToken(t, `group: "acme", name: "ci", models: ["gpt-4o", "gpt-4o"], subnets: ["10.0.0.0/8", "192.168.1.7"], expiresAt: "2030-01-02T03:04:05Z", enabled: false`)
	if strings.Join(tok.Models, ",") != "gpt-4o" || strings.Join(tok.Subnets, ",") != "10.0.0.0/8,192.168.1.7/32" {
		t.Errorf("models %v subnets %v", tok.Models, tok.Subnets)
	}
	if tok.ExpiresAt == nil || *tok.ExpiresAt != "2030-01-02T03:04:05Z" || tok.Enabled {
		t.Errorf("expiresAt %v enabled %v", tok.ExpiresAt, tok.Enabled)
	}
}

// The key is in the answer to createToken and in no other answer.
func TestTokenKeyShownOnce(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	tok, key := a.createToken(t, `group: "acme", name: "backend"`)
	hash := aiproxy.HashKey(key)
	header := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + adminKey}
	for _, q := range []string{
		`{ tokens { ` + tokenFields + ` } }`,
		`{ tokens(group: "acme") { ` + tokenFields + ` } }`,
		`{ token(id: "` + tok.ID + `") { ` + tokenFields + ` } }`,
		`{ groups { tokens { ` + tokenFields + ` } } }`,
		`mutation { updateToken(id: "` + tok.ID + `", input: {name: "renamed"}) { ` + tokenFields + ` } }`,
	} {
		w := a.do(http.MethodPost, "/graphql", gqlBody(t, q), header)
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, tok.Prefix) {
			t.Errorf("%s: %d %s", q, w.Code, body)
		}
		if strings.Contains(body, key) || strings.Contains(body, hash) {
			t.Errorf("%s: answer reveals the key or its hash: %s", q, body)
		}
	}
}

func TestUpdateTokenExpiry(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	tok, _ := a.createToken(t, `group: "acme", name: "backend"`)
	const when = "2031-05-06T07:08:09Z"
	steps := []struct {
		name  string
		input map[string]any
		want  *string // expiresAt afterwards
	}{
		{"set", map[string]any{"expiresAt": when}, ptr(when)},
		{"omitted keeps", map[string]any{"name": "renamed"}, ptr(when)},
		{"empty input keeps", map[string]any{}, ptr(when)},
		{"null clears", map[string]any{"expiresAt": nil}, nil},
		{"set again", map[string]any{"expiresAt": when}, ptr(when)},
	}
	for _, st := range steps {
		var out struct{ UpdateToken token }
		a.mustPost(t, `mutation($id: ID!, $in: UpdateTokenInput!) { updateToken(id: $id, input: $in) { `+tokenFields+` } }`,
			&out, client.Var("id", tok.ID), client.Var("in", st.input))
		got := out.UpdateToken.ExpiresAt
		if (got == nil) != (st.want == nil) || (got != nil && *got != *st.want) {
			t.Fatalf("%s: expiresAt %v, want %v", st.name, deref(got), deref(st.want))
		}
		stored := a.storedToken(t, tok.ID).ExpiresAt
		if (stored == nil) != (st.want == nil) {
			t.Fatalf("%s: stored expiresAt %v", st.name, stored)
		}
	}

	// The same with literals in the query.
	var out struct{ UpdateToken token }
	a.mustPost(t, `mutation { updateToken(id: "`+tok.ID+`", input: {expiresAt: null}) { expiresAt } }`, &out)
	if out.UpdateToken.ExpiresAt != nil {
		t.Errorf("literal null: expiresAt %v", *out.UpdateToken.ExpiresAt)
	}
	if a.storedToken(t, tok.ID).Name != "renamed" {
		t.Error("name lost")
	}
	if e := a.storedToken(t, tok.ID).ExpiresAt; e != nil {
		t.Errorf("stored expiresAt %v after a literal null", e)
	}
}

func TestUpdateToken(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	tok, _ := a.createToken(t, `group: "acme", name: "backend", models: ["a"], subnets: ["10.0.0.0/8"]`)
	var out struct{ UpdateToken token }
	a.mustPost(t, `mutation { updateToken(id: "`+tok.ID+`", input: {enabled: false, subnets: ["::1"]}) { `+tokenFields+` } }`, &out)
	u := out.UpdateToken
	if u.Enabled || strings.Join(u.Subnets, ",") != "::1/128" || strings.Join(u.Models, ",") != "a" || u.Name != "backend" {
		t.Errorf("token %+v", u)
	}
	a.mustPost(t, `mutation { updateToken(id: "`+tok.ID+`", input: {models: [], subnets: null}) { `+tokenFields+` } }`, &out)
	if u := out.UpdateToken; len(u.Models) != 0 || len(u.Subnets) != 1 {
		t.Errorf("models [] and subnets null: %+v", u)
	}
}

func TestTokenErrors(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	tok, _ := a.createToken(t, `group: "acme", name: "backend"`)
	tests := []struct {
		name, query, code, field string
	}{
		{"unknown group", `mutation { createToken(input: {group: "nope", name: "x"}) { key } }`, "NOT_FOUND", "group"},
		{"blank name", `mutation { createToken(input: {group: "acme", name: ""}) { key } }`, "INVALID", "name"},
		{"bad subnet", `mutation { createToken(input: {group: "acme", name: "x", subnets: ["10.0.0.300"]}) { key } }`, "INVALID", "subnets"},
		{"bad expiry", `mutation { createToken(input: {group: "acme", name: "x", expiresAt: "next tuesday"}) { key } }`, "INVALID", "expiresAt"},
		{"empty expiry", `mutation { createToken(input: {group: "acme", name: "x", expiresAt: ""}) { key } }`, "INVALID", "expiresAt"},
		{"update bad expiry", `mutation { updateToken(id: "` + tok.ID + `", input: {expiresAt: "2030-13-01T00:00:00Z"}) { id } }`, "INVALID", "expiresAt"},
		{"update blank name", `mutation { updateToken(id: "` + tok.ID + `", input: {name: " "}) { id } }`, "INVALID", "name"},
		{"update missing", `mutation { updateToken(id: "999", input: {name: "x"}) { id } }`, "NOT_FOUND", ""},
		{"update bad id", `mutation { updateToken(id: "one", input: {name: "x"}) { id } }`, "INVALID", "id"},
		{"delete missing", `mutation { deleteToken(id: "999") }`, "NOT_FOUND", ""},
		{"get bad id", `{ token(id: "") { id } }`, "INVALID", "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, a.post(t, tt.query, nil), tt.code, tt.field)
		})
	}
	var list struct{ Tokens []token }
	a.mustPost(t, `{ tokens { name } }`, &list)
	if len(list.Tokens) != 1 || list.Tokens[0].Name != "backend" {
		t.Errorf("failed mutations changed the tokens: %+v", list.Tokens)
	}
}

func TestListAndDeleteTokens(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	a.createGroup(t, `id: "beta"`)
	one, _ := a.createToken(t, `group: "acme", name: "one"`)
	a.createToken(t, `group: "beta", name: "two"`)

	var list struct{ Tokens []token }
	a.mustPost(t, `{ tokens { name } }`, &list)
	if len(list.Tokens) != 2 || list.Tokens[0].Name != "one" || list.Tokens[1].Name != "two" {
		t.Errorf("all tokens %+v", list.Tokens)
	}
	a.mustPost(t, `{ tokens(group: "beta") { name } }`, &list)
	if len(list.Tokens) != 1 || list.Tokens[0].Name != "two" {
		t.Errorf("tokens of beta %+v", list.Tokens)
	}

	var del struct{ DeleteToken string }
	a.mustPost(t, `mutation { deleteToken(id: "`+one.ID+`") }`, &del)
	if del.DeleteToken != one.ID {
		t.Errorf("deleteToken = %q, want %q", del.DeleteToken, one.ID)
	}
	var gone struct{ Token *token }
	a.mustPost(t, `{ token(id: "`+one.ID+`") { id } }`, &gone)
	if gone.Token != nil {
		t.Errorf("deleted token still found: %+v", gone.Token)
	}
	wantError(t, a.post(t, `mutation { deleteToken(id: "`+one.ID+`") }`, nil), "NOT_FOUND", "")
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
