package embedded

import (
	"context"
	"strconv"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
)

// timeLayouts are the forms convert_time accepts for its time, tried in
// order: with a zone offset (which then wins over source_timezone) or
// without.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"15:04:05",
	"15:04",
}

func timeTemplate() template {
	return template{
		MCPTemplate: aiproxy.MCPTemplate{
			Name:        "time",
			Description: "The current time in any IANA time zone, and conversions between zones.",
			Fields: []aiproxy.MCPTemplateField{{
				Name:        "default_timezone",
				Description: "The IANA time zone used when a call names none (default UTC).",
				Example:     "Europe/Paris",
			}},
		},
		build: buildTime,
	}
}

// timeTools are the time server's tools, with the zone of calls naming
// none and the clock.
type timeTools struct {
	def *time.Location
	now func() time.Time
}

func buildTime(values map[string]string, cfg *Config) (*Server, error) {
	def := time.UTC
	if name := values["default_timezone"]; name != "" {
		loc, err := loadZone(name)
		if err != nil {
			return nil, aiproxy.FieldErrorf("default_timezone", "default_timezone: %v", err)
		}
		def = loc
	}
	t := &timeTools{def: def, now: cfg.Deps.now}
	s := newServer()
	s.add(mcpgo.NewTool("current_time",
		mcpgo.WithDescription("Returns the current date and time in a time zone."),
		mcpgo.WithString("timezone", mcpgo.Description("An IANA time zone name such as America/New_York; default "+def.String()+".")),
		readOnly(false),
	), t.current)
	s.add(mcpgo.NewTool("convert_time",
		mcpgo.WithDescription("Converts a time from one time zone to another."),
		mcpgo.WithString("time", mcpgo.Required(), mcpgo.Description("The time to convert: HH:MM, YYYY-MM-DD HH:MM[:SS] or RFC 3339; a time of day alone is taken as today in source_timezone.")),
		mcpgo.WithString("source_timezone", mcpgo.Description("The IANA time zone of time; default "+def.String()+".")),
		mcpgo.WithString("target_timezone", mcpgo.Required(), mcpgo.Description("The IANA time zone to convert to.")),
		readOnly(false),
	), t.convert)
	return s, nil
}

// loadZone returns the location of an IANA zone name, refusing the local
// zone of the host (which would be meaningless to a caller).
func loadZone(name string) (*time.Location, error) {
	name = strings.TrimSpace(name)
	if name == "" || strings.EqualFold(name, "local") {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "unknown time zone %q: use an IANA name such as Europe/Paris", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "unknown time zone %q: use an IANA name such as Europe/Paris", name)
	}
	return loc, nil
}

// zone returns the zone named by argument key of req, or the default.
func (t *timeTools) zone(req mcpgo.CallToolRequest, key string) (*time.Location, error) {
	name := req.GetString(key, "")
	if name == "" {
		return t.def, nil
	}
	return loadZone(name)
}

// timeInfo is how the time tools show a time.
type timeInfo struct {
	Timezone string `json:"timezone"`
	Datetime string `json:"datetime"` // RFC 3339
	Weekday  string `json:"weekday"`
	Offset   string `json:"utcOffset"` // +02:00
	IsDST    bool   `json:"isDST"`
}

func newTimeInfo(t time.Time) timeInfo {
	return timeInfo{Timezone: t.Location().String(), Datetime: t.Format(time.RFC3339), Weekday: t.Weekday().String(),
		Offset: t.Format("-07:00"), IsDST: t.IsDST()}
}

func (t *timeTools) current(_ context.Context, _ Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	loc, err := t.zone(req, "timezone")
	if err != nil {
		return toolError("%s", aiproxy.ErrorMessage(err)), nil
	}
	return jsonResult(newTimeInfo(t.now().In(loc)))
}

func (t *timeTools) convert(_ context.Context, _ Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	from, err := t.zone(req, "source_timezone")
	if err != nil {
		return toolError("source_timezone: %s", aiproxy.ErrorMessage(err)), nil
	}
	target := req.GetString("target_timezone", "")
	if target == "" {
		return toolError("target_timezone is required"), nil
	}
	to, err := loadZone(target)
	if err != nil {
		return toolError("target_timezone: %s", aiproxy.ErrorMessage(err)), nil
	}
	s := strings.TrimSpace(req.GetString("time", ""))
	if s == "" {
		return toolError("time is required"), nil
	}
	at, ok := parseTime(s, from, t.now())
	if !ok {
		return toolError("cannot read the time %q: use HH:MM, YYYY-MM-DD HH:MM[:SS] or RFC 3339", s), nil
	}
	src, dst := at.In(from), at.In(to)
	_, so := src.Zone()
	_, do := dst.Zone()
	diff := time.Duration(do-so) * time.Second
	return jsonResult(struct {
		Source     timeInfo `json:"source"`
		Target     timeInfo `json:"target"`
		Difference string   `json:"timeDifference"` // target minus source, "+5h30m"
	}{newTimeInfo(src), newTimeInfo(dst), signed(diff)})
}

// parseTime reads s in one of timeLayouts; a form without a zone is in
// loc, a time of day alone on the date of now in loc.
func parseTime(s string, loc *time.Location, now time.Time) (time.Time, bool) {
	for _, layout := range timeLayouts {
		var at time.Time
		var err error
		if layout == time.RFC3339Nano {
			at, err = time.Parse(layout, s)
		} else {
			at, err = time.ParseInLocation(layout, s, loc)
		}
		if err != nil {
			continue
		}
		if !strings.Contains(layout, "2006") {
			y, m, d := now.In(loc).Date()
			at = time.Date(y, m, d, at.Hour(), at.Minute(), at.Second(), 0, loc)
		}
		return at, true
	}
	return time.Time{}, false
}

// signed formats d with its sign, "+0h" for none.
func signed(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return sign + strconv.Itoa(h) + "h"
	}
	return sign + strconv.Itoa(h) + "h" + strconv.Itoa(m) + "m"
}
