// Package views holds the server-rendered admin UI of aiproxy, served
// under /admin: templ components and their handlers, one sub-package per
// area (each with a Mount function), on top of two shared packages:
//
//   - views/web: sessions (a signed cookie), the auth and CSRF
//     middleware, rendering (a full page, or only its main content for
//     HTMX requests) and form errors;
//   - views/layout: the page shell (head, navigation, main) every page is
//     rendered in.
//
// Handlers call the service layer of the root package, never GraphQL and
// never the store directly. The generated *_templ.go files are committed:
// run go generate ./views/... after editing a .templ file.
package views

//go:generate go tool templ generate
