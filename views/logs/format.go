package logs

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
)

// whole formats an integer.
func whole(n int64) string { return strconv.FormatInt(n, 10) }

// money formats an amount in currency units with at least two decimals
// and at most nine, exactly (no float rounding).
func money(a aiproxy.Amount) string { return a.String() }

// millis formats a duration in milliseconds ("—" for none).
func millis(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	if d < 10*time.Millisecond {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
}

// when formats t in loc for the table, and machineTime for datetime.
func when(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05")
}

func machineTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// orDash returns s, or "—" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// idOrDash formats an id, "—" for 0 (none).
func idOrDash(id int64) string {
	if id == 0 {
		return "—"
	}
	return whole(id)
}

// statusKind is how a log's outcome is shown: "ok" or "error", in its
// badge's class and data-status.
func statusKind(l *aiproxy.Log) string {
	if l.Error != "" || l.StatusCode >= 400 {
		return "error"
	}
	return "ok"
}

// statusText is the badge's text: the outcome in words and the HTTP
// status, so that it is never told by colour alone.
func statusText(l *aiproxy.Log) string {
	word := "OK"
	if statusKind(l) == "error" {
		word = "Failed"
	}
	if l.StatusCode == 0 {
		return word
	}
	return word + " " + strconv.Itoa(l.StatusCode)
}

// statusTitle is the badge's title: the status's name and the error.
func statusTitle(l *aiproxy.Log) string {
	t := http.StatusText(l.StatusCode)
	if l.Error != "" {
		if t != "" {
			t += ": "
		}
		t += l.Error
	}
	return t
}

// protocols names the client's protocol and, when it was converted, the
// channel's ("openai → anthropic").
func protocols(l *aiproxy.Log) string {
	c := string(l.ClientProtocol)
	if c == "" {
		c = string(aiproxy.ProtocolOpenAI)
	}
	if l.ChannelProtocol == "" || l.ChannelProtocol == l.ClientProtocol {
		return c
	}
	return c + " → " + string(l.ChannelProtocol)
}

// modelText names the model asked for and, when mapping changed it, the
// model sent upstream.
func modelText(l *aiproxy.Log) string {
	if l.UpstreamModel == "" || l.UpstreamModel == l.Model {
		return orDash(l.Model)
	}
	return orDash(l.Model) + " → " + l.UpstreamModel
}

// tokenText names the token: its name, else its id.
func tokenText(l *aiproxy.Log) string {
	switch {
	case l.TokenName != "" && l.TokenID != 0:
		return l.TokenName + " (#" + whole(l.TokenID) + ")"
	case l.TokenName != "":
		return l.TokenName
	}
	return idOrDash(l.TokenID)
}

// costText is the amount billed, or "unpriced".
func costText(l *aiproxy.Log) string {
	if l.Unpriced {
		return "unpriced"
	}
	return money(l.Amount)
}

// pretty returns a body for display: JSON indented when it is valid JSON,
// the text as it is otherwise (a truncated body is seldom valid). The
// caller escapes it: templ does.
func pretty(body string) string {
	b := []byte(body)
	if !json.Valid(b) {
		return body
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return body
	}
	return out.String()
}

// isJSON reports whether body is valid JSON.
func isJSON(body string) bool { return json.Valid([]byte(body)) }

// component is one part of a usage or a cost, shown when it is not zero.
type component struct {
	Name  string
	Key   string // for data-testid
	Value string
}

// usageParts returns the non-zero counts of u, prompt and completion
// tokens first.
func usageParts(u aiproxy.Usage) []component {
	all := []struct {
		name, key string
		n         int64
	}{
		{"Prompt tokens", "prompt", u.PromptTokens},
		{"Cached (read)", "cached", u.CachedTokens},
		{"Cache writes", "cache-creation", u.CacheCreationTokens},
		{"Cache writes, 1 h TTL", "cache-creation-1h", u.CacheCreation1hTokens},
		{"Image input", "image-input", u.ImageInputTokens},
		{"Audio input", "audio-input", u.AudioInputTokens},
		{"Completion tokens", "completion", u.CompletionTokens},
		{"Reasoning", "reasoning", u.ReasoningTokens},
		{"Image output", "image-output", u.ImageOutputTokens},
		{"Audio output", "audio-output", u.AudioOutputTokens},
		{"Total tokens", "total", u.TotalTokens},
		{"Billable requests", "requests", u.Requests},
	}
	var out []component
	for _, c := range all {
		if c.n != 0 || c.key == "prompt" || c.key == "completion" || c.key == "total" {
			out = append(out, component{c.name, c.key, whole(c.n)})
		}
	}
	return out
}

// costParts returns the non-zero components of c.
func costParts(c aiproxy.Cost) []component {
	all := []struct {
		name, key string
		a         aiproxy.Amount
	}{
		{"Input", "input", c.Input},
		{"Cached input", "cached-input", c.CachedInput},
		{"Cache writes", "cache-write", c.CacheWrite},
		{"Cache writes, 1 h TTL", "cache-write-1h", c.CacheWrite1h},
		{"Image input", "image-input", c.ImageInput},
		{"Audio input", "audio-input", c.AudioInput},
		{"Output", "output", c.Output},
		{"Reasoning", "reasoning", c.Reasoning},
		{"Image output", "image-output", c.ImageOutput},
		{"Audio output", "audio-output", c.AudioOutput},
		{"Per request", "request", c.Request},
	}
	var out []component
	for _, p := range all {
		if p.a != 0 {
			out = append(out, component{p.name, p.key, money(p.a)})
		}
	}
	return out
}

// attemptStatus is an attempt's status: its HTTP status, or "no answer".
func attemptStatus(a aiproxy.LogAttempt) string {
	if a.Status == 0 {
		return "no answer"
	}
	return strconv.Itoa(a.Status)
}

// attemptOutcome is an attempt's outcome in words.
func attemptOutcome(a aiproxy.LogAttempt) string {
	if a.Error == "" {
		return "answered"
	}
	return "failed"
}

// caption describes the table for assistive technology.
func caption(v *listView) string {
	c := "Request logs, newest first, times in " + v.Query.zoneName()
	if v.Query.Tail && v.Live {
		c += "; new requests are added at the top as they finish"
	}
	return c
}

// zoneName is the zone the page's times are in.
func (q query) zoneName() string { return q.Location.String() }

// boolString is "true" or "false".
func boolString(b bool) string { return strconv.FormatBool(b) }
