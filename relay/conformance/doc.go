// Package conformance proves that every client protocol the gateway serves
// reaches every channel type it calls: its tests run the same scenarios
// (text, system prompt, multi-turn, images, parallel tool calls streamed and
// not, reasoning on plain and tool-call turns with its signatures, stop by
// length, provider errors, in-stream errors) for the 3 × 3 combinations of
// OpenAI, Anthropic and Gemini, with each protocol's official Go SDK as the
// client and the fake providers of package relaytest as the upstreams, and
// assert on what the SDK decoded. TestMatrix writes the results as the
// table in docs/conformance.md (go test ./relay/conformance -update).
//
// The package has no code of its own: only tests.
package conformance
