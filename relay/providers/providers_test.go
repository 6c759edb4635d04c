package providers

import (
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Every channel type must have an adaptor and a default base URL, and
// every adaptor's format must be the format of some served protocol, so
// that its answers can be converted for every client.
func TestRegistry(t *testing.T) {
	ps := Providers()
	protocols := map[aiproxy.Protocol]bool{}
	for _, ri := range Ingresses() {
		protocols[ri.Ingress.Protocol()] = true
		if len(ri.Routes) == 0 {
			t.Errorf("ingress %s has no routes", ri.Ingress.Protocol())
		}
	}
	for typ, p := range ps {
		if p.Type != typ || p.Adaptor == nil || p.DefaultBaseURL == "" || p.Title == "" {
			t.Errorf("provider %q is incomplete: %+v", typ, p)
			continue
		}
		if !protocols[p.Adaptor.Format().Protocol()] {
			t.Errorf("provider %q speaks %s, which no ingress serves", typ, p.Adaptor.Format().Protocol())
		}
		if err := ps.Check(&aiproxy.Channel{Type: typ}); err != nil {
			t.Errorf("provider %q refuses its default config: %v", typ, err)
		}
	}
	if err := ps.Check(&aiproxy.Channel{Type: "nope"}); aiproxy.ErrorField(err) != "type" {
		t.Errorf("unknown type: %v", err)
	}
	last := Ingresses()[len(Ingresses())-1]
	if last.Ingress.Protocol() != aiproxy.ProtocolOpenAI {
		t.Error("the OpenAI ingress must come last, to answer what the others do not claim")
	}
	var _ relay.Providers = ps
}
