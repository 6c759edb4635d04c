package graph

import (
	"context"
	"net/url"
	"strconv"
	"time"

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

// AlertAdmin is what the alert admin API needs besides the stored sinks
// and settings: the notifier that tests a sink (alert.Notifier).
type AlertAdmin interface {
	Test(ctx context.Context, s *aiproxy.AlertSink) error
}

// alertService returns the alert service, or an INTERNAL error when none
// is wired.
func (r *Resolver) alertService() (aiproxy.AlertService, error) {
	if r.AlertService == nil {
		return nil, aiproxy.Errorf(aiproxy.EINTERNAL, "alert administration is not available")
	}
	return r.AlertService, nil
}

// alertSinkNode is the GraphQL view of s: its URL's host only.
func alertSinkNode(s *aiproxy.AlertSink) *model.AlertSink {
	host := ""
	if u, err := url.Parse(s.URL); err == nil {
		host = u.Host
	}
	kinds := make([]string, len(s.Kinds))
	for i, k := range s.Kinds {
		kinds[i] = string(k)
	}
	return &model.AlertSink{
		ID: strconv.FormatInt(s.ID, 10), Name: s.Name, Kind: s.Kind, URLHost: host, SecretSet: s.Secret != "",
		AllowPrivateNetwork: s.AllowPrivateNetwork, Enabled: s.Enabled, Kinds: kinds, MinSeverity: optional(string(s.MinSeverity)),
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
}

func alertKinds(in []string) []aiproxy.AlertKind {
	if len(in) == 0 {
		return nil
	}
	out := make([]aiproxy.AlertKind, len(in))
	for i, k := range in {
		out[i] = aiproxy.AlertKind(k)
	}
	return out
}

// alertSettingsNode is the settings in effect: the stored ones over the
// server's (AlertDefaults).
func (r *Resolver) alertSettingsNode(st *aiproxy.AlertSettings) *model.AlertSettings {
	e := st.Over(r.AlertDefaults)
	out := &model.AlertSettings{
		ThrottleSeconds: int(e.Throttle / time.Second), ErrorRate: e.ErrorRate, SpikeFactor: e.SpikeFactor,
		SpikeMin: int(e.SpikeMin), LogQueueWarn: e.LogQueueWarn, Kinds: make([]string, len(aiproxy.AlertKinds)),
	}
	for i, k := range aiproxy.AlertKinds {
		out.Kinds[i] = string(k)
	}
	return out
}
