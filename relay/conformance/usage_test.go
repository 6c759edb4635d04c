package conformance_test

import (
	"testing"

	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/relay/relaytest/sdk"
)

// When the provider reports no usage, the gateway counts the answer
// itself, passed through or converted, streamed or not: every one of the
// nine cells logs the same counted completion for the same answer
// (converted streams are metered from their decoded events, passed
// through ones from their chunks).
func TestUsageCountedInEveryCell(t *testing.T) {
	e := newEnv(t)
	for _, stream := range []bool{false, true} {
		completion := map[string]int64{}
		for _, client := range protocols {
			for _, channel := range protocols {
				c := &cell{e: e, client: client, channel: channel}
				a := turn(t, c.session(sdk.Config{Model: relaytest.ModelNoUsage, Stream: stream}), "a b c", 0, nil)
				if a.Text == "" {
					t.Fatalf("%s→%s stream=%v: no answer", client, channel, stream)
				}
				l := c.lastLog(t)
				if l.StatusCode != 200 || !l.UsageCounted || l.Usage.PromptTokens == 0 || l.Usage.CompletionTokens == 0 ||
					l.Usage.TotalTokens != l.Usage.PromptTokens+l.Usage.CompletionTokens {
					t.Errorf("%s→%s stream=%v: status %d usage %+v counted %v", client, channel, stream, l.StatusCode, l.Usage, l.UsageCounted)
				}
				completion[client+"→"+channel] = l.Usage.CompletionTokens
			}
		}
		want := completion[sdk.OpenAI+"→"+sdk.OpenAI]
		for k, v := range completion {
			if v != want {
				t.Errorf("stream=%v: %s counted %d completion tokens, openai→openai %d", stream, k, v, want)
			}
		}
	}
}
