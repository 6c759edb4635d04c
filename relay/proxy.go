package relay

import (
	"net/http"
	"net/url"

	"github.com/aiproxy/aiproxy"
)

// clientFor returns the client for ch's requests: Client, or for a channel
// with a ProxyURL a client of its own per proxy, whose transport is
// Client's (pools, timeouts, HTTP/2) with that proxy; connections are
// pooled per proxy, and per host within it.
func (s *Server) clientFor(ch *aiproxy.Channel) *http.Client {
	if ch.ProxyURL == "" {
		return s.Client
	}
	if c, ok := s.proxied.Load(ch.ProxyURL); ok {
		return c.(*http.Client)
	}
	u, err := url.Parse(ch.ProxyURL)
	if err != nil { // Validate refuses such URLs; never fall back to no proxy
		return &http.Client{Transport: failing{err}}
	}
	var t *http.Transport
	if base, ok := s.Client.Transport.(*http.Transport); ok {
		t = base.Clone()
	} else {
		t = NewTransport(TransportOptions{})
	}
	t.Proxy = http.ProxyURL(u) // http, https, socks5 and socks5h
	c, _ := s.proxied.LoadOrStore(ch.ProxyURL, &http.Client{Transport: t, CheckRedirect: s.Client.CheckRedirect, Timeout: s.Client.Timeout})
	return c.(*http.Client)
}

// failing is a transport that fails every request with err.
type failing struct{ err error }

func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }
