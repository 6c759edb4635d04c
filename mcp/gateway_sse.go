package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// sseStream serves GET <endpoint>/sse, the stream of the legacy HTTP+SSE
// transport (2024-11-05). It opens a session, sends the endpoint event
// naming <endpoint>/message?sessionId=<id> (with the key again when it
// came as ?key=, for clients that cannot set headers), and then every
// message SessionStore.Deliver sends to the session, from whichever
// replica served the POST. The session lives as long as the stream; its
// state's TTL is refreshed while it is open, and it is deleted when the
// stream ends.
func (g *Gateway) sseStream(k endpointKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			http.Error(w, "mcp: method not allowed", http.StatusMethodNotAllowed)
			return
		}
		c, t, ok := g.front(w, r, k)
		if !ok {
			return
		}
		fl, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "mcp: streaming unsupported", http.StatusInternalServerError)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		id := newSessionID()
		st := &SessionState{Transport: transportSSE, Path: t.path, GroupID: c.GroupID, TokenID: c.Token.ID, Created: c.now}
		if err := g.putSession(ctx, id, st); err != nil {
			g.logger().Error("mcp: open sse session", "err", err)
			writeHTTPError(w, err)
			return
		}
		defer g.Sessions.DeleteSession(context.WithoutCancel(ctx), id)
		msgs, err := g.Sessions.Listen(ctx, id)
		if err != nil {
			g.logger().Error("mcp: listen to sse session", "err", err)
			writeHTTPError(w, err)
			return
		}
		endpoint := t.path + "/message?sessionId=" + id
		if c.keyQuery {
			endpoint += "&key=" + url.QueryEscape(c.key)
		}
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("Connection", "keep-alive")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "event: endpoint\ndata: %s\n\n", endpoint)
		fl.Flush()

		keep := g.KeepAlive
		if keep <= 0 {
			keep = 25 * time.Second
		}
		ping := time.NewTicker(keep)
		defer ping.Stop()
		refresh := time.NewTicker(g.sessionTTL() / 3)
		defer refresh.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-g.closed:
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				if _, err := fmt.Fprintf(w, "event: message\ndata: %s\n\n", m); err != nil {
					return
				}
				fl.Flush()
			case <-ping.C:
				if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
					return
				}
				fl.Flush()
			case <-refresh.C:
				if _, err := g.Sessions.TouchSession(ctx, id, g.sessionTTL()); err != nil {
					g.logger().Warn("mcp: refresh sse session", "err", err)
				}
			}
		}
	}
}

// sseMessage serves POST <endpoint>/message?sessionId=, a message of a
// legacy SSE session, on whichever replica it reaches: the message is
// served here and its answer delivered to the session's stream, wherever
// that is. It answers 202 once the answer is delivered; 404 when the
// session is unknown or its stream gone.
func (g *Gateway) sseMessage(k endpointKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "mcp: method not allowed", http.StatusMethodNotAllowed)
			return
		}
		c, t, ok := g.front(w, r, k)
		if !ok {
			return
		}
		ctx := r.Context()
		id := r.URL.Query().Get("sessionId")
		if id == "" {
			writeHTTPError(w, aiproxy.Errorf(aiproxy.EINVALID, "Missing the sessionId parameter."))
			return
		}
		st, err := g.ownSession(ctx, id, c, t, transportSSE)
		if err != nil {
			writeHTTPError(w, err)
			return
		}
		msgs, _, err := g.readMessages(r)
		if err != nil {
			writeRPCError(w, relay.HTTPStatus(err), mcpgo.PARSE_ERROR, aiproxy.ErrorMessage(err))
			return
		}
		x := &exchange{g: g, c: c, t: t, session: st, version: st.ProtocolVersion}
		for i := range msgs {
			resp := x.handle(ctx, &msgs[i])
			if msgs[i].Method == "initialize" && resp != nil && resp.Error == nil {
				if err := g.putSession(ctx, id, st); err != nil {
					g.logger().Error("mcp: update sse session", "err", err)
				}
			}
			if resp == nil {
				continue
			}
			b, _ := json.Marshal(resp)
			if err := g.Sessions.Deliver(ctx, id, b); aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
				writeHTTPError(w, aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "session_not_found", "The session's stream is closed."))
				return
			} else if err != nil {
				g.logger().Error("mcp: deliver to sse session", "err", err)
				writeHTTPError(w, aiproxy.Errorf(aiproxy.EUNAVAILABLE, "The answer could not be sent on the session's stream; try again."))
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("Accepted"))
	}
}
