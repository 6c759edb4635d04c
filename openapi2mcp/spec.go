package openapi2mcp

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/aiproxy/aiproxy"
)

// MaxSpecBytes bounds the spec Fetch reads: 16 MiB.
const MaxSpecBytes = 16 << 20

// Spec is a parsed OpenAPI document (a Swagger 2.0 one converted to
// OpenAPI 3), with every local $ref resolved. It is immutable once
// parsed: one Spec may back any number of toolsets, concurrently.
type Spec struct {
	doc     *openapi3.T
	version string   // the version the document declared: "2.0", "3.0.3", "3.1.0"...
	source  *url.URL // where the spec was fetched from; nil when uploaded
}

// Parse parses an OpenAPI 3.0 or 3.1 or a Swagger 2.0 document (detected
// by its swagger: "2.0" field and converted with openapi2conv), in JSON
// or YAML. External $refs (to other files or URLs) are refused: a spec
// is self-contained. The document must pass kin-openapi's validation
// (examples, defaults and the info object aside), since its schemas validate the tools'
// arguments. Errors are EINVALID *aiproxy.Error values saying what is
// wrong with the document.
func Parse(data []byte) (*Spec, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, invalidf("openapi2mcp: parse spec: the document is empty")
	}
	var doc *openapi3.T
	var version string
	var v2 openapi2.T
	if err := openapi2.UnmarshalFromData(data, &v2); err == nil && strings.HasPrefix(v2.Swagger, "2") {
		version = v2.Swagger
		doc, err = openapi2conv.ToV3WithLoader(&v2, newLoader(), nil)
		if err != nil {
			return nil, invalidf("openapi2mcp: convert swagger %s spec: %v", v2.Swagger, err)
		}
	} else {
		loader := newLoader()
		d, err := loader.LoadFromData(data)
		if err != nil {
			return nil, invalidf("openapi2mcp: parse spec: %v", err)
		}
		doc, version = d, d.OpenAPI
		if version != "3" && !strings.HasPrefix(version, "3.") {
			return nil, invalidf("openapi2mcp: parse spec: unsupported version %q: OpenAPI 3.0, 3.1 or Swagger 2.0 expected", version)
		}
	}
	if doc.Paths == nil || doc.Paths.Len() == 0 {
		return nil, invalidf("openapi2mcp: parse spec: the document has no paths")
	}
	// The info object does not matter to tools: a missing title or
	// version is no reason to refuse a spec.
	info := doc.Info
	check := openapi3.Info{Title: "untitled", Version: "0"}
	if info != nil {
		check = *info
		check.Title = cmp.Or(check.Title, "untitled")
		check.Version = cmp.Or(check.Version, "0")
	}
	doc.Info = &check
	err := doc.Validate(context.Background(),
		openapi3.DisableExamplesValidation(),
		openapi3.DisableSchemaDefaultsValidation(),
		openapi3.AllowExtensionsWithRef(),
	)
	doc.Info = info
	if err != nil {
		return nil, invalidf("openapi2mcp: invalid spec: %v", err)
	}
	return &Spec{doc: doc, version: version}, nil
}

// newLoader returns a loader that resolves only the document's own
// $refs: a spec cannot make the gateway read a file or a URL.
func newLoader() *openapi3.Loader {
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = false
	return l
}

// Fetch downloads the spec at rawURL with c and parses it, returning the
// spec and the bytes read (for the caller to store). c must be the
// caller's outbound client: nil is refused, so that the fetch cannot
// bypass the gateway's private-network guard. Relative servers of the
// spec are resolved against rawURL. Errors: EINVALID for a bad URL or
// document, EUPSTREAM when the URL could not be read.
func Fetch(ctx context.Context, c *http.Client, rawURL string) (*Spec, []byte, error) {
	if c == nil {
		return nil, nil, aiproxy.Errorf(aiproxy.EINTERNAL, "openapi2mcp: fetch spec: no HTTP client")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, invalidf("openapi2mcp: fetch spec: the spec URL must be an absolute http or https URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, invalidf("openapi2mcp: fetch spec: %v", err)
	}
	req.Header.Set("Accept", "application/json, application/yaml;q=0.9, */*;q=0.5")
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, aiproxy.Errorf(aiproxy.EUPSTREAM, "openapi2mcp: fetch spec: %s", transportMessage(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, nil, aiproxy.Errorf(aiproxy.EUPSTREAM, "openapi2mcp: fetch spec: the server answered %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxSpecBytes+1))
	if err != nil {
		return nil, nil, aiproxy.Errorf(aiproxy.EUPSTREAM, "openapi2mcp: fetch spec: read: %s", transportMessage(err))
	}
	if len(data) > MaxSpecBytes {
		return nil, nil, invalidf("openapi2mcp: fetch spec: the document is larger than %d bytes", MaxSpecBytes)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, nil, err
	}
	s.source = resp.Request.URL
	return s, data, nil
}

// Version returns the version the document declared ("2.0" for a
// Swagger document, even though it was converted).
func (s *Spec) Version() string { return s.version }

// Title returns the document's info.title, "" when it has none.
func (s *Spec) Title() string {
	if s.doc.Info == nil {
		return ""
	}
	return s.doc.Info.Title
}

// Servers returns the URLs of the document's servers, in order, with
// their variables replaced by their defaults; a relative server URL is
// resolved against the URL the spec was fetched from, and kept relative
// when it was uploaded. A document without servers yields none.
func (s *Spec) Servers() []string {
	var out []string
	for _, srv := range s.doc.Servers {
		if srv == nil || srv.URL == "" {
			continue
		}
		raw := srv.URL
		for name, v := range srv.Variables {
			if v != nil {
				raw = strings.ReplaceAll(raw, "{"+name+"}", v.Default)
			}
		}
		if s.source != nil {
			if ref, err := url.Parse(raw); err == nil && !ref.IsAbs() {
				raw = s.source.ResolveReference(ref).String()
			}
		}
		if !slices.Contains(out, raw) {
			out = append(out, raw)
		}
	}
	return out
}

// SchemeInfo describes one security scheme of a spec, for the admin UI
// to ask for its credential. It holds no secret.
type SchemeInfo struct {
	Name string // the key in components.securitySchemes (securityDefinitions in Swagger 2.0)
	// Type is the scheme's type: "apiKey", "http", "oauth2" or
	// "openIdConnect"; HTTPScheme its scheme for "http" ("bearer",
	// "basic").
	Type       string
	HTTPScheme string
	// In and Param say where an apiKey goes: "header", "query" or
	// "cookie", and under which name.
	In    string
	Param string
	// TokenURL is the token endpoint of an OAuth2 client credentials flow.
	TokenURL    string
	Description string
	// Supported reports whether openapi2mcp can apply the scheme; Format
	// says what its credential value looks like ("key", "token",
	// "user:password", "client_id:client_secret").
	Supported bool
	Format    string
}

// SecuritySchemes returns the document's security schemes sorted by name.
func (s *Spec) SecuritySchemes() []SchemeInfo {
	var out []SchemeInfo
	if s.doc.Components == nil {
		return nil
	}
	for _, name := range sortedKeys(s.doc.Components.SecuritySchemes) {
		ref := s.doc.Components.SecuritySchemes[name]
		if ref == nil || ref.Value == nil {
			continue
		}
		out = append(out, schemeInfo(name, ref.Value))
	}
	return out
}

func schemeInfo(name string, ss *openapi3.SecurityScheme) SchemeInfo {
	info := SchemeInfo{Name: name, Type: ss.Type, Description: ss.Description}
	switch ss.Type {
	case "apiKey":
		info.In, info.Param = ss.In, ss.Name
		info.Supported = ss.Name != "" && (ss.In == "header" || ss.In == "query" || ss.In == "cookie")
		info.Format = "key"
	case "http":
		info.HTTPScheme = strings.ToLower(ss.Scheme)
		switch info.HTTPScheme {
		case "bearer":
			info.Supported, info.Format = true, "token"
		case "basic":
			info.Supported, info.Format = true, "user:password"
		}
	case "oauth2":
		if ss.Flows != nil && ss.Flows.ClientCredentials != nil && ss.Flows.ClientCredentials.TokenURL != "" {
			info.TokenURL = ss.Flows.ClientCredentials.TokenURL
			info.Supported, info.Format = true, "client_id:client_secret"
		}
	}
	return info
}

// invalidf returns an EINVALID *aiproxy.Error.
func invalidf(format string, args ...any) *aiproxy.Error {
	return aiproxy.Errorf(aiproxy.EINVALID, format, args...)
}
