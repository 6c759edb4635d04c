// Package settings is the Settings area of the admin UI: a read-only
// page of the gateway's effective configuration, grouped by what it
// governs, with links to the GraphiQL page and the Prometheus metrics.
//
// The configuration comes from the environment when the process starts,
// so nothing on the page can be changed here: the only settings the
// admin API changes at run time are the alerts' thresholds, which live on
// the Alerts page. A secret (the admin key, passwords in database DSNs,
// the metrics token, alert sink URLs) is marked Secret and shown only as
// "set" or "not set", whatever its Value.
//
// The page is the admin's (web.RequireAdmin).
package settings

import (
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/aiproxy/aiproxy/views/layout"
	"github.com/aiproxy/aiproxy/views/web"
)

// basePath is where the area is mounted.
const basePath = "/admin/settings"

// Section is the group a setting is listed under.
type Section string

// The sections, in the order the page lists them; a setting of another
// section is listed after them, under its own name.
const (
	SectionServer     Section = "Server and storage"
	SectionRelay      Section = "Relay"
	SectionLimits     Section = "Limits and billing"
	SectionLogs       Section = "Logs and retention"
	SectionMonitoring Section = "Monitoring and alerts"
	SectionMCP        Section = "MCP"
)

// sections is the order of the sections.
var sections = []Section{SectionServer, SectionRelay, SectionLimits, SectionLogs, SectionMonitoring, SectionMCP}

// Setting is one option of the configuration as it is in effect.
type Setting struct {
	// Section is where the setting is listed; "" lists it under
	// SectionServer.
	Section Section
	// Name is the environment variable, such as MAX_ATTEMPTS.
	Name string
	// Value is the value in effect, as text. For a Secret setting it is
	// never shown: only whether it is empty.
	Value string
	// Description says what the setting does, in a sentence.
	Description string
	// Secret marks a value that must not be shown (a key, a password, a
	// URL that is a credential): the page says "set" or "not set".
	Secret bool
}

// Shown returns what the page shows of s's value: "set" or "not set"
// for a secret, else the value ("(empty)" for none).
func (s Setting) Shown() string {
	switch {
	case s.Secret && s.Value != "":
		return "set"
	case s.Secret:
		return "not set"
	case s.Value == "":
		return "(empty)"
	}
	return s.Value
}

// Deps is what the page shows.
type Deps struct {
	// Settings is the effective configuration, built by cmd/aiproxy from
	// its Config; nil shows an empty page.
	Settings []Setting
	// Metrics says whether /metrics is served (METRICS_ENABLED); false
	// shows no link to it.
	Metrics bool
}

// group is one section of the page.
type group struct {
	Section  Section
	Settings []Setting
}

// Mount registers the page on r at /admin/settings, the admin's
// (web.RequireAdmin). The caller wires the session and CSRF middleware
// (web.Auth's Session and CSRF) in front of r.
func Mount(r chi.Router, d Deps) {
	groups := groupSettings(d.Settings)
	r.With(web.RequireAdmin).Get(basePath, func(w http.ResponseWriter, r *http.Request) {
		web.Page(w, r, web.PageData{Title: "Settings", Area: layout.AreaSettings}, settingsContent(groups, d.Metrics))
	})
}

// groupSettings returns ss by section, in the order of sections (others
// after them, in the order met), each in the order given.
func groupSettings(ss []Setting) []group {
	var out []group
	at := map[Section]int{}
	for _, s := range sections {
		at[s] = len(out)
		out = append(out, group{Section: s})
	}
	for _, s := range ss {
		if s.Section == "" {
			s.Section = SectionServer
		}
		i, ok := at[s.Section]
		if !ok {
			i = len(out)
			at[s.Section] = i
			out = append(out, group{Section: s.Section})
		}
		out[i].Settings = append(out[i].Settings, s)
	}
	return slices.DeleteFunc(out, func(g group) bool { return len(g.Settings) == 0 })
}

// sectionID returns the id of a section's heading.
func sectionID(i int) string { return "settings-section-" + itoa(i) }
