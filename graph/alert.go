package graph

import (
	"strconv"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/model"
)

// alertFilter reads the arguments of alerts.
func alertFilter(kind, channelID *string, first *int, after *string) (aiproxy.AlertFilter, error) {
	f := aiproxy.AlertFilter{Kind: aiproxy.AlertKind(deref(kind)), Limit: 50}
	if first != nil {
		if *first < 1 || *first > 500 {
			return f, aiproxy.FieldErrorf("first", "first must be between 1 and 500")
		}
		f.Limit = *first
	}
	if channelID != nil {
		n, err := parseID("channelId", *channelID)
		if err != nil {
			return f, err
		}
		f.ChannelID = n
	}
	if after != nil {
		id, err := decodeCursor(*after)
		if err != nil {
			return f, err
		}
		f.Before = id
	}
	return f, nil
}

// alertNode is the GraphQL view of r.
func alertNode(r *aiproxy.AlertRecord) *model.AlertRecord {
	return &model.AlertRecord{
		ID:        strconv.FormatInt(r.ID, 10),
		Kind:      string(r.Kind),
		Severity:  string(r.Severity),
		Key:       r.ThrottleKey(),
		Title:     r.Title,
		Text:      r.Text,
		ChannelID: optionalID(r.ChannelID),
		Group:     optional(r.GroupID),
		Model:     optional(r.Model),
		Delivered: r.Delivered,
		At:        r.At,
	}
}
