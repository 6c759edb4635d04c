package mcp

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// client is who sent a request: the token (and its group) its key
// resolved to, and from where.
type client struct {
	Caller
	group    *aiproxy.Group
	ip       netip.Addr
	now      time.Time
	key      string
	keyQuery bool // the key came in ?key=
}

// requestKey returns the API key of r, from (in this order) the
// Authorization header's Bearer credentials, the x-api-key header, or the
// key query parameter, and whether it came from the query. The query is
// the weakest of the three, since URLs end up in logs and browser
// history; it is there for clients that cannot set headers.
func requestKey(r *http.Request) (key string, query bool) {
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:]), false
	}
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k, false
	}
	if k := r.URL.Query().Get("key"); k != "" {
		return k, true
	}
	return "", false
}

// authenticate resolves the key of r and applies the token's rules as
// the relay does (aiproxy.Token.Authorize, with no model): EUNAUTHORIZED
// for a missing, unknown, disabled or expired key, EFORBIDDEN for an
// address outside its subnets or a disabled group.
func (g *Gateway) authenticate(r *http.Request) (*client, error) {
	key, query := requestKey(r)
	if key == "" {
		return nil, aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "You didn't provide an API key. Send it as Authorization: Bearer <key>, in x-api-key, or as ?key=.")
	}
	tok, grp, err := g.Keys.TokenByKey(r.Context(), key)
	if err != nil {
		if aiproxy.ErrorCode(err) == aiproxy.EINTERNAL {
			g.logger().Error("mcp: look up token", "err", err)
		}
		return nil, err
	}
	c := &client{Caller: Caller{GroupID: tok.GroupID, Token: tok}, group: grp, ip: relay.ClientIP(r, g.TrustedProxies), now: time.Now(), key: key, keyQuery: query}
	if grp != nil {
		c.GroupID = grp.ID
	}
	if err := tok.Authorize(grp, c.ip, "", c.now); err != nil {
		return nil, err
	}
	return c, nil
}

// originAllowed reports whether r's Origin, if it has one, is allowed:
// one of Origins, or the gateway's own host.
func (g *Gateway) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	for _, a := range g.Origins {
		if a == "*" || strings.EqualFold(a, o) {
			return true
		}
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}

// errOrigin is the refusal of a foreign Origin.
var errOrigin = aiproxy.ReasonErrorf(aiproxy.EFORBIDDEN, "origin_not_allowed", "This Origin is not allowed to use the MCP endpoints.")

// JSON-RPC error codes of the gateway's refusals outside a method's
// answer (the server-error range JSON-RPC leaves to implementations).
const (
	codeUnauthorized = -32001
	codeForbidden    = -32003
	codeNotFound     = -32004
	codeServer       = -32000
)

// writeHTTPError answers a request the gateway refuses before any
// JSON-RPC method runs: the status of err's code and a JSON-RPC error
// object (id null) whose data holds the code and reason, which plain JSON
// clients can read too. A 401 has a WWW-Authenticate header.
func writeHTTPError(w http.ResponseWriter, err error) {
	status := relay.HTTPStatus(err)
	code := codeServer
	switch status {
	case http.StatusUnauthorized:
		code = codeUnauthorized
		challenge := `Bearer realm="aiproxy"`
		if aiproxy.ErrorReason(err) != "" || !strings.Contains(aiproxy.ErrorMessage(err), "didn't provide") {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	case http.StatusForbidden:
		code = codeForbidden
	case http.StatusNotFound:
		code = codeNotFound
	case http.StatusBadRequest:
		code = -32600
	}
	var ae *aiproxy.Error
	data := map[string]string{"code": aiproxy.ErrorCode(err)}
	if errors.As(err, &ae) && ae.Reason != "" {
		data["reason"] = ae.Reason
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: &rpcError{Code: code, Message: aiproxy.ErrorMessage(err), Data: data}})
}
