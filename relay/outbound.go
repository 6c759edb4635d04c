package relay

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrPrivateAddress refuses an outbound connection, made on a user's
// behalf (an alert sink, an OpenAPI tool, a fetch-like MCP server, web
// search), to an address that is not public: loopback, private,
// link-local (cloud metadata services included), CGNAT, multicast or
// unspecified.
var ErrPrivateAddress = errors.New("the address is loopback, private, link-local or otherwise internal, and private networks are not allowed for this target")

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// InternalAddr reports whether ip is not a public unicast address (see
// ErrPrivateAddress); an invalid address is internal.
func InternalAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || cgnat.Contains(ip)
}

// OutboundDialer returns a dialer that, unless allowPrivate, refuses with
// ErrPrivateAddress to connect to an internal address (InternalAddr). The
// check runs on the address actually dialled, after DNS resolution, so a
// name resolving to an internal address (DNS rebinding included) is
// refused too.
func OutboundDialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || InternalAddr(ap.Addr()) {
				return ErrPrivateAddress
			}
			return nil
		}
	}
	return d
}

// NewOutboundClient returns an HTTP client for requests made on a user's
// behalf: its connections go through OutboundDialer(allowPrivate) (every
// redirect's too), no proxy from the environment is used (it would hide
// the address dialled), and each request is bounded by timeout (0: none;
// bound it with the request's context then).
func NewOutboundClient(allowPrivate bool, timeout time.Duration) *http.Client {
	d := OutboundDialer(allowPrivate)
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		},
	}
}
