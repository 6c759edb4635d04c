package relay

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
)

// ChannelTest is the result of TestChannel.
type ChannelTest struct {
	// OK says the channel answered.
	OK bool
	// Status is the provider's HTTP status, 0 when none came.
	Status int
	// Latency is how long the answer took.
	Latency time.Duration
	// Answer is the model's reply when OK; Error why not otherwise (the
	// provider's message, never the channel's key).
	Answer, Error string
	// Usage is what the provider reported, zero when it said nothing.
	Usage aiproxy.Usage
}

// TestChannel sends ch a tiny real chat request for model ("Say OK.", at
// most 16 tokens), in the channel's own protocol, and reports what came
// back. It bypasses routing, health and logging: an admin's check, not
// traffic. It returns an error only when the request cannot be built
// (EINVALID for a model the channel does not list).
func (s *Server) TestChannel(ctx context.Context, ch *aiproxy.Channel, model string) (*ChannelTest, error) {
	if !ch.HasModel(model) {
		return nil, aiproxy.FieldErrorf("model", "The channel does not serve the model `%s`.", model)
	}
	var in Ingress
	for _, ri := range s.Ingresses {
		if ri.Ingress.Protocol() == aiproxy.ProtocolOpenAI {
			in = ri.Ingress
		}
	}
	if in == nil || s.Providers[ch.Type] == nil {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "The channel type %q cannot be tested here.", ch.Type)
	}
	body, _ := json.Marshal(map[string]any{
		"model":      model,
		"messages":   []map[string]string{{"role": "user", "content": "Say OK."}},
		"max_tokens": 16,
	})
	req := &Request{ID: "test-" + strconv.FormatInt(time.Now().UnixNano(), 36), Ingress: in, Protocol: aiproxy.ProtocolOpenAI,
		Mode: aiproxy.ModeChat, Op: OpGenerate, Path: "/v1/chat/completions", Header: http.Header{}, Body: body, Received: time.Now(),
		Log: &aiproxy.Log{}, unlogged: true}
	if err := in.Parse(req); err != nil {
		return nil, err
	}
	began := time.Now()
	resp, err := s.attempt(ctx, req, ch)
	res := &ChannelTest{Latency: time.Since(began)}
	if len(req.Attempts) > 0 {
		res.Status = req.Attempts[len(req.Attempts)-1].Status
	}
	if err != nil {
		res.Error = aiproxy.ErrorMessage(err)
		var ue *UpstreamError
		if errors.As(err, &ue) {
			res.Error = ue.Message
		}
		return res, nil
	}
	res.OK = true
	res.Answer = gjson.GetBytes(resp.Body, "choices.0.message.content").String()
	if resp.Usage != nil {
		res.Usage = *resp.Usage
	}
	return res, nil
}
