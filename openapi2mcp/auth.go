package openapi2mcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/aiproxy/aiproxy"
)

// authorize adds to req the credentials of the first of the operation's
// security requirements whose every scheme has a credential; none when
// no requirement can be met (the API then answers as it does to an
// anonymous call) or the operation has security: [].
func (t *Toolset) authorize(ctx context.Context, o *operation, req *http.Request) error {
	for _, alt := range o.security {
		if !t.satisfiable(alt) {
			continue
		}
		for _, name := range sortedKeys(alt) {
			if err := t.apply(ctx, name, t.schemes[name], alt[name], req); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}

func (t *Toolset) satisfiable(alt openapi3.SecurityRequirement) bool {
	for name := range alt {
		ss, ok := t.schemes[name]
		if !ok || t.creds[name] == "" || !schemeInfo(name, ss).Supported {
			return false
		}
	}
	return true
}

func (t *Toolset) apply(ctx context.Context, name string, ss *openapi3.SecurityScheme, scopes []string, req *http.Request) error {
	v := t.creds[name]
	switch ss.Type {
	case "apiKey":
		switch ss.In {
		case "header":
			req.Header.Set(ss.Name, v)
		case "query":
			q := req.URL.Query()
			q.Set(ss.Name, v)
			req.URL.RawQuery = q.Encode()
		case "cookie":
			req.AddCookie(&http.Cookie{Name: ss.Name, Value: v})
		}
	case "http":
		switch strings.ToLower(ss.Scheme) {
		case "bearer":
			req.Header.Set("Authorization", "Bearer "+v)
		case "basic":
			user, pass, _ := strings.Cut(v, ":")
			req.SetBasicAuth(user, pass)
		}
	case "oauth2":
		tok, err := t.token(ctx, name, ss.Flows.ClientCredentials, scopes)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// tokenCache holds the OAuth2 access tokens fetched, by scheme and
// scopes, until they expire.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[string]cachedToken
	fetch  sync.Mutex // one token request at a time
}

type cachedToken struct {
	token   string
	expires time.Time
}

// tokenLifetime is how long a token without expires_in is kept;
// tokenMargin how long before its expiry a token is renewed.
const (
	tokenLifetime = 5 * time.Minute
	tokenMargin   = 30 * time.Second
)

func (c *tokenCache) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tok, ok := c.tokens[key]
	if !ok || time.Now().After(tok.expires) {
		return "", false
	}
	return tok.token, true
}

func (c *tokenCache) put(key, token string, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[key] = cachedToken{token: token, expires: expires}
}

// values returns every token held, to redact.
func (c *tokenCache) values() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.tokens))
	for _, tok := range c.tokens {
		out = append(out, tok.token)
	}
	return out
}

// token returns an access token of the client credentials flow, from
// the cache or from its tokenUrl (resolved against the base URL when
// relative). The client id and secret are sent with HTTP basic
// authentication (RFC 6749, section 2.3.1). Errors are EUPSTREAM and
// hold neither.
func (t *Toolset) token(ctx context.Context, scheme string, flow *openapi3.OAuthFlow, scopes []string) (string, error) {
	scopes = slices.Sorted(slices.Values(scopes))
	key := scheme + " " + strings.Join(scopes, " ")
	if tok, ok := t.tokens.get(key); ok {
		return tok, nil
	}
	t.tokens.fetch.Lock()
	defer t.tokens.fetch.Unlock()
	if tok, ok := t.tokens.get(key); ok {
		return tok, nil
	}

	tokenURL, err := t.base.Parse(flow.TokenURL)
	if err != nil || (tokenURL.Scheme != "http" && tokenURL.Scheme != "https") {
		return "", aiproxy.Errorf(aiproxy.EUPSTREAM, "openapi2mcp: oauth2 %s: the spec's tokenUrl is not an http or https URL", scheme)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("openapi2mcp: oauth2 %s: %w", scheme, err)
	}
	id, secret, _ := strings.Cut(t.creds[scheme], ":")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return "", aiproxy.Errorf(aiproxy.EUPSTREAM, "openapi2mcp: oauth2 %s: the token endpoint could not be reached: %s", scheme, t.redact(transportMessage(err)))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", aiproxy.Errorf(aiproxy.EUPSTREAM, "openapi2mcp: oauth2 %s: read token: %s", scheme, t.redact(transportMessage(err)))
	}
	if resp.StatusCode/100 != 2 {
		return "", aiproxy.Errorf(aiproxy.EUPSTREAM, "openapi2mcp: oauth2 %s: the token endpoint answered %s", scheme, resp.Status)
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &tr); err != nil || tr.AccessToken == "" {
		return "", aiproxy.Errorf(aiproxy.EUPSTREAM, "openapi2mcp: oauth2 %s: the token endpoint answered no access_token", scheme)
	}
	life := tokenLifetime
	var secs float64
	if err := json.Unmarshal(tr.ExpiresIn, &secs); err != nil {
		var s string
		if json.Unmarshal(tr.ExpiresIn, &s) == nil {
			_, _ = fmt.Sscan(s, &secs)
		}
	}
	if secs > 0 {
		life = time.Duration(secs * float64(time.Second))
	}
	expires := time.Now().Add(life - tokenMargin)
	if life <= 2*tokenMargin {
		expires = time.Now().Add(life / 2)
	}
	t.tokens.put(key, tr.AccessToken, expires)
	return tr.AccessToken, nil
}

// basicSecret is the Authorization value an HTTP basic credential makes,
// to redact when an API echoes it.
func basicSecret(v string) string {
	return base64.StdEncoding.EncodeToString([]byte(v))
}
