package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Headers of the Streamable HTTP transport.
const (
	headerSessionID       = "Mcp-Session-Id"
	headerProtocolVersion = "Mcp-Protocol-Version"
)

// front checks the Origin, authenticates and resolves the endpoint: what
// every route does first. It writes the refusal and returns false when
// the request is refused.
func (g *Gateway) front(w http.ResponseWriter, r *http.Request, k endpointKind) (*client, *target, bool) {
	if !g.originAllowed(r) {
		writeHTTPError(w, errOrigin)
		return nil, nil, false
	}
	c, err := g.authenticate(r)
	if err != nil {
		writeHTTPError(w, err)
		return nil, nil, false
	}
	t, err := g.target(r.Context(), r, k, c.Caller)
	if err != nil {
		if aiproxy.ErrorCode(err) == aiproxy.EINTERNAL {
			g.logger().Error("mcp: resolve endpoint", "path", r.URL.Path, "err", err)
		}
		writeHTTPError(w, err)
		return nil, nil, false
	}
	return c, t, true
}

// streamable serves the Streamable HTTP transport of an endpoint. Every
// POST is answered with one JSON body (application/json), which the
// transport allows; GET, the optional stream of server-initiated
// messages, is 405, since the gateway sends none.
//
// Up to 2025-11-25, initialize opens a session: its state goes to the
// SessionStore under a fresh Mcp-Session-Id, and later requests of any
// replica find it there (404 once it expired or was deleted, so the client
// initializes again). From 2026-07-28 (an MCP-Protocol-Version header or
// _meta protocolVersion of that revision or later) there are no
// sessions: every request stands alone.
func (g *Gateway) streamable(k endpointKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodDelete:
		case http.MethodGet:
			if g.originAllowed(r) {
				w.Header().Set("Allow", "POST, DELETE")
				http.Error(w, "mcp: this endpoint sends no server-initiated messages; POST requests to it", http.StatusMethodNotAllowed)
				return
			}
		default:
			w.Header().Set("Allow", "POST, DELETE")
			http.Error(w, "mcp: method not allowed", http.StatusMethodNotAllowed)
			return
		}
		c, t, ok := g.front(w, r, k)
		if !ok {
			return
		}
		if r.Method == http.MethodDelete {
			g.deleteSession(w, r, c, t)
			return
		}
		g.post(w, r, c, t)
	}
}

// deleteSession ends the session of r's Mcp-Session-Id, on every replica.
func (g *Gateway) deleteSession(w http.ResponseWriter, r *http.Request, c *client, t *target) {
	id := r.Header.Get(headerSessionID)
	if id == "" {
		writeHTTPError(w, aiproxy.Errorf(aiproxy.EINVALID, "Missing the %s header.", headerSessionID))
		return
	}
	if _, err := g.ownSession(r.Context(), id, c, t, transportStreamable); err != nil {
		writeHTTPError(w, err)
		return
	}
	if err := g.Sessions.DeleteSession(r.Context(), id); err != nil {
		g.logger().Error("mcp: delete session", "err", err)
		writeHTTPError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ownSession returns the state of session id if it is c's token's, on
// endpoint t, of transport tr; ENOTFOUND otherwise (an expired session
// and another token's answer alike).
func (g *Gateway) ownSession(ctx context.Context, id string, c *client, t *target, tr string) (*SessionState, error) {
	st, err := g.session(ctx, id)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return nil, aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "session_not_found", "Session not found: it expired or was ended. Initialize a new one.")
	} else if err != nil {
		g.logger().Error("mcp: find session", "err", err)
		return nil, err
	}
	if st.TokenID != c.Token.ID || st.Path != t.path || st.Transport != tr {
		return nil, aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "session_not_found", "Session not found: it expired or was ended. Initialize a new one.")
	}
	return st, nil
}

// post serves a POST of JSON-RPC messages.
func (g *Gateway) post(w http.ResponseWriter, r *http.Request, c *client, t *target) {
	ctx := r.Context()
	msgs, batch, err := g.readMessages(r)
	if err != nil {
		writeRPCError(w, relay.HTTPStatus(err), mcpgo.PARSE_ERROR, aiproxy.ErrorMessage(err))
		return
	}
	x := &exchange{g: g, c: c, t: t}
	version := requestVersion(r, msgs)
	init := slices.IndexFunc(msgs, func(m rpcMessage) bool { return m.Method == "initialize" }) >= 0
	switch {
	case mcpgo.IsModernProtocol(version):
		if !slices.Contains(mcpgo.ValidProtocolVersions, version) {
			writeRPCJSON(w, http.StatusBadRequest, rpcResponse{JSONRPC: "2.0", ID: firstID(msgs), Error: &rpcError{
				Code: mcpgo.UNSUPPORTED_PROTOCOL_VERSION, Message: "Unsupported protocol version " + version + ".",
				Data: map[string]any{"supported": mcpgo.ValidProtocolVersions, "requested": version},
			}})
			return
		}
		x.version, x.modern = version, true
	case init:
		if len(msgs) != 1 {
			writeRPCError(w, http.StatusBadRequest, mcpgo.INVALID_REQUEST, "initialize must be sent alone.")
			return
		}
		x.session = &SessionState{Transport: transportStreamable, Path: t.path, GroupID: c.GroupID, TokenID: c.Token.ID, Created: c.now}
	default:
		id := r.Header.Get(headerSessionID)
		if id == "" {
			writeRPCError(w, http.StatusBadRequest, mcpgo.INVALID_REQUEST, "Missing the "+headerSessionID+" header: initialize first.")
			return
		}
		st, err := g.ownSession(ctx, id, c, t, transportStreamable)
		if err != nil {
			writeHTTPError(w, err)
			return
		}
		if v := r.Header.Get(headerProtocolVersion); v != "" && !slices.Contains(legacyVersions, v) {
			writeRPCError(w, http.StatusBadRequest, mcpgo.INVALID_REQUEST, "Unsupported "+headerProtocolVersion+" "+v+".")
			return
		}
		x.session, x.version = st, st.ProtocolVersion
	}

	var out []*rpcResponse
	for i := range msgs {
		if resp := x.handle(ctx, &msgs[i]); resp != nil {
			out = append(out, resp)
		}
	}
	if init && !x.modern && len(out) == 1 && out[0].Error == nil {
		id := newSessionID()
		if err := g.putSession(ctx, id, x.session); err != nil {
			g.logger().Error("mcp: open session", "err", err)
			writeRPCError(w, http.StatusInternalServerError, mcpgo.INTERNAL_ERROR, "internal error")
			return
		}
		w.Header().Set(headerSessionID, id)
	}
	switch {
	case len(out) == 0:
		w.WriteHeader(http.StatusAccepted)
	case batch:
		writeRPCJSON(w, http.StatusOK, out)
	default:
		writeRPCJSON(w, http.StatusOK, out[0])
	}
}

// requestVersion returns the revision a POST declares: its
// MCP-Protocol-Version header, else the _meta protocolVersion of its
// first message's params ("" for neither).
func requestVersion(r *http.Request, msgs []rpcMessage) string {
	if v := r.Header.Get(headerProtocolVersion); v != "" {
		return v
	}
	var p struct {
		Meta map[string]any `json:"_meta"`
	}
	if len(msgs[0].Params) > 0 && json.Unmarshal(msgs[0].Params, &p) == nil {
		if v, ok := p.Meta[mcpgo.MetaKeyProtocolVersion].(string); ok {
			return v
		}
	}
	return ""
}

func firstID(msgs []rpcMessage) json.RawMessage {
	if len(msgs) > 0 && len(msgs[0].ID) > 0 {
		return msgs[0].ID
	}
	return json.RawMessage("null")
}

func writeRPCJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeRPCError(w http.ResponseWriter, status, code int, msg string) {
	writeRPCJSON(w, status, rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: &rpcError{Code: code, Message: msg}})
}
