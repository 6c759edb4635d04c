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
	CreatedAt     time.Time
	UpdatedAt     time.Time
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
	var err error
	g.AvailableSets, err = cleanSets("availableSets", g.AvailableSets)
	return err
}

// GroupUpdate holds the fields to change on a group; nil leaves a field.
type GroupUpdate struct {
	Description   *string
	Enabled       *bool
	AvailableSets *[]string // an empty list means {DefaultSet}
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
