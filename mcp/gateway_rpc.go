package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/tidwall/sjson"

	"github.com/aiproxy/aiproxy"
)

// gatewayInfo is how the gateway introduces itself.
var gatewayInfo = mcpgo.Implementation{Name: "aiproxy", Version: "1"}

// legacyVersions are the revisions negotiated through initialize, newest
// first; a client asking for another one (2026-07-28 included, which has
// no initialize) gets the first.
var legacyVersions = []string{
	mcpgo.ProtocolVersion20251125,
	mcpgo.ProtocolVersion20250618,
	mcpgo.ProtocolVersion20250326,
	mcpgo.ProtocolVersion20241105,
}

// rpcMessage is a JSON-RPC message from a client: a request (ID set), a
// notification (no ID), or a response to a request of the server's
// (Result or Error set; the gateway sends none, so these are ignored).
type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

func (m *rpcMessage) isRequest() bool {
	return len(m.ID) > 0 && string(m.ID) != "null" && m.Method != ""
}

// rpcResponse is the gateway's answer to a request.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// readMessages reads the JSON-RPC message, or batch of them, of r's body.
// It returns EINVALID for a body that is neither, ETOOLARGE for one over
// the limit.
func (g *Gateway) readMessages(r *http.Request) (msgs []rpcMessage, batch bool, err error) {
	limit := g.MaxBodyBytes
	if limit <= 0 {
		limit = 4 << 20
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, aiproxy.Errorf(aiproxy.EINVALID, "Could not read the request body: %v.", err)
	}
	if int64(len(body)) > limit {
		return nil, false, aiproxy.Errorf(aiproxy.ETOOLARGE, "The request body is larger than the limit of %d bytes.", limit)
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		batch = true
		err = json.Unmarshal(body, &msgs)
	} else {
		var m rpcMessage
		err = json.Unmarshal(body, &m)
		msgs = []rpcMessage{m}
	}
	if err != nil || len(msgs) == 0 {
		return nil, false, aiproxy.Errorf(aiproxy.EINVALID, "The body is not a JSON-RPC message.")
	}
	for _, m := range msgs {
		if m.JSONRPC != "2.0" || (m.Method == "" && m.Result == nil && m.Error == nil) {
			return nil, false, aiproxy.Errorf(aiproxy.EINVALID, "The body is not a JSON-RPC 2.0 message.")
		}
	}
	return msgs, batch, nil
}

// exchange is what serving one request's messages needs: who sent it, to
// which endpoint, in which session.
type exchange struct {
	g       *Gateway
	c       *client
	t       *target
	version string // the revision in force
	modern  bool   // 2026-07-28 or later: no session, state in each request
	session *SessionState
}

// handle serves one message and returns the response, or nil for a
// notification or a response.
func (x *exchange) handle(ctx context.Context, m *rpcMessage) *rpcResponse {
	if !m.isRequest() {
		return nil
	}
	var result any
	var rerr *rpcError
	switch m.Method {
	case "initialize":
		result, rerr = x.initialize(m.Params)
	case "server/discover":
		if !x.modern {
			rerr = &rpcError{Code: mcpgo.METHOD_NOT_FOUND, Message: "Method not found: server/discover needs protocol version " + mcpgo.ProtocolVersion20260728 + " over Streamable HTTP."}
			break
		}
		res := mcpgo.DiscoverResult{SupportedVersions: mcpgo.ValidProtocolVersions, Capabilities: gatewayCapabilities()}
		meta := &mcpgo.Meta{}
		meta.SetMetaField(mcpgo.MetaKeyServerInfo, gatewayInfo)
		res.Meta = meta
		result = res
	case "ping":
		result = struct{}{}
	case "tools/list":
		result, rerr = x.listTools(ctx)
	case "tools/call":
		result, rerr = x.callTool(ctx, m.Params)
	default:
		rerr = &rpcError{Code: mcpgo.METHOD_NOT_FOUND, Message: "Method not found: " + m.Method + "."}
	}
	resp := &rpcResponse{JSONRPC: "2.0", ID: m.ID}
	if rerr != nil {
		resp.Error = rerr
		return resp
	}
	b, err := json.Marshal(result)
	if err != nil {
		x.g.logger().Error("mcp: encode result", "method", m.Method, "err", err)
		resp.Error = &rpcError{Code: mcpgo.INTERNAL_ERROR, Message: "internal error"}
		return resp
	}
	if x.modern && len(b) > 1 && b[0] == '{' {
		// 2026-07-28 results say that they are complete.
		b, _ = sjson.SetBytes(b, "resultType", string(mcpgo.ResultTypeComplete))
	}
	resp.Result = b
	return resp
}

// gatewayCapabilities are what the gateway offers: tools (whose list it
// does not announce changes of).
func gatewayCapabilities() mcpgo.ServerCapabilities {
	return mcpgo.ServerCapabilities{Tools: &struct {
		ListChanged bool `json:"listChanged,omitempty"`
	}{}}
}

// initialize negotiates the revision: the client's when the gateway has
// it, else the newest one initialize can negotiate.
func (x *exchange) initialize(params json.RawMessage) (any, *rpcError) {
	var p struct {
		ProtocolVersion string               `json:"protocolVersion"`
		ClientInfo      mcpgo.Implementation `json:"clientInfo"`
	}
	if len(params) > 0 {
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, &rpcError{Code: mcpgo.INVALID_PARAMS, Message: "Invalid initialize params."}
		}
	}
	x.version = legacyVersions[0]
	if slices.Contains(legacyVersions, p.ProtocolVersion) {
		x.version = p.ProtocolVersion
	}
	if x.session != nil {
		x.session.ProtocolVersion = x.version
		x.session.ClientInfo = p.ClientInfo
	}
	return mcpgo.InitializeResult{
		ProtocolVersion: x.version,
		Capabilities:    gatewayCapabilities(),
		ServerInfo:      gatewayInfo,
		Instructions:    x.instructions(),
	}, nil
}

// instructions are initialize's: how the aggregate endpoint names its
// tools, or the server's description.
func (x *exchange) instructions() string {
	if x.t.kind == endpointAggregate {
		return "The tools of every MCP server this API key may use, named <server>" + AggregateSeparator + "<tool>."
	}
	if len(x.t.servers) == 1 {
		return x.t.servers[0].srv.Description
	}
	return ""
}

// listTools lists the tools of the endpoint's servers the token may
// call; on the aggregate endpoint, named <server>__<tool>, and leaving
// out (and logging) the servers whose tools cannot be listed now.
func (x *exchange) listTools(ctx context.Context) (any, *rpcError) {
	tools := []mcpgo.Tool{}
	for _, h := range x.t.servers {
		ts, release, err := x.g.toolset(ctx, h, x.c.GroupID)
		var list []mcpgo.Tool
		if err == nil {
			list, err = ts.Tools(ctx)
		}
		release()
		if err != nil {
			if x.t.kind != endpointAggregate {
				return nil, toolsetError(err)
			}
			x.g.logger().Warn("mcp: list tools", "server", h.srv.Name, "err", err)
			continue
		}
		for _, t := range list {
			if !x.c.Token.AllowsMCPTool(h.srv.Name, t.Name) {
				continue
			}
			if x.t.kind == endpointAggregate {
				t.Name = h.srv.Name + AggregateSeparator + t.Name
			}
			tools = append(tools, t)
		}
	}
	return mcpgo.ListToolsResult{Tools: tools}, nil
}

// toolsetError is the JSON-RPC error of a toolset that failed.
func toolsetError(err error) *rpcError {
	code := mcpgo.INTERNAL_ERROR
	switch aiproxy.ErrorCode(err) {
	case aiproxy.EINVALID, aiproxy.ENOTFOUND:
		code = mcpgo.INVALID_PARAMS
	}
	return &rpcError{Code: code, Message: aiproxy.ErrorMessage(err), Data: map[string]string{"code": aiproxy.ErrorCode(err)}}
}

// resolveTool finds the server and tool a call's name means.
func (x *exchange) resolveTool(name string) (hosted, string, bool) {
	if x.t.kind != endpointAggregate {
		return x.t.servers[0], name, len(x.t.servers) == 1
	}
	var best hosted
	found := false
	for _, h := range x.t.servers {
		p := h.srv.Name + AggregateSeparator
		if strings.HasPrefix(name, p) && len(name) > len(p) && (!found || len(h.srv.Name) > len(best.srv.Name)) {
			best, found = h, true
		}
	}
	if !found {
		return hosted{}, "", false
	}
	return best, name[len(best.srv.Name)+len(AggregateSeparator):], true
}
