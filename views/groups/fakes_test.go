package groups_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
)

// services holds groups, tokens and balance entries in memory, with the
// rules of the store that the pages depend on: validation, ENOTFOUND,
// ECONFLICT, keys stored as hashes.
type services struct {
	mu      sync.Mutex
	groups  map[string]*aiproxy.Group
	tokens  map[int64]*aiproxy.Token
	entries []*aiproxy.BalanceEntry
	nextID  int64
	// groupIDs and tokenIDs are the ids in order, nil after a change.
	groupIDs []string
	tokenIDs []int64
}

var (
	_ aiproxy.GroupService   = (*services)(nil)
	_ aiproxy.TokenService   = (*services)(nil)
	_ aiproxy.BillingService = (*services)(nil)
)

func newServices() *services {
	return &services{groups: map[string]*aiproxy.Group{}, tokens: map[int64]*aiproxy.Token{}}
}

func notFound(what string) error { return aiproxy.Errorf(aiproxy.ENOTFOUND, "%s not found", what) }

func (s *services) Group(_ context.Context, id string) (*aiproxy.Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok {
		return nil, notFound("group")
	}
	c := *g
	return &c, nil
}

func (s *services) Groups(context.Context) ([]*aiproxy.Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groupIDs == nil {
		for id := range s.groups {
			s.groupIDs = append(s.groupIDs, id)
		}
		slices.Sort(s.groupIDs)
	}
	out := make([]*aiproxy.Group, 0, len(s.groups))
	for _, id := range s.groupIDs {
		c := *s.groups[id]
		out = append(out, &c)
	}
	return out, nil
}

func (s *services) CreateGroup(_ context.Context, g *aiproxy.Group) error {
	if err := g.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[g.ID]; ok {
		return &aiproxy.Error{Code: aiproxy.ECONFLICT, Field: "id", Message: "group " + g.ID + " already exists"}
	}
	c := *g
	s.groups[g.ID], s.groupIDs = &c, nil
	return nil
}

func (s *services) UpdateGroup(_ context.Context, id string, upd aiproxy.GroupUpdate) (*aiproxy.Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok {
		return nil, notFound("group")
	}
	c := *g
	upd.Apply(&c)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s.groups[id] = &c
	out := c
	return &out, nil
}

func (s *services) DeleteGroup(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[id]; !ok {
		return notFound("group")
	}
	delete(s.groups, id)
	for tid, t := range s.tokens {
		if t.GroupID == id {
			delete(s.tokens, tid)
		}
	}
	s.groupIDs, s.tokenIDs = nil, nil
	return nil
}

func (s *services) Token(_ context.Context, id int64) (*aiproxy.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[id]
	if !ok {
		return nil, notFound("token")
	}
	c := *t
	return &c, nil
}

func (s *services) Tokens(_ context.Context, groupID string) ([]*aiproxy.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokenIDs == nil {
		for id := range s.tokens {
			s.tokenIDs = append(s.tokenIDs, id)
		}
		slices.Sort(s.tokenIDs)
	}
	out := []*aiproxy.Token{}
	for _, id := range s.tokenIDs {
		if t := s.tokens[id]; groupID == "" || t.GroupID == groupID {
			c := *t
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *services) CreateToken(_ context.Context, t *aiproxy.Token) (string, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[t.GroupID]; !ok {
		return "", &aiproxy.Error{Code: aiproxy.ENOTFOUND, Field: "group", Message: "group not found"}
	}
	key := aiproxy.NewTokenKey()
	s.nextID++
	t.ID, t.KeyHash, t.Prefix = s.nextID, aiproxy.HashKey(key), aiproxy.KeyPrefix(key)
	t.CreatedAt = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	c := *t
	s.tokens[t.ID], s.tokenIDs = &c, nil
	return key, nil
}

func (s *services) UpdateToken(_ context.Context, id int64, upd aiproxy.TokenUpdate) (*aiproxy.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[id]
	if !ok {
		return nil, notFound("token")
	}
	c := *t
	upd.Apply(&c)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s.tokens[id] = &c
	out := c
	return &out, nil
}

func (s *services) DeleteToken(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens[id]; !ok {
		return notFound("token")
	}
	delete(s.tokens, id)
	s.tokenIDs = nil
	return nil
}

func (s *services) ChangeBalance(_ context.Context, groupID, kind string, amount aiproxy.Amount, reason, actor string) (*aiproxy.BalanceEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[groupID]
	switch {
	case !ok:
		return nil, notFound("group")
	case kind == aiproxy.BalanceTopUp && amount <= 0:
		return nil, aiproxy.FieldErrorf("amount", "a top-up must be positive")
	case amount == 0:
		return nil, aiproxy.FieldErrorf("amount", "amount must not be zero")
	case strings.TrimSpace(reason) == "":
		return nil, aiproxy.FieldErrorf("reason", "reason is required")
	}
	g.Credit += amount
	s.nextID++
	e := &aiproxy.BalanceEntry{ID: s.nextID, GroupID: groupID, Amount: amount, Balance: g.Balance(), Kind: kind,
		Reason: reason, Actor: actor, CreatedAt: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}
	s.entries = append(s.entries, e)
	return e, nil
}

func (s *services) BalanceEntries(_ context.Context, groupID string, before int64, limit int) ([]*aiproxy.BalanceEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit == 0 {
		limit = 50
	}
	var out []*aiproxy.BalanceEntry
	for i := len(s.entries) - 1; i >= 0 && len(out) < limit; i-- {
		if e := s.entries[i]; e.GroupID == groupID && (before == 0 || e.ID < before) {
			c := *e
			out = append(out, &c)
		}
	}
	return out, nil
}

// addToken stores a token of group directly and returns it.
func (s *services) addToken(t aiproxy.Token) *aiproxy.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	key := aiproxy.NewTokenKey()
	t.ID, t.KeyHash, t.Prefix = s.nextID, aiproxy.HashKey(key), aiproxy.KeyPrefix(key)
	c := t
	s.tokens[t.ID], s.tokenIDs = &c, nil
	return &t
}

// addGroup stores a group directly.
func (s *services) addGroup(g aiproxy.Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[g.ID], s.groupIDs = &g, nil
}
