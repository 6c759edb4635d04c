package relay

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// pick draws one channel with a fresh picker.
func pick(chs []*aiproxy.Channel, tried []int64) *aiproxy.Channel {
	p := picker{chs: chs, tried: tried}
	return p.next(time.Now())
}

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

// fakeHealth is a Health whose states a test sets.
type fakeHealth struct {
	states  map[int64]aiproxy.HealthState
	probes  map[int64]bool // channels whose probe is free
	reports []int64
}

func (f *fakeHealth) Check(ch int64, _ string, _ time.Time) aiproxy.HealthState { return f.states[ch] }
func (f *fakeHealth) Probe(ch int64, _ string, _ time.Time) bool {
	free := f.probes[ch]
	f.probes[ch] = false
	return free
}
func (f *fakeHealth) Report(ch int64, _ string, _ aiproxy.Outcome, _ aiproxy.BreakerPolicy) {
	f.reports = append(f.reports, ch)
}

var _ Health = (*fakeHealth)(nil)

// Open and parked channels are skipped, a lower tier serves when the top
// one has no healthy channel, a half-open channel goes as the probe once,
// and the soonest time a skipped channel frees up is kept.
func TestPickHealth(t *testing.T) {
	now := time.Now()
	chs := []*aiproxy.Channel{
		{ID: 1, Priority: 10, Weight: 1},
		{ID: 2, Priority: 10, Weight: 1},
		{ID: 3, Priority: 0, Weight: 1},
	}
	h := &fakeHealth{states: map[int64]aiproxy.HealthState{
		1: {Breaker: aiproxy.BreakerOpen, OpenUntil: now.Add(20 * time.Second)},
		2: {ParkedUntil: now.Add(7 * time.Second)},
	}, probes: map[int64]bool{}}
	p := picker{chs: chs, health: h}
	if c := p.next(now); c == nil || c.ID != 3 {
		t.Fatalf("picked %v, want the lower tier's channel 3", c)
	}
	if !p.parkedUntil.Equal(now.Add(7*time.Second)) || !p.openUntil.Equal(now.Add(20*time.Second)) {
		t.Errorf("parked until %v, open until %v", p.parkedUntil, p.openUntil)
	}
	p.tried = append(p.tried, 3)
	if c := p.next(now); c != nil {
		t.Fatalf("picked %d with every channel skipped", c.ID)
	}

	h.states[1] = aiproxy.HealthState{Breaker: aiproxy.BreakerHalfOpen}
	h.probes[1] = true
	p = picker{chs: chs, health: h}
	if c := p.next(now); c == nil || c.ID != 1 {
		t.Fatalf("picked %v, want the half-open channel 1 as the probe", c)
	}
	p = picker{chs: chs, health: h} // the probe is taken now
	if c := p.next(now); c == nil || c.ID != 3 {
		t.Fatalf("picked %v while another request probes channel 1, want 3", c)
	}
}

// The traffic split follows w × (1 − r)²: a chi-square goodness-of-fit
// test over 60,000 draws with a fixed seed, against the critical value
// for p = 0.001 (so that the test fails by chance once in a thousand
// seeds, never with this one, and surely with a formula that differs).
func TestPickDistribution(t *testing.T) {
	chs := []*aiproxy.Channel{
		{ID: 1, Priority: 0, Weight: 10},
		{ID: 2, Priority: 0, Weight: 10},
		{ID: 3, Priority: 0, Weight: 5},
		{ID: 4, Priority: 0, Weight: 1},
	}
	rates := map[int64]float64{1: 0, 2: 0.3, 3: 0.1, 4: 0}
	h := &fakeHealth{states: map[int64]aiproxy.HealthState{}}
	for id, r := range rates {
		h.states[id] = aiproxy.HealthState{ErrorRate: r}
	}
	want := map[int64]float64{}
	total := 0.0
	for _, c := range chs {
		w := float64(c.Weight) * (1 - rates[c.ID]) * (1 - rates[c.ID])
		want[c.ID] = w
		total += w
	}
	const n = 60000
	rnd := rand.New(rand.NewPCG(1, 2))
	got := map[int64]int{}
	for range n {
		p := picker{chs: chs, health: h, rnd: rnd}
		got[p.next(time.Now()).ID]++
	}
	chi2 := 0.0
	for _, c := range chs {
		e := n * want[c.ID] / total
		d := float64(got[c.ID]) - e
		chi2 += d * d / e
	}
	const critical = 16.27 // chi-square, 3 degrees of freedom, p = 0.001
	if chi2 > critical {
		t.Errorf("chi-square %.2f > %.2f: counts %v, expected shares %v of %.2f", chi2, critical, got, want, total)
	}
	// The plain weights (no steering) must be rejected by the same test.
	plain := 0.0
	for _, c := range chs {
		e := n * float64(c.Weight) / 26
		d := float64(got[c.ID]) - e
		plain += d * d / e
	}
	if plain <= critical {
		t.Errorf("the counts fit the unsteered weights too (chi-square %.2f): the test cannot tell", plain)
	}
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
