package jsontext

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchText is a chat request of about 2 KiB, with escapes in some of
// its strings.
var benchText = []byte(`{"model":"gpt-4o-mini","stream":true,"temperature":0.2,"max_tokens":1024,"messages":[` +
	`{"role":"system","content":"You are a careful assistant for a travel agency. Answer in the user's language, keep answers short, and always check the weather with the tool before recommending outdoor activities. Never invent prices: use the pricing tool."},` +
	`{"role":"user","content":"I am going to Lisbon next weekend with two kids.\nWhat should we do on Saturday if the weather is good, and what if it rains?"},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_w1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Lisbon\",\"date\":\"2025-06-14\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_w1","content":"{\"forecast\":\"sunny\",\"high_c\":27,\"low_c\":18,\"rain_probability\":0.1}"},` +
	`{"role":"assistant","content":"Saturday looks sunny (27°C): Belem in the morning, the tram 28 ride, and the aquarium in the afternoon."},` +
	`{"role":"user","content":"Great. And if it does rain after all, which indoor places would you suggest near the aquarium?"}],` +
	`"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather forecast for a city on a date.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"date":{"type":"string","description":"ISO date"}},"required":["city","date"]}}},` +
	`{"type":"function","function":{"name":"get_price","description":"Ticket price of a venue.","parameters":{"type":"object","properties":{"venue":{"type":"string"},"ticket":{"type":"string","enum":["adult","child","family"]}},"required":["venue","ticket"]}}}]}`)

// readMessages reads the roles and contents of benchText's messages, and
// skips the rest.
func readMessages(s *Scanner) int {
	n := 0
	s.Open('{')
	for i := 0; s.More('}', &i); {
		if s.Key() != "messages" || !s.Enter('[') {
			s.Skip()
			continue
		}
		for j := 0; s.More(']', &j); {
			if !s.Enter('{') {
				continue
			}
			for k := 0; s.More('}', &k); {
				switch s.Key() {
				case "role", "content":
					n += len(s.Text())
				default:
					s.Skip()
				}
			}
		}
	}
	s.End()
	return n
}

// BenchmarkScan reads a 2 KiB request with the scanner.
func BenchmarkScan(b *testing.B) {
	b.SetBytes(int64(len(benchText)))
	b.ReportAllocs()
	var s Scanner
	for b.Loop() {
		s.Reset(benchText)
		readMessages(&s)
	}
}

// BenchmarkScanJSON reads the same with encoding/json, for comparison.
func BenchmarkScanJSON(b *testing.B) {
	b.SetBytes(int64(len(benchText)))
	b.ReportAllocs()
	for b.Loop() {
		var r struct {
			Messages []struct {
				Role    string  `json:"role"`
				Content *string `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(benchText, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSkip checks a 2 KiB request without reading it, and passes
// over it trusted.
func BenchmarkSkip(b *testing.B) {
	for _, trusted := range []bool{false, true} {
		name := "checked"
		if trusted {
			name = "trusted"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(benchText)))
			b.ReportAllocs()
			var s Scanner
			for b.Loop() {
				s.Reset(benchText)
				if trusted {
					s.Trust()
				}
				s.Skip()
				if !s.End() {
					b.Fatal("not valid")
				}
			}
		})
	}
}

// BenchmarkMembers reads the members of a 2 KiB request as raw values,
// checking them.
func BenchmarkMembers(b *testing.B) {
	b.SetBytes(int64(len(benchText)))
	b.ReportAllocs()
	var s Scanner
	for b.Loop() {
		s.Reset(benchText)
		s.Open('{')
		for n := 0; ; {
			if _, _, ok := s.Member(&n); !ok {
				break
			}
		}
	}
}

// BenchmarkAppendString writes plain text, text with escapes and text
// that is not ASCII.
func BenchmarkAppendString(b *testing.B) {
	for _, tt := range []struct{ name, s string }{
		{"plain", strings.Repeat("Saturday looks sunny: Belem in the morning, the tram 28 ride. ", 8)},
		{"escapes", strings.Repeat("line \"one\"\n\tline two\\ ", 16)},
		{"unicode", strings.Repeat("Sábado soleado: 里斯本 🎉 ", 16)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(tt.s)))
			b.ReportAllocs()
			buf := make([]byte, 0, 4*len(tt.s))
			for b.Loop() {
				buf = AppendString(buf[:0], tt.s)
			}
		})
	}
}

// BenchmarkUnquote reads a raw string with escapes.
func BenchmarkUnquote(b *testing.B) {
	raw := `"` + strings.Repeat(`line \"one\"\n\tline two\\ `, 16) + `"`
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	buf := make([]byte, 0, len(raw))
	for b.Loop() {
		buf = AppendUnquote(buf[:0], raw)
	}
}

// benchChunk is a chat.completion.chunk of an OpenAI stream: short names
// and strings, as streams send them by the hundred.
var benchChunk = []byte(`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":"museum "},"logprobs":null,"finish_reason":null}],"usage":null}`)

// BenchmarkChunk reads the members of a stream chunk a decoder reads.
func BenchmarkChunk(b *testing.B) {
	b.SetBytes(int64(len(benchChunk)))
	b.ReportAllocs()
	var s Scanner
	for b.Loop() {
		s.Reset(benchChunk)
		s.Open('{')
		for n := 0; s.More('}', &n); {
			switch s.Key() {
			case "id", "model":
				_ = s.Text()
			case "created":
				_, _ = s.Int()
			case "choices":
				if !s.Enter('[') {
					continue
				}
				for m := 0; s.More(']', &m); {
					if !s.Enter('{') {
						continue
					}
					for k := 0; s.More('}', &k); {
						switch s.Key() {
						case "index":
							_, _ = s.Int()
						case "finish_reason":
							_ = s.Text()
						case "delta":
							if !s.Enter('{') {
								continue
							}
							for d := 0; s.More('}', &d); {
								if s.Key() == "content" {
									_ = s.Text()
								} else {
									s.Skip()
								}
							}
						default:
							s.Skip()
						}
					}
				}
			default:
				s.Skip()
			}
		}
		if !s.End() {
			b.Fatal("not valid")
		}
	}
}
