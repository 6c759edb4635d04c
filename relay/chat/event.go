package chat

import "github.com/aiproxy/aiproxy"

// EventType is the kind of a stream Event.
type EventType uint8

// Event types. A well-formed stream is
//
//	Start (BlockStart Delta* BlockStop)* Finish? Usage* End
//
// with Usage events allowed anywhere after Start. Blocks are numbered from
// 0 in the order they start; a decoder closes a block before it starts the
// next one, so at most one block is open at a time (every protocol here
// streams that way, OpenAI's parallel tool calls included).
const (
	// EventStart opens the answer: ID, Model, Created (any may be empty).
	EventStart EventType = iota + 1
	// EventBlockStart opens block Index of kind Block: KindText,
	// KindThinking, KindRedactedThinking (Signature holds its data) or
	// KindToolCall (Call holds ID, Name and Signature; Arguments empty).
	EventBlockStart
	// EventDelta adds to block Index: Text to a text or thinking block,
	// Arguments (a fragment of JSON text) to a tool call, Signature (a
	// fragment) to a thinking block.
	EventDelta
	// EventBlockStop closes block Index.
	EventBlockStop
	// EventFinish says why the model stopped: Finish, StopSequence.
	EventFinish
	// EventUsage reports the usage so far, Usage, cumulative: each one
	// replaces the ones before.
	EventUsage
	// EventEnd ends the answer; nothing follows.
	EventEnd
)

// Event is one step of a streamed answer. Type says which fields are set.
// A decoder may reuse an Event (and its Call) for the next one, and the
// Text and Arguments of its deltas may share memory with the chunk they
// were decoded from, valid until the decoder's next call: an encoder
// copies what it keeps.
type Event struct {
	Type  EventType
	Index int

	// EventStart
	ID      string
	Model   string
	Created int64

	// EventBlockStart
	Block Kind
	Call  *ToolCall

	// EventDelta (and EventBlockStart for Signature)
	Text      string
	Arguments string
	Signature string

	// EventFinish
	Finish       Finish
	StopSequence string

	// EventUsage
	Usage *aiproxy.Usage
}
