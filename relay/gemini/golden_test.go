package gemini

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with the golden file name (in testdata), rewriting
// it with -update.
func golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, append(bytes.TrimSpace(got), '\n'), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(got)) {
		tb.Fatalf("output differs from %s (run with -update if the change is right):\n%s", path, got)
	}
}

// indent pretty-prints JSON, for golden files people read.
func indent(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		tb.Fatalf("not JSON: %v\n%s", err, b)
	}
	return out.Bytes()
}

// marshal pretty-prints v.
func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Readable views of the neutral form, for golden files.

type partView struct {
	Kind      string         `json:"kind"`
	Text      string         `json:"text,omitempty"`
	Signature string         `json:"signature,omitempty"`
	Media     *chat.Media    `json:"media,omitempty"`
	Call      *chat.ToolCall `json:"call,omitempty"`
	Result    *resultView    `json:"result,omitempty"`
	Cache     bool           `json:"cache,omitempty"`
}

type resultView struct {
	CallID  string     `json:"call_id"`
	Name    string     `json:"name"`
	IsError bool       `json:"is_error,omitempty"`
	Parts   []partView `json:"parts"`
}

func viewParts(ps []chat.Part) []partView {
	out := make([]partView, 0, len(ps))
	for _, p := range ps {
		v := partView{Kind: p.Kind.String(), Text: p.Text, Signature: p.Signature, Media: p.Media, Call: p.Call, Cache: p.Cache}
		if p.Result != nil {
			v.Result = &resultView{CallID: p.Result.CallID, Name: p.Result.Name, IsError: p.Result.IsError, Parts: viewParts(p.Result.Parts)}
		}
		out = append(out, v)
	}
	return out
}

type messageView struct {
	Role  chat.Role  `json:"role"`
	Parts []partView `json:"parts"`
}

type toolView struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      bool            `json:"strict,omitempty"`
}

type requestView struct {
	Model            string           `json:"model"`
	System           []partView       `json:"system,omitempty"`
	Messages         []messageView    `json:"messages"`
	Tools            []toolView       `json:"tools,omitempty"`
	ToolChoice       *chat.ToolChoice `json:"tool_choice,omitempty"`
	MaxTokens        int64            `json:"max_tokens,omitempty"`
	Temperature      *float64         `json:"temperature,omitempty"`
	TopP             *float64         `json:"top_p,omitempty"`
	TopK             *int64           `json:"top_k,omitempty"`
	Seed             *int64           `json:"seed,omitempty"`
	PresencePenalty  *float64         `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64         `json:"frequency_penalty,omitempty"`
	Stop             []string         `json:"stop,omitempty"`
	Format           *chat.Format     `json:"format,omitempty"`
	Reasoning        *chat.Reasoning  `json:"reasoning,omitempty"`
	Stream           bool             `json:"stream,omitempty"`
}

func viewRequest(c *chat.Request) requestView {
	v := requestView{
		Model: c.Model, System: viewParts(c.System), ToolChoice: c.ToolChoice, MaxTokens: c.MaxTokens,
		Temperature: c.Temperature, TopP: c.TopP, TopK: c.TopK, Seed: c.Seed, PresencePenalty: c.PresencePenalty,
		FrequencyPenalty: c.FrequencyPenalty, Stop: c.Stop, Format: c.Format, Reasoning: c.Reasoning, Stream: c.Stream,
	}
	for _, m := range c.Messages {
		v.Messages = append(v.Messages, messageView{Role: m.Role, Parts: viewParts(m.Parts)})
	}
	for _, t := range c.Tools {
		v.Tools = append(v.Tools, toolView{Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict})
	}
	return v
}

type responseView struct {
	ID           string         `json:"id"`
	Model        string         `json:"model"`
	Created      int64          `json:"created,omitempty"`
	Parts        []partView     `json:"parts"`
	Finish       chat.Finish    `json:"finish"`
	StopSequence string         `json:"stop_sequence,omitempty"`
	Usage        *aiproxy.Usage `json:"usage,omitempty"`
}

func viewResponse(r *chat.Response) responseView {
	return responseView{ID: r.ID, Model: r.Model, Created: r.Created, Parts: viewParts(r.Parts), Finish: r.Finish, StopSequence: r.StopSequence, Usage: r.Usage}
}

type eventView struct {
	Type      string         `json:"type"`
	Index     int            `json:"index"`
	ID        string         `json:"id,omitempty"`
	Model     string         `json:"model,omitempty"`
	Block     string         `json:"block,omitempty"`
	Call      *chat.ToolCall `json:"call,omitempty"`
	Text      string         `json:"text,omitempty"`
	Arguments string         `json:"arguments,omitempty"`
	Signature string         `json:"signature,omitempty"`
	Finish    chat.Finish    `json:"finish,omitempty"`
	Usage     *aiproxy.Usage `json:"usage,omitempty"`
}

var eventNames = map[chat.EventType]string{
	chat.EventStart: "start", chat.EventBlockStart: "block_start", chat.EventDelta: "delta",
	chat.EventBlockStop: "block_stop", chat.EventFinish: "finish", chat.EventUsage: "usage", chat.EventEnd: "end",
}

func viewEvents(evs []chat.Event) []eventView {
	out := make([]eventView, 0, len(evs))
	for _, e := range evs {
		v := eventView{Type: eventNames[e.Type], Index: e.Index, ID: e.ID, Model: e.Model, Call: e.Call, Text: e.Text,
			Arguments: e.Arguments, Signature: e.Signature, Finish: e.Finish, Usage: e.Usage}
		if e.Block != 0 {
			v.Block = e.Block.String()
		}
		out = append(out, v)
	}
	return out
}

// request returns a relay request for a Gemini path and body.
func request(path, query string, body []byte) *relay.Request {
	req := &relay.Request{ID: "req_test1", Ingress: Codec{}, Protocol: aiproxy.ProtocolGemini, Mode: aiproxy.ModeChat, Path: path, Body: body}
	req.Query = map[string][]string{}
	if query != "" {
		k, v, _ := strings.Cut(query, "=")
		req.Query[k] = []string{v}
	}
	return req
}

// parsed parses a request the way the relay's front does.
func parsed(tb testing.TB, path string, body []byte) *relay.Request {
	tb.Helper()
	req := request(path, "", body)
	if err := (Codec{}).Parse(req); err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return req
}
