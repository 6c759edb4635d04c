package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// loopback is the only host the load tool sends anything to.
const loopback = "127.0.0.1"

// loopbackDialer dials addresses on 127.0.0.1 only; anything else is
// refused, so no misconfiguration can send load elsewhere.
type loopbackDialer struct{ d net.Dialer }

// DialContext dials addr when its host is 127.0.0.1.
func (l *loopbackDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != loopback {
		return nil, fmt.Errorf("load: refusing to dial %q: only %s is allowed", addr, loopback)
	}
	return l.d.DialContext(ctx, network, addr)
}

// newTransport returns the load generator's transport: keep-alive with a
// large idle pool per host, so that no worker has to reconnect, and no
// proxy from the environment.
func newTransport() *http.Transport {
	ld := &loopbackDialer{d: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         ld.DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 8192,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ReadBufferSize:      16 << 10,
		WriteBufferSize:     16 << 10,
	}
}

// route names which of the fake providers a request is for; see
// providerRole. Through the gateway the model picks the channel, and so
// the provider; direct and through the bare proxy the path does.
type route int

const (
	routeFast  route = iota // no delays: throughput, latency, held streams
	routeSlow               // streams of fixed chunks with a delay between them
	routeEarly              // answers before reading the request body
)

// prefix returns the path prefix of r's provider on the provider's port.
func (r route) prefix() string {
	switch r {
	case routeSlow:
		return "/slow"
	case routeEarly:
		return "/early"
	}
	return ""
}

// Model names sent by the load: each is served by one gateway channel,
// and relaytest answers them normally, except modelHold (relaytest's
// ModelHold prefix), which holds a stream open until its client goes away.
const (
	modelFast  = "bench"
	modelSlow  = "bench-slow"
	modelEarly = "bench-early"
	modelHold  = "fake-hold-bench"
)

// target is a server the load is sent to: the provider itself (direct),
// a bare reverse proxy or the gateway.
type target struct {
	name    string
	base    string // "http://127.0.0.1:port"
	gateway bool   // requests pass the gateway's relay and are logged
	proc    *proc  // the serving process, for its memory use

	// answered counts relay requests to the gateway that got a response
	// (whatever its status), noAnswer those that got none (connection
	// failure, timeout). Each answered request must leave one log row.
	answered, noAnswer atomic.Int64
}

// url returns the chat completions URL for the provider of r.
func (t *target) url(r route) string {
	if t.gateway {
		return t.base + "/v1/chat/completions"
	}
	return t.base + r.prefix() + "/v1/chat/completions"
}

// client sends requests with the gateway token (which direct and proxied
// requests carry too, so that every target sees the same bytes).
type client struct {
	hc    *http.Client
	token string
}

func newClient(token string) *client {
	return &client{hc: &http.Client{Transport: newTransport()}, token: token}
}

// post sends body to t for route r and returns the response, counting
// answers of the gateway.
func (c *client) post(ctx context.Context, t *target, r route, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url(r), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["Authorization"] = []string{"Bearer " + c.token}
	resp, err := c.hc.Do(req)
	if t.gateway {
		if err == nil {
			t.answered.Add(1)
		} else {
			t.noAnswer.Add(1)
		}
	}
	return resp, err
}

// requestTimeout bounds every non-streaming request and every stream of
// the TTFB and early-answer scenarios.
const requestTimeout = 30 * time.Second

// chat sends one non-streaming chat completion and checks that it is
// answered 200 with a completion carrying usage.
func (c *client) chat(ctx context.Context, t *target, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := c.post(ctx, t, routeFast, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf [4096]byte
	n, err := io.ReadFull(resp.Body, buf[:])
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, buf[:n])
	case err != nil:
		return fmt.Errorf("read answer: %w", err)
	case !bytes.Contains(buf[:n], []byte(`"usage"`)):
		return fmt.Errorf("answer without usage: %.200s", buf[:n])
	}
	return nil
}

// streamResult is what one streamed request got.
type streamResult struct {
	TTFB   time.Duration // until the first data event
	Total  time.Duration // until the end of the body
	Events int           // data events before "data: [DONE]"
	Done   bool          // "data: [DONE]" arrived
	Err    error         // transport error, bad status or error event
}

// complete reports whether the stream arrived whole: want events, then
// [DONE], then the end of the body, and no error.
func (s streamResult) complete(want int) bool {
	return s.Err == nil && s.Done && s.Events == want
}

// describe says what arrived, for reports of broken streams.
func (s streamResult) describe(want int) string {
	msg := fmt.Sprintf("%d of %d events", s.Events, want)
	if s.Done {
		msg += ", [DONE]"
	} else {
		msg += ", no [DONE]"
	}
	if s.Err != nil {
		msg += ", " + s.Err.Error()
	}
	return msg
}

// stream sends one streaming request and reads its events to the end.
func (c *client) stream(ctx context.Context, t *target, r route, body []byte) streamResult {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var res streamResult
	start := time.Now()
	resp, err := c.post(ctx, t, r, body)
	if err != nil {
		res.Err = err
		return res
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		res.Err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		return res
	}
	er := newEventReader(resp.Body)
	for {
		data, err := er.next()
		if err != nil {
			if err != io.EOF {
				res.Err = err
			}
			break
		}
		if res.Events == 0 && !res.Done {
			res.TTFB = time.Since(start)
		}
		switch {
		case res.Done:
			res.Err = errors.New("data after [DONE]")
		case string(data) == "[DONE]":
			res.Done = true
		case bytes.HasPrefix(data, []byte(`{"error"`)):
			res.Err = fmt.Errorf("error event: %.200s", data)
		default:
			res.Events++
		}
	}
	res.Total = time.Since(start)
	return res
}

// openTimeout bounds the wait for a held stream's first event.
const openTimeout = 30 * time.Second

// hold opens a stream, waits for its first event, calls opened, and then
// reads until the stream ends, which for a held stream is when ctx is
// cancelled. It returns an error only when the stream failed to open.
func (c *client) hold(ctx context.Context, t *target, body []byte, opened func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(openTimeout, cancel)
	resp, err := c.post(ctx, t, routeFast, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	er := newEventReader(resp.Body)
	if _, err := er.next(); err != nil {
		return fmt.Errorf("no first event: %w", err)
	}
	if !timer.Stop() {
		return fmt.Errorf("no first event within %v", openTimeout)
	}
	opened()
	for {
		if _, err := er.next(); err != nil {
			return nil
		}
	}
}

// chatBody returns a chat completion request for model.
func chatBody(model string, stream bool) []byte {
	b := []byte(`{"model":` + strconv.Quote(model) + `,"messages":[` +
		`{"role":"system","content":"You are a helpful assistant."},` +
		`{"role":"user","content":"Write a short greeting for the load test, please."}],"max_tokens":64`)
	if stream {
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(b, '}')
}

// bigChatBody returns a streaming chat completion request for model of
// at least size bytes: one long user message.
func bigChatBody(model string, size int) []byte {
	b := []byte(`{"model":` + strconv.Quote(model) + `,"stream":true,"messages":[{"role":"user","content":"`)
	const word = "lorem ipsum dolor sit amet "
	for len(b) < size {
		b = append(b, word...)
	}
	return append(b, `"}]}`...)
}

// eventReader reads the data of server-sent events.
type eventReader struct {
	br   *bufio.Reader
	data []byte
}

func newEventReader(r io.Reader) *eventReader {
	return &eventReader{br: bufio.NewReaderSize(r, 16<<10)}
}

// next returns the data of the next event that has any: its "data:"
// lines joined by newlines, as the SSE specification says. Comments and
// other fields are skipped. An event cut off by the end of the input is
// dropped, and next returns io.EOF. The returned slice is valid until the
// next call.
func (e *eventReader) next() ([]byte, error) {
	e.data = e.data[:0]
	seen := false // a data field in this event
	var long []byte
	for {
		line, err := e.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		if err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if seen {
				return e.data, nil
			}
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			value = nil
		}
		if string(field) != "data" {
			continue // comment (empty field) or another field
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if seen {
			e.data = append(e.data, '\n')
		}
		e.data = append(e.data, value...)
		seen = true
	}
}
