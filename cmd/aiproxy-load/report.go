package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one run measured. Sections of scenarios that were
// not run are empty.
type Report struct {
	Command    string          `json:"command"`
	Started    time.Time       `json:"started"`
	Machine    Machine         `json:"machine"`
	Config     *config         `json:"config"`
	Throughput []ThroughputRow `json:"throughput,omitempty"`
	Latency    []LatencyRow    `json:"latency,omitempty"`
	TTFB       []TTFBRow       `json:"ttfb,omitempty"`
	Streams    []StreamsRow    `json:"open_streams,omitempty"`
	Early      []EarlyRow      `json:"early_answer,omitempty"`
	Soak       *SoakResult     `json:"soak,omitempty"`
	Logs       *LogsResult     `json:"logs,omitempty"`
	Live       *LiveResult     `json:"live,omitempty"`
	Checks     []Check         `json:"checks"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	MemTotal   string `json:"mem_total"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	FileLimit  uint64 `json:"file_limit"`
	// OtherCPU is the share of the machine's CPU capacity that processes
	// outside the run used while it measured (scenarios 1 to 5); more
	// than a few percent means noisier numbers.
	OtherCPU float64 `json:"other_cpu_share"`
	LoadAvg  string  `json:"loadavg_at_start"`
}

// machine returns the description of this machine.
func machine(fileLimit uint64) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), FileLimit: fileLimit}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range bytes.Lines(b) {
			if k, v, ok := strings.Cut(string(line), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if n, err := statusBytes(b, "MemTotal"); err == nil {
			m.MemTotal = fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}

// Check is one target of the issue, judged.
type Check struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	// Status is "pass", "fail", "warn" (a soft target missed: reported,
	// not failed) or "skip" (its scenario did not run).
	Status string `json:"status"`
	Hard   bool   `json:"hard"`
}

// failed reports whether any hard check failed.
func (r *Report) failed() bool {
	for _, c := range r.Checks {
		if c.Hard && c.Status == "fail" {
			return true
		}
	}
	return false
}

// judge fills r.Checks from the results.
func (r *Report) judge(cfg *config) {
	add := func(name string, hard, ok bool, measured string) {
		st := "pass"
		switch {
		case !ok && hard:
			st = "fail"
		case !ok:
			st = "warn"
		}
		r.Checks = append(r.Checks, Check{Name: name, Measured: measured, Status: st, Hard: hard})
	}
	skip := func(name string, hard bool) {
		r.Checks = append(r.Checks, Check{Name: name, Measured: "not run", Status: "skip", Hard: hard})
	}

	const tpName = "non-streaming throughput >= bare proxy (fair transport)"
	gwT, pxT := findThroughput(r.Throughput, nameGateway), findThroughput(r.Throughput, nameProxy)
	if gwT != nil && pxT != nil && pxT.ReqPerSec > 0 {
		ratio := gwT.ReqPerSec / pxT.ReqPerSec
		add(tpName, false, ratio >= 1, fmt.Sprintf("%.0f vs %.0f req/s: ratio %.2f", gwT.ReqPerSec, pxT.ReqPerSec, ratio))
	} else {
		skip(tpName, false)
	}

	if l := r.Live; l != nil {
		measured := fmt.Sprintf("%d liveMetrics and %d logAdded events in %v", l.MetricsEvents, l.LogEvents, l.Held)
		if l.Ended != "" {
			measured += "; ended early: " + l.Ended
		}
		add("live subscriptions held through the throughput scenario, with events", true,
			l.Ended == "" && l.MetricsEvents > 0 && l.LogEvents > 0, measured)
		add("a logAdded event for every request sent to the gateway", false, l.LogEvents == l.GatewayRequests,
			fmt.Sprintf("%d events, %d requests", l.LogEvents, l.GatewayRequests))
	}

	const errName = "no failed requests through the gateway"
	if r.Throughput != nil || r.Latency != nil || r.TTFB != nil {
		var bad, all int
		var first string
		note := func(ok, errs int, msg string) {
			all += ok + errs
			bad += errs
			if first == "" && msg != "" {
				first = msg
			}
		}
		if t := findThroughput(r.Throughput, nameGateway); t != nil {
			note(t.OK, t.Errors, t.FirstErr)
		}
		for _, l := range r.Latency {
			if l.Target == nameGateway {
				note(l.OK, l.Errors+l.Skipped, l.FirstErr)
			}
		}
		for _, s := range r.TTFB {
			if s.Target == nameGateway {
				note(s.Complete, s.Streams-s.Complete, s.Problem)
			}
		}
		m := fmt.Sprintf("%d failed of %d", bad, all)
		if first != "" {
			m += ": " + first
		}
		add(errName, true, bad == 0, m)
	} else {
		skip(errName, true)
	}

	if cfg.has("soak") {
		r.judgeSoak(add, skip)
	}

	const logName = "log rows = requests answered"
	if l := r.Logs; l != nil {
		m := fmt.Sprintf("%d rows, %d answered", l.Rows, l.Answered)
		if l.NoAnswer > 0 {
			m += fmt.Sprintf(" (+%d without answer)", l.NoAnswer)
		}
		if l.Err != "" {
			m += "; " + l.Err
		}
		add(logName, true, l.Err == "" && l.Rows == l.Answered, m)
	} else {
		skip(logName, true)
	}

	cancelName := fmt.Sprintf("%d disconnected streams cancelled upstream < %v", cfg.Streams, cfg.CancelLimit)
	rssName := fmt.Sprintf("gateway RSS with %d open streams < %d MB", cfg.Streams, cfg.RSSLimitMB)
	if s := findStreams(r.Streams, nameGateway); s != nil {
		m := fmt.Sprintf("%s for %d opened", s.CancelTime, s.Opened)
		if s.Remaining > 0 {
			m += fmt.Sprintf(", %d still open", s.Remaining)
		}
		if s.FirstErr != "" {
			m += "; " + s.FirstErr
		}
		add(cancelName, true, s.Opened == s.Want && s.Remaining == 0 && time.Duration(s.CancelTime) < cfg.CancelLimit, m)
		add(rssName, true, s.Opened == s.Want && s.RSSOpen < int64(cfg.RSSLimitMB)<<20,
			fmt.Sprintf("%s with %d open", mb(s.RSSOpen), s.Opened))
	} else {
		skip(cancelName, true)
		skip(rssName, true)
	}

	const earlyName = "early answer: no stream cut short"
	if e := findEarly(r.Early, nameGateway); e != nil {
		runs, intact := e.totals()
		m := fmt.Sprintf("%d of %d intact", intact, runs)
		for _, s := range e.Sizes {
			if s.Problem != "" {
				m += fmt.Sprintf("; %s: %s", size(s.BodyBytes), s.Problem)
				break
			}
		}
		add(earlyName, true, runs > 0 && intact == runs, m)
	} else {
		skip(earlyName, true)
	}
}

// soakSuccessTarget is the soak's hard target: the share of client
// requests that must succeed.
const soakSuccessTarget = 0.999

// soakRSSSlack is the soak's soft target: how much more the gateway's RSS
// may be at rest after the soak than before it.
const soakRSSSlack = 20 << 20

// judgeSoak adds the soak's checks: the success rate (hard), and the
// gateway's RSS and sockets at rest after it (soft).
func (r *Report) judgeSoak(add func(string, bool, bool, string), skip func(string, bool)) {
	rateName := fmt.Sprintf("soak: success rate >= %.1f%% with injected upstream failures", 100*soakSuccessTarget)
	const rssName = "soak: gateway RSS at rest after within +20 MB of before"
	const sockName = "soak: gateway sockets at rest back to the count before"
	s := r.Soak
	if s == nil || (s.Err != "" && s.Requests == 0) {
		skip(rateName, true)
		skip(rssName, false)
		skip(sockName, false)
		return
	}
	m := fmt.Sprintf("%.3f%%: %d of %d", 100*s.SuccessRate, s.Succeeded, s.Requests)
	if len(s.Failures) > 0 {
		m += fmt.Sprintf("; most failed with %dx %s", s.Failures[0].Count, s.Failures[0].Error)
	}
	if s.Err != "" {
		m += "; " + s.Err
	}
	add(rateName, true, s.Err == "" && s.SuccessRate >= soakSuccessTarget, m)
	add(rssName, false, s.RSSAfter > 0 && s.RSSAfter-s.RSSBefore <= soakRSSSlack,
		fmt.Sprintf("%s before, %s after (%+.1f MB)", mb(s.RSSBefore), mb(s.RSSAfter), float64(s.RSSAfter-s.RSSBefore)/(1<<20)))
	add(sockName, false, s.SocketsAfter <= s.SocketsBefore,
		fmt.Sprintf("%d before, %d after %v at rest", s.SocketsBefore, s.SocketsAfter, s.IdleWait))
}

func findThroughput(rows []ThroughputRow, name string) *ThroughputRow {
	for i := range rows {
		if rows[i].Target == name {
			return &rows[i]
		}
	}
	return nil
}

func findStreams(rows []StreamsRow, name string) *StreamsRow {
	for i := range rows {
		if rows[i].Target == name {
			return &rows[i]
		}
	}
	return nil
}

func findEarly(rows []EarlyRow, name string) *EarlyRow {
	for i := range rows {
		if rows[i].Target == name {
			return &rows[i]
		}
	}
	return nil
}

// micros formats d in microseconds, e.g. "162µs".
func micros(d Duration) string {
	return strconv.FormatInt(time.Duration(d).Microseconds(), 10) + "µs"
}

// size formats a body size: "64 KiB", "8 MiB".
func size(n int) string {
	if n >= 1<<20 {
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<10), 'f', 0, 64) + " KiB"
}

// mb formats a byte count in MB (2^20 bytes); "-" for 0.
func mb(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// writeJSON writes r as indented JSON.
func (r *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeText writes r as tables.
func (r *Report) writeText(w io.Writer) {
	cfg := r.Config
	m := r.Machine
	fmt.Fprintf(w, "aiproxy-load: %s\n", r.Command)
	fmt.Fprintf(w, "machine: %s, %d CPUs (GOMAXPROCS %d), %s RAM, %s, %s, open files %d\n",
		m.CPU, m.CPUs, m.GOMAXPROCS, m.MemTotal, m.Kernel, m.Go, m.FileLimit)
	noisy := ""
	if m.OtherCPU > 0.05 {
		noisy = " (noisy: compare CPU/req rather than req/s)"
	}
	fmt.Fprintf(w, "         load average at start %s; other processes used %.0f%% of the CPUs while measuring%s\n",
		m.LoadAvg, 100*m.OtherCPU, noisy)
	fmt.Fprintf(w, "targets: direct = the fake provider itself; proxy = bare httputil.ReverseProxy with the gateway's transport (relay.NewTransport);\n")
	fmt.Fprintf(w, "         proxy-default = the same with http.DefaultTransport; gateway = aiproxy with auth, routing, pricing and SQLite logging.\n")
	fmt.Fprintf(w, "         Each serves from its own process; the load comes from this one.\n")

	tw := func() *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight) }
	if rows := r.Throughput; rows != nil {
		fmt.Fprintf(w, "\n1. Non-streaming throughput at saturation: %d workers back to back, %d rounds of %v per target (median round)\n",
			cfg.Workers, cfg.Rounds, cfg.Duration)
		t := tw()
		fmt.Fprintln(t, "target\treq/s\trounds\tok\terrors\tmean\tp50\tp99\tCPU/req\t")
		for _, x := range rows {
			var rs []string
			for _, v := range x.Rounds {
				rs = append(rs, strconv.FormatFloat(v, 'f', 0, 64))
			}
			fmt.Fprintf(t, "%s\t%.0f\t%s\t%d\t%d\t%v\t%v\t%v\t%s\t\n", x.Target, x.ReqPerSec, strings.Join(rs, " "),
				x.OK, x.Errors, x.Latency.Mean, x.Latency.P50, x.Latency.P99, micros(x.CPUPerReq))
		}
		t.Flush()
		fmt.Fprintf(w, "   CPU/req = CPU time of the serving process per request (direct: the provider's), including work done\n")
		fmt.Fprintf(w, "   after the round (such as writing logs): steadier than req/s on a shared machine.\n")
		for _, x := range rows {
			if time.Duration(x.Settle) > time.Second {
				fmt.Fprintf(w, "   %s kept busy for %v after a round (work left behind).\n", x.Target, x.Settle)
			}
		}
		for _, x := range rows {
			if x.FirstErr != "" {
				fmt.Fprintf(w, "   %s first error: %s\n", x.Target, x.FirstErr)
			}
		}
	}
	if rows := r.Latency; rows != nil {
		fmt.Fprintf(w, "\n2. Latency at a fixed rate: %.0f req/s open loop for %v per target (latency from the moment a request was due)\n",
			cfg.Rate, cfg.RateDuration)
		t := tw()
		fmt.Fprintln(t, "target\tachieved\tok\terrors\tskipped\tp50\tp90\tp99\tmax\tCPU/req\t")
		for _, x := range rows {
			fmt.Fprintf(t, "%s\t%.0f/s\t%d\t%d\t%d\t%v\t%v\t%v\t%v\t%s\t\n", x.Target, x.Achieved, x.OK, x.Errors, x.Skipped,
				x.Latency.P50, x.Latency.P90, x.Latency.P99, x.Latency.Max, micros(x.CPUPerReq))
		}
		t.Flush()
		for _, x := range rows {
			if x.FirstErr != "" {
				fmt.Fprintf(w, "   %s first error: %s\n", x.Target, x.FirstErr)
			}
		}
	}
	if rows := r.TTFB; rows != nil {
		fmt.Fprintf(w, "\n3. Streaming: %d streams per target from %d workers; %d content chunks, an event every %v (%d events + [DONE])\n",
			cfg.StreamCount, cfg.StreamWorkers, cfg.Chunks, cfg.ChunkDelay, slowEvents(cfg.Chunks))
		t := tw()
		fmt.Fprintln(t, "target\tcomplete\tTTFB p50\tTTFB p99\ttotal p50\ttotal p99\t")
		for _, x := range rows {
			fmt.Fprintf(t, "%s\t%d/%d\t%v\t%v\t%v\t%v\t\n", x.Target, x.Complete, x.Streams, x.TTFB.P50, x.TTFB.P99, x.Total.P50, x.Total.P99)
		}
		t.Flush()
		for _, x := range rows {
			if x.Problem != "" {
				fmt.Fprintf(w, "   %s first broken stream: %s\n", x.Target, x.Problem)
			}
		}
	}
	if rows := r.Streams; rows != nil {
		fmt.Fprintf(w, "\n4. %d streams held open by the provider, then every client disconnected at once\n", cfg.Streams)
		t := tw()
		fmt.Fprintln(t, "target\topened\tRSS before\tRSS open\tpeak RSS\tcancel all\tcancelled\tstill open\t")
		for _, x := range rows {
			fmt.Fprintf(t, "%s\t%d\t%s\t%s\t%s\t%v\t%d\t%d\t\n", x.Target, x.Opened, mb(x.RSSBefore), mb(x.RSSOpen), mb(x.PeakRSS),
				x.CancelTime, x.Cancelled, x.Remaining)
		}
		t.Flush()
		fmt.Fprintf(w, "   RSS of the serving process (for direct: the provider); cancel all = from the disconnect until the provider holds no stream.\n")
		for _, x := range rows {
			if x.FirstErr != "" {
				fmt.Fprintf(w, "   %s first error: %s\n", x.Target, x.FirstErr)
			}
		}
	}
	if rows := r.Early; rows != nil {
		fmt.Fprintf(w, "\n5. Early answer: the provider streams %d events, %v apart, without ever reading the request body;\n", earlyEvents, earlyDelay)
		fmt.Fprintf(w, "   %d requests per body size, one at a time; intact = every event and [DONE] arrived\n", cfg.EarlyRuns)
		t := tw()
		fmt.Fprint(t, "target\t")
		for _, n := range cfg.EarlySizes {
			fmt.Fprintf(t, "%s\t", size(n))
		}
		fmt.Fprintln(t)
		for _, x := range rows {
			fmt.Fprintf(t, "%s\t", x.Target)
			for _, s := range x.Sizes {
				fmt.Fprintf(t, "%d/%d\t", s.Intact, s.Runs)
			}
			fmt.Fprintln(t)
		}
		t.Flush()
		for _, x := range rows {
			for _, s := range x.Sizes {
				if s.Problem != "" {
					fmt.Fprintf(w, "   %s, %s: first broken stream: %s\n", x.Target, size(s.BodyBytes), s.Problem)
				}
			}
		}
	}
	if l := r.Live; l != nil {
		fmt.Fprintf(w, "\nLive subscriber (-live): liveMetrics and logAdded over WebSocket, held %v during scenario 1\n", l.Held)
		fmt.Fprintf(w, "   liveMetrics events: %d (requests in them: %d); logAdded events: %d of %d requests sent to the gateway\n",
			l.MetricsEvents, l.MetricsRequests, l.LogEvents, l.GatewayRequests)
		if l.Ended != "" {
			fmt.Fprintf(w, "   ended early: %s\n", l.Ended)
		}
	}
	if s := r.Soak; s != nil {
		s.writeText(w, cfg)
	}
	if l := r.Logs; l != nil {
		fmt.Fprintf(w, "\n6. Log integrity: gateway stopped with SIGTERM (exit after %v), rows counted in its SQLite file\n", l.Shutdown)
		fmt.Fprintf(w, "   relay requests answered: %d (without answer: %d); rows in logs: %d\n", l.Answered, l.NoAnswer, l.Rows)
		if l.Err != "" {
			fmt.Fprintf(w, "   error: %s\n", l.Err)
		}
	}

	fmt.Fprintf(w, "\nTargets:\n")
	for _, c := range r.Checks {
		kind := "hard"
		if !c.Hard {
			kind = "soft"
		}
		fmt.Fprintf(w, "  %-4s  %s (%s): %s\n", strings.ToUpper(c.Status), c.Name, kind, c.Measured)
	}
}

// writeText writes the soak's section of the report.
func (s *SoakResult) writeText(w io.Writer, cfg *config) {
	fmt.Fprintf(w, "\n7. Soak: %d requests from %d workers through the gateway (every 4th streamed) to a model of %d channels,\n",
		cfg.SoakRequests, cfg.SoakWorkers, soakChannels)
	fmt.Fprintf(w, "   equal priority and weight; the provider fails %.1f%% of the upstream requests (%.0f%% of those 429 with Retry-After: 1, the rest 500)\n",
		100*cfg.SoakFailureRate, 100*cfg.Soak429Share)
	if s.Err != "" {
		fmt.Fprintf(w, "   error: %s\n", s.Err)
	}
	fmt.Fprintf(w, "   sent %d (%d streamed), succeeded %d, failed %d: success rate %.3f%%\n",
		s.Requests, s.Streams, s.Succeeded, s.Failed, 100*s.SuccessRate)
	fmt.Fprintf(w, "   %v, %.0f req/s; latency of the succeeded p50 %v, p99 %v, max %v\n",
		s.Elapsed, s.ReqPerSec, s.Latency.P50, s.Latency.P99, s.Latency.Max)
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "   channel\tupstream\tinjected\tof them 429\t")
	var f, f429 int64
	for _, c := range s.Channels {
		fmt.Fprintf(t, "   %s\t%d\t%d\t%d\t\n", c.Name, c.Upstream, c.Failed, c.Of429)
		f += c.Failed
		f429 += c.Of429
	}
	fmt.Fprintf(t, "   all\t%d\t%d\t%d\t\n", s.Upstream, f, f429)
	t.Flush()
	fmt.Fprintf(w, "   retries (upstream requests - client requests): %d", s.Retries)
	if s.Retries < 0 {
		fmt.Fprintf(w, " (negative: the gateway answered requests without trying any channel)")
	}
	fmt.Fprintln(w)
	for i, x := range s.Failures {
		if i == 5 {
			fmt.Fprintf(w, "   ... %d more kinds\n", len(s.Failures)-i)
			break
		}
		fmt.Fprintf(w, "   failed %dx: %s\n", x.Count, x.Error)
	}
	for _, l := range s.SocketsLeft {
		fmt.Fprintf(w, "   gateway socket at rest after: %s\n", l)
	}
	fmt.Fprintf(w, "   gateway at rest (no idle connection at either side): RSS %s before, %s after; sockets %d before, %d after (%v of rest)\n",
		mb(s.RSSBefore), mb(s.RSSAfter), s.SocketsBefore, s.SocketsAfter, s.IdleWait)
}
