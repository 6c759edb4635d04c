package mcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// SessionStore keeps the gateway's MCP sessions where every replica sees
// them: store.MemoryMCPSessions for one instance, store.RedisMCPSessions
// for several. States are opaque bytes to it (a SessionState as JSON).
type SessionStore interface {
	// PutSession stores state under id for ttl, replacing what was there.
	PutSession(ctx context.Context, id string, state []byte, ttl time.Duration) error
	// TouchSession returns the state of id and makes it live ttl from
	// now; ENOTFOUND when there is none (never stored, expired, deleted).
	TouchSession(ctx context.Context, id string, ttl time.Duration) ([]byte, error)
	// DeleteSession removes the state of id, everywhere; a missing one
	// is not an error.
	DeleteSession(ctx context.Context, id string) error
	// Listen returns the messages Deliver sends to id, on any replica,
	// until ctx is done, when the channel is closed: how a legacy SSE
	// stream held by one replica receives the answers to messages posted
	// to another.
	Listen(ctx context.Context, id string) (<-chan []byte, error)
	// Deliver sends msg to the listener of id; ENOTFOUND when none
	// listens.
	Deliver(ctx context.Context, id string, msg []byte) error
}

// Session transports.
const (
	transportStreamable = "streamable"
	transportSSE        = "sse"
)

// SessionState is what the gateway keeps of an MCP session between its
// requests, in the SessionStore, so that any replica can serve them: what
// initialize negotiated and who opened the session. Requests of a
// session must come with a key of the same token; its group's rules and
// the token's are checked again on every request.
type SessionState struct {
	// Transport is "streamable" or "sse".
	Transport string `json:"t"`
	// Path is the endpoint the session was opened on, such as
	// /mcp/public/3; its requests must be to the same one.
	Path string `json:"p"`
	// ProtocolVersion is the revision initialize negotiated ("" until
	// initialize, for an SSE session).
	ProtocolVersion string               `json:"v,omitempty"`
	ClientInfo      mcpgo.Implementation `json:"c"`
	// GroupID and TokenID are the caller's.
	GroupID string    `json:"g"`
	TokenID int64     `json:"k"`
	Created time.Time `json:"at"`
}

// newSessionID returns a fresh session id: 128 random bits, in hex
// (visible ASCII, as the spec requires).
func newSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// putSession stores st under id.
func (g *Gateway) putSession(ctx context.Context, id string, st *SessionState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("mcp: encode session: %w", err)
	}
	if err := g.Sessions.PutSession(ctx, id, b, g.sessionTTL()); err != nil {
		return fmt.Errorf("mcp: store session: %w", err)
	}
	return nil
}

// session returns the state of id, refreshing its TTL; ENOTFOUND when
// there is none.
func (g *Gateway) session(ctx context.Context, id string) (*SessionState, error) {
	b, err := g.Sessions.TouchSession(ctx, id, g.sessionTTL())
	if err != nil {
		return nil, err
	}
	var st SessionState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("mcp: decode session: %w", err)
	}
	return &st, nil
}

func (g *Gateway) sessionTTL() time.Duration {
	if g.SessionTTL > 0 {
		return g.SessionTTL
	}
	return 30 * time.Minute
}
