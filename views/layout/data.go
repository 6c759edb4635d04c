// Package layout is the shell every admin page is rendered in: the
// document head (stylesheet, scripts, htmx configuration), a header with
// the navigation, the colour scheme switch and the sign-out form, and the
// <main id="main"> element holding the page's own content.
//
// Pages do not call Page themselves: they call web.Page, which fills Data
// from the request's session and renders either the whole page or, for
// an HTMX request, only the parts that change from page to page (the
// Fragment: title, header and main).
package layout

import (
	"encoding/json"
	"net/url"
)

// Fragment is the id of the templ fragments an HTMX navigation receives:
// the <title>, the <header> (swapped out of band, so the current link
// follows the page) and <main id="main">.
const Fragment = "page"

// Area names a section of the admin UI; the navigation link of the
// current one is marked aria-current="page".
type Area string

// The areas of the navigation.
const (
	AreaNone      Area = ""
	AreaDashboard Area = "dashboard"
	AreaChannels  Area = "channels"
	AreaGroups    Area = "groups" // for a group session: its own group and tokens
	AreaModels    Area = "models"
	AreaLogs      Area = "logs"
	AreaMCP       Area = "mcp"
	AreaAlerts    Area = "alerts"
	AreaSettings  Area = "settings"
)

// Theme is the colour scheme chosen with the header's switch.
type Theme string

// The colour schemes. ThemeSystem, the zero value, follows the browser's
// prefers-color-scheme.
const (
	ThemeSystem Theme = ""
	ThemeLight  Theme = "light"
	ThemeDark   Theme = "dark"
)

// ParseTheme returns the theme named s, and false (with ThemeSystem) for
// anything else ("system" included).
func ParseTheme(s string) (Theme, bool) {
	switch t := Theme(s); t {
	case ThemeLight, ThemeDark:
		return t, true
	}
	return ThemeSystem, false
}

// Data is what the layout shows around a page's content.
type Data struct {
	// Title is the page's title, shown as "Title · aiproxy"; empty shows
	// "aiproxy".
	Title string
	// Area is the section the page belongs to; AreaNone marks no link.
	Area Area
	// Viewer is who is signed in; nil shows no navigation and no sign-out
	// form (the sign-in page).
	Viewer *Viewer
	// Theme is the colour scheme chosen; ThemeSystem follows the browser.
	Theme Theme
	// Path is the local URL (path and query) of the page, where the colour
	// scheme switch returns to; empty returns to /admin.
	Path string
}

// Viewer is the signed-in user, as the layout needs it.
type Viewer struct {
	// Admin is true for the admin key's session, false for a group
	// token's read-only one.
	Admin bool
	// GroupID and TokenName name a group session's group and token.
	GroupID, TokenName string
	// CSRF is the session's CSRF token, put in the sign-out form and sent
	// by htmx as X-CSRF-Token on every request.
	CSRF string
}

// NavItem is a link of the navigation.
type NavItem struct {
	Area  Area
	Label string
	Href  string
}

// Nav returns the links v may follow: every area for the admin; the
// dashboard, its own group's tokens, the logs and MCP for a group
// session; none for nil.
func Nav(v *Viewer) []NavItem {
	switch {
	case v == nil:
		return nil
	case v.Admin:
		return []NavItem{
			{AreaDashboard, "Dashboard", "/admin"},
			{AreaChannels, "Channels", "/admin/channels"},
			{AreaGroups, "Groups", "/admin/groups"},
			{AreaModels, "Models", "/admin/models"},
			{AreaLogs, "Logs", "/admin/logs"},
			{AreaMCP, "MCP", "/admin/mcp"},
			{AreaAlerts, "Alerts", "/admin/alerts"},
			{AreaSettings, "Settings", "/admin/settings"},
		}
	}
	return []NavItem{
		{AreaDashboard, "Dashboard", "/admin"},
		{AreaGroups, "Tokens", "/admin/groups/" + url.PathEscape(v.GroupID)},
		{AreaLogs, "Logs", "/admin/logs"},
		{AreaMCP, "MCP", "/admin/mcp"},
	}
}

// title returns the document title of d.
func (d Data) title() string {
	if d.Title == "" {
		return "aiproxy"
	}
	return d.Title + " · aiproxy"
}

// next returns where the colour scheme switch returns to.
func (d Data) next() string {
	if d.Path == "" {
		return "/admin"
	}
	return d.Path
}

// who describes the viewer for the header.
func (v *Viewer) who() string {
	if v.Admin {
		return "Admin"
	}
	if v.TokenName != "" {
		return "Group " + v.GroupID + " (token " + v.TokenName + ")"
	}
	return "Group " + v.GroupID
}

// csrfHeaders returns the hx-headers value that makes htmx send the
// session's CSRF token on every request; "" when not signed in.
func csrfHeaders(v *Viewer) string {
	if v == nil || v.CSRF == "" {
		return ""
	}
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": v.CSRF})
	return string(b)
}

// htmxConfig is the htmx configuration, in a <meta> (no inline script):
// no history snapshots in localStorage (pages may show a secret once),
// no inline indicator styles, eval or script tags (the CSP forbids them),
// and error responses (a form's 422, a 403 page) swapped like others.
const htmxConfig = `{"historyCacheSize":0,"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":true},{"code":"...","swap":false}]}`

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
