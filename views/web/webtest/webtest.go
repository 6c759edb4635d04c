// Package webtest helps test the admin UI's handlers: Tokens, an
// in-memory token store for web.Auth, NewAuth, an Auth on it, and
// SignIn, which opens a session and returns its cookie.
//
// A handler test that needs no cookie can instead put a session in the
// request's context with web.WithSession.
package webtest

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/web"
)

// AdminKey is the admin key of the Auth NewAuth returns.
const AdminKey = "test-admin-key-0123456789"

// Tokens holds tokens and groups in memory: the web.Auth's Keys and
// Tokens. It is safe for concurrent use.
type Tokens struct {
	mu     sync.Mutex
	tokens map[int64]*aiproxy.Token
	groups map[string]*aiproxy.Group
	nextID int64
}

var (
	_ web.TokenReader = (*Tokens)(nil)
	_ interface {
		TokenByKey(ctx context.Context, key string) (*aiproxy.Token, *aiproxy.Group, error)
	} = (*Tokens)(nil)
)

// NewTokens returns an empty Tokens.
func NewTokens() *Tokens {
	return &Tokens{tokens: map[int64]*aiproxy.Token{}, groups: map[string]*aiproxy.Group{}}
}

// Add stores group g (when it is new) and an enabled token of it named
// name, and returns the token and its key.
func (f *Tokens) Add(g *aiproxy.Group, name string) (*aiproxy.Token, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.groups[g.ID]; !ok {
		f.groups[g.ID] = g
	}
	f.nextID++
	key := aiproxy.NewTokenKey()
	t := &aiproxy.Token{ID: f.nextID, GroupID: g.ID, Name: name, Prefix: aiproxy.KeyPrefix(key), KeyHash: aiproxy.HashKey(key), Enabled: true}
	f.tokens[t.ID] = t
	return t, key
}

// UpdateToken changes token id with fn, on a copy (the values handed out
// stay as they were, as with the store's cache).
func (f *Tokens) UpdateToken(id int64, fn func(*aiproxy.Token)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tokens[id]; ok {
		c := *t
		fn(&c)
		f.tokens[id] = &c
	}
}

// UpdateGroup changes group id with fn, on a copy.
func (f *Tokens) UpdateGroup(id string, fn func(*aiproxy.Group)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g, ok := f.groups[id]; ok {
		c := *g
		fn(&c)
		f.groups[id] = &c
	}
}

// DeleteToken removes token id.
func (f *Tokens) DeleteToken(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, id)
}

// TokenByKey returns the token of key and its group, or EUNAUTHORIZED.
func (f *Tokens) TokenByKey(_ context.Context, key string) (*aiproxy.Token, *aiproxy.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := aiproxy.HashKey(key)
	for _, t := range f.tokens {
		if t.KeyHash == h {
			if g, ok := f.groups[t.GroupID]; ok {
				return t, g, nil
			}
		}
	}
	return nil, nil, aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "invalid API key")
}

// Token returns token id, or ENOTFOUND.
func (f *Tokens) Token(_ context.Context, id int64) (*aiproxy.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tokens[id]; ok {
		return t, nil
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "token not found")
}

// Group returns group id, or ENOTFOUND.
func (f *Tokens) Group(_ context.Context, id string) (*aiproxy.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g, ok := f.groups[id]; ok {
		return g, nil
	}
	return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "group not found")
}

// NewAuth returns an Auth with AdminKey and tokens (nil: a new Tokens) as
// its Keys and Tokens.
func NewAuth(tokens *Tokens) *web.Auth {
	tokens = cmp.Or(tokens, NewTokens())
	return &web.Auth{AdminKey: AdminKey, Keys: tokens, Tokens: tokens}
}

var signIns atomic.Int64

// SignIn opens a session of a for key and returns its cookie and the
// session, failing tb when key opens none. Each call comes from another
// address, so that the sign-in throttle does not count them together.
func SignIn(tb testing.TB, a *web.Auth, key string) (*http.Cookie, *web.Session) {
	tb.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, web.SignInPath, strings.NewReader(""))
	// Each sign-in from an address of its own: the throttle counts them.
	n := signIns.Add(1)
	r.RemoteAddr = fmt.Sprintf("198.18.%d.%d:1234", n/250%250, n%250+1)
	s, err := a.SignIn(w, r, key)
	if err != nil {
		tb.Fatalf("webtest: sign in: %v", err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == web.CookieName {
			return c, s
		}
	}
	tb.Fatal("webtest: sign in: no session cookie")
	return nil, nil
}
