// Package alert sends operators alerts (aiproxy.Alert) to sinks: a
// generic JSON webhook, a Feishu/Lark bot, a Slack-compatible webhook and
// the server log, throttled per alert key so that a flapping channel
// alerts once per window. It imports the root package only: the shared
// throttle (store's MemoryThrottle and RedisThrottle) and what the
// triggers read (health, the log writer, pings) are interfaces declared
// here and wired by cmd/aiproxy, as the relay's are.
package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Sink delivers alerts somewhere.
type Sink interface {
	// Name names the sink in logs, such as "slack".
	Name() string
	// Send delivers a, within ctx.
	Send(ctx context.Context, a *aiproxy.Alert) error
}

var (
	_ Sink = (*Webhook)(nil)
	_ Sink = (*Feishu)(nil)
	_ Sink = (*Slack)(nil)
	_ Sink = LogSink{}
)

// sendTimeout bounds one delivery.
const sendTimeout = 10 * time.Second

// NewClient returns the HTTP client of a sink: relay.NewOutboundClient,
// which unless allowPrivate refuses to connect to loopback, private,
// link-local (cloud metadata included), CGNAT, multicast and unspecified
// addresses, checked on the address actually dialled (after DNS
// resolution and every redirect).
func NewClient(allowPrivate bool) *http.Client {
	return relay.NewOutboundClient(allowPrivate, sendTimeout)
}

// postJSON posts v as JSON to url with c, and fails unless the answer is
// 2xx.
func postJSON(ctx context.Context, c *http.Client, url string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("alert: post: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alert: post: status %d: %s", resp.StatusCode, b)
	}
	var fs struct {
		Code *int   `json:"code"`
		Msg  string `json:"msg"`
	}
	// Feishu answers 200 with a non-zero code when it refuses a message.
	if json.Unmarshal(b, &fs) == nil && fs.Code != nil && *fs.Code != 0 {
		return fmt.Errorf("alert: post: refused with code %d: %s", *fs.Code, fs.Msg)
	}
	return nil
}

// text is the plain-text form of a, for the chat sinks.
func text(a *aiproxy.Alert) string {
	return fmt.Sprintf("[%s] %s\n%s", a.Severity, a.Title, a.Text)
}

// Webhook posts every alert as a JSON object (see WebhookPayload) to URL.
type Webhook struct {
	URL    string
	Client *http.Client // nil means NewClient(false)
}

// WebhookPayload is what Webhook posts.
type WebhookPayload struct {
	Kind      aiproxy.AlertKind     `json:"kind"`
	Severity  aiproxy.AlertSeverity `json:"severity"`
	Key       string                `json:"key"`
	Title     string                `json:"title"`
	Text      string                `json:"text"`
	ChannelID int64                 `json:"channelId,omitempty"`
	Group     string                `json:"group,omitempty"`
	Model     string                `json:"model,omitempty"`
	At        time.Time             `json:"at"`
}

func (w *Webhook) Name() string { return "webhook" }

// Send posts a.
func (w *Webhook) Send(ctx context.Context, a *aiproxy.Alert) error {
	return postJSON(ctx, client(w.Client), w.URL, WebhookPayload{
		Kind: a.Kind, Severity: a.Severity, Key: a.ThrottleKey(), Title: a.Title, Text: a.Text,
		ChannelID: a.ChannelID, Group: a.GroupID, Model: a.Model, At: a.At,
	})
}

// Feishu posts every alert to a Feishu/Lark custom bot's webhook URL as a
// text message ({"msg_type": "text", "content": {"text": ...}}). With a
// Secret (the bot's signature verification), each message carries
// timestamp (unix seconds) and sign: the base64 HMAC-SHA256 keyed with
// timestamp + "\n" + Secret over an empty message, as Feishu documents.
type Feishu struct {
	URL    string
	Secret string
	Client *http.Client // nil means NewClient(false)
	// Now is the clock of the timestamp; nil means time.Now.
	Now func() time.Time
}

func (f *Feishu) Name() string { return "feishu" }

// Send posts a.
func (f *Feishu) Send(ctx context.Context, a *aiproxy.Alert) error {
	msg := map[string]any{"msg_type": "text", "content": map[string]string{"text": text(a)}}
	if f.Secret != "" {
		now := time.Now
		if f.Now != nil {
			now = f.Now
		}
		ts := strconv.FormatInt(now().Unix(), 10)
		msg["timestamp"], msg["sign"] = ts, FeishuSign(ts, f.Secret)
	}
	return postJSON(ctx, client(f.Client), f.URL, msg)
}

// FeishuSign returns the sign of a Feishu bot message sent at timestamp
// (unix seconds, in decimal) with the bot's secret.
func FeishuSign(timestamp, secret string) string {
	h := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Slack posts every alert to a Slack-compatible incoming webhook
// ({"text": ...}; Mattermost, Rocket.Chat and Discord's /slack take it).
type Slack struct {
	URL    string
	Client *http.Client // nil means NewClient(false)
}

func (s *Slack) Name() string { return "slack" }

// Send posts a.
func (s *Slack) Send(ctx context.Context, a *aiproxy.Alert) error {
	return postJSON(ctx, client(s.Client), s.URL, map[string]string{"text": text(a)})
}

// LogSink writes every alert to Logger (nil: slog.Default()): critical
// ones as errors, warnings as warnings, the others as information.
type LogSink struct{ Logger *slog.Logger }

func (LogSink) Name() string { return "log" }

// Send logs a; it never fails.
func (l LogSink) Send(ctx context.Context, a *aiproxy.Alert) error {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	level := slog.LevelInfo
	switch a.Severity {
	case aiproxy.SeverityCritical:
		level = slog.LevelError
	case aiproxy.SeverityWarning:
		level = slog.LevelWarn
	}
	lg.Log(ctx, level, "alert: "+a.Title, "kind", a.Kind, "key", a.ThrottleKey(), "text", a.Text)
	return nil
}

var defaultClient = NewClient(false)

func client(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return defaultClient
}
