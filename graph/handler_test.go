package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/introspection"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
)

// rawAnswer is a GraphQL answer read off the wire, data kept raw so that a
// null can be told from an absent member.
type rawAnswer struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

func decodeAnswer(tb testing.TB, body string) rawAnswer {
	tb.Helper()
	var a rawAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		tb.Fatalf("answer %q: %v", body, err)
	}
	return a
}

func TestAuth(t *testing.T) {
	const mutation = `mutation { createGroup(input: {id: "acme"}) { id } }`
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"no key", nil, http.StatusUnauthorized},
		{"wrong bearer", map[string]string{"Authorization": "Bearer " + adminKey + "x"}, http.StatusUnauthorized},
		{"key prefix", map[string]string{"Authorization": "Bearer " + adminKey[:10]}, http.StatusUnauthorized},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, http.StatusUnauthorized},
		{"key without scheme", map[string]string{"Authorization": adminKey}, http.StatusUnauthorized},
		{"basic scheme", map[string]string{"Authorization": "Basic " + adminKey}, http.StatusUnauthorized},
		{"wrong x-api-key", map[string]string{"X-Api-Key": "nope"}, http.StatusUnauthorized},
		{"bearer", map[string]string{"Authorization": "Bearer " + adminKey}, http.StatusOK},
		{"bearer lower case", map[string]string{"Authorization": "bearer " + adminKey}, http.StatusOK},
		{"x-api-key", map[string]string{"X-Api-Key": adminKey}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t)
			header := map[string]string{"Content-Type": "application/json"}
			for k, v := range tt.header {
				header[k] = v
			}
			w := a.do(http.MethodPost, "/graphql", gqlBody(t, mutation), header)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			groups, _ := a.svc.Groups(context.Background())
			if tt.want == http.StatusOK {
				if len(groups) != 1 {
					t.Errorf("groups %v after an authorized createGroup", groups)
				}
				return
			}
			if len(groups) != 0 {
				t.Errorf("an unauthorized createGroup ran: groups %v", groups)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
			ans := decodeAnswer(t, w.Body.String())
			if string(ans.Data) != "null" {
				t.Errorf("data %s, want null", ans.Data)
			}
			wantError(t, ans.Errors, "UNAUTHORIZED", "")
		})
	}
}

func TestAuthGET(t *testing.T) {
	a := newAPI(t)
	target := "/graphql?query=" + url.QueryEscape(`{ groups { id } }`)
	if w := a.do(http.MethodGet, target, "", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("GET query without key: status %d, want 401", w.Code)
	}
	// A browser asking for HTML with a query still needs the key.
	if w := a.do(http.MethodGet, target, "", map[string]string{"Accept": "text/html"}); w.Code != http.StatusUnauthorized {
		t.Errorf("GET query from a browser without key: status %d, want 401", w.Code)
	}
	w := a.do(http.MethodGet, target, "", map[string]string{"Authorization": "Bearer " + adminKey})
	if w.Code != http.StatusOK || decodeAnswer(t, w.Body.String()).Errors != nil {
		t.Errorf("GET query with key: status %d: %s", w.Code, w.Body)
	}
	mutation := "/graphql?query=" + url.QueryEscape(`mutation { createGroup(input: {id: "acme"}) { id } }`)
	if w := a.do(http.MethodGet, mutation, "", map[string]string{"Authorization": "Bearer " + adminKey}); w.Code == http.StatusOK {
		t.Errorf("GET mutation: status %d: %s", w.Code, w.Body)
	}
	if groups, _ := a.svc.Groups(context.Background()); len(groups) != 0 {
		t.Errorf("a mutation ran over GET: groups %v", groups)
	}
}

func TestNoAdminKeyLocksTheAPI(t *testing.T) {
	// No service is reached: the request is refused before.
	a := &api{handler: graph.NewHandler(graph.Config{})}
	for _, header := range []map[string]string{
		{"Content-Type": "application/json"},
		{"Content-Type": "application/json", "Authorization": "Bearer "},
		{"Content-Type": "application/json", "X-Api-Key": ""},
	} {
		if w := a.do(http.MethodPost, "/graphql", gqlBody(t, `{ groups { id } }`), header); w.Code != http.StatusUnauthorized {
			t.Errorf("%v: status %d, want 401", header, w.Code)
		}
	}
}

func TestPlayground(t *testing.T) {
	a := newAPI(t)
	w := a.do(http.MethodGet, "/admin/graphql", "", map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	body := w.Body.String()
	for _, want := range []string{"graphiql", `"/admin/graphql"`, "Authorization", "Bearer &lt;admin key&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("playground page lacks %q", want)
		}
	}
	if strings.Contains(body, adminKey) {
		t.Error("playground page contains the admin key")
	}
}

func TestBodyLimit(t *testing.T) {
	a := newAPI(t)
	header := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + adminKey}
	body := gqlBody(t, "{ groups { id } }"+strings.Repeat(" ", 1<<20))
	w := a.do(http.MethodPost, "/graphql", body, header)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %.200s", w.Code, w.Body)
	}
	wantError(t, decodeAnswer(t, w.Body.String()).Errors, "TOO_LARGE", "")
}

func TestComplexityLimit(t *testing.T) {
	a := newAPI(t)
	// The playground's introspection and a query of everything pass.
	a.mustPost(t, introspection.Query, nil)
	a.mustPost(t, `{ groups { `+groupFields+` tokens { `+tokenFields+` } } channels { `+channelFields+` }
		modelConfigs { `+modelConfigFields+` } logs(first: 500) { edges { cursor node { `+logFields+` } } pageInfo { hasNextPage endCursor } } }`, nil)

	var q strings.Builder
	q.WriteString("{")
	for i := range 200 {
		fmt.Fprintf(&q, " c%d: channels { id name key models }", i)
	}
	q.WriteString(" }")
	header := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + adminKey}
	w := a.do(http.MethodPost, "/graphql", gqlBody(t, q.String()), header)
	ans := decodeAnswer(t, w.Body.String())
	wantError(t, ans.Errors, "COMPLEXITY_LIMIT_EXCEEDED", "")
}

func TestValidationErrorsKeepGqlgenMessages(t *testing.T) {
	a := newAPI(t)
	header := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + adminKey}
	tests := []struct {
		query string
		want  string // in the message
	}{
		{`{ channel { id } }`, `argument "id"`},
		{`mutation { createChannel(input: {name: "c", type: "openai", key: "k", models: ["m"], weight: "heavy"}) { id } }`, "Int cannot represent"},
		{`mutation { createChannel(input: {name: "c", type: ANTHROPIC, key: "k", models: ["m"]}) { id } }`, "ANTHROPIC"},
		{`{ tokens { id key } }`, `"key"`},
		{`{ tokens { keyHash } }`, `"keyHash"`},
		{`{ groups { id `, "Expected"},
	}
	for _, tt := range tests {
		w := a.do(http.MethodPost, "/graphql", gqlBody(t, tt.query), header)
		ans := decodeAnswer(t, w.Body.String())
		if len(ans.Errors) == 0 || !strings.Contains(ans.Errors[0].Message, tt.want) {
			t.Errorf("%s: errors %v, want a message with %s", tt.query, ans.Errors, tt.want)
			continue
		}
		if code := ans.Errors[0].Extensions["code"]; code == "INTERNAL" {
			t.Errorf("%s: code %v", tt.query, code)
		}
	}
}

// brokenChannels fails every read: with an error carrying details that must
// not reach the client, or with a panic.
type brokenChannels struct {
	aiproxy.ChannelService
	panic bool
}

func (b brokenChannels) Channels(context.Context) ([]*aiproxy.Channel, error) {
	if b.panic {
		panic("channels exploded")
	}
	return nil, errors.New("store: list channels: dial tcp 10.0.0.7:5432: connection refused")
}

func TestInternalErrors(t *testing.T) {
	for _, panics := range []bool{false, true} {
		t.Run(fmt.Sprintf("panic=%v", panics), func(t *testing.T) {
			a := newAPIWith(t, func(r *graph.Resolver) {
				r.ChannelService = brokenChannels{ChannelService: r.ChannelService, panic: panics}
			})
			errs := a.post(t, `{ channels { id } }`, nil)
			e := wantError(t, errs, "INTERNAL", "")
			if e.Message != "internal error" {
				t.Errorf("message %q, want %q", e.Message, "internal error")
			}
			if fmt.Sprint(e.Path) != "[channels]" {
				t.Errorf("path %v", e.Path)
			}
			want := "10.0.0.7"
			if panics {
				want = "channels exploded"
			}
			if !strings.Contains(a.log.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, a.log)
			}
		})
	}
}
