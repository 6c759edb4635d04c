// Package providers lists the adaptor of every channel type, in one
// explicit map: adding a provider means adding its line here.
package providers

import (
	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/openai"
)

// Adaptors returns a fresh map from channel type to adaptor, with an
// adaptor for every type in aiproxy.ChannelTypes.
func Adaptors() map[aiproxy.ChannelType]relay.Adaptor {
	return map[aiproxy.ChannelType]relay.Adaptor{
		aiproxy.ChannelTypeOpenAI: openai.Adaptor{},
	}
}
