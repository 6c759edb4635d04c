package openai

import (
	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// This file converts between OpenAI chat completions and the neutral form.
// (Being written.)

func notYet() error {
	return aiproxy.Errorf(aiproxy.EINVALID, "Conversion to or from OpenAI chat completions is not available yet.")
}

// DecodeRequest decodes an OpenAI chat completions request.
func (Codec) DecodeRequest(req *relay.Request) (*chat.Request, error) { return nil, notYet() }

// EncodeRequest encodes a chat completions request.
func (Codec) EncodeRequest(c *chat.Request, call *relay.Call) ([]byte, error) { return nil, notYet() }

// DecodeResponse decodes a chat completion.
func (Codec) DecodeResponse(body []byte) (*chat.Response, error) { return nil, notYet() }

// EncodeResponse encodes a chat completion.
func (Codec) EncodeResponse(r *chat.Response, req *relay.Request) ([]byte, error) {
	return nil, notYet()
}

// NewStreamDecoder returns a decoder of chat completion chunks.
func (Codec) NewStreamDecoder() relay.StreamDecoder { return nil }

// NewStreamEncoder returns an encoder of chat completion chunks.
func (Codec) NewStreamEncoder(req *relay.Request) relay.StreamEncoder { return nil }
