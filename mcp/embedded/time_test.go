package embedded

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
)

// toolRequest returns a call of tool with args.
func toolRequest(tool string, args map[string]any) mcpgo.CallToolRequest {
	var req mcpgo.CallToolRequest
	req.Params.Name, req.Params.Arguments = tool, args
	return req
}

// call calls tool of s with args and returns its result's text.
func call(tb testing.TB, s *Server, c Caller, tool string, args map[string]any) (text string, isError bool) {
	tb.Helper()
	res, err := s.Call(context.Background(), c, toolRequest(tool, args))
	if err != nil {
		tb.Fatalf("call %s: %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(mcpgo.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String(), res.IsError
}

// build builds template name, failing tb on an error.
func build(tb testing.TB, name string, cfg Config) *Server {
	tb.Helper()
	s, err := Build(name, cfg)
	if err != nil {
		tb.Fatalf("build %s: %v", name, err)
	}
	return s
}

var fixedNow = time.Date(2026, 7, 1, 12, 30, 0, 0, time.UTC)

func TestTimeCurrent(t *testing.T) {
	tests := []struct {
		name     string
		def      string
		args     map[string]any
		want     string // in the answer
		wantErr  string // in the tool error
		wantZone string
	}{
		{name: "default UTC", want: `"datetime": "2026-07-01T12:30:00Z"`, wantZone: "UTC"},
		{name: "admin default", def: "Asia/Tokyo", want: `"datetime": "2026-07-01T21:30:00+09:00"`, wantZone: "Asia/Tokyo"},
		{name: "argument", def: "Asia/Tokyo", args: map[string]any{"timezone": "America/New_York"},
			want: `"isDST": true`, wantZone: "America/New_York"},
		{name: "unknown zone", args: map[string]any{"timezone": "Mars/Olympus"}, wantErr: `unknown time zone "Mars/Olympus"`},
		{name: "local refused", args: map[string]any{"timezone": "Local"}, wantErr: "unknown time zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, "time", Config{Values: map[string]string{"default_timezone": tt.def}, Deps: Deps{Now: func() time.Time { return fixedNow }}})
			text, isErr := call(t, s, Caller{}, "current_time", tt.args)
			if tt.wantErr != "" {
				if !isErr || !strings.Contains(text, tt.wantErr) {
					t.Fatalf("got %q (isError %v), want a tool error with %q", text, isErr, tt.wantErr)
				}
				return
			}
			if isErr || !strings.Contains(text, tt.want) || !strings.Contains(text, `"timezone": "`+tt.wantZone+`"`) {
				t.Fatalf("got %q (isError %v), want %q in zone %s", text, isErr, tt.want, tt.wantZone)
			}
		})
	}
}

func TestTimeConvert(t *testing.T) {
	tests := []struct {
		name    string
		args    map[string]any
		target  string // the target datetime
		diff    string
		wantErr string
	}{
		{name: "time of day", args: map[string]any{"time": "09:00", "source_timezone": "Europe/London", "target_timezone": "Asia/Kolkata"},
			target: "2026-07-01T13:30:00+05:30", diff: "+4h30m"},
		{name: "date and time, default source", args: map[string]any{"time": "2026-01-15 23:00", "target_timezone": "America/Los_Angeles"},
			target: "2026-01-15T15:00:00-08:00", diff: "-8h"},
		{name: "rfc3339 offset wins", args: map[string]any{"time": "2026-03-01T10:00:00+01:00", "source_timezone": "Asia/Tokyo", "target_timezone": "UTC"},
			target: "2026-03-01T09:00:00Z", diff: "-9h"},
		{name: "unknown source", args: map[string]any{"time": "09:00", "source_timezone": "Nowhere/City", "target_timezone": "UTC"},
			wantErr: `source_timezone: unknown time zone "Nowhere/City"`},
		{name: "unknown target", args: map[string]any{"time": "09:00", "target_timezone": "Atlantis"},
			wantErr: `target_timezone: unknown time zone "Atlantis"`},
		{name: "no target", args: map[string]any{"time": "09:00"}, wantErr: "target_timezone is required"},
		{name: "bad time", args: map[string]any{"time": "nine", "target_timezone": "UTC"}, wantErr: `cannot read the time "nine"`},
	}
	s := build(t, "time", Config{Deps: Deps{Now: func() time.Time { return fixedNow }}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr := call(t, s, Caller{}, "convert_time", tt.args)
			if tt.wantErr != "" {
				if !isErr || !strings.Contains(text, tt.wantErr) {
					t.Fatalf("got %q (isError %v), want a tool error with %q", text, isErr, tt.wantErr)
				}
				return
			}
			var got struct {
				Target     struct{ Datetime string }
				Difference string `json:"timeDifference"`
			}
			if isErr || json.Unmarshal([]byte(text), &got) != nil {
				t.Fatalf("got %q (isError %v)", text, isErr)
			}
			if got.Target.Datetime != tt.target || got.Difference != tt.diff {
				t.Fatalf("got target %s diff %s, want %s %s", got.Target.Datetime, got.Difference, tt.target, tt.diff)
			}
		})
	}
}

func TestEmbeddedBuildErrors(t *testing.T) {
	tests := []struct {
		name, template string
		cfg            Config
		field          string
	}{
		{name: "unknown template", template: "weather", field: "embedded.template"},
		{name: "bad default zone", template: "time", cfg: Config{Values: map[string]string{"default_timezone": "Moon/Base"}}, field: "default_timezone"},
		{name: "max_bytes pattern", template: "fetch", cfg: Config{Values: map[string]string{"max_bytes": "lots"}}, field: "max_bytes"},
		{name: "timeout pattern", template: "fetch", cfg: Config{Values: map[string]string{"timeout_seconds": "-1"}}, field: "timeout_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.template, tt.cfg)
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != tt.field {
				t.Fatalf("got %v (field %q), want EINVALID naming %s", err, aiproxy.ErrorField(err), tt.field)
			}
		})
	}
}

func TestEmbeddedTemplates(t *testing.T) {
	names := map[string]bool{}
	for _, tpl := range Templates() {
		names[tpl.Name] = true
		if tpl.Description == "" {
			t.Errorf("template %s has no description", tpl.Name)
		}
		for _, f := range tpl.Fields {
			if f.Description == "" {
				t.Errorf("field %s.%s has no description", tpl.Name, f.Name)
			}
			if f.Example != "" {
				if err := f.Validate(f.Example); err != nil {
					t.Errorf("field %s.%s: its example does not validate: %v", tpl.Name, f.Name, err)
				}
			}
		}
		if _, err := Build(tpl.Name, Config{}); err != nil {
			t.Errorf("template %s does not build with no values: %v", tpl.Name, err)
		}
	}
	for _, n := range []string{"time", "fetch", "aiproxy"} {
		if !names[n] {
			t.Errorf("no template %s", n)
		}
	}
	s := build(t, "time", Config{})
	var req mcpgo.CallToolRequest
	req.Params.Name = "nope"
	if _, err := s.Call(context.Background(), Caller{}, req); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		t.Fatalf("unknown tool: got %v, want ENOTFOUND", err)
	}
}

func TestEmbeddedFieldValues(t *testing.T) {
	tpl := template{MCPTemplate: aiproxy.MCPTemplate{Name: "t", Fields: []aiproxy.MCPTemplateField{
		{Name: "region", Required: true, Pattern: `[a-z]+-[0-9]`},
		{Name: "api_key", Required: true, PerGroup: true, Secret: true},
		{Name: "optional"},
	}}}
	tests := []struct {
		name       string
		admin, grp map[string]string
		field      string // of the EINVALID error, "" for none
		want       map[string]string
		missing    string
	}{
		{name: "all set", admin: map[string]string{"region": "eu-1", "api_key": "admin's, ignored"}, grp: map[string]string{"api_key": "k", "region": "group's, ignored"},
			want: map[string]string{"region": "eu-1", "api_key": "k", "optional": ""}},
		{name: "admin value missing", grp: map[string]string{"api_key": "k"}, field: "region"},
		{name: "admin value off pattern", admin: map[string]string{"region": "EU"}, grp: map[string]string{"api_key": "k"}, field: "region"},
		{name: "group value missing", admin: map[string]string{"region": "eu-1", "api_key": "k"},
			want: map[string]string{"region": "eu-1", "optional": ""}, missing: "api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing, err := tpl.values(&Config{Values: tt.admin, GroupValues: tt.grp})
			if tt.field != "" {
				if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != tt.field {
					t.Fatalf("got %v, want EINVALID naming %s", err, tt.field)
				}
				return
			}
			if strings.Join(missing, ",") != tt.missing {
				t.Fatalf("missing %v, want %s", missing, tt.missing)
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestEmbeddedMissingGroupValue(t *testing.T) {
	s := build(t, "time", Config{})
	s.missing = []string{"api_key"}
	if len(s.Tools()) == 0 {
		t.Fatal("no tools listed")
	}
	text, isErr := call(t, s, Caller{GroupID: "acme"}, "current_time", nil)
	if !isErr || !strings.Contains(text, "needs your group to set api_key") {
		t.Fatalf("got %q (isError %v), want a tool error saying the group must set api_key", text, isErr)
	}
}
