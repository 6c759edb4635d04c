package graph

import (
	"encoding/csv"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph/model"
)

// exportPage is the logs read per query of a CSV export.
const exportPage = 500

var exportHeader = []string{
	"id", "request_id", "created_at", "group", "token_id", "token_name", "channel_id", "model", "upstream_model",
	"endpoint", "mode", "client_protocol", "stream", "status", "prompt_tokens", "completion_tokens", "cached_tokens",
	"cache_creation_tokens", "reasoning_tokens", "total_tokens", "amount", "unpriced", "latency_ms", "ttfb_ms",
	"client_ip", "user", "upstream_request_id", "error",
}

// LogsCSV serves the CSV export (see exportLogs) to callers authenticated
// by someone else, such as the admin pages' session: group returns the
// caller's group id, or "" for the admin. The logs are read from logs.
func LogsCSV(logs aiproxy.LogService, group func(*http.Request) string) http.Handler {
	s := &server{logs: logs, logger: slog.Default()}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &caller{}
		if g := group(r); g != "" {
			c.token = &aiproxy.Token{GroupID: g}
		}
		s.exportLogs(w, r.WithContext(withCaller(r.Context(), c)))
	})
}

// exportLogs streams the logs matching the query parameters (group,
// tokenId, channelId, model, requestId, from, to as RFC 3339, failed) as
// CSV, newest first, a page at a time: nothing is built in memory. A
// group caller exports its own group's logs only. Bodies are not
// exported.
func (s *server) exportLogs(w http.ResponseWriter, r *http.Request) {
	if s.logs == nil {
		writeError(w, http.StatusNotFound, aiproxy.ENOTFOUND, "no log service")
		return
	}
	q := r.URL.Query()
	opt := func(name string) *string {
		if !q.Has(name) {
			return nil
		}
		v := q.Get(name)
		return &v
	}
	in := &model.LogFilter{Group: opt("group"), TokenID: opt("tokenId"), ChannelID: opt("channelId"), Model: opt("model"), RequestID: opt("requestId")}
	for _, t := range []struct {
		name string
		dst  **time.Time
	}{{"from", &in.From}, {"to", &in.To}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, aiproxy.EINVALID, t.name+" must be an RFC 3339 time")
				return
			}
			*t.dst = &at
		}
	}
	if v := q.Get("failed"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, aiproxy.EINVALID, "failed must be true or false")
			return
		}
		in.Failed = &b
	}
	if c, ok := groupCaller(r.Context()); ok {
		if err := ownGroup(c, in.Group); err != nil {
			writeError(w, http.StatusForbidden, aiproxy.EFORBIDDEN, err.Error())
			return
		}
	}
	in.Group = ptrOr(scopeGroup(r.Context(), in.Group))
	first := exportPage
	f, err := logFilter(in, &first, nil)
	if err != nil {
		writeError(w, http.StatusBadRequest, aiproxy.EINVALID, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="logs.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(exportHeader)
	row := make([]string, len(exportHeader))
	fl, _ := w.(http.Flusher)
	for {
		logs, more, err := s.logs.Logs(r.Context(), f)
		if err != nil {
			// The status is sent: end the file with a line saying so.
			s.logger.ErrorContext(r.Context(), "graph: export logs", "err", err)
			cw.Write([]string{"# export cut short: internal error"})
			cw.Flush()
			return
		}
		for _, l := range logs {
			cw.Write(exportRow(row, l))
		}
		cw.Flush()
		if cw.Error() != nil || len(logs) == 0 || !more {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		f.Before = logs[len(logs)-1].ID
	}
}

func ptrOr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func exportRow(row []string, l *aiproxy.Log) []string {
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
	}
	return append(row[:0],
		i64(l.ID), l.RequestID, l.CreatedAt.UTC().Format(time.RFC3339Nano), l.GroupID, i64(l.TokenID), l.TokenName,
		i64(l.ChannelID), l.Model, l.UpstreamModel, l.Endpoint, string(l.Mode), string(l.ClientProtocol),
		strconv.FormatBool(l.Stream), strconv.Itoa(l.StatusCode), i64(l.Usage.PromptTokens), i64(l.Usage.CompletionTokens),
		i64(l.Usage.CachedTokens), i64(l.Usage.CacheCreationTokens), i64(l.Usage.ReasoningTokens), i64(l.Usage.TotalTokens),
		strconv.FormatFloat(l.Amount.Float(), 'f', -1, 64), strconv.FormatBool(l.Unpriced), ms(l.Latency), ms(l.TTFB),
		l.ClientIP, l.User, l.UpstreamRequestID, l.Error,
	)
}
