package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// This file proves that the real command-line clients work through the
// gateway: Claude Code (npm @anthropic-ai/claude-code) and Gemini CLI (npm
// @google/gemini-cli) run against the real gateway wiring on SQLite, with
// channels created through the GraphQL admin API and the fakes of relaytest
// as upstreams. Every scenario (plain answer, long stream, reasoning, a tool
// round trip the CLI executes, upstream errors) runs over a channel of the
// client's own protocol (pass-through) and over channels of the other
// protocols (conversion), and checks three views of it: what the CLI
// printed, what the fake received, and what the gateway logged.
//
// The CLIs are found through AIPROXY_CLAUDE and AIPROXY_GEMINI (paths to
// the binaries; .ci/run installs them). Without them the tests skip, but
// under CI=true they fail. Each CLI run gets its own HOME and working
// directory, an environment built from scratch (nothing leaks in from the
// developer's, such as a real ANTHROPIC_API_KEY) and clientTimeout.

const (
	// clientTimeout bounds one CLI run, so that a hang fails the test.
	clientTimeout = 60 * time.Second

	// toolMarker is what the shell command the fakes ask for prints.
	toolMarker = "aiproxy-tool-ok"
	// shellArgs are the arguments of the shell tool call the fakes make:
	// Claude Code's Bash and Gemini CLI's run_shell_command both take a
	// command and a description.
	shellArgs = `{"command":"echo ` + toolMarker + `","description":"print a marker"}`

	// claudeRetries is CLAUDE_CODE_MAX_RETRIES for every Claude Code run.
	// By default Claude Code retries a 5xx or a 429 ten times with
	// exponential backoff (up to about five minutes); two retries keep the
	// error scenarios to a few seconds and make their request count exact.
	claudeRetries = 2
	// geminiAttempts is Gemini CLI's general.maxAttempts setting for every
	// run. Its default is 10 attempts, the first retry after 5 s doubling
	// up to 30 s; two attempts keep the error scenarios under ten seconds.
	geminiAttempts = 2

	// echoRunes is how much of the user's text the fakes echo (see the
	// relaytest package documentation).
	echoRunes = 256
)

// longReply is what the fakes behind the "long" channels answer: about
// 3,000 words (18 KB), streamed in longChunks pieces.
var longReply = func() string {
	var b strings.Builder
	for i := 1; i <= 300; i++ {
		if i > 1 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "Sentence %d of the long answer streams through the gateway intact.", i)
	}
	return b.String()
}()

const longChunks = 600

// channelKind is one channel type the clients are tried over.
type channelKind struct {
	typ      string // the channel type, as createChannel takes it
	protocol string // the channel protocol, as the logs show it
	// base returns a channel's base URL for a fake served at srv.
	base func(srv *httptest.Server) string
}

var (
	anthropicChannel = channelKind{"anthropic", "ANTHROPIC", func(s *httptest.Server) string { return s.URL }}
	openaiChannel    = channelKind{"openai", "OPENAI", func(s *httptest.Server) string { return s.URL + "/v1" }}
	geminiChannel    = channelKind{"gemini", "GEMINI", func(s *httptest.Server) string { return s.URL }}
)

// recorder is what every fake provider offers the checks.
type recorder interface {
	Requests() []relaytest.Request
}

// clientRig is the gateway in front of two fakes per channel type: main
// (echo, scenario models, the shell tool call) and long (longReply).
type clientRig struct {
	url   string
	key   string // the gateway token the CLIs use
	fakes map[string][2]recorder
}

// scenario is one thing a CLI is asked to do.
type scenario struct {
	name   string
	model  string // the fake's model; suffixed to be unique per CLI and channel
	long   bool   // served by the long fake
	prompt string
	// turns is how many successful upstream answers the scenario takes.
	turns int
	// failed, for the error scenarios, says whether a logged status is the
	// one each attempt must fail with; nil for the others.
	failed func(status int) bool
}

var scenarios = []scenario{
	{name: "plain", model: "echo", prompt: "say hi", turns: 1},
	{name: "long", model: "long", long: true, prompt: "write a long answer", turns: 1},
	{name: "reasoning", model: relaytest.ModelReasoning, prompt: "think, then say hi", turns: 1},
	{name: "tool", model: relaytest.ModelTools, prompt: "print the marker with the shell", turns: 2},
	{name: "server_error", model: relaytest.ModelServerError, prompt: "say hi", failed: func(st int) bool { return st >= 500 }},
	{name: "rate_limited", model: relaytest.ModelRateLimited, prompt: "say hi", failed: func(st int) bool { return st == 429 }},
}

// clientModel is the model a CLI asks for in a scenario over a channel.
func clientModel(cli clientCLI, ch channelKind, sc scenario) string {
	if m := cli.known[sc.name+"/"+ch.typ]; m != "" {
		return m
	}
	return cli.prefix + "-" + ch.typ + "-" + sc.name
}

// upstreamModel is the fake's model the channel maps clientModel to.
func upstreamModel(cli clientCLI, ch channelKind, sc scenario) string {
	return sc.model + "-" + cli.name + "-" + ch.typ
}

// newClientRig starts the gateway and the fakes, and creates through the
// admin API a channel per fake serving the scenarios of cli over kinds.
func newClientRig(t *testing.T, cli clientCLI, kinds []channelKind) *clientRig {
	t.Helper()
	g := startGateway(t, testConfig(t, ""))
	rig := &clientRig{url: g.srv.URL, fakes: map[string][2]recorder{}}
	tool := []relaytest.Option{relaytest.WithToolCall("Bash", shellArgs), relaytest.WithToolCall("run_shell_command", shellArgs)}
	long := []relaytest.Option{relaytest.WithReply(longReply), relaytest.WithChunks(longChunks)}
	for _, ch := range kinds {
		key := "sk-upstream-" + ch.typ
		var srvs [2]*httptest.Server
		var fakes [2]recorder
		for i, opts := range [][]relaytest.Option{tool, long} {
			opts = append([]relaytest.Option{relaytest.WithKey(key)}, opts...)
			switch ch.typ {
			case "anthropic":
				p, srv := relaytest.StartAnthropic(t, opts...)
				fakes[i], srvs[i] = p, srv
			case "openai":
				p, srv := relaytest.Start(t, opts...)
				fakes[i], srvs[i] = p, srv
			case "gemini":
				p, srv := relaytest.StartGemini(t, opts...)
				fakes[i], srvs[i] = p, srv
			}
		}
		rig.fakes[ch.typ] = fakes
		for i, name := range []string{"main", "long"} {
			var models []string
			var mapping []map[string]string
			for _, sc := range scenarios {
				if sc.long == (i == 1) {
					m := clientModel(cli, ch, sc)
					models = append(models, m)
					mapping = append(mapping, map[string]string{"from": m, "to": upstreamModel(cli, ch, sc)})
				}
			}
			admin(t, rig.url, `mutation($in: CreateChannelInput!) { createChannel(input: $in) { id } }`, map[string]any{"in": map[string]any{
				"name": ch.typ + "-" + name, "type": ch.typ, "baseURL": ch.base(srvs[i]), "key": key, "models": models, "modelMapping": mapping,
			}}, nil)
		}
	}
	admin(t, rig.url, `mutation { createGroup(input: {id: "clients"}) { id } }`, nil, nil)
	var tok struct{ CreateToken struct{ Key string } }
	admin(t, rig.url, `mutation { createToken(input: {group: "clients", name: "cli"}) { key } }`, nil, &tok)
	rig.key = tok.CreateToken.Key
	return rig
}

// clientPath returns the path of a CLI from the environment variable env,
// and skips the test when it is unset, or fails it under CI=true.
func clientPath(t *testing.T, env, name string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		msg := fmt.Sprintf("%s not set: set it to the path of the %s binary to run %s through the gateway (.ci/run installs it)", env, name, name)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%s: %v", env, path, err)
	}
	return path
}

// cliResult is what a CLI run printed, decoded.
type cliResult struct {
	exit    error  // nil when the CLI exited with status 0
	text    string // the final answer, or the error message
	isError bool   // the CLI's own error flag
	// thinking is the visible reasoning ("" when the output exposes none).
	thinking string
	// thinkingTokens is the reasoning token count the CLI reports.
	thinkingTokens int64
	// toolRuns is how many tool calls the CLI ran successfully.
	toolRuns int
	stdout   []byte
	stderr   []byte
}

// clientCLI is a command-line client and how to run it.
type clientCLI struct {
	name string // its name in the fakes' models
	// prefix starts the models it asks for, as a real model of its
	// provider's starts ("claude", "gemini-3"): both CLIs adapt their
	// requests and prompts to the name.
	prefix string
	// known names, for some scenarios over some channel types
	// ("reasoning/openai"), a model of its provider it knows, as Claude
	// Code configures thinking, effort and max_tokens from a table of known
	// models; each is served by one channel only.
	known    map[string]string
	protocol string // its client protocol, as the logs show it
	// shellTool is the name of its shell tool, which the fakes call.
	shellTool string
	// run runs the CLI once, with HOME home in the working directory dir,
	// asking model for what sc says.
	run func(ctx context.Context, t *testing.T, rig *clientRig, home, dir, model string, sc scenario) *cliResult
}

// execCLI runs path with args and env in dir, bounded by ctx.
func execCLI(ctx context.Context, dir, path string, args, env []string) (stdout, stderr []byte, err error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = env
	// A shell the CLI started may outlive it and hold the pipes open: stop
	// waiting for them soon after the CLI itself exits or is killed.
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer within %v: %w", clientTimeout, ctx.Err())
	}
	return out.Bytes(), errOut.Bytes(), err
}

// baseEnv is the environment every CLI run starts from: PATH (the tool
// calls run a shell), the run's HOME, a TMPDIR of its own (where Claude
// Code keeps per-project state and Gemini CLI writes error reports), and
// no colours.
func baseEnv(t *testing.T, home string) []string {
	t.Helper()
	// Short, unlike t.TempDir's, for the Unix sockets the CLIs may make.
	tmp, err := os.MkdirTemp("", "cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + tmp, "NO_COLOR=1"}
}

// claudeCode runs `claude -p PROMPT --output-format json --model MODEL`
// (stream-json --verbose for reasoning, whose thinking blocks only the
// stream shows), with the gateway as ANTHROPIC_BASE_URL and its token as
// ANTHROPIC_API_KEY, --allowedTools Bash for the tool round trip.
func claudeCode(path string) clientCLI {
	return clientCLI{name: "claude", prefix: "claude", known: map[string]string{
		"reasoning/anthropic": "claude-opus-5-5", "reasoning/openai": "claude-sonnet-5-5", "reasoning/gemini": "claude-fable-5-2",
	}, protocol: "ANTHROPIC", shellTool: "Bash", run: func(ctx context.Context, t *testing.T, rig *clientRig, home, dir, model string, sc scenario) *cliResult {
		args := []string{"-p", sc.prompt, "--model", model, "--output-format", "json"}
		if sc.name == "reasoning" {
			args = []string{"-p", sc.prompt, "--model", model, "--output-format", "stream-json", "--verbose"}
		}
		if sc.name == "tool" {
			args = append(args, "--allowedTools", "Bash")
		}
		env := append(baseEnv(t, home), "ANTHROPIC_BASE_URL="+rig.url, "ANTHROPIC_API_KEY="+rig.key,
			"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", fmt.Sprintf("CLAUDE_CODE_MAX_RETRIES=%d", claudeRetries))
		stdout, stderr, err := execCLI(ctx, dir, path, args, env)
		res := &cliResult{exit: err, stdout: stdout, stderr: stderr}
		// Both formats end with the same result object; stream-json has one
		// JSON object a line, the assistant messages among them.
		found := false
		lines := bufio.NewScanner(bytes.NewReader(stdout))
		lines.Buffer(nil, 16<<20)
		for lines.Scan() {
			var line struct {
				Type    string
				Message struct {
					Content []struct{ Type, Thinking string }
				}
				Result  string
				IsError bool `json:"is_error"`
				NumTurn int  `json:"num_turns"`
				Usage   struct {
					Details struct {
						Thinking int64 `json:"thinking_tokens"`
					} `json:"output_tokens_details"`
				}
			}
			if json.Unmarshal(lines.Bytes(), &line) != nil {
				continue
			}
			switch line.Type {
			case "assistant":
				for _, b := range line.Message.Content {
					if b.Type == "thinking" {
						res.thinking += b.Thinking
					}
				}
			case "result":
				found = true
				res.text, res.isError, res.thinkingTokens = line.Result, line.IsError, line.Usage.Details.Thinking
				res.toolRuns = line.NumTurn - 1
			}
		}
		if !found {
			t.Errorf("Claude Code printed no result object (exit %v)\nstdout: %s\nstderr: %s", err, stdout, stderr)
		}
		return res
	}}
}

// geminiCLI runs `gemini -p PROMPT -o json -m MODEL` with the gateway as
// GOOGLE_GEMINI_BASE_URL and its token as GEMINI_API_KEY, in a HOME whose
// settings select API-key authentication, --approval-mode yolo for the tool
// round trip.
func geminiCLI(path string) clientCLI {
	return clientCLI{name: "gemini", prefix: "gemini-3", protocol: "GEMINI", shellTool: "run_shell_command", run: func(ctx context.Context, t *testing.T, rig *clientRig, home, dir, model string, sc scenario) *cliResult {
		// Gemini CLI configures a request from its table of known models;
		// an alias of its Gemini 3 base ("chat-base-3") makes it send for
		// the model what it sends for gemini-3-pro-preview (thinkingConfig
		// {includeThoughts: true, thinkingLevel: HIGH}, topK 64), as a user
		// of a gateway configures it (settings modelConfigs.customAliases).
		settings := map[string]any{
			"security": map[string]any{"auth": map[string]any{"selectedType": "gemini-api-key"}},
			"general":  map[string]any{"maxAttempts": geminiAttempts},
			"privacy":  map[string]any{"usageStatisticsEnabled": false},
			"modelConfigs": map[string]any{"customAliases": map[string]any{
				model: map[string]any{"extends": "chat-base-3", "modelConfig": map[string]any{"model": model}},
			}},
		}
		b, _ := json.Marshal(settings)
		if err := os.MkdirAll(filepath.Join(home, ".gemini"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".gemini", "settings.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"-p", sc.prompt, "-o", "json", "-m", model}
		if sc.name == "tool" {
			args = append(args, "--approval-mode", "yolo")
		}
		env := append(baseEnv(t, home), "GEMINI_CLI_TRUST_WORKSPACE=true", "GEMINI_API_KEY="+rig.key, "GOOGLE_GEMINI_BASE_URL="+rig.url)
		stdout, stderr, err := execCLI(ctx, dir, path, args, env)
		res := &cliResult{exit: err, stdout: stdout, stderr: stderr}
		var out struct {
			Response *string
			Error    *struct{ Type, Message string }
			Stats    struct {
				Models map[string]struct {
					Tokens struct{ Thoughts int64 }
				}
				Tools struct {
					TotalSuccess int
				}
			}
		}
		// The answer is on stdout; an error's object ends stderr, after the
		// retry messages.
		if !lastJSON(stdout, &out) && !lastJSON(stderr, &out) {
			t.Errorf("Gemini CLI printed no JSON object (exit %v)\nstdout: %s\nstderr: %s", err, stdout, stderr)
			return res
		}
		if out.Response != nil {
			res.text = *out.Response
		}
		if out.Error != nil {
			res.isError, res.text = true, out.Error.Message
		}
		res.thinkingTokens = out.Stats.Models[model].Tokens.Thoughts
		res.toolRuns = out.Stats.Tools.TotalSuccess
		return res
	}}
}

// TestClaudeCode runs Claude Code through the gateway over an Anthropic
// channel (pass-through), an OpenAI one and a Gemini one (conversion).
func TestClaudeCode(t *testing.T) {
	runClient(t, claudeCode(clientPath(t, "AIPROXY_CLAUDE", "Claude Code")), anthropicChannel, openaiChannel, geminiChannel)
}

// TestGeminiCLI runs Gemini CLI through the gateway over a Gemini channel
// (pass-through), an OpenAI one and an Anthropic one (conversion).
func TestGeminiCLI(t *testing.T) {
	runClient(t, geminiCLI(clientPath(t, "AIPROXY_GEMINI", "Gemini CLI")), geminiChannel, openaiChannel, anthropicChannel)
}

// runClient runs every scenario of cli over every channel kind, in
// parallel, then checks that the gateway logged every request that reached
// a fake, and nothing else.
func runClient(t *testing.T, cli clientCLI, kinds ...channelKind) {
	t.Parallel()
	rig := newClientRig(t, cli, kinds)
	t.Run("scenarios", func(t *testing.T) {
		for _, ch := range kinds {
			for _, sc := range scenarios {
				t.Run(ch.typ+"/"+sc.name, func(t *testing.T) {
					t.Parallel()
					c := &clientCase{cli: cli, ch: ch, sc: sc, rig: rig}
					c.run(t)
				})
			}
		}
	})
	// Nothing else reached a fake or the gateway: no request of a model
	// outside the scenarios (a classifier, a title generator), none the
	// gateway answered without a channel.
	sent := 0
	for _, fakes := range rig.fakes {
		for _, f := range fakes {
			sent += len(f.Requests())
		}
	}
	models := map[string]bool{}
	for _, ch := range kinds {
		for _, sc := range scenarios {
			models[clientModel(cli, ch, sc)] = true
		}
	}
	for _, l := range waitClientLogs(t, rig.url, "", sent) {
		if !models[l.Model] || l.ChannelProtocol == nil {
			t.Errorf("unexpected log: %+v", l)
		}
	}
}

// clientCase is one scenario of one CLI over one channel kind.
type clientCase struct {
	cli clientCLI
	ch  channelKind
	sc  scenario
	rig *clientRig
}

// fakeRequests returns the requests of the case's upstream model that its
// fake received, oldest first.
func (c *clientCase) fakeRequests() []relaytest.Request {
	f := c.rig.fakes[c.ch.typ][0]
	if c.sc.long {
		f = c.rig.fakes[c.ch.typ][1]
	}
	want := upstreamModel(c.cli, c.ch, c.sc)
	var out []relaytest.Request
	for _, r := range f.Requests() {
		if requestModel(r) == want {
			out = append(out, r)
		}
	}
	return out
}

// requestModel returns the model a fake's request names: in the body, or
// in a Gemini path.
func requestModel(r relaytest.Request) string {
	if r.Conversation != nil {
		return r.Conversation.Model
	}
	if m, ok := r.JSON["model"].(string); ok {
		return m
	}
	if _, rest, ok := strings.Cut(r.Path, "/models/"); ok {
		m, _, _ := strings.Cut(rest, ":")
		return m
	}
	return ""
}

// run runs the CLI once and checks the scenario.
func (c *clientCase) run(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	model := clientModel(c.cli, c.ch, c.sc)
	start := time.Now()
	res := c.cli.run(ctx, t, c.rig, t.TempDir(), t.TempDir(), model, c.sc)
	reqs := c.fakeRequests()
	t.Logf("%s %s over %s: exit %v after %v, %d upstream requests, is_error %v, answer %.120q",
		c.cli.name, c.sc.name, c.ch.typ, res.exit, time.Since(start).Round(time.Millisecond), len(reqs), res.isError, res.text)
	if errors.Is(res.exit, context.DeadlineExceeded) {
		t.Fatalf("%v\nstdout: %s\nstderr: %s", res.exit, res.stdout, res.stderr)
	}
	logs := c.checkLogs(t, model, reqs)
	dump := func() string { return fmt.Sprintf("\nstdout: %s\nstderr: %s", res.stdout, res.stderr) }

	if c.sc.failed != nil {
		// The CLI shows the error, and gives up after its retries.
		if res.exit == nil || !res.isError || res.text == "" {
			t.Errorf("upstream error not reported as an error: exit %v, is_error %v, message %q%s", res.exit, res.isError, res.text, dump())
		}
		attempts := c.attempts()
		if n := len(logs) - c.refusals(logs); n != attempts {
			t.Errorf("%d failed upstream requests, want %d (the CLI's attempts: no more, no resend loop)", n, attempts)
		}
		return
	}
	if res.exit != nil || res.isError {
		t.Fatalf("exit %v, is_error %v, answer %q%s", res.exit, res.isError, res.text, dump())
	}
	if len(reqs) == 0 {
		t.Fatal("no request reached the fake")
	}
	last := reqs[len(reqs)-1].Conversation
	if last == nil {
		t.Fatal("the fake could not parse the last request")
	}
	switch c.sc.name {
	case "plain", "reasoning":
		if !strings.HasSuffix(strings.TrimSpace(last.Said), c.sc.prompt) {
			t.Errorf("the fake's last user text ends %q, want the prompt %q", tail(last.Said, 80), c.sc.prompt)
		}
		if want := "Hello! You said: " + firstRunes(last.Said, echoRunes); strings.TrimSpace(res.text) != strings.TrimSpace(want) {
			t.Errorf("answer %q, want the fake's echo %q", res.text, want)
		}
	case "long":
		if strings.TrimSpace(res.text) != longReply {
			t.Errorf("long answer of %d bytes differs from the %d streamed: %q", len(res.text), len(longReply), tail(res.text, 200))
		}
	case "tool":
		if !slices.Contains(last.Tools, c.cli.shellTool) {
			t.Errorf("the CLI declared the tools %q, want its shell tool %q among them", last.Tools, c.cli.shellTool)
		}
		if !strings.HasPrefix(res.text, "Results: ") || !strings.Contains(res.text, toolMarker) {
			t.Errorf("answer %q, want the fake's \"Results: \" with the marker", res.text)
		}
		if len(last.ToolResults) != 1 || !strings.Contains(last.ToolResults[0], toolMarker) {
			t.Errorf("the fake saw tool results %q, want the shell's output %q", last.ToolResults, toolMarker)
		}
		if res.toolRuns != 1 {
			t.Errorf("the CLI ran %d tools, want 1", res.toolRuns)
		}
	}
	if c.sc.name == "reasoning" {
		c.checkReasoning(t, res, reqs[len(reqs)-1], logs)
	}
}

// attempts is how many times the CLI sends a request that keeps failing.
func (c *clientCase) attempts() int {
	if c.cli.name == "claude" {
		return 1 + claudeRetries
	}
	return geminiAttempts
}

// checkReasoning checks that the CLI asked for reasoning, showed it and
// counted it, and that the gateway logged its tokens.
func (c *clientCase) checkReasoning(t *testing.T, res *cliResult, req relaytest.Request, logs []clientLog) {
	t.Helper()
	reasoning := "Thinking about: " + firstRunes(req.Conversation.Said, echoRunes)
	text := "Hello! You said: " + firstRunes(req.Conversation.Said, echoRunes)
	// The reasoning control reached the fake in its protocol.
	var control any
	switch c.ch.typ {
	case "anthropic":
		control = req.JSON["thinking"]
	case "openai":
		control = req.JSON["reasoning_effort"]
	case "gemini":
		control, _ = req.JSON["generationConfig"].(map[string]any)["thinkingConfig"]
	}
	if control == nil {
		fields := map[string]any{}
		for k, v := range req.JSON {
			switch k {
			case "messages", "contents", "tools", "system", "systemInstruction":
			default:
				fields[k] = v
			}
		}
		t.Errorf("the upstream request carries no reasoning control; its fields but the conversation and tools: %v", fields)
	}
	if c.cli.name == "claude" && strings.TrimSpace(res.thinking) != strings.TrimSpace(reasoning) {
		t.Errorf("Claude Code showed thinking %q, want %q", res.thinking, reasoning)
	}
	var ok *clientLog
	for i := range logs {
		if logs[i].StatusCode == 200 {
			ok = &logs[i]
		}
	}
	if ok == nil {
		return
	}
	t.Logf("upstream reasoning control %v, output limit %d; the CLI shows %d runes of thinking, reports %d thinking tokens; logged %d completion, %d reasoning tokens",
		control, req.Conversation.MaxTokens, len([]rune(res.thinking)), res.thinkingTokens, ok.CompletionTokens, ok.ReasoningTokens)
	if want := int64(relaytest.Tokens(reasoning) + relaytest.Tokens(text)); ok.CompletionTokens != want {
		t.Errorf("logged %d completion tokens, want %d (reasoning and answer)", ok.CompletionTokens, want)
	}
	// The Anthropic fake, like Anthropic before output_tokens_details,
	// reports no reasoning count of its own: only OpenAI and Gemini
	// upstreams say how many output tokens were reasoning.
	if c.ch.typ != "anthropic" {
		if want := int64(relaytest.Tokens(reasoning)); ok.ReasoningTokens != want {
			t.Errorf("logged %d reasoning tokens, want %d", ok.ReasoningTokens, want)
		}
	}
	if res.thinkingTokens != ok.ReasoningTokens {
		t.Errorf("the CLI reports %d thinking tokens, the gateway logged %d reasoning tokens from the upstream", res.thinkingTokens, ok.ReasoningTokens)
	}
}

// refusals counts the logs of Claude Code's known fallback over an
// Anthropic channel (see refusal).
func (c *clientCase) refusals(logs []clientLog) int {
	n := 0
	for _, l := range logs {
		if c.refusal(l) {
			n++
		}
	}
	return n
}

// refusal reports whether l is the refusal of Claude Code's first request
// over an Anthropic channel: that request puts a role "system" message in
// messages, which the Anthropic fake refuses (400, as Anthropic did before
// it accepted them), and Claude Code sends the request again with that
// message folded into the user's, once per session.
func (c *clientCase) refusal(l clientLog) bool {
	return c.cli.name == "claude" && c.ch.typ == "anthropic" && l.StatusCode == 400 && l.Error != nil &&
		strings.Contains(*l.Error, "role: Input should be 'user' or 'assistant'")
}

// checkLogs waits for the gateway's logs of model, checks that there is one
// per request the fake received, with the client and channel protocols,
// and that each successful answer was requested once; it returns them.
func (c *clientCase) checkLogs(t *testing.T, model string, reqs []relaytest.Request) []clientLog {
	t.Helper()
	logs := waitClientLogs(t, c.rig.url, model, len(reqs))
	ok, refused := 0, c.refusals(logs)
	for _, l := range logs {
		if l.ClientProtocol != c.cli.protocol || l.ChannelProtocol == nil || *l.ChannelProtocol != c.ch.protocol || !l.Stream ||
			l.UpstreamModel != upstreamModel(c.cli, c.ch, c.sc) {
			t.Errorf("log %+v: want client protocol %s, channel protocol %s, a stream, upstream model %s",
				l, c.cli.protocol, c.ch.protocol, upstreamModel(c.cli, c.ch, c.sc))
		}
		switch {
		case l.StatusCode == 200:
			ok++
		case c.sc.failed != nil && c.sc.failed(l.StatusCode):
		case c.refusal(l):
		default:
			t.Errorf("unexpected status in log %+v", l)
		}
	}
	if ok != c.sc.turns {
		t.Errorf("%d successful upstream answers, want %d: a successful answer must be requested exactly once per turn", ok, c.sc.turns)
	}
	if refused > 1 {
		t.Errorf("%d role refusals, want at most one per session", refused)
	}
	return logs
}

// clientLog is a log row as the checks read it.
type clientLog struct {
	Model            string
	UpstreamModel    string
	ClientProtocol   string
	ChannelProtocol  *string
	Stream           bool
	StatusCode       int
	PromptTokens     int64
	CompletionTokens int64
	ReasoningTokens  int64
	Error            *string
}

// waitClientLogs waits until the gateway has logged n requests of model
// (of any model when model is ""), and returns them, oldest first; it
// fails when the count is not n after a few seconds.
func waitClientLogs(tb testing.TB, url, model string, n int) []clientLog {
	tb.Helper()
	filter := map[string]any{}
	if model != "" {
		filter["model"] = model
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var page struct {
			Logs struct {
				Edges []struct{ Node clientLog }
			}
		}
		admin(tb, url, `query($f: LogFilter) { logs(filter: $f, first: 500) { edges { node {
			model upstreamModel clientProtocol channelProtocol stream statusCode promptTokens completionTokens reasoningTokens error } } } }`,
			map[string]any{"f": filter}, &page)
		if len(page.Logs.Edges) >= n || time.Now().After(deadline) {
			out := make([]clientLog, len(page.Logs.Edges))
			for i, e := range page.Logs.Edges {
				out[len(out)-1-i] = e.Node
			}
			if len(out) != n {
				tb.Errorf("the gateway logged %d requests of %q, the fakes received %d: every request must be logged once: %+v", len(out), model, n, out)
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lastJSON decodes into v the JSON object that ends out, starting at the
// last line that begins with "{", and reports whether there was one.
func lastJSON(out []byte, v any) bool {
	out = bytes.TrimSpace(out)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] == '{' && (i == 0 || out[i-1] == '\n') && json.Valid(out[i:]) {
			return json.Unmarshal(out[i:], v) == nil
		}
	}
	return false
}

// firstRunes returns the first n runes of s.
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// tail returns the last n bytes of s, for messages.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
