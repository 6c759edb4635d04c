// Package chat is the protocol-neutral form of a chat exchange: the one
// form every client protocol decodes into and every channel protocol
// encodes from, so that each protocol needs one decoder and one encoder
// instead of a converter per pair of protocols.
//
// The relay uses it only when the client's protocol and the channel's
// differ; when they match, bodies and streams pass through as they came.
// The form carries what a protocol can say that another can express too;
// a decoder refuses (EINVALID, naming the field) what has no place here,
// and an encoder refuses what its protocol cannot express, so nothing is
// dropped in silence. What is only a hint to the provider (Anthropic's
// cache_control, say) is carried where another protocol has an
// equivalent and otherwise left out; each package documents its choices.
//
// Strings hold text as it is (unescaped); JSON values (tool arguments,
// schemas) are kept as raw JSON text so that they reach the other side
// byte for byte.
package chat

import (
	"encoding/json"

	"github.com/aiproxy/aiproxy"
)

// Role is who speaks a message.
type Role string

// Roles. Tool results travel in user messages (as Anthropic and Gemini
// put them); OpenAI's "tool" messages decode to user messages holding
// ToolResult parts, and OpenAI's "developer" messages to system ones.
const (
	RoleSystem    Role = "system" // an instruction inside the history; the leading ones are Request.System
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Request is a request for a model's next message.
type Request struct {
	// Model is the model name as the client asked (encoders write the
	// upstream name they are given instead).
	Model string
	// System is the system prompt: the instructions before the history
	// (OpenAI's leading system and developer messages, Anthropic's
	// system, Gemini's systemInstruction). Text parts only.
	System []Part
	// Messages is the history, oldest first.
	Messages []Message
	// Tools are the functions the model may call.
	Tools []Tool
	// ToolChoice says whether and which tools the model must call; nil
	// means the protocol's default (auto when there are tools).
	ToolChoice *ToolChoice
	// ParallelToolCalls, when false, asks for at most one tool call per
	// turn; nil means the provider's default (parallel allowed).
	ParallelToolCalls *bool
	// MaxTokens caps the output tokens, reasoning included; 0 means unset
	// (encoders for protocols that require it use a documented default).
	MaxTokens int64
	// Sampling parameters; nil means the provider's default.
	Temperature      *float64
	TopP             *float64
	TopK             *int64
	Seed             *int64
	PresencePenalty  *float64
	FrequencyPenalty *float64
	// Stop holds the stop sequences.
	Stop []string
	// Format constrains the output to JSON; nil means free text.
	Format *Format
	// Reasoning controls the model's thinking; nil means its default.
	Reasoning *Reasoning
	// Stream asks for the answer as a stream of events.
	Stream bool
	// User identifies the end user to the provider (OpenAI's user,
	// Anthropic's metadata.user_id); "" means none.
	User string
}

// Message is one turn of the history.
type Message struct {
	Role  Role
	Parts []Part
}

// Kind is the kind of a Part.
type Kind uint8

// Part kinds.
const (
	// KindText is text: Text.
	KindText Kind = iota + 1
	// KindMedia is an image, audio clip or document: Media.
	KindMedia
	// KindThinking is the model's reasoning: Text (possibly empty when the
	// provider shows none) and Signature (the provider's opaque proof,
	// which must come back unchanged in later turns).
	KindThinking
	// KindRedactedThinking is reasoning the provider encrypted: Signature
	// holds the opaque data (Anthropic's redacted_thinking.data).
	KindRedactedThinking
	// KindToolCall is a call of a tool by the model: Call.
	KindToolCall
	// KindToolResult is the result of a tool call, sent back by the
	// client: Result.
	KindToolResult
)

// String returns the kind's name, for error messages.
func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindMedia:
		return "media"
	case KindThinking:
		return "thinking"
	case KindRedactedThinking:
		return "redacted_thinking"
	case KindToolCall:
		return "tool_call"
	case KindToolResult:
		return "tool_result"
	}
	return "unknown"
}

// Part is one piece of a message. Kind says which fields are set.
type Part struct {
	Kind      Kind
	Text      string
	Signature string
	Media     *Media
	Call      *ToolCall
	Result    *ToolResult
	// Cache marks the end of a prompt prefix the provider should cache
	// (Anthropic's cache_control: {"type":"ephemeral"}); protocols that
	// cache on their own ignore it.
	Cache bool
}

// Media is an image, audio clip or document, given inline or by URL.
type Media struct {
	// MediaType is the MIME type, such as "image/png" or
	// "application/pdf"; "" when only a URL is known.
	MediaType string
	// Data is the content, base64-encoded (standard alphabet, padded);
	// "" when URL is set.
	Data string
	// URL is where the content is (http(s), or a provider's file URI);
	// "" when Data is set.
	URL string
	// Name is a file name, when the client gave one.
	Name string
	// Detail is OpenAI's image detail ("low", "high", "auto"), "" unset.
	Detail string
}

// ToolCall is a call of a tool by the model.
type ToolCall struct {
	// ID identifies the call, so that its result can refer to it. Gemini
	// may send none: its decoder makes one up.
	ID   string
	Name string
	// Arguments is a JSON object, as text.
	Arguments string
	// Signature is Gemini's thought signature attached to the call, which
	// must come back with it in later turns; "" none.
	Signature string
}

// ToolResult is the answer to a tool call.
type ToolResult struct {
	// CallID is the ToolCall.ID answered.
	CallID string
	// Name is the tool's name (Gemini needs it; decoders of other
	// protocols fill it from the call in the history when they can).
	Name string
	// Parts is the content: text and media parts.
	Parts []Part
	// IsError says the tool failed.
	IsError bool
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments (an object schema),
	// as JSON; nil means no parameters.
	Parameters json.RawMessage
	// Strict asks the provider to follow the schema exactly, where it can.
	Strict bool
}

// ToolChoiceMode says how the model must use tools.
type ToolChoiceMode string

// Tool choice modes.
const (
	ToolAuto     ToolChoiceMode = "auto"     // the model decides
	ToolNone     ToolChoiceMode = "none"     // no tool call
	ToolRequired ToolChoiceMode = "required" // at least one tool call
	ToolNamed    ToolChoiceMode = "tool"     // a call of the tool Name
)

// ToolChoice says whether and which tools the model must call.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string // for ToolNamed
}

// FormatType is the kind of output constraint.
type FormatType string

// Format types.
const (
	FormatJSON       FormatType = "json_object" // any JSON object
	FormatJSONSchema FormatType = "json_schema" // JSON following Schema
)

// Format constrains the output.
type Format struct {
	Type   FormatType
	Name   string          // the schema's name (OpenAI requires one); "" none
	Schema json.RawMessage // for FormatJSONSchema
	Strict bool
}

// Reasoning controls how much the model thinks before answering.
type Reasoning struct {
	// Off turns thinking off (OpenAI "none", Anthropic "disabled", a
	// Gemini budget of 0).
	Off bool
	// Effort is a level: "minimal", "low", "medium", "high", "xhigh" or
	// "max"; "" when a budget or the adaptive mode is given instead.
	Effort string
	// Budget is a number of thinking tokens; 0 unset, -1 dynamic (the
	// model decides, Gemini's -1).
	Budget int64
	// Adaptive is Anthropic's adaptive thinking: the model decides, at
	// Effort when set.
	Adaptive bool
	// Hide says the client does not want the reasoning text shown, only
	// its effect (Gemini's includeThoughts false).
	Hide bool
}

// Finish is why the model stopped.
type Finish string

// Finish reasons.
const (
	FinishStop          Finish = "stop"           // a natural end, or a stop sequence (StopSequence)
	FinishLength        Finish = "length"         // the output token limit
	FinishToolCalls     Finish = "tool_calls"     // the model called tools
	FinishContentFilter Finish = "content_filter" // a safety filter cut the answer
	FinishRefusal       Finish = "refusal"        // the model refused
	FinishPause         Finish = "pause"          // a long-running turn paused (Anthropic pause_turn)
	FinishError         Finish = "error"          // the provider failed to finish (a malformed call, say)
)

// Response is a model's complete answer.
type Response struct {
	// ID is the provider's id of the answer, "" when it gave none
	// (encoders make one up).
	ID string
	// Model is the model that answered.
	Model string
	// Created is when, in Unix seconds; 0 unknown.
	Created int64
	// Parts holds text, thinking and tool call parts, in order.
	Parts []Part
	// Finish is why the model stopped; StopSequence the sequence that
	// stopped it, when one did.
	Finish       Finish
	StopSequence string
	// Usage is what the answer cost, nil when the provider said nothing.
	Usage *aiproxy.Usage
}
