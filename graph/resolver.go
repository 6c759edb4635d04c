package graph

//go:generate go tool gqlgen generate

import (
	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Resolver holds the services the admin API works on; every field is
// required. The fields are named after their interfaces because the
// resolvers embed Resolver and have methods such as Channels.
type Resolver struct {
	ChannelService     aiproxy.ChannelService
	GroupService       aiproxy.GroupService
	TokenService       aiproxy.TokenService
	ModelConfigService aiproxy.ModelConfigService
	LogService         aiproxy.LogService
	// Providers is the registry of channel types.
	Providers relay.Providers
}

// orNotFound turns ENOTFOUND into a null answer, for the lookups whose field
// is nullable: a missing entity is not an error there.
func orNotFound[T any](v *T, err error) (*T, error) {
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return nil, nil
	}
	return v, err
}
