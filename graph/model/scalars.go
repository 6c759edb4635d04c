// Package model holds the GraphQL types of the admin API that have no domain
// counterpart (generated into models_gen.go) and the marshalers binding
// GraphQL scalars to Go types. Input that cannot be read becomes an EINVALID
// *aiproxy.Error naming the GraphQL field or argument it came from.
package model

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/aiproxy/aiproxy"
)

// ParseID reads a numeric id from a GraphQL ID. It returns an EINVALID
// *aiproxy.Error naming field when s is not a decimal integer.
func ParseID(field, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, aiproxy.FieldErrorf(field, "%s must be a numeric id", field)
	}
	return id, nil
}

// MarshalInt64ID writes a numeric id as a GraphQL ID, which is a string.
func MarshalInt64ID(id int64) graphql.ContextMarshaler {
	return graphql.ContextWriterFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, strconv.Quote(strconv.FormatInt(id, 10)))
		return err
	})
}

// UnmarshalInt64ID reads a numeric id from a GraphQL ID.
func UnmarshalInt64ID(ctx context.Context, v any) (int64, error) {
	s, _ := graphql.UnmarshalID(v)
	return ParseID(inputField(ctx), s)
}

// maxPrice bounds prices so that the conversion to nanos cannot overflow.
const maxPrice = 1e9

// MarshalPrice writes a price as a Float in currency units per million tokens.
func MarshalPrice(p aiproxy.Price) graphql.ContextMarshaler {
	return graphql.MarshalFloatContext(aiproxy.Amount(p).Float())
}

// UnmarshalPrice reads a Float in currency units per million tokens, rounded
// to the nearest nano.
func UnmarshalPrice(ctx context.Context, v any) (aiproxy.Price, error) {
	f, err := graphql.UnmarshalFloat(v)
	if err != nil || math.IsNaN(f) || math.Abs(f) > maxPrice {
		return 0, aiproxy.FieldErrorf(inputField(ctx), "%s must be a number between 0 and %.0f", inputField(ctx), maxPrice)
	}
	return aiproxy.Price(aiproxy.AmountFromFloat(f)), nil
}

// MarshalTime writes t in RFC 3339 with nanoseconds. The zero time is an
// error: nullable fields are *time.Time, so it can only come from a bug.
func MarshalTime(t time.Time) graphql.ContextMarshaler {
	return graphql.ContextWriterFunc(func(_ context.Context, w io.Writer) error {
		if t.IsZero() {
			return errors.New("graph: zero time in a non-null field")
		}
		_, err := io.WriteString(w, strconv.Quote(t.Format(time.RFC3339Nano)))
		return err
	})
}

// UnmarshalTime reads an RFC 3339 time such as 2026-01-02T15:04:05Z.
func UnmarshalTime(ctx context.Context, v any) (time.Time, error) {
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, aiproxy.FieldErrorf(inputField(ctx), "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", inputField(ctx))
}

// inputField names the argument or input field being read: the last name on
// the path gqlgen keeps while it unmarshals input.
func inputField(ctx context.Context) string {
	path := graphql.GetPath(ctx)
	for i := len(path) - 1; i >= 0; i-- {
		if name, ok := path[i].(ast.PathName); ok {
			return string(name)
		}
	}
	return ""
}

// MarshalJSON writes a JSON value as it is. Nil or empty writes null.
func MarshalJSON(raw json.RawMessage) graphql.ContextMarshaler {
	return graphql.ContextWriterFunc(func(_ context.Context, w io.Writer) error {
		if len(raw) == 0 {
			_, err := io.WriteString(w, "null")
			return err
		}
		_, err := w.Write(raw)
		return err
	})
}

// UnmarshalJSON reads any GraphQL input value (an object literal, a list,
// a string, ...) as JSON.
func UnmarshalJSON(ctx context.Context, v any) (json.RawMessage, error) {
	if v == nil {
		return json.RawMessage("null"), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, aiproxy.FieldErrorf(inputField(ctx), "%s must be a JSON value", inputField(ctx))
	}
	return b, nil
}

// MarshalAmount writes an amount as a Float in currency units.
func MarshalAmount(a aiproxy.Amount) graphql.ContextMarshaler {
	return graphql.MarshalFloatContext(a.Float())
}

// UnmarshalAmount reads a Float in currency units, exact to the nano; see
// AmountFromFloat.
func UnmarshalAmount(ctx context.Context, v any) (aiproxy.Amount, error) {
	f, err := graphql.UnmarshalFloat(v)
	if err != nil {
		return 0, aiproxy.FieldErrorf(inputField(ctx), "%s must be a number", inputField(ctx))
	}
	return AmountFromFloat(inputField(ctx), f)
}

// AmountFromFloat converts currency units to an Amount, rounded to the
// nearest nano. NaN, infinities and amounts beyond what an Amount holds
// (about ±9.2 billion units) return an EINVALID *aiproxy.Error naming field.
func AmountFromFloat(field string, f float64) (aiproxy.Amount, error) {
	if math.IsNaN(f) || math.Abs(f*float64(aiproxy.AmountUnit)) >= math.MaxInt64 {
		return 0, aiproxy.FieldErrorf(field, "%s must be a finite amount of at most %d currency units", field, int64(math.MaxInt64/aiproxy.AmountUnit))
	}
	return aiproxy.AmountFromFloat(f), nil
}

// ModelConfigUpdate is UpdateModelConfigInput: the domain update with the
// single price components, applied over the current or the new pricing.
type ModelConfigUpdate struct {
	aiproxy.ModelConfigUpdate
	InputPrice, OutputPrice, CachedPrice *aiproxy.Price
}
