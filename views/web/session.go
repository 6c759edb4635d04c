// Package web is the core of the admin UI's handlers: sessions kept in a
// signed cookie, the middleware that reads them (Auth.Session), refuses
// requests without one (RequireSignedIn, RequireAdmin) and checks CSRF
// tokens (Auth.CSRF), rendering a page or its HTMX fragment (Page,
// Render, Fragment, Error) and showing validation errors beside their
// fields (FieldErrors).
//
// A page handler reads the session with FromContext and renders with one
// call:
//
//	web.Page(w, r, web.PageData{Title: "Channels", Area: layout.AreaChannels}, channelsPage(v))
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// CookieName is the name of the session cookie.
const CookieName = "aiproxy_session"

// cookiePath is the path of the session and theme cookies: the admin UI only.
const cookiePath = "/admin"

// Session is a signed-in user of the admin UI: the admin, or a group
// token's read-only view of its group.
type Session struct {
	// Admin is true for a session opened with the admin key.
	Admin bool
	// GroupID, TokenID and TokenName are a group session's group and the
	// token it was opened with (re-read on every request); empty for the
	// admin.
	GroupID   string
	TokenID   int64
	TokenName string
	// CSRF is the session's CSRF token: every POST, PUT, PATCH and DELETE
	// must carry it, in the form field "csrf" or the X-CSRF-Token header
	// (see Auth.CSRF). The layout puts it in hx-headers, so htmx requests
	// send it; plain forms need a hidden field.
	CSRF string
	// Expires is when the session ends; the user signs in again then.
	Expires time.Time
}

type sessionKey struct{}

// FromContext returns the session of a request's context (put there by
// Auth.Session), or nil when nobody is signed in.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

// WithSession returns ctx carrying s, as Auth.Session does; for tests of
// page handlers.
func WithSession(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// claims is what the cookie holds, signed. It names the key signed in
// with only by a fingerprint (an HMAC of its hash), never the key itself.
type claims struct {
	Version int    `json:"v"`
	ID      string `json:"s"`           // random session id; the CSRF token is derived from it
	Admin   bool   `json:"a,omitempty"` // the admin key's session
	GroupID string `json:"g,omitempty"`
	TokenID int64  `json:"t,omitempty"`
	Key     string `json:"k"` // fingerprint of the key's hash
	Expires int64  `json:"e"` // Unix seconds
}

const claimsVersion = 1

// errBadCookie is a cookie that opens no session: malformed, forged,
// tampered with, expired, or of a key no longer valid.
var errBadCookie = errors.New("web: invalid session cookie")

var b64 = base64.RawURLEncoding

// mac returns the HMAC-SHA256 of the parts, under secret, for purpose:
// each purpose (cookie, CSRF token, key fingerprint) its own domain.
func mac(secret []byte, purpose string, parts ...string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(purpose))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// encode returns the cookie value of c: its JSON, base64url, a dot and
// the base64url HMAC of that.
func encode(secret []byte, c claims) string {
	b, _ := json.Marshal(c)
	p := b64.EncodeToString(b)
	return p + "." + b64.EncodeToString(mac(secret, "aiproxy session cookie", p))
}

// decode verifies a cookie value and returns its claims; errBadCookie
// when its signature is wrong or its claims malformed. It does not check
// the expiry.
func decode(secret []byte, v string) (claims, error) {
	var c claims
	p, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 1024 {
		return c, errBadCookie
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(secret, "aiproxy session cookie", p)) {
		return c, errBadCookie
	}
	b, err := b64.DecodeString(p)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Version != claimsVersion || c.ID == "" {
		return c, errBadCookie
	}
	return c, nil
}

// newSessionID returns a fresh random session id.
func newSessionID() string {
	b := make([]byte, 18)
	rand.Read(b) // never fails on supported platforms
	return b64.EncodeToString(b)
}

// csrfToken returns the CSRF token of session id.
func csrfToken(secret []byte, id string) string {
	return b64.EncodeToString(mac(secret, "aiproxy csrf token", id))
}

// fingerprint returns the fingerprint of a key, given its hex SHA-256.
func fingerprint(secret []byte, keyHash string) string {
	return b64.EncodeToString(mac(secret, "aiproxy key fingerprint", keyHash)[:16])
}

// DeriveSecret returns the HMAC key of session cookies for an admin key
// (or, when adminKey is empty, its hex SHA-256 kept in the database), so
// that every replica configured alike agrees without more configuration,
// and changing the admin key signs every session out. It returns nil
// when neither is set. Derived from the hash alone, the secret is as
// safe as the database holding it.
func DeriveSecret(adminKey, adminKeySHA256 string) []byte {
	switch {
	case adminKey != "":
		return mac([]byte(adminKey), "aiproxy views/web session secret v1")
	case adminKeySHA256 != "":
		return mac([]byte(strings.ToLower(adminKeySHA256)), "aiproxy views/web session secret from hash v1")
	}
	return nil
}
