package graph

import (
	"cmp"
	"context"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/model"
)

// Page sizes of the logs query.
const (
	defaultLogPage = 50
	maxLogPage     = 500
)

// logFilter translates the arguments of the logs query. It returns EINVALID
// naming first, after, tokenId, channelId or to.
func logFilter(in *model.LogFilter, first *int, after *string) (aiproxy.LogFilter, error) {
	f := aiproxy.LogFilter{Limit: defaultLogPage}
	if first != nil {
		if *first < 1 || *first > maxLogPage {
			return f, aiproxy.FieldErrorf("first", "first must be between 1 and %d", maxLogPage)
		}
		f.Limit = *first
	}
	if after != nil {
		id, err := decodeCursor(*after)
		if err != nil {
			return f, err
		}
		f.Before = id
	}
	if in == nil {
		return f, nil
	}
	var err error
	if in.TokenID != nil {
		if f.TokenID, err = model.ParseID("tokenId", *in.TokenID); err != nil {
			return f, err
		}
	}
	if in.ChannelID != nil {
		if f.ChannelID, err = model.ParseID("channelId", *in.ChannelID); err != nil {
			return f, err
		}
	}
	f.GroupID = deref(in.Group)
	f.Model = deref(in.Model)
	f.RequestID = deref(in.RequestID)
	f.From = deref(in.From)
	f.To = deref(in.To)
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, aiproxy.FieldErrorf("to", "to must be after from")
	}
	f.Failed = in.Failed
	return f, nil
}

// wantsDetail reports whether the logs query selects a body (or its
// truncation flag), which the store then reads from the detail table for
// the whole page in one query.
func wantsDetail(ctx context.Context) bool {
	if graphql.GetFieldContext(ctx) == nil {
		return false
	}
	oc := graphql.GetOperationContext(ctx)
	for _, e := range graphql.CollectFieldsCtx(ctx, nil) {
		if e.Name != "edges" {
			continue
		}
		for _, n := range graphql.CollectFields(oc, e.Selections, nil) {
			if n.Name != "node" {
				continue
			}
			for _, f := range graphql.CollectFields(oc, n.Selections, nil) {
				switch f.Name {
				case "requestBody", "responseBody", "requestBodyTruncated", "responseBodyTruncated":
					return true
				}
			}
		}
	}
	return false
}

// logConnection makes a page of logs, newest first, into a connection.
func logConnection(logs []*aiproxy.Log, more bool) *model.LogConnection {
	c := &model.LogConnection{
		Edges:    make([]*model.LogEdge, len(logs)),
		PageInfo: &model.PageInfo{HasNextPage: more},
	}
	for i, l := range logs {
		c.Edges[i] = &model.LogEdge{Cursor: encodeCursor(l.ID), Node: logNode(l)}
	}
	if n := len(c.Edges); n > 0 {
		c.PageInfo.EndCursor = &c.Edges[n-1].Cursor
	}
	return c
}

func logNode(l *aiproxy.Log) *model.Log {
	return &model.Log{
		ID:                  strconv.FormatInt(l.ID, 10),
		RequestID:           l.RequestID,
		CreatedAt:           l.CreatedAt,
		Group:               l.GroupID,
		TokenID:             optionalID(l.TokenID),
		TokenName:           l.TokenName,
		ChannelID:           optionalID(l.ChannelID),
		Model:               l.Model,
		UpstreamModel:       l.UpstreamModel,
		Endpoint:            l.Endpoint,
		ClientProtocol:      cmp.Or(l.ClientProtocol, aiproxy.ProtocolOpenAI),
		ChannelProtocol:     optionalProtocol(l.ChannelProtocol),
		Stream:              l.Stream,
		StatusCode:          l.StatusCode,
		PromptTokens:        int(l.Usage.PromptTokens),
		CompletionTokens:    int(l.Usage.CompletionTokens),
		CachedTokens:        int(l.Usage.CachedTokens),
		CacheCreationTokens: int(l.Usage.CacheCreationTokens),
		ReasoningTokens:     int(l.Usage.ReasoningTokens),
		TotalTokens:         int(l.Usage.TotalTokens),
		UsageCounted:        l.UsageCounted,
		Amount:              l.Amount.Float(),
		Cost:                costNode(l.Cost),
		Unpriced:            l.Unpriced,
		TtfbMs:              int(l.TTFB / time.Millisecond),
		LatencyMs:           int(l.Latency / time.Millisecond),
		ClientIP:            l.ClientIP,
		Error:               optional(l.Error),
		RequestBody:         optional(l.RequestBody),
		ResponseBody:        optional(l.ResponseBody),

		UpstreamRequestID:     optional(l.UpstreamRequestID),
		User:                  optional(l.User),
		Metadata:              optional(l.Metadata),
		RequestBodyTruncated:  l.RequestBodyTruncated,
		ResponseBodyTruncated: l.ResponseBodyTruncated,
		Attempts:              attemptNodes(l.Attempts),
	}
}

func attemptNodes(as []aiproxy.LogAttempt) []*model.LogAttempt {
	out := make([]*model.LogAttempt, len(as))
	for i, a := range as {
		n := &model.LogAttempt{ChannelID: strconv.FormatInt(a.ChannelID, 10), Error: optional(a.Error), LatencyMs: int(a.Latency / time.Millisecond)}
		if a.Status != 0 {
			st := a.Status
			n.Status = &st
		}
		out[i] = n
	}
	return out
}

// Cursors are opaque to clients: the base64 of a log ID, paging to older logs.
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString(strconv.AppendInt(nil, id, 10))
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if id, err := strconv.ParseInt(string(b), 10, 64); err == nil && id > 0 {
			return id, nil
		}
	}
	return 0, aiproxy.FieldErrorf("after", "after must be the endCursor of a previous page")
}

func optionalID(id int64) *string {
	if id == 0 {
		return nil
	}
	s := strconv.FormatInt(id, 10)
	return &s
}

func optionalProtocol(p aiproxy.Protocol) *aiproxy.Protocol {
	if p == "" {
		return nil
	}
	return &p
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// costNode is the GraphQL view of c.
func costNode(c aiproxy.Cost) *model.LogCost {
	return &model.LogCost{Input: c.Input.Float(), CachedInput: c.CachedInput.Float(), CacheWrite: c.CacheWrite.Float(), CacheWrite1h: c.CacheWrite1h.Float(),
		ImageInput: c.ImageInput.Float(), AudioInput: c.AudioInput.Float(), Output: c.Output.Float(), Reasoning: c.Reasoning.Float(),
		ImageOutput: c.ImageOutput.Float(), AudioOutput: c.AudioOutput.Float(), Request: c.Request.Float()}
}
