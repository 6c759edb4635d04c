package graph_test

import (
	"testing"
)

type group struct {
	ID          string  `json:"id"`
	Description string  `json:"description"`
	Enabled     bool    `json:"enabled"`
	Tokens      []token `json:"tokens"`
	CreatedAt   string  `json:"createdAt"`
	UpdatedAt   string  `json:"updatedAt"`
}

const groupFields = `id description enabled createdAt updatedAt`

func (a *api) createGroup(tb testing.TB, input string) group {
	tb.Helper()
	var out struct{ CreateGroup group }
	a.mustPost(tb, `mutation { createGroup(input: {`+input+`}) { `+groupFields+` } }`, &out)
	return out.CreateGroup
}

func TestCreateGroup(t *testing.T) {
	a := newAPI(t)
	g := a.createGroup(t, `id: "acme"`)
	if g.ID != "acme" || g.Description != "" || !g.Enabled || g.CreatedAt == "" {
		t.Errorf("group %+v, want acme enabled", g)
	}
	g = a.createGroup(t, `id: "beta.io", description: "Beta", enabled: false`)
	if g.ID != "beta.io" || g.Description != "Beta" || g.Enabled {
		t.Errorf("group %+v", g)
	}
	var list struct{ Groups []group }
	a.mustPost(t, `{ groups { id } }`, &list)
	if len(list.Groups) != 2 || list.Groups[0].ID != "acme" || list.Groups[1].ID != "beta.io" {
		t.Errorf("groups %+v", list.Groups)
	}
}

func TestUpdateGroup(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme", description: "Acme"`)
	var out struct{ UpdateGroup group }
	a.mustPost(t, `mutation { updateGroup(id: "acme", input: {enabled: false}) { `+groupFields+` } }`, &out)
	if out.UpdateGroup.Enabled || out.UpdateGroup.Description != "Acme" {
		t.Errorf("after disabling: %+v", out.UpdateGroup)
	}
	a.mustPost(t, `mutation { updateGroup(id: "acme", input: {description: "Acme Inc."}) { `+groupFields+` } }`, &out)
	if out.UpdateGroup.Enabled || out.UpdateGroup.Description != "Acme Inc." {
		t.Errorf("after describing: %+v", out.UpdateGroup)
	}
}

func TestGroupErrors(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	tests := []struct {
		name, query, code, field string
	}{
		{"bad id", `mutation { createGroup(input: {id: "no spaces"}) { id } }`, "INVALID", "id"},
		{"taken id", `mutation { createGroup(input: {id: "acme"}) { id } }`, "CONFLICT", "id"},
		{"update missing", `mutation { updateGroup(id: "nope", input: {enabled: false}) { id } }`, "NOT_FOUND", ""},
		{"delete missing", `mutation { deleteGroup(id: "nope") }`, "NOT_FOUND", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, a.post(t, tt.query, nil), tt.code, tt.field)
		})
	}
	var out struct{ Group *group }
	a.mustPost(t, `{ group(id: "nope") { id } }`, &out)
	if out.Group != nil {
		t.Errorf("group(nope) = %+v, want null", out.Group)
	}
}

func TestGroupTokensAndDelete(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	a.createGroup(t, `id: "beta"`)
	a.createToken(t, `group: "acme", name: "one"`)
	a.createToken(t, `group: "acme", name: "two"`)
	a.createToken(t, `group: "beta", name: "three"`)

	var out struct{ Group *group }
	a.mustPost(t, `{ group(id: "acme") { id tokens { name group } } }`, &out)
	if out.Group == nil || len(out.Group.Tokens) != 2 || out.Group.Tokens[0].Name != "one" || out.Group.Tokens[1].Group != "acme" {
		t.Fatalf("group %+v", out.Group)
	}

	var del struct{ DeleteGroup string }
	a.mustPost(t, `mutation { deleteGroup(id: "acme") }`, &del)
	if del.DeleteGroup != "acme" {
		t.Errorf("deleteGroup = %q", del.DeleteGroup)
	}
	var tokens struct{ Tokens []token }
	a.mustPost(t, `{ tokens { name group } }`, &tokens)
	if len(tokens.Tokens) != 1 || tokens.Tokens[0].Name != "three" {
		t.Errorf("tokens after deleting their group: %+v", tokens.Tokens)
	}
	var gone struct{ Group *group }
	a.mustPost(t, `{ group(id: "acme") { id } }`, &gone)
	if gone.Group != nil {
		t.Errorf("deleted group still found: %+v", gone.Group)
	}
}
