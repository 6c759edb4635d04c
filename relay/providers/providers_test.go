package providers

import (
	"testing"

	"github.com/aiproxy/aiproxy"
)

// Every channel type an admin can create must have an adaptor, or its
// requests would fail at run time.
func TestEveryChannelTypeHasAnAdaptor(t *testing.T) {
	ads := Adaptors()
	for _, typ := range aiproxy.ChannelTypes {
		if ads[typ] == nil {
			t.Errorf("no adaptor for channel type %q", typ)
		}
	}
}
