package relay

import (
	"io"

	"github.com/aiproxy/aiproxy/relay/chat"
)

// converter turns a stream of one protocol into a stream of another,
// chunk by chunk: each upstream chunk is decoded into events of the
// neutral form and the events are encoded at once, so nothing is held
// back longer than the target protocol requires.
type converter struct {
	up     Stream
	dec    StreamDecoder
	enc    StreamEncoder
	model  string // the model as the client named it
	events []chat.Event
	out    []Chunk
	next   int  // index of the next chunk of out to return
	ended  bool // the upstream stream ended
	carry  Chunk
	meter  *guard // records the usage and text of the events
}

func newConverter(up Stream, dec StreamDecoder, enc StreamEncoder, model string, meter *guard) *converter {
	return &converter{up: up, dec: dec, enc: enc, model: model, meter: meter}
}

var _ Stream = (*converter)(nil)

// Next returns the next converted chunk. The usage and text of the
// events are recorded on the way (meter), so that the upstream chunks are
// read once, by the decoder.
func (c *converter) Next() (*Chunk, error) {
	for c.next >= len(c.out) {
		if c.ended {
			return nil, io.EOF
		}
		c.out, c.next = c.out[:0], 0
		c.events = c.events[:0]
		uc, err := c.up.Next()
		switch {
		case err == io.EOF:
			c.ended = true
			if c.events, err = c.dec.End(c.events); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			if uc.Comment != nil {
				// Keep-alives pass as the target protocol's own: a
				// comment for SSE clients, which every framer writes.
				c.carry = Chunk{Comment: uc.Comment}
				return &c.carry, nil
			}
			if c.events, err = c.dec.Decode(uc, c.events); err != nil {
				return nil, err
			}
		}
		for i := range c.events {
			ev := &c.events[i]
			if c.meter != nil {
				c.meter.meterEvent(ev)
			}
			switch ev.Type {
			case chat.EventStart:
				ev.Model = c.model
			case chat.EventEnd:
				c.ended = true // the answer is complete: read no further
			}
			if c.out, err = c.enc.Encode(ev, c.out); err != nil {
				return nil, err
			}
		}
	}
	ch := &c.out[c.next]
	c.next++
	return ch, nil
}

// Close closes the upstream stream.
func (c *converter) Close() error { return c.up.Close() }
