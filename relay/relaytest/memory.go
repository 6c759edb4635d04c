package relaytest

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Memory holds tokens, channels, model configs and logs in memory: the
// relay's Keys, Catalog and LogRecorder, for tests of the relay and of
// every package built on it. It is safe for concurrent use; the values it
// hands out are the ones it was given, so a test that changes a token or
// channel it added does so before the requests that should see it.
type Memory struct {
	mu        sync.Mutex
	keys      map[string]keyEntry
	channels  []*aiproxy.Channel
	configs   map[string]*aiproxy.ModelConfig
	overrides map[[2]string]*aiproxy.GroupModelConfig
	catalogue *aiproxy.Catalogue
	charges   []aiproxy.Charge
	logs      []*aiproxy.Log
	got       chan struct{}
	discard   bool
}

type keyEntry struct {
	token *aiproxy.Token
	group *aiproxy.Group
}

// NewMemory returns an empty Memory that keeps every log recorded.
func NewMemory() *Memory {
	return &Memory{keys: map[string]keyEntry{}, configs: map[string]*aiproxy.ModelConfig{}, overrides: map[[2]string]*aiproxy.GroupModelConfig{}, got: make(chan struct{}, 1024)}
}

// DiscardLogs makes Record keep nothing (for benchmarks).
func (m *Memory) DiscardLogs() {
	m.mu.Lock()
	m.discard = true
	m.mu.Unlock()
}

// AddToken makes key open t, of group g (nil for none).
func (m *Memory) AddToken(key string, t *aiproxy.Token, g *aiproxy.Group) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[key] = keyEntry{t, g}
}

// SetChannels replaces every channel.
func (m *Memory) SetChannels(chs ...*aiproxy.Channel) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.channels = slices.Clone(chs)
}

// AddChannel adds a channel.
func (m *Memory) AddChannel(ch *aiproxy.Channel) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.channels = append(m.channels, ch)
}

// SetModelConfig adds or replaces a model's config.
func (m *Memory) SetModelConfig(mc *aiproxy.ModelConfig) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.configs[mc.Model] = mc
}

// TokenByKey implements relay.Keys.
func (m *Memory) TokenByKey(_ context.Context, key string) (*aiproxy.Token, *aiproxy.Group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.keys[key]
	if !ok {
		return nil, nil, aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "invalid API key")
	}
	return e.token, e.group, nil
}

// Channels implements relay.Catalog: the enabled channels of model,
// highest priority first.
func (m *Memory) Channels(model string) []*aiproxy.Channel {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*aiproxy.Channel
	for _, c := range m.channels {
		if c.Enabled && c.HasModel(model) {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority > out[j].Priority })
	return out
}

// SetGroupModelConfig adds or replaces a group's override of a model.
func (m *Memory) SetGroupModelConfig(o *aiproxy.GroupModelConfig) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.overrides[[2]string{o.GroupID, o.Model}] = o
}

// SetCatalogue makes c the price catalogue models without a price of
// their own fall back to; nil (the start) means none.
func (m *Memory) SetCatalogue(c *aiproxy.Catalogue) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catalogue = c
}

// Effective implements relay.Catalog.
func (m *Memory) Effective(g *aiproxy.Group, model string) aiproxy.EffectiveModel {
	m.mu.Lock()
	defer m.mu.Unlock()
	var o *aiproxy.GroupModelConfig
	if g != nil {
		o = m.overrides[[2]string{g.ID, model}]
	}
	ce, _ := m.catalogue.Lookup(model)
	return aiproxy.Effective(model, g, m.configs[model], o, ce)
}

// Charge implements aiproxy.Charger: it keeps every charge.
func (m *Memory) Charge(c aiproxy.Charge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.charges = append(m.charges, c)
}

// Charges returns the charges so far.
func (m *Memory) Charges() []aiproxy.Charge {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.charges)
}

// Models implements relay.Catalog.
func (m *Memory) Models() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, c := range m.channels {
		for _, mo := range c.Models {
			if c.Enabled && !seen[mo] {
				seen[mo] = true
				out = append(out, mo)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Record implements aiproxy.LogRecorder.
func (m *Memory) Record(l *aiproxy.Log) {
	m.mu.Lock()
	if m.discard {
		m.mu.Unlock()
		return
	}
	m.logs = append(m.logs, l)
	m.mu.Unlock()
	select {
	case m.got <- struct{}{}:
	default:
	}
}

// Logs returns the logs recorded so far, oldest first.
func (m *Memory) Logs() []*aiproxy.Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.logs)
}

// NextLog waits for the next log recorded since the last NextLog (or
// since the start) and returns it; it fails tb after 10 seconds.
func (m *Memory) NextLog(tb testing.TB) *aiproxy.Log {
	tb.Helper()
	select {
	case <-m.got:
	case <-time.After(10 * time.Second):
		tb.Fatal("no log recorded")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[len(m.logs)-1]
}

// NoLog fails tb when a log is recorded within d.
func (m *Memory) NoLog(tb testing.TB, d time.Duration) {
	tb.Helper()
	select {
	case <-m.got:
		m.mu.Lock()
		l := m.logs[len(m.logs)-1]
		m.mu.Unlock()
		tb.Fatalf("a log was recorded: %+v", l)
	case <-time.After(d):
	}
}
