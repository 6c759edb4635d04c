// Package sdk holds conversations held through the providers' official Go
// SDKs (openai-go, anthropic-sdk-go, genai), so that tests talk to a fake
// provider, or to the gateway in front of one, as real applications do.
// A Session keeps its history in the SDK's own types and sends back what
// the SDK gives, signatures included, so a test sees whether they survive.
//
// Answers are made protocol-neutral: Finish is "stop", "length" or
// "tools"; Prompt includes cached tokens and Completion reasoning, as
// aiproxy.Usage counts them.
package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"google.golang.org/genai"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// PNG is a 1×1 PNG, the image sessions send.
var PNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")

// Call is a tool call as a session sees it.
type Call struct {
	ID   string
	Name string
	Args map[string]any
}

// Answer is a reply as a session sees it.
type Answer struct {
	Text, Reasoning string
	Calls           []Call
	Finish          string
	Prompt          int64
	Completion      int64
	Cached          int64
	ReasoningTokens int64
	// Signed says whether the reasoning came with a signature (Anthropic's
	// thinking signature, Gemini's thought signature, or the
	// thinking_blocks of OpenAI clients).
	Signed bool
}

// Config is what a conversation sets once.
type Config struct {
	Model     string
	Stream    bool
	System    string
	Tools     bool // declare relaytest.WeatherTool and relaytest.TimeTool
	MaxTokens int
	// Reasoning asks for reasoning: OpenAI reasoning_effort "low",
	// Anthropic thinking with a 1,024-token budget, Gemini includeThoughts
	// with a budget of 1,024.
	Reasoning bool
}

// Session is a conversation through one SDK.
type Session interface {
	// Turn sends a user turn with text, media images and, when results is
	// not nil, one tool result per call of the previous answer, and
	// returns the answer, or the SDK's error (see Status).
	Turn(ctx context.Context, text string, media int, results []string) (Answer, error)
}

// Kinds of session, by protocol name.
const (
	OpenAI    = "openai"
	Anthropic = "anthropic"
	Gemini    = "gemini"
)

// Open returns a session of kind (OpenAI, Anthropic or Gemini) with the
// server at base: for OpenAI the base URL ends before /chat/completions
// (".../v1"), for the others it is the server's root. hc does the HTTP.
func Open(kind, base, key string, hc *http.Client, cfg Config) Session {
	switch kind {
	case OpenAI:
		return openOpenAI(base, key, hc, cfg)
	case Anthropic:
		return openAnthropic(base, key, hc, cfg)
	case Gemini:
		return openGemini(base, key, hc, cfg)
	}
	panic("sdk: unknown kind " + kind)
}

// Status returns the HTTP status and the error type (Google's status for
// Gemini) of an SDK's API error, or 0 and "" for other errors.
func Status(err error) (int, string) {
	st, typ, _ := Describe(err)
	return st, typ
}

// Describe returns the HTTP status, the error type (Google's status for
// Gemini) and the message of an SDK's API error, or 0, "" and err's text
// for other errors.
func Describe(err error) (status int, typ, message string) {
	var oe *openai.Error
	if errors.As(err, &oe) {
		return oe.StatusCode, oe.Type, oe.Message
	}
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		var body struct {
			Error struct{ Type, Message string } `json:"error"`
		}
		_ = json.Unmarshal([]byte(ae.RawJSON()), &body)
		return ae.StatusCode, body.Error.Type, body.Error.Message
	}
	var ge genai.APIError
	if errors.As(err, &ge) {
		return ge.Code, ge.Status, ge.Message
	}
	var gp *genai.APIError
	if errors.As(err, &gp) {
		return gp.Code, gp.Status, gp.Message
	}
	if err == nil {
		return 0, "", ""
	}
	return 0, "", err.Error()
}

func decodeArgs(raw string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("sdk: tool arguments %q: %w", raw, err)
	}
	return m, nil
}

// openaiSession talks with openai-go. It sends reasoning back as the
// LiteLLM convention has it (reasoning_content, thinking_blocks), as
// clients that keep the assistant message whole do.
type openaiSession struct {
	c     openai.Client
	cfg   Config
	msgs  []openai.ChatCompletionMessageParamUnion
	calls []string // ids of the previous answer's calls
}

func openOpenAI(base, key string, hc *http.Client, cfg Config) *openaiSession {
	c := openai.NewClient(option.WithBaseURL(base), option.WithAPIKey(key), option.WithMaxRetries(0), option.WithHTTPClient(hc))
	s := &openaiSession{c: c, cfg: cfg}
	if cfg.System != "" {
		s.msgs = append(s.msgs, openai.SystemMessage(cfg.System))
	}
	return s
}

func (s *openaiSession) Turn(ctx context.Context, text string, media int, results []string) (Answer, error) {
	for i, r := range results {
		s.msgs = append(s.msgs, openai.ToolMessage(r, s.calls[i]))
	}
	if results == nil || text != "" {
		parts := []openai.ChatCompletionContentPartUnionParam{openai.TextContentPart(text)}
		for range media {
			parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + base64.StdEncoding.EncodeToString(PNG)}))
		}
		s.msgs = append(s.msgs, openai.UserMessage(parts))
	}
	params := openai.ChatCompletionNewParams{Model: s.cfg.Model, Messages: s.msgs}
	if s.cfg.Tools {
		for _, name := range []string{relaytest.WeatherTool, relaytest.TimeTool} {
			params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: name, Parameters: shared.FunctionParameters{"type": "object"}}))
		}
	}
	if s.cfg.MaxTokens > 0 {
		params.MaxCompletionTokens = openai.Int(int64(s.cfg.MaxTokens))
	}
	if s.cfg.Reasoning {
		params.ReasoningEffort = shared.ReasoningEffortLow
	}
	var msg openai.ChatCompletionMessage
	var u openai.CompletionUsage
	var finish, reasoning string
	var blocks []json.RawMessage
	if s.cfg.Stream {
		params.StreamOptions.IncludeUsage = openai.Bool(true)
		stream := s.c.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			chunk := stream.Current()
			if !acc.AddChunk(chunk) {
				return Answer{}, fmt.Errorf("sdk: the accumulator refused %s", chunk.RawJSON())
			}
			if len(chunk.Choices) > 0 {
				d := chunk.Choices[0].Delta.JSON.ExtraFields
				if f, ok := d["reasoning_content"]; ok && f.Raw() != "null" {
					var piece string
					_ = json.Unmarshal([]byte(f.Raw()), &piece)
					reasoning += piece
				}
				if f, ok := d["thinking_blocks"]; ok && f.Raw() != "null" {
					blocks = mergeBlocks(blocks, f.Raw())
				}
			}
		}
		if err := stream.Err(); err != nil {
			return Answer{}, err
		}
		if len(acc.Choices) == 0 {
			return Answer{}, errors.New("sdk: a stream without choices")
		}
		msg, u, finish = acc.Choices[0].Message, acc.Usage, acc.Choices[0].FinishReason
	} else {
		res, err := s.c.Chat.Completions.New(ctx, params)
		if err != nil {
			return Answer{}, err
		}
		if len(res.Choices) == 0 {
			return Answer{}, errors.New("sdk: an answer without choices")
		}
		msg, u, finish = res.Choices[0].Message, res.Usage, res.Choices[0].FinishReason
		if f, ok := msg.JSON.ExtraFields["reasoning_content"]; ok {
			_ = json.Unmarshal([]byte(f.Raw()), &reasoning)
		}
		if f, ok := msg.JSON.ExtraFields["thinking_blocks"]; ok && f.Raw() != "null" {
			_ = json.Unmarshal([]byte(f.Raw()), &blocks)
		}
	}
	a := Answer{Text: msg.Content, Reasoning: reasoning, Finish: finish, Prompt: u.PromptTokens, Completion: u.CompletionTokens,
		Cached: u.PromptTokensDetails.CachedTokens, ReasoningTokens: u.CompletionTokensDetails.ReasoningTokens}
	if finish == "tool_calls" {
		a.Finish = "tools"
	}
	s.calls = nil
	for _, tc := range msg.ToolCalls {
		args, err := decodeArgs(tc.Function.Arguments)
		if err != nil {
			return a, err
		}
		a.Calls = append(a.Calls, Call{tc.ID, tc.Function.Name, args})
		s.calls = append(s.calls, tc.ID)
	}
	for _, b := range blocks {
		var blk struct{ Signature, Data string }
		if json.Unmarshal(b, &blk) == nil && (blk.Signature != "" || blk.Data != "") {
			a.Signed = true
		}
	}
	p := msg.ToParam()
	extra := map[string]any{}
	if reasoning != "" {
		extra["reasoning_content"] = reasoning
	}
	if len(blocks) > 0 {
		extra["thinking_blocks"] = blocks
	}
	if len(extra) > 0 && p.OfAssistant != nil {
		p.OfAssistant.SetExtraFields(extra)
	}
	s.msgs = append(s.msgs, p)
	return a, nil
}

// mergeBlocks adds the thinking_blocks of one stream delta to blocks: a
// delta's block with only a signature completes the last thinking block.
func mergeBlocks(blocks []json.RawMessage, raw string) []json.RawMessage {
	var delta []map[string]any
	if json.Unmarshal([]byte(raw), &delta) != nil {
		return blocks
	}
	for _, d := range delta {
		if d["type"] == "thinking" && len(blocks) > 0 {
			var last map[string]any
			if json.Unmarshal(blocks[len(blocks)-1], &last) == nil && last["type"] == "thinking" {
				for k, v := range d {
					if s, ok := v.(string); ok && (k == "thinking" || k == "signature") {
						prev, _ := last[k].(string)
						last[k] = prev + s
					}
				}
				b, _ := json.Marshal(last)
				blocks[len(blocks)-1] = b
				continue
			}
		}
		b, _ := json.Marshal(d)
		blocks = append(blocks, b)
	}
	return blocks
}

// anthropicSession talks with anthropic-sdk-go.
type anthropicSession struct {
	c     anthropic.Client
	cfg   Config
	msgs  []anthropic.MessageParam
	calls []string
}

func openAnthropic(base, key string, hc *http.Client, cfg Config) *anthropicSession {
	c := anthropic.NewClient(aoption.WithBaseURL(base), aoption.WithAPIKey(key), aoption.WithMaxRetries(0), aoption.WithHTTPClient(hc))
	return &anthropicSession{c: c, cfg: cfg}
}

func (s *anthropicSession) Turn(ctx context.Context, text string, media int, results []string) (Answer, error) {
	var blocks []anthropic.ContentBlockParamUnion
	for i, r := range results {
		blocks = append(blocks, anthropic.NewToolResultBlock(s.calls[i], r, false))
	}
	if results == nil || text != "" {
		blocks = append(blocks, anthropic.NewTextBlock(text))
		for range media {
			blocks = append(blocks, anthropic.NewImageBlockBase64("image/png", base64.StdEncoding.EncodeToString(PNG)))
		}
	}
	s.msgs = append(s.msgs, anthropic.NewUserMessage(blocks...))
	maxTokens := int64(2048)
	if s.cfg.MaxTokens > 0 {
		maxTokens = int64(s.cfg.MaxTokens)
	}
	params := anthropic.MessageNewParams{Model: anthropic.Model(s.cfg.Model), MaxTokens: maxTokens, Messages: s.msgs}
	if s.cfg.System != "" {
		params.System = []anthropic.TextBlockParam{{Text: s.cfg.System}}
	}
	if s.cfg.Tools {
		for _, name := range []string{relaytest.WeatherTool, relaytest.TimeTool} {
			params.Tools = append(params.Tools, anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: name, InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{}}}})
		}
	}
	if s.cfg.Reasoning {
		params.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
	}
	var msg anthropic.Message
	if s.cfg.Stream {
		stream := s.c.Messages.NewStreaming(ctx, params)
		for stream.Next() {
			if err := msg.Accumulate(stream.Current()); err != nil {
				return Answer{}, err
			}
		}
		if err := stream.Err(); err != nil {
			return Answer{}, err
		}
	} else {
		res, err := s.c.Messages.New(ctx, params)
		if err != nil {
			return Answer{}, err
		}
		msg = *res
	}
	a := Answer{
		Prompt:     msg.Usage.InputTokens + msg.Usage.CacheReadInputTokens + msg.Usage.CacheCreationInputTokens,
		Completion: msg.Usage.OutputTokens,
		Cached:     msg.Usage.CacheReadInputTokens,
	}
	switch msg.StopReason {
	case anthropic.StopReasonEndTurn, anthropic.StopReasonStopSequence:
		a.Finish = "stop"
	case anthropic.StopReasonMaxTokens:
		a.Finish = "length"
	case anthropic.StopReasonToolUse:
		a.Finish = "tools"
	default:
		a.Finish = string(msg.StopReason)
	}
	s.calls = nil
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			a.Text += b.Text
		case "thinking":
			a.Reasoning += b.Thinking
			a.ReasoningTokens += int64(relaytest.Tokens(b.Thinking))
			a.Signed = a.Signed || b.Signature != ""
		case "tool_use":
			args, err := decodeArgs(string(b.Input))
			if err != nil {
				return a, err
			}
			a.Calls = append(a.Calls, Call{b.ID, b.Name, args})
			s.calls = append(s.calls, b.ID)
		}
	}
	s.msgs = append(s.msgs, msg.ToParam())
	return a, nil
}

// geminiSession talks with genai.
type geminiSession struct {
	c        *genai.Client
	cfg      Config
	contents []*genai.Content
	calls    []*genai.FunctionCall // the previous answer's calls
	err      error
}

func openGemini(base, key string, hc *http.Client, cfg Config) *geminiSession {
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      key,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  hc,
		HTTPOptions: genai.HTTPOptions{BaseURL: base},
	})
	return &geminiSession{c: c, cfg: cfg, err: err}
}

func (s *geminiSession) Turn(ctx context.Context, text string, media int, results []string) (Answer, error) {
	if s.err != nil {
		return Answer{}, s.err
	}
	user := &genai.Content{Role: genai.RoleUser}
	for i, r := range results {
		c := s.calls[i]
		user.Parts = append(user.Parts, &genai.Part{FunctionResponse: &genai.FunctionResponse{ID: c.ID, Name: c.Name, Response: map[string]any{"result": r}}})
	}
	if results == nil || text != "" {
		user.Parts = append(user.Parts, genai.NewPartFromText(text))
		for range media {
			user.Parts = append(user.Parts, &genai.Part{InlineData: &genai.Blob{MIMEType: "image/png", Data: PNG}})
		}
	}
	s.contents = append(s.contents, user)
	config := &genai.GenerateContentConfig{}
	if s.cfg.Reasoning {
		budget := int32(1024)
		config.ThinkingConfig = &genai.ThinkingConfig{IncludeThoughts: true, ThinkingBudget: &budget}
	}
	if s.cfg.System != "" {
		config.SystemInstruction = genai.NewContentFromText(s.cfg.System, genai.RoleUser)
	}
	if s.cfg.Tools {
		config.Tools = []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{Name: relaytest.WeatherTool}, {Name: relaytest.TimeTool}}}}
	}
	if s.cfg.MaxTokens > 0 {
		config.MaxOutputTokens = int32(s.cfg.MaxTokens)
	}
	var responses []*genai.GenerateContentResponse
	if s.cfg.Stream {
		for res, err := range s.c.Models.GenerateContentStream(ctx, s.cfg.Model, s.contents, config) {
			if err != nil {
				return Answer{}, err
			}
			responses = append(responses, res)
		}
	} else {
		res, err := s.c.Models.GenerateContent(ctx, s.cfg.Model, s.contents, config)
		if err != nil {
			return Answer{}, err
		}
		responses = append(responses, res)
	}
	model := &genai.Content{Role: genai.RoleModel}
	var a Answer
	s.calls = nil
	for _, res := range responses {
		if len(res.Candidates) == 0 {
			continue
		}
		cand := res.Candidates[0]
		if cand.Content != nil {
			for _, part := range cand.Content.Parts {
				a.Signed = a.Signed || len(part.ThoughtSignature) > 0
				switch {
				case part.Thought:
					a.Reasoning += part.Text
				case part.FunctionCall != nil:
					a.Calls = append(a.Calls, Call{part.FunctionCall.ID, part.FunctionCall.Name, part.FunctionCall.Args})
					s.calls = append(s.calls, part.FunctionCall)
				default:
					a.Text += part.Text
				}
			}
			model.Parts = append(model.Parts, cand.Content.Parts...)
		}
		switch cand.FinishReason {
		case genai.FinishReasonStop:
			a.Finish = "stop"
		case genai.FinishReasonMaxTokens:
			a.Finish = "length"
		case "":
		default:
			a.Finish = string(cand.FinishReason)
		}
		if u := res.UsageMetadata; u != nil {
			a.Prompt, a.Cached = int64(u.PromptTokenCount), int64(u.CachedContentTokenCount)
			a.Completion = int64(u.CandidatesTokenCount + u.ThoughtsTokenCount)
			a.ReasoningTokens = int64(u.ThoughtsTokenCount)
		}
	}
	if a.Finish == "stop" && len(a.Calls) > 0 {
		a.Finish = "tools"
	}
	s.contents = append(s.contents, model)
	return a, nil
}
