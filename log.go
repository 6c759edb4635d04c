package aiproxy

import (
	"context"
	"time"
)

// Usage counts the tokens of one request, the same way whatever the
// protocol: PromptTokens is every input token, those read from and written
// to the provider's prompt cache included (Anthropic reports them apart;
// they are added), and CompletionTokens every output token, reasoning
// included (Gemini reports thoughts apart; they are added).
//
// The parts of PromptTokens (cached, cache writes, image, audio) and of
// CompletionTokens (reasoning, image, audio) are what the price list
// prices apart (Pricing.Cost); Requests counts the billable requests (1
// for a request a provider answered, 0 otherwise), for per-request
// prices.
type Usage struct {
	PromptTokens          int64
	CompletionTokens      int64
	CachedTokens          int64 // part of PromptTokens read from the provider's prompt cache
	CacheCreationTokens   int64 // part of PromptTokens written to the provider's prompt cache, every TTL
	CacheCreation1hTokens int64 // part of CacheCreationTokens written with a 1-hour TTL
	ImageInputTokens      int64 // part of PromptTokens that are image input
	AudioInputTokens      int64 // part of PromptTokens that are audio input
	ReasoningTokens       int64 // part of CompletionTokens spent on reasoning
	ImageOutputTokens     int64 // part of CompletionTokens that are generated images
	AudioOutputTokens     int64 // part of CompletionTokens that are generated audio
	TotalTokens           int64
	Requests              int64
}

// Add adds v's counts to u.
func (u *Usage) Add(v Usage) {
	u.PromptTokens += v.PromptTokens
	u.CompletionTokens += v.CompletionTokens
	u.CachedTokens += v.CachedTokens
	u.CacheCreationTokens += v.CacheCreationTokens
	u.CacheCreation1hTokens += v.CacheCreation1hTokens
	u.ImageInputTokens += v.ImageInputTokens
	u.AudioInputTokens += v.AudioInputTokens
	u.ReasoningTokens += v.ReasoningTokens
	u.ImageOutputTokens += v.ImageOutputTokens
	u.AudioOutputTokens += v.AudioOutputTokens
	u.TotalTokens += v.TotalTokens
	u.Requests += v.Requests
}

// Log is the record of one relayed request.
type Log struct {
	ID            int64
	RequestID     string
	CreatedAt     time.Time // when the request arrived
	GroupID       string
	TokenID       int64
	TokenName     string
	ChannelID     int64  // 0 when no channel was reached
	Model         string // as the client asked
	UpstreamModel string // as sent to the provider, after mapping
	Endpoint      string // e.g. "/v1/chat/completions"
	Mode          Mode
	// ClientProtocol is the protocol the client spoke, ChannelProtocol the
	// one sent to the provider ("" when no channel was reached); they
	// differ when the request was converted.
	ClientProtocol  Protocol
	ChannelProtocol Protocol
	Stream          bool
	StatusCode      int
	Usage           Usage
	UsageCounted    bool // true when the gateway counted tokens because the provider reported none
	// Cost is what the request cost, by component; Amount, its Total, is
	// the amount billed to the token and its group.
	Cost   Cost
	Amount Amount
	// Unpriced is set when the model has no price (no model config or
	// catalogue entry with one): Amount is 0 because nothing says what it
	// costs, not because it is free.
	Unpriced bool
	// ServiceTier is the service tier the request asked for or the
	// provider reported ("" when neither said), for tiered prices.
	ServiceTier string
	TTFB        time.Duration // time to the first byte of the upstream answer
	Latency     time.Duration // total time until the answer was complete
	ClientIP    string
	Error       string // "" on success
	// UpstreamRequestID is the id the provider gave the answer (its
	// x-request-id, request-id or response id), "" when none.
	UpstreamRequestID string
	// User is the request's end-user id (OpenAI's user, Anthropic's
	// metadata.user_id), "" when none; Metadata the request's metadata
	// object as JSON, "" when none.
	User     string
	Metadata string
	// RequestBody and ResponseBody are kept (in the log's detail) only
	// when the request failed, detailed logging is on or the model config
	// forces it; each is cut at the configured size, and the Truncated
	// flag says so.
	RequestBody           string
	ResponseBody          string
	RequestBodyTruncated  bool
	ResponseBodyTruncated bool
	// Attempts are the channels tried, in order; the last is the one that
	// answered, unless the request failed. Empty when no channel was tried.
	Attempts []LogAttempt
}

// LogAttempt is one channel tried for a request.
type LogAttempt struct {
	ChannelID int64
	Status    int           // the provider's HTTP status, 0 when none came
	Error     string        // why it failed, "" when it answered
	Latency   time.Duration // until the answer began or the attempt failed
}

// LogFilter selects logs. Zero fields do not filter.
type LogFilter struct {
	GroupID   string
	TokenID   int64
	ChannelID int64
	Model     string
	RequestID string
	From, To  time.Time // CreatedAt in [From, To)
	Failed    *bool     // true: only errors; false: only successes
	Before    int64     // only logs with ID < Before (the pagination cursor)
	Limit     int       // at most this many; 0 means 50
	// Detail asks for the bodies kept with the logs (RequestBody,
	// ResponseBody and their Truncated flags); false leaves them empty.
	Detail bool
}

// LogService reads request logs.
type LogService interface {
	// Logs returns the logs matching f, newest first (by ID), and whether
	// more follow.
	Logs(ctx context.Context, f LogFilter) (logs []*Log, more bool, err error)
}

// LogRecorder takes finished request logs. Implementations queue them and
// write in batches, so Record does no database work and never waits: a
// log that finds no room is set aside (spilled to disk) instead.
type LogRecorder interface {
	Record(l *Log)
}

// Recorders hands each log to several recorders, in order: the log
// writer, the summaries, the live events, the metrics. A recorder only
// reads the log, never changes it, and does not block.
type Recorders []LogRecorder

// Record implements LogRecorder.
func (rs Recorders) Record(l *Log) {
	for _, r := range rs {
		r.Record(l)
	}
}
