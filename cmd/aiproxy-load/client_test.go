package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

func TestEventReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"openai stream", "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n", []string{`{"a":1}`, `{"b":2}`, "[DONE]"}},
		{"crlf", "data: x\r\n\r\ndata: y\r\n\r\n", []string{"x", "y"}},
		{"no space after colon", "data:x\n\n", []string{"x"}},
		{"only one space is stripped", "data:  x\n\n", []string{" x"}},
		{"multi-line data joined", "data: a\ndata: b\n\n", []string{"a\nb"}},
		{"comments and other fields skipped", ": keep-alive\n\nevent: message\nid: 3\ndata: x\n\n", []string{"x"}},
		{"event cut off at the end is dropped", "data: x\n\ndata: y\n", []string{"x"}},
		{"empty input", "", nil},
		{"blank lines only", "\n\n\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time, so that every line is split across reads.
			er := newEventReader(iotest.OneByteReader(strings.NewReader(tt.in)))
			var got []string
			for {
				data, err := er.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(data))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("events = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEventReaderLongLine(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // longer than the reader's buffer
	er := newEventReader(strings.NewReader("data: " + long + "\n\ndata: [DONE]\n\n"))
	data, err := er.next()
	if err != nil || string(data) != long {
		t.Fatalf("first event: %d bytes, %v; want %d bytes", len(data), err, len(long))
	}
	if data, err := er.next(); err != nil || string(data) != "[DONE]" {
		t.Fatalf("second event: %q, %v", data, err)
	}
}

func TestLoopbackDialerRefusesOtherHosts(t *testing.T) {
	d := &loopbackDialer{}
	for _, addr := range []string{"10.0.0.1:80", "localhost:80", "[::1]:80", "127.0.0.2:80", "example.com:443"} {
		if _, err := d.DialContext(context.Background(), "tcp", addr); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("DialContext(%q) = %v, want a refusal", addr, err)
		}
	}
}

func TestBigChatBody(t *testing.T) {
	b := bigChatBody("m", 1<<20)
	if len(b) < 1<<20 || len(b) > 1<<20+64 {
		t.Errorf("len = %d, want about 1 MiB", len(b))
	}
	if !strings.HasSuffix(string(b), `"}]}`) || !strings.HasPrefix(string(b), `{"model":"m","stream":true`) {
		t.Errorf("body is not the expected JSON: %.60s...%s", b, b[len(b)-10:])
	}
}

func TestClientStream(t *testing.T) {
	_, srv := relaytest.Start(t, relaytest.WithChunks(5))
	c := newClient("sk-test")
	defer c.hc.CloseIdleConnections()
	tg := &target{name: nameDirect, base: srv.URL}
	want := slowEvents(5)

	res := c.stream(context.Background(), tg, routeFast, chatBody(modelFast, true))
	if !res.complete(want) || res.TTFB <= 0 || res.Total < res.TTFB {
		t.Errorf("whole stream: %+v, %s", res, res.describe(want))
	}

	res = c.stream(context.Background(), tg, routeFast, chatBody(relaytest.ModelCut, true))
	if res.complete(want) || res.Done || res.Events != 2 {
		t.Errorf("cut stream reported as %s, want 2 events and no [DONE]", res.describe(want))
	}

	res = c.stream(context.Background(), tg, routeFast, chatBody(relaytest.ModelServerError, true))
	if res.Err == nil || !strings.Contains(res.Err.Error(), "status 500") {
		t.Errorf("failed stream: %v, want status 500", res.Err)
	}
}

func TestClientChat(t *testing.T) {
	_, srv := relaytest.Start(t)
	c := newClient("sk-test")
	defer c.hc.CloseIdleConnections()
	tg := &target{name: nameGateway, base: srv.URL, gateway: true}
	if err := c.chat(context.Background(), tg, chatBody(modelFast, false)); err != nil {
		t.Fatal(err)
	}
	if err := c.chat(context.Background(), tg, chatBody(relaytest.ModelNoUsage, false)); err == nil {
		t.Error("answer without usage accepted")
	}
	if got := tg.answered.Load(); got != 2 {
		t.Errorf("answered = %d, want 2", got)
	}
}
