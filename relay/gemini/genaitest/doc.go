// Package genaitest tests package gemini with the official Google Gen AI
// SDK (google.golang.org/genai) as the client: through the relay to a
// Gemini channel, against the Codec's conversions, and reading every
// answer and stream chunk the encoders write. It holds no code of its own;
// the tests live apart from package gemini so that its fuzz tests are not
// slowed by the SDK's coverage counters.
package genaitest
