package aiproxy

import (
	"context"
	"regexp"
	"time"
)

// Group is a tenant: an organization whose tokens, usage and logs belong
// together. A disabled group's tokens are refused by the relay.
type Group struct {
	ID          string // chosen by the admin, e.g. "acme"
	Description string
	Enabled     bool
	// AvailableSets are the channel sets the group's requests may use
	// (Channel.Sets). Validate makes an empty list {DefaultSet}.
	AvailableSets []string
	// RPMRatio and TPMRatio multiply the model configs' RPM and TPM for
	// this group's requests; 0 means 1.
	RPMRatio, TPMRatio float64
	// MaxConcurrency caps the group's requests in flight; 0 means no cap.
	MaxConcurrency int64
	// Prepaid groups are served only while their balance lasts (with
	// BILLING_ENABLED). Their Balance is Credit (every top-up and
	// adjustment) less UsedAmount; making a group prepaid sets Credit to
	// UsedAmount, a balance of 0 to top up from.
	Prepaid bool
	Credit  Amount
	// LowBalance is the balance under which the gateway warns (0: never).
	LowBalance Amount
	// UsedAmount and RequestCount are what the group's requests have cost
	// and how many reached a provider, updated in batches as they finish.
	UsedAmount   Amount
	RequestCount int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Balance returns the group's prepaid balance: Credit less UsedAmount.
func (g *Group) Balance() Amount { return g.Credit - g.UsedAmount }

// ratio returns r, or 1 for 0.
func (g *Group) ratio(r float64) float64 {
	if r <= 0 {
		return 1
	}
	return r
}

var groupIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)

// Validate checks g and returns an EINVALID *Error naming the field.
func (g *Group) Validate() error {
	if !groupIDPattern.MatchString(g.ID) {
		return FieldErrorf("id", "id must be 1-64 characters of letters, digits, '_', '.', '@' or '-', starting with a letter or digit")
	}
	if len(g.Description) > 1024 {
		return FieldErrorf("description", "description must be at most 1024 characters")
	}
	switch {
	case !(g.RPMRatio >= 0 && g.RPMRatio <= 1e6): // NaN too
		return FieldErrorf("rpmRatio", "rpmRatio must be between 0 (meaning 1) and 1000000")
	case !(g.TPMRatio >= 0 && g.TPMRatio <= 1e6):
		return FieldErrorf("tpmRatio", "tpmRatio must be between 0 (meaning 1) and 1000000")
	case g.MaxConcurrency < 0:
		return FieldErrorf("maxConcurrency", "maxConcurrency must not be negative")
	case g.LowBalance < 0:
		return FieldErrorf("lowBalanceThreshold", "lowBalanceThreshold must not be negative")
	}
	var err error
	g.AvailableSets, err = cleanSets("availableSets", g.AvailableSets)
	return err
}

// GroupUpdate holds the fields to change on a group; nil leaves a field.
type GroupUpdate struct {
	Description    *string
	Enabled        *bool
	AvailableSets  *[]string // an empty list means {DefaultSet}
	RPMRatio       *float64
	TPMRatio       *float64
	MaxConcurrency *int64
	Prepaid        *bool // turning it on sets Credit to UsedAmount (a balance of 0)
	LowBalance     *Amount
}

// Apply changes g by u.
func (u GroupUpdate) Apply(g *Group) {
	if u.Description != nil {
		g.Description = *u.Description
	}
	if u.Enabled != nil {
		g.Enabled = *u.Enabled
	}
	if u.AvailableSets != nil {
		g.AvailableSets = *u.AvailableSets
	}
	if u.RPMRatio != nil {
		g.RPMRatio = *u.RPMRatio
	}
	if u.TPMRatio != nil {
		g.TPMRatio = *u.TPMRatio
	}
	if u.MaxConcurrency != nil {
		g.MaxConcurrency = *u.MaxConcurrency
	}
	if u.Prepaid != nil {
		if *u.Prepaid && !g.Prepaid {
			g.Credit = g.UsedAmount
		}
		g.Prepaid = *u.Prepaid
	}
	if u.LowBalance != nil {
		g.LowBalance = *u.LowBalance
	}
}

// GroupService manages groups.
type GroupService interface {
	// Group returns one group, or ENOTFOUND.
	Group(ctx context.Context, id string) (*Group, error)
	// Groups returns every group, ordered by id.
	Groups(ctx context.Context) ([]*Group, error)
	// CreateGroup stores g. It returns EINVALID, or ECONFLICT when the id is taken.
	CreateGroup(ctx context.Context, g *Group) error
	// UpdateGroup applies upd, or returns ENOTFOUND / EINVALID.
	UpdateGroup(ctx context.Context, id string, upd GroupUpdate) (*Group, error)
	// DeleteGroup removes a group together with its tokens, or returns ENOTFOUND.
	// Its logs stay.
	DeleteGroup(ctx context.Context, id string) error
}
