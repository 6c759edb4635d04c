package relay

import (
	"net/http"
	"net/url"

	"github.com/aiproxy/aiproxy"
)

// channelClient is the client of one channel, for the proxy it was made
// with.
type channelClient struct {
	proxy  string
	client *http.Client
}

// clientFor returns the client for ch's requests: a client of the
// channel's own, whose transport is Client's (timeouts, buffers, HTTP/2)
// cloned, so that each channel has its own connection pool (a slow or
// stuck provider account cannot take the connections of another on the
// same host), with the channel's ProxyURL when it has one. A channel whose
// proxy changed gets a new client; the old one's idle connections are
// closed. When Client's transport is not an *http.Transport (a test's),
// Client serves every channel without a proxy.
func (s *Server) clientFor(ch *aiproxy.Channel) *http.Client {
	if c, ok := s.clients.Load(ch.ID); ok {
		if cc := c.(*channelClient); cc.proxy == ch.ProxyURL {
			return cc.client
		}
	}
	base, ok := s.Client.Transport.(*http.Transport)
	if !ok && ch.ProxyURL == "" {
		return s.Client
	}
	var t *http.Transport
	if ok {
		t = base.Clone()
	} else {
		t = NewTransport(TransportOptions{})
	}
	if ch.ProxyURL != "" {
		u, err := url.Parse(ch.ProxyURL)
		if err != nil { // Validate refuses such URLs; never fall back to no proxy
			return &http.Client{Transport: failing{err}}
		}
		t.Proxy = http.ProxyURL(u) // http, https, socks5 and socks5h
	}
	cc := &channelClient{proxy: ch.ProxyURL, client: &http.Client{Transport: t, CheckRedirect: s.Client.CheckRedirect, Timeout: s.Client.Timeout}}
	if actual, loaded := s.clients.LoadOrStore(ch.ID, cc); !loaded {
		return cc.client
	} else if a := actual.(*channelClient); a.proxy == ch.ProxyURL {
		return a.client // another request made it first
	}
	if old, loaded := s.clients.Swap(ch.ID, cc); loaded {
		old.(*channelClient).client.CloseIdleConnections()
	}
	return cc.client
}

// failing is a transport that fails every request with err.
type failing struct{ err error }

func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }
