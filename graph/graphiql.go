package graph

import (
	"cmp"
	"html/template"
	"net/http"
	"strings"

	"github.com/aiproxy/aiproxy/static"
)

// graphiQLHeaders is the default text of GraphiQL's headers editor: where
// the user puts the admin key (or a group token).
const graphiQLHeaders = "{\n  \"Authorization\": \"Bearer <admin key>\"\n}"

// graphiQLCSP returns the Content-Security-Policy of the GraphiQL page
// served to host: that of static.CSP, with two exceptions the vendored
// GraphiQL bundle needs.
// Styles may be inline ('unsafe-inline' in style-src only: GraphiQL's
// dialogs and CodeMirror add <style> elements and style attributes at run
// time), and fonts may be data: URLs (graphiql.min.css embeds its fonts).
// Scripts stay 'self' only. connect-src names the page's host with ws:
// and wss: as well, for the subscriptions' WebSocket, which some browsers
// do not count as 'self'.
// A host that is not a plain host name or address is left out.
func graphiQLCSP(host string) string {
	ws := ""
	if validHost(host) {
		ws = " ws://" + host + " wss://" + host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; font-src 'self' data:; connect-src 'self'" + ws + "; " +
		"frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
}

var graphiQLPage = template.Must(template.New("graphiql").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aiproxy admin · GraphiQL</title>
<link rel="stylesheet" href="{{.CSS}}">
{{range .Scripts}}<script src="{{.}}" defer></script>
{{end}}</head>
<body>
<div id="graphiql" data-endpoint="{{.Endpoint}}" data-headers="{{.Headers}}" data-storage="aiproxy">Loading GraphiQL…</div>
<noscript>GraphiQL needs JavaScript. The GraphQL API answers POST requests at {{.Endpoint}}.</noscript>
</body>
</html>
`))

// GraphiQL returns the page of GraphiQL, the in-browser editor of the API
// at endpoint (the request's own path when endpoint is empty), built from
// the assets of package static only, so that it works without internet
// access. The scripts it loads must be served by static.Handler at
// static.Prefix.
//
// The user enters the admin key or a group token in GraphiQL's headers
// editor, prefilled with {"Authorization": "Bearer <admin key>"}; the
// headers are not saved in the browser. Queries and mutations go to
// endpoint by POST; subscriptions go over a WebSocket to the same path
// (graphql-transport-ws), the headers being its connection_init payload.
//
// The page sets its own Content-Security-Policy (see graphiQLCSP: inline
// styles and data: fonts allowed, scripts from 'self' only),
// X-Content-Type-Options and Referrer-Policy, replacing those of
// static.SecurityHeaders.
func GraphiQL(endpoint string) http.Handler {
	scripts := []string{
		static.Path("vendor/react.production.min.js"),
		static.Path("vendor/react-dom.production.min.js"),
		static.Path("vendor/graphiql.min.js"),
		static.Path("graphiql-init.js"),
	}
	css := static.Path("vendor/graphiql.min.css")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", graphiQLCSP(r.Host))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		graphiQLPage.Execute(w, struct {
			CSS      string
			Scripts  []string
			Endpoint string
			Headers  string
		}{css, scripts, cmp.Or(endpoint, r.URL.Path), graphiQLHeaders})
	})
}

// validHost reports whether host (a request's Host, possibly with a port)
// is made only of the characters of a host name or IP literal, so that it
// can be written into a header.
func validHost(host string) bool {
	if host == "" {
		return false
	}
	for _, c := range host {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.ContainsRune(".-:[]", c):
		default:
			return false
		}
	}
	return true
}
