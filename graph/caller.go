package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/aiproxy/aiproxy"
)

// caller is who a request authenticates as: the admin (token nil) or a
// group's token.
type caller struct {
	token *aiproxy.Token
	group *aiproxy.Group
}

type callerKey struct{}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// groupCaller returns the token and group of a group caller; ok is false
// for the admin.
func groupCaller(ctx context.Context) (c *caller, ok bool) {
	c, _ = ctx.Value(callerKey{}).(*caller)
	return c, c != nil && c.token != nil
}

// groupReadable are the top-level fields a group token may use, each
// with the argument naming the group it reads ("" when the resolver
// checks). Every other field, and every mutation, is the admin's alone.
var groupReadable = map[string]string{
	"me":                "",
	"group":             "id",
	"tokens":            "group",
	"token":             "", // the resolver checks the token's group
	"effectiveModel":    "group",
	"groupModelConfigs": "group",
	"liveMetrics":       "", // the resolver forces the caller's group
	"logAdded":          "",
	"usageSeries":       "", // the resolvers force the caller's group
	"usageTotals":       "",
	"usageRanking":      "",
	"mcpServers":        "group", // nil: the resolver forces the caller's group
	"mcpServer":         "",      // the resolver checks the server's scope
	"mcpTemplates":      "",
	"mcpGroupValues":    "group",
	"__typename":        "",
	"__schema":          "",
	"__type":            "",
}

// scopeFields refuses, with EFORBIDDEN, every top-level field a group
// caller may not use, and those naming another group than its own. It is
// the one place deciding what a group token may do.
func scopeFields(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	c, ok := groupCaller(ctx)
	if !ok || fc == nil || (fc.Object != "Query" && fc.Object != "Mutation" && fc.Object != "Subscription") {
		return next(ctx)
	}
	arg, readable := groupReadable[fc.Field.Name]
	if fc.Object == "Mutation" || !readable {
		return nil, aiproxy.Errorf(aiproxy.EFORBIDDEN, "a group token may not use %s", fc.Field.Name)
	}
	if arg != "" {
		if err := ownGroup(c, fc.Args[arg]); err != nil {
			return nil, err
		}
	}
	return next(ctx)
}

// ownGroup checks a group argument (a string, or a *string where nil
// means the caller's own) against the caller's group.
func ownGroup(c *caller, v any) error {
	var id string
	switch v := v.(type) {
	case string:
		id = v
	case *string:
		if v == nil {
			return nil
		}
		id = *v
	default:
		return nil
	}
	if id != c.token.GroupID {
		return aiproxy.Errorf(aiproxy.EFORBIDDEN, "a group token may read only its own group")
	}
	return nil
}

// scopeGroup returns the group a listing of group (nil: every group)
// covers: the caller's own for a group token.
func scopeGroup(ctx context.Context, group *string) string {
	if c, ok := groupCaller(ctx); ok {
		return c.token.GroupID
	}
	return deref(group)
}
