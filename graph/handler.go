// Package graph serves the GraphQL admin API of aiproxy: channels, groups,
// tokens, model configs and request logs. The schema lives in graph/schema,
// the code gqlgen generates from it in graph/generated and graph/model, and
// the resolvers, which only translate to the services of the root package,
// in this package.
package graph

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/generated"
)

// Limits of one request. Complexity counts the fields selected, aliases
// included and introspection not: reading every entity at once costs under
// 50, so the limit only stops batches of aliases.
const (
	maxBodyBytes  = 1 << 20
	maxComplexity = 500
)

// Config configures the admin API.
type Config struct {
	// Resolver holds the services the API works on; all are required.
	Resolver Resolver
	// AdminKey is the secret every operation must present, as
	// "Authorization: Bearer <key>" or "X-Api-Key: <key>". Empty refuses
	// every operation.
	AdminKey string
	// Logger receives internal errors and panics; nil means slog.Default().
	Logger *slog.Logger
}

// NewHandler returns the GraphQL admin API, to be mounted on one path such
// as /graphql. It executes queries sent by POST (JSON) or GET (?query=,
// queries only), each authenticated with the admin key: a request without
// the right key gets HTTP 401 and is not executed. A browser's GET without a
// query gets the GraphiQL playground, where the user enters the key as a
// header.
//
// Errors carry extensions.code: an *aiproxy.Error's code in upper case, with
// extensions.field for invalid input; INTERNAL, with the message "internal
// error", for anything else, which is logged. gqlgen's own parse and
// validation errors are passed on as they are.
func NewHandler(cfg Config) http.Handler {
	logger := cmp.Or(cfg.Logger, slog.Default())

	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &cfg.Resolver}))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.FixedComplexityLimit(maxComplexity))
	srv.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error {
		return presentError(ctx, logger, err)
	})
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		logger.ErrorContext(ctx, "graph: panic", "path", graphql.GetPath(ctx).String(), "panic", v, "stack", string(debug.Stack()))
		return aiproxy.Errorf(aiproxy.EINTERNAL, "internal error")
	})

	return &server{graphql: srv, keyHash: hashKey(cfg.AdminKey), locked: cfg.AdminKey == ""}
}

// server serves the playground, authenticates operations and hands them to
// gqlgen.
type server struct {
	graphql http.Handler
	keyHash [sha256.Size]byte
	locked  bool // no admin key is configured
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && !r.URL.Query().Has("query") && strings.Contains(r.Header.Get("Accept"), "text/html") {
		playground.Handler("aiproxy admin", r.URL.Path,
			playground.WithGraphiqlUiHeaders(map[string]string{"Authorization": "Bearer <admin key>"}),
			playground.WithStoragePrefix("aiproxy:"),
		).ServeHTTP(w, r)
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aiproxy admin"`)
		writeError(w, http.StatusUnauthorized, aiproxy.EUNAUTHORIZED, "a valid admin key is required (Authorization: Bearer <key>)")
		return
	}
	if r.ContentLength > maxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, aiproxy.ETOOLARGE, "request body too large")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	s.graphql.ServeHTTP(w, r)
}

// authorized reports whether r carries the admin key. Both sides are hashed
// first, so the comparison takes the same time whatever the key's length.
func (s *server) authorized(r *http.Request) bool {
	key := r.Header.Get("X-Api-Key")
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		key = strings.TrimSpace(token)
	}
	got := hashKey(key)
	return subtle.ConstantTimeCompare(got[:], s.keyHash[:]) == 1 && !s.locked
}

func hashKey(key string) [sha256.Size]byte { return sha256.Sum256([]byte(key)) }

// writeError writes a GraphQL response holding one error and no data.
func writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(graphql.Response{Errors: gqlerror.List{{
		Message:    message,
		Extensions: map[string]any{"code": strings.ToUpper(code)},
	}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// presentError turns err into the error the client sees; see NewHandler.
func presentError(ctx context.Context, logger *slog.Logger, err error) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	var e *aiproxy.Error
	switch {
	case errors.As(err, &e):
		gqlErr.Message = e.Message
		gqlErr.Extensions = map[string]any{"code": strings.ToUpper(e.Code)}
		if e.Field != "" {
			gqlErr.Extensions["field"] = e.Field
		}
	case errors.Unwrap(gqlErr) == nil:
		// Made by gqlgen or gqlparser (syntax, validation, limits): it is
		// meant for the client and already names what is wrong.
	default:
		logger.ErrorContext(ctx, "graph: internal error", "path", gqlErr.Path.String(), "err", err)
		gqlErr = &gqlerror.Error{
			Message:    "internal error",
			Path:       gqlErr.Path,
			Locations:  gqlErr.Locations,
			Extensions: map[string]any{"code": strings.ToUpper(aiproxy.EINTERNAL)},
		}
	}
	return gqlErr
}
