package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

type logRow struct {
	bun.BaseModel `bun:"table:logs"`

	ID               int64     `bun:"id,pk,autoincrement"`
	RequestID        string    `bun:"request_id"`
	CreatedAt        time.Time `bun:"created_at"`
	GroupID          string    `bun:"group_id"`
	TokenID          int64     `bun:"token_id"`
	TokenName        string    `bun:"token_name"`
	ChannelID        int64     `bun:"channel_id"`
	Model            string    `bun:"model"`
	UpstreamModel    string    `bun:"upstream_model"`
	Endpoint         string    `bun:"endpoint"`
	Mode             string    `bun:"mode"`
	ClientProtocol   string    `bun:"client_protocol"`
	ChannelProtocol  string    `bun:"channel_protocol"`
	Stream           bool      `bun:"stream"`
	StatusCode       int       `bun:"status_code"`
	PromptTokens     int64     `bun:"prompt_tokens"`
	CompletionTokens int64     `bun:"completion_tokens"`
	CachedTokens     int64     `bun:"cached_tokens"`
	CacheCreation    int64     `bun:"cache_creation_tokens"`
	ReasoningTokens  int64     `bun:"reasoning_tokens"`
	TotalTokens      int64     `bun:"total_tokens"`
	UsageCounted     bool      `bun:"usage_counted"`
	Amount           int64     `bun:"amount"`
	Unpriced         bool      `bun:"unpriced"`
	TTFB             int64     `bun:"ttfb_us"`
	Latency          int64     `bun:"latency_us"`
	ClientIP         string    `bun:"client_ip"`
	Error            string    `bun:"error"`
	Attempts         string    `bun:"attempts,nullzero"`

	CacheCreation1h   int64  `bun:"cache_creation_1h_tokens"`
	ImageInputTokens  int64  `bun:"image_input_tokens"`
	AudioInputTokens  int64  `bun:"audio_input_tokens"`
	ImageOutputTokens int64  `bun:"image_output_tokens"`
	AudioOutputTokens int64  `bun:"audio_output_tokens"`
	Requests          int64  `bun:"requests"`
	ServiceTier       string `bun:"service_tier"`
	CostInput         int64  `bun:"cost_input"`
	CostCachedInput   int64  `bun:"cost_cached_input"`
	CostCacheWrite    int64  `bun:"cost_cache_write"`
	CostCacheWrite1h  int64  `bun:"cost_cache_write_1h"`
	CostImageInput    int64  `bun:"cost_image_input"`
	CostAudioInput    int64  `bun:"cost_audio_input"`
	CostOutput        int64  `bun:"cost_output"`
	CostReasoning     int64  `bun:"cost_reasoning"`
	CostImageOutput   int64  `bun:"cost_image_output"`
	CostAudioOutput   int64  `bun:"cost_audio_output"`
	CostRequest       int64  `bun:"cost_request"`

	UpstreamRequestID string `bun:"upstream_request_id"`
	User              string `bun:"user"`
	Metadata          string `bun:"metadata,nullzero"`
}

// logDetailRow holds the bodies of a logged request, kept apart from the
// log rows (which stay small, and are kept longer) and only for the
// requests whose detail is kept (see aiproxy.Log).
type logDetailRow struct {
	bun.BaseModel `bun:"table:log_details"`

	RequestID         string    `bun:"request_id,pk"`
	CreatedAt         time.Time `bun:"created_at"`
	RequestBody       string    `bun:"request_body"`
	ResponseBody      string    `bun:"response_body"`
	RequestTruncated  bool      `bun:"request_truncated"`
	ResponseTruncated bool      `bun:"response_truncated"`
}

// Field caps of a log row: what the relay sends is cut to them.
const (
	maxUserBytes     = 256
	maxMetadataBytes = 16 << 10
)

// hasDetail reports whether l has a detail row to store.
func hasDetail(l *aiproxy.Log) bool {
	return l.RequestBody != "" || l.ResponseBody != ""
}

func toDetailRow(l *aiproxy.Log) logDetailRow {
	return logDetailRow{
		RequestID:         text(l.RequestID, 128),
		CreatedAt:         utc(l.CreatedAt),
		RequestBody:       text(l.RequestBody, 0),
		ResponseBody:      text(l.ResponseBody, 0),
		RequestTruncated:  l.RequestBodyTruncated,
		ResponseTruncated: l.ResponseBodyTruncated,
	}
}

// metadataColumn is the request's metadata as stored: JSON text, dropped
// ("") when it is not a JSON object under maxMetadataBytes, which cutting
// would make unreadable.
func metadataColumn(s string) string {
	if s == "" || len(s) > maxMetadataBytes || !json.Valid([]byte(s)) {
		return ""
	}
	return text(s, 0)
}

// attemptJSON is a LogAttempt as the attempts column keeps it.
type attemptJSON struct {
	ChannelID int64  `json:"channel"`
	Status    int    `json:"status,omitempty"`
	Error     string `json:"error,omitempty"`
	LatencyUS int64  `json:"latency_us"`
}

// maxAttemptError caps the error text kept per attempt.
const maxAttemptError = 512

func attemptsColumn(as []aiproxy.LogAttempt) string {
	if len(as) == 0 {
		return ""
	}
	js := make([]attemptJSON, len(as))
	for i, a := range as {
		js[i] = attemptJSON{ChannelID: a.ChannelID, Status: a.Status, Error: text(a.Error, maxAttemptError), LatencyUS: a.Latency.Microseconds()}
	}
	b, _ := json.Marshal(js)
	return string(b)
}

func attemptsOf(col string) []aiproxy.LogAttempt {
	var js []attemptJSON
	if col == "" || json.Unmarshal([]byte(col), &js) != nil {
		return nil
	}
	as := make([]aiproxy.LogAttempt, len(js))
	for i, a := range js {
		as[i] = aiproxy.LogAttempt{ChannelID: a.ChannelID, Status: a.Status, Error: a.Error, Latency: time.Duration(a.LatencyUS) * time.Microsecond}
	}
	return as
}

// toLogRow converts l for insertion. The log comes from the relay, which
// copies what clients and providers sent, so text is made storable
// everywhere: cut to its column's length, valid UTF-8, no NUL bytes. A
// log that a database refuses is a log lost.
func toLogRow(l *aiproxy.Log) logRow {
	return logRow{
		RequestID:        text(l.RequestID, 128),
		CreatedAt:        utc(l.CreatedAt),
		GroupID:          text(l.GroupID, 64),
		TokenID:          l.TokenID,
		TokenName:        text(l.TokenName, 128),
		ChannelID:        l.ChannelID,
		Model:            text(l.Model, 256),
		UpstreamModel:    text(l.UpstreamModel, 256),
		Endpoint:         text(l.Endpoint, 256),
		Mode:             text(string(l.Mode), 32),
		ClientProtocol:   text(string(l.ClientProtocol), 16),
		ChannelProtocol:  text(string(l.ChannelProtocol), 16),
		Stream:           l.Stream,
		StatusCode:       l.StatusCode,
		PromptTokens:     l.Usage.PromptTokens,
		CompletionTokens: l.Usage.CompletionTokens,
		CachedTokens:     l.Usage.CachedTokens,
		CacheCreation:    l.Usage.CacheCreationTokens,
		ReasoningTokens:  l.Usage.ReasoningTokens,
		TotalTokens:      l.Usage.TotalTokens,
		UsageCounted:     l.UsageCounted,
		Amount:           int64(l.Amount),
		Unpriced:         l.Unpriced,
		TTFB:             l.TTFB.Microseconds(),
		Latency:          l.Latency.Microseconds(),
		ClientIP:         text(l.ClientIP, 64),
		Error:            text(l.Error, 0),
		Attempts:         attemptsColumn(l.Attempts),

		CacheCreation1h:   l.Usage.CacheCreation1hTokens,
		ImageInputTokens:  l.Usage.ImageInputTokens,
		AudioInputTokens:  l.Usage.AudioInputTokens,
		ImageOutputTokens: l.Usage.ImageOutputTokens,
		AudioOutputTokens: l.Usage.AudioOutputTokens,
		Requests:          l.Usage.Requests,
		ServiceTier:       text(l.ServiceTier, 32),
		CostInput:         int64(l.Cost.Input),
		CostCachedInput:   int64(l.Cost.CachedInput),
		CostCacheWrite:    int64(l.Cost.CacheWrite),
		CostCacheWrite1h:  int64(l.Cost.CacheWrite1h),
		CostImageInput:    int64(l.Cost.ImageInput),
		CostAudioInput:    int64(l.Cost.AudioInput),
		CostOutput:        int64(l.Cost.Output),
		CostReasoning:     int64(l.Cost.Reasoning),
		CostImageOutput:   int64(l.Cost.ImageOutput),
		CostAudioOutput:   int64(l.Cost.AudioOutput),
		CostRequest:       int64(l.Cost.Request),

		UpstreamRequestID: text(l.UpstreamRequestID, 128),
		User:              text(l.User, maxUserBytes),
		Metadata:          metadataColumn(l.Metadata),
	}
}

func (r *logRow) log() *aiproxy.Log {
	return &aiproxy.Log{
		ID:              r.ID,
		RequestID:       r.RequestID,
		CreatedAt:       r.CreatedAt.UTC(),
		GroupID:         r.GroupID,
		TokenID:         r.TokenID,
		TokenName:       r.TokenName,
		ChannelID:       r.ChannelID,
		Model:           r.Model,
		UpstreamModel:   r.UpstreamModel,
		Endpoint:        r.Endpoint,
		Mode:            aiproxy.Mode(r.Mode),
		ClientProtocol:  aiproxy.Protocol(r.ClientProtocol),
		ChannelProtocol: aiproxy.Protocol(r.ChannelProtocol),
		Stream:          r.Stream,
		StatusCode:      r.StatusCode,
		Usage: aiproxy.Usage{
			PromptTokens:          r.PromptTokens,
			CompletionTokens:      r.CompletionTokens,
			CachedTokens:          r.CachedTokens,
			CacheCreationTokens:   r.CacheCreation,
			ReasoningTokens:       r.ReasoningTokens,
			TotalTokens:           r.TotalTokens,
			CacheCreation1hTokens: r.CacheCreation1h,
			ImageInputTokens:      r.ImageInputTokens,
			AudioInputTokens:      r.AudioInputTokens,
			ImageOutputTokens:     r.ImageOutputTokens,
			AudioOutputTokens:     r.AudioOutputTokens,
			Requests:              r.Requests,
		},
		ServiceTier: r.ServiceTier,
		Cost: aiproxy.Cost{
			Input: aiproxy.Amount(r.CostInput), CachedInput: aiproxy.Amount(r.CostCachedInput),
			CacheWrite: aiproxy.Amount(r.CostCacheWrite), CacheWrite1h: aiproxy.Amount(r.CostCacheWrite1h),
			ImageInput: aiproxy.Amount(r.CostImageInput), AudioInput: aiproxy.Amount(r.CostAudioInput),
			Output: aiproxy.Amount(r.CostOutput), Reasoning: aiproxy.Amount(r.CostReasoning),
			ImageOutput: aiproxy.Amount(r.CostImageOutput), AudioOutput: aiproxy.Amount(r.CostAudioOutput),
			Request: aiproxy.Amount(r.CostRequest),
		},
		UsageCounted: r.UsageCounted,
		Amount:       aiproxy.Amount(r.Amount),
		Unpriced:     r.Unpriced,
		TTFB:         time.Duration(r.TTFB) * time.Microsecond,
		Latency:      time.Duration(r.Latency) * time.Microsecond,
		ClientIP:     r.ClientIP,
		Error:        r.Error,
		Attempts:     attemptsOf(r.Attempts),

		UpstreamRequestID: r.UpstreamRequestID,
		User:              r.User,
		Metadata:          r.Metadata,
	}
}

// text returns s as valid UTF-8 without NUL bytes, cut to at most n bytes
// (so at most n characters) unless n is 0.
func text(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if n > 0 && len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) { // cut inside a character
			s = s[:len(s)-1]
		}
	}
	return s
}

// Log limits.
const (
	defaultLogLimit = 50
	maxLogLimit     = 500
)

// Logs returns the logs matching f, newest first (by ID), and whether more
// follow. f.Limit is capped at 500; 0 means 50. With f.Detail the bodies
// kept for them are read too, in one more query for the page.
func (s *Store) Logs(ctx context.Context, f aiproxy.LogFilter) ([]*aiproxy.Log, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLogLimit
	}
	limit = min(limit, maxLogLimit)
	var rows []logRow
	q := s.logDB.ro.NewSelect().Model(&rows).OrderExpr("id DESC").Limit(int64(limit) + 1)
	if f.GroupID != "" {
		q = q.Where("group_id = ?", f.GroupID)
	}
	if f.TokenID != 0 {
		q = q.Where("token_id = ?", f.TokenID)
	}
	if f.ChannelID != 0 {
		q = q.Where("channel_id = ?", f.ChannelID)
	}
	if f.Model != "" {
		q = q.Where("model = ?", f.Model)
	}
	if f.RequestID != "" {
		q = q.Where("request_id = ?", f.RequestID)
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", utc(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", utc(f.To))
	}
	if f.Failed != nil && *f.Failed {
		q = q.Where("? <> ''", bun.Ident("error"))
	} else if f.Failed != nil {
		q = q.Where("? = ''", bun.Ident("error"))
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, wrap("list logs", err)
	}
	more := len(rows) > limit
	rows = rows[:min(len(rows), limit)]
	logs := make([]*aiproxy.Log, len(rows))
	for i := range rows {
		logs[i] = rows[i].log()
	}
	if f.Detail && len(logs) > 0 {
		if err := s.addDetails(ctx, logs); err != nil {
			return nil, false, err
		}
	}
	return logs, more, nil
}

// addDetails sets the bodies of logs from their detail rows, where kept.
func (s *Store) addDetails(ctx context.Context, logs []*aiproxy.Log) error {
	ids := make([]string, len(logs))
	for i, l := range logs {
		ids[i] = l.RequestID
	}
	var details []logDetailRow
	if err := s.logDB.ro.NewSelect().Model(&details).Where("request_id IN (?)", bun.In(ids)).Scan(ctx); err != nil {
		return wrap("list log details", err)
	}
	byID := make(map[string]*logDetailRow, len(details))
	for i := range details {
		byID[details[i].RequestID] = &details[i]
	}
	for _, l := range logs {
		if d := byID[l.RequestID]; d != nil {
			l.RequestBody, l.ResponseBody = d.RequestBody, d.ResponseBody
			l.RequestBodyTruncated, l.ResponseBodyTruncated = d.RequestTruncated, d.ResponseTruncated
		}
	}
	return nil
}
