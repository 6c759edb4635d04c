package embedded

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay"
)

const fetchPage = `<!doctype html><html><head><title>Doc</title><script>var secret = 1;</script></head>
<body><nav><a href="/">Home</a></nav><h1>Hello</h1><p>Read the <a href="/docs">docs</a>.</p>
<ul><li>alpha</li><li>beta</li></ul><style>.x{}</style></body></html>`

// fetchServer serves the pages the fetch tests read, on a loopback
// address.
func fetchServer(tb testing.TB) *httptest.Server {
	tb.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, fetchPage)
	})
	mux.HandleFunc("/ua", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, r.UserAgent())
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, strings.Repeat("0123456789", 10)) // 100 characters
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, strings.Repeat("x", 2000))
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for range 20 {
			fmt.Fprint(w, strings.Repeat("x", 100))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/latin1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=iso-8859-1")
		w.Write([]byte("caf\xe9"))
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"a":1}`)
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusNotFound) })
	mux.HandleFunc("/image", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/redirect/", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/redirect/"), "%d", &n)
		if n == 0 {
			fmt.Fprint(w, "arrived")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/to-ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://example.com/x", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

func TestFetch(t *testing.T) {
	srv := fetchServer(t)
	tests := []struct {
		name    string
		values  map[string]string
		args    map[string]any
		want    string // the whole text, or with prefix "~" a part of it
		wantErr string // a part of the tool error
	}{
		{name: "markdown", args: map[string]any{"url": srv.URL + "/page"},
			want: "[Home](" + srv.URL + "/)\n\n# Hello\n\nRead the [docs](" + srv.URL + "/docs).\n\n- alpha\n- beta"},
		{name: "text", args: map[string]any{"url": srv.URL + "/page", "format": "text"},
			want: "Home\n\nHello\n\nRead the docs.\n\n- alpha\n- beta"},
		{name: "raw", args: map[string]any{"url": srv.URL + "/page", "format": "raw"}, want: fetchPage},
		{name: "json is text", args: map[string]any{"url": srv.URL + "/json"}, want: `{"a":1}`},
		{name: "charset decoded", args: map[string]any{"url": srv.URL + "/latin1"}, want: "café"},
		{name: "user agent default", args: map[string]any{"url": srv.URL + "/ua"}, want: defaultFetchUserAgent},
		{name: "user agent field", values: map[string]string{"user_agent": "TestBot/2"}, args: map[string]any{"url": srv.URL + "/ua"}, want: "TestBot/2"},
		{name: "first page", args: map[string]any{"url": srv.URL + "/long", "max_length": 30},
			want: "012345678901234567890123456789\n\n[Content truncated: characters 0 to 30 of 100 shown. Call fetch again with start_index=30 to read on.]"},
		{name: "next page", args: map[string]any{"url": srv.URL + "/long", "max_length": 30, "start_index": 90}, want: "0123456789"},
		{name: "past the end", args: map[string]any{"url": srv.URL + "/long", "start_index": 100}, wantErr: "start_index 100 is past the end"},
		{name: "size limit", values: map[string]string{"max_bytes": "1000"}, args: map[string]any{"url": srv.URL + "/big"},
			wantErr: "larger than the limit of 1000 bytes"},
		{name: "size limit chunked", values: map[string]string{"max_bytes": "1000"}, args: map[string]any{"url": srv.URL + "/big-chunked"},
			wantErr: "larger than the limit of 1000 bytes"},
		{name: "under the size limit", values: map[string]string{"max_bytes": "2000"}, args: map[string]any{"url": srv.URL + "/big", "max_length": 5}, want: "~xxxxx\n\n[Content truncated"},
		{name: "non-2xx", args: map[string]any{"url": srv.URL + "/missing"}, wantErr: "the server answered 404 Not Found"},
		{name: "non-text", args: map[string]any{"url": srv.URL + "/image"}, wantErr: "the content is image/png, not text"},
		{name: "timeout", values: map[string]string{"timeout_seconds": "1"}, args: map[string]any{"url": srv.URL + "/slow"}, wantErr: "no answer within 1s"},
		{name: "five redirects", args: map[string]any{"url": srv.URL + "/redirect/5"}, want: "arrived"},
		{name: "six redirects", args: map[string]any{"url": srv.URL + "/redirect/6"}, wantErr: "refused: more than 5 redirects"},
		{name: "redirect to ftp", args: map[string]any{"url": srv.URL + "/to-ftp"}, wantErr: "refused: a redirect to a scheme other than http or https"},
		{name: "file scheme", args: map[string]any{"url": "file:///etc/passwd"}, wantErr: "url must be an absolute http or https URL"},
		{name: "relative url", args: map[string]any{"url": "/page"}, wantErr: "url must be an absolute http or https URL"},
		{name: "bad format", args: map[string]any{"url": srv.URL + "/page", "format": "pdf"}, wantErr: "format must be markdown, text or raw"},
		{name: "bad max_length", args: map[string]any{"url": srv.URL + "/page", "max_length": 0}, wantErr: "max_length must be between 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, "fetch", Config{Values: tt.values, AllowPrivateNetwork: true})
			text, isErr := call(t, s, Caller{}, "fetch", tt.args)
			if tt.wantErr != "" {
				if !isErr || !strings.Contains(text, tt.wantErr) {
					t.Fatalf("got %q (isError %v), want a tool error with %q", text, isErr, tt.wantErr)
				}
				return
			}
			if isErr {
				t.Fatalf("got the tool error %q", text)
			}
			if part, ok := strings.CutPrefix(tt.want, "~"); ok {
				if !strings.Contains(text, part) {
					t.Fatalf("got %q, want it to hold %q", text, part)
				}
			} else if text != tt.want {
				t.Fatalf("got  %q\nwant %q", text, tt.want)
			}
		})
	}
}

// fakePublic is a transport answering the requests to public.example
// itself, with a redirect to target, and passing every other request to
// the guarded transport next: so a redirect from a "public" address to an
// internal one reaches the real guard.
type fakePublic struct {
	next   http.RoundTripper
	target string
}

func (f fakePublic) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != "public.example" {
		return f.next.RoundTrip(req)
	}
	rec := httptest.NewRecorder()
	http.Redirect(rec, req, f.target, http.StatusFound)
	return rec.Result(), nil
}

func TestFetchOutboundGuard(t *testing.T) {
	srv := fetchServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	redirecting := func(allowPrivate bool, timeout time.Duration) *http.Client {
		c := relay.NewOutboundClient(allowPrivate, timeout)
		c.Transport = fakePublic{next: c.Transport, target: srv.URL + "/page"}
		return c
	}
	tests := []struct {
		name         string
		allowPrivate bool
		newClient    func(bool, time.Duration) *http.Client
		url          string
		refused      bool
	}{
		{name: "loopback refused", url: srv.URL + "/page", refused: true},
		{name: "loopback allowed", allowPrivate: true, url: srv.URL + "/page"},
		{name: "name resolving to loopback refused", url: "http://localhost:" + port + "/page", refused: true},
		{name: "name resolving to loopback allowed", allowPrivate: true, url: "http://localhost:" + port + "/page"},
		{name: "redirect to loopback refused", newClient: redirecting, url: "http://public.example/start", refused: true},
		{name: "redirect to loopback allowed", allowPrivate: true, newClient: redirecting, url: "http://public.example/start"},
		{name: "metadata address refused", url: "http://169.254.169.254/latest/meta-data/", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, "fetch", Config{AllowPrivateNetwork: tt.allowPrivate, NewClient: tt.newClient})
			text, isErr := call(t, s, Caller{}, "fetch", map[string]any{"url": tt.url})
			if tt.refused {
				if !isErr || !strings.Contains(text, "refused: "+relay.ErrPrivateAddress.Error()) {
					t.Fatalf("got %q (isError %v), want a refusal", text, isErr)
				}
				return
			}
			if isErr || !strings.Contains(text, "# Hello") {
				t.Fatalf("got %q (isError %v), want the page", text, isErr)
			}
		})
	}
}
