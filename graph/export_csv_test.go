package graph_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// TestExportLogs streams logs as CSV across several pages, with filters,
// held to its own group for a group token, and refused without a key.
func TestExportLogs(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	a.createGroup(t, `id: "beta"`)
	_, acmeKey := a.createToken(t, `group: "acme", name: "own"`)
	at := time.Now().UTC().Add(-time.Hour)
	var logs []*aiproxy.Log
	for i := range 1200 { // more than two pages
		l := &aiproxy.Log{RequestID: fmt.Sprint("r", i), CreatedAt: at.Add(time.Duration(i) * time.Millisecond), GroupID: "acme", Model: "m1",
			Mode: aiproxy.ModeChat, StatusCode: 200, Usage: aiproxy.Usage{TotalTokens: 3}, Error: ""}
		if i%3 == 0 {
			l.GroupID = "beta"
		}
		if i%5 == 0 {
			l.Model, l.StatusCode, l.Error = "m2", 502, `bad "gateway", twice`
		}
		logs = append(logs, l)
	}
	a.record(t, logs...)

	read := func(t *testing.T, key, query string) (int, [][]string) {
		t.Helper()
		h := map[string]string{}
		if key != "" {
			h["Authorization"] = "Bearer " + key
		}
		w := a.do(http.MethodGet, "/api/logs.csv"+query, "", h)
		if w.Code != http.StatusOK {
			return w.Code, nil
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("content type %q", ct)
		}
		rows, err := csv.NewReader(strings.NewReader(w.Body.String())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return w.Code, rows
	}
	for _, tc := range []struct {
		name, key, query string
		status, rows     int
		check            func(row []string) bool
	}{
		{"every log", adminKey, "", 200, 1200, nil},
		{"by group", adminKey, "?group=beta", 200, 400, func(r []string) bool { return r[3] == "beta" }},
		{"failed", adminKey, "?failed=true", 200, 240, func(r []string) bool { return r[13] == "502" && r[27] == `bad "gateway", twice` }},
		{"by model and group", adminKey, "?group=acme&model=m2", 200, 160, func(r []string) bool { return r[3] == "acme" && r[7] == "m2" }},
		{"group token: its own", acmeKey, "", 200, 800, func(r []string) bool { return r[3] == "acme" }},
		{"group token: another", acmeKey, "?group=beta", http.StatusForbidden, 0, nil},
		{"no key", "", "", http.StatusUnauthorized, 0, nil},
		{"bad time", adminKey, "?from=yesterday", http.StatusBadRequest, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, rows := read(t, tc.key, tc.query)
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			if status != http.StatusOK {
				return
			}
			if len(rows) != tc.rows+1 || rows[0][1] != "request_id" {
				t.Fatalf("%d lines, want a header and %d rows", len(rows), tc.rows)
			}
			seen := map[string]bool{}
			for _, r := range rows[1:] {
				if seen[r[1]] {
					t.Fatalf("request %s exported twice", r[1])
				}
				seen[r[1]] = true
				if tc.check != nil && !tc.check(r) {
					t.Fatalf("row %v does not match the filter", r)
				}
			}
		})
	}
}
