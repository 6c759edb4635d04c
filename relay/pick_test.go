package relay

import (
	"math"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
)

func TestPick(t *testing.T) {
	chs := []*aiproxy.Channel{
		{ID: 1, Priority: 10, Weight: 3},
		{ID: 2, Priority: 10, Weight: 1},
		{ID: 3, Priority: 0, Weight: 100},
	}
	t.Run("weights share the top priority", func(t *testing.T) {
		counts := map[int64]int{}
		const n = 40000
		for range n {
			counts[pick(chs, nil).ID]++
		}
		if counts[3] != 0 {
			t.Fatalf("lower priority channel picked %d times while the top tier was available", counts[3])
		}
		if share := float64(counts[1]) / n; math.Abs(share-0.75) > 0.02 {
			t.Fatalf("channel 1 share = %.3f, want 0.75 (weight 3 of 4)", share)
		}
	})
	t.Run("tried channels are skipped, then lower tiers", func(t *testing.T) {
		for range 100 {
			if got := pick(chs, []int64{1}).ID; got != 2 {
				t.Fatalf("pick after trying 1 = %d, want 2", got)
			}
			if got := pick(chs, []int64{1, 2}).ID; got != 3 {
				t.Fatalf("pick after trying 1 and 2 = %d, want 3", got)
			}
		}
		if c := pick(chs, []int64{1, 2, 3}); c != nil {
			t.Fatalf("pick with every channel tried = %d, want nil", c.ID)
		}
	})
	t.Run("zero weight counts as one", func(t *testing.T) {
		zero := []*aiproxy.Channel{{ID: 1}, {ID: 2}}
		seen := map[int64]bool{}
		for range 200 {
			seen[pick(zero, nil).ID] = true
		}
		if !seen[1] || !seen[2] {
			t.Fatalf("zero-weight channels not both picked: %v", seen)
		}
	})
}

func TestCountUsage(t *testing.T) {
	tests := []struct {
		name       string
		mode       aiproxy.Mode
		body, text string
		prompt     int64
		completion int64
	}{
		// "Hello" is one token in o200k; each message adds 3 + role, and 3 prime the reply.
		{"chat", aiproxy.ModeChat, `{"messages":[{"role":"user","content":"Hello"}]}`, "Hello", 3 + 1 + 1 + 3, 1},
		{"chat parts", aiproxy.ModeChat, `{"messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}]}`, "", 8, 0},
		{"completions", aiproxy.ModeCompletions, `{"prompt":"Hello"}`, "Hello Hello", 1, 2},
		{"embeddings array", aiproxy.ModeEmbeddings, `{"input":["Hello","Hello"]}`, "", 2, 0},
		{"embeddings token ids", aiproxy.ModeEmbeddings, `{"input":[1,2,3]}`, "", 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := countUsage(tt.mode, "gpt-4o", []byte(tt.body), []byte(tt.text))
			if u.PromptTokens != tt.prompt || u.CompletionTokens != tt.completion || u.TotalTokens != tt.prompt+tt.completion {
				t.Fatalf("usage = %+v, want prompt %d completion %d", u, tt.prompt, tt.completion)
			}
		})
	}
}

func TestCountTokensBoundsLongRuns(t *testing.T) {
	c := codec("gpt-4o")
	if n := countTokens(c, "Hello world, how are you?"); n != 7 {
		t.Errorf("short text: %d tokens, want 7", n)
	}
	// A long run without spaces is counted in pieces: about the same count
	// as the whole, without the superlinear cost.
	run := strings.Repeat("abcdefgh", 2048) // 16 KiB
	whole, _ := c.Count(run)
	if n := countTokens(c, run); math.Abs(float64(n)-float64(whole)) > 4 {
		t.Errorf("16 KiB run: %d tokens, whole-text count %d", n, whole)
	}
	huge := strings.Repeat("y", maxExact+4<<10)
	if n := countTokens(c, huge); n < maxExact/maxPiece+1<<10 {
		t.Errorf("%d bytes counted as only %d tokens", len(huge), n)
	}
}
