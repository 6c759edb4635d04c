package main

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// okHandler stands in for the provider behind a faultInjector.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, `{"ok":true}`)
})

func TestFaultInjectorShapes(t *testing.T) {
	tests := []struct {
		name       string
		roll       float64
		status     int
		body       string
		retryAfter string
	}{
		{"passes", 0.05, http.StatusOK, `{"ok":true}`, ""},
		{"429 for the first fifth", 0.0099, http.StatusTooManyRequests, injected429Body, "1"},
		{"500 for the rest", 0.0101, http.StatusInternalServerError, injected500Body, ""},
		{"500 just under the rate", 0.0499, http.StatusInternalServerError, injected500Body, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &faultInjector{next: okHandler, rate: 0.05, share429: 0.2, roll: func() float64 { return tt.roll }}
			rec := httptest.NewRecorder()
			f.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{}`)))
			if rec.Code != tt.status || rec.Body.String() != tt.body || rec.Header().Get("Retry-After") != tt.retryAfter {
				t.Errorf("got %d %q Retry-After %q; want %d %q %q",
					rec.Code, rec.Body, rec.Header().Get("Retry-After"), tt.status, tt.body, tt.retryAfter)
			}
			if tt.status != http.StatusOK {
				var e struct {
					Error struct {
						Message string  `json:"message"`
						Type    string  `json:"type"`
						Param   *string `json:"param"`
					} `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
					t.Errorf("not an OpenAI error: %s (%v)", rec.Body, err)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
		})
	}
}

func TestFaultInjectorRate(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	f := &faultInjector{next: okHandler, rate: 0.05, share429: 0.2, roll: rnd.Float64}
	const n = 100000
	for range n {
		f.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil))
	}
	failed := f.failed500.Load() + f.failed429.Load()
	// 5 % of 100,000 is 5,000 with a standard deviation of about 69;
	// a fifth of those is 1,000 with one of about 28.
	if f.requests.Load() != n || failed < 4700 || failed > 5300 {
		t.Errorf("requests %d, failed %d; want %d, about 5000", f.requests.Load(), failed, n)
	}
	if got := f.failed429.Load(); got < 850 || got > 1150 {
		t.Errorf("429s %d, want about 1000", got)
	}
}
