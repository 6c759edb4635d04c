// Package providers lists every channel type and every client protocol the
// gateway serves, in explicit lists: adding a provider or a protocol means
// adding its line here, and touches neither the relay's pipeline nor the
// other providers.
package providers

import (
	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/anthropic"
	"github.com/aiproxy/aiproxy/relay/gemini"
	"github.com/aiproxy/aiproxy/relay/openai"
)

// Providers returns a fresh registry of every channel type.
func Providers() relay.Providers {
	return relay.NewProviders(
		openai.Provider(),
		anthropic.Provider(),
		gemini.Provider(),
	)
}

// Ingresses returns every client protocol with its routes. The OpenAI one
// is last: on the routes several protocols share (GET /v1/models), it
// answers what the others do not claim.
func Ingresses() []relay.RoutedIngress {
	return []relay.RoutedIngress{
		{Ingress: anthropic.Codec{}, Routes: anthropic.Routes()},
		{Ingress: gemini.Codec{}, Routes: gemini.Routes()},
		{Ingress: openai.Codec{}, Routes: openai.Routes()},
	}
}

// Ingress returns the ingress of client protocol p, nil for one the
// gateway does not serve.
func Ingress(p aiproxy.Protocol) relay.Ingress {
	for _, ri := range Ingresses() {
		if ri.Ingress.Protocol() == p {
			return ri.Ingress
		}
	}
	return nil
}
