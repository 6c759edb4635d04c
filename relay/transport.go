package relay

import (
	"net"
	"net/http"
	"time"
)

// TransportOptions tunes the upstream HTTP transport. Zero fields take the
// defaults documented on each.
type TransportOptions struct {
	// DialTimeout bounds connecting to a provider. 0 means 10s.
	DialTimeout time.Duration
	// HeaderTimeout bounds the wait for a provider's response headers
	// (for non-streaming requests that is most of the answer). 0 means 5m.
	HeaderTimeout time.Duration
	// MaxIdleConnsPerHost is how many idle connections to one provider are
	// kept for reuse. 0 means 1024.
	MaxIdleConnsPerHost int
	// ReadBufferSize and WriteBufferSize size each connection's buffers.
	// 0 means 2 KiB each: half of net/http's default, which matters when
	// thousands of streams are open, and plenty for JSON and SSE traffic
	// (large bodies bypass the buffers).
	ReadBufferSize, WriteBufferSize int
}

// NewTransport returns a transport for upstream requests: connections are
// pooled generously (the default transport keeps only 2 per host, which
// makes a busy gateway reconnect constantly), HTTP/2 is used where the
// provider offers it, and proxies come from the environment.
func NewTransport(o TransportOptions) *http.Transport {
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = 5 * time.Minute
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 1024
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 2 << 10
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = 2 << 10
	}
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.DialTimeout,
		ResponseHeaderTimeout: o.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
		ReadBufferSize:        o.ReadBufferSize,
		WriteBufferSize:       o.WriteBufferSize,
	}
}
