package openapi2mcp_test

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/openapi2mcp"
)

// received is what the fake API got.
type received struct {
	Method   string
	Path     string // escaped, as sent
	RawQuery string
	Header   http.Header
	Body     string
}

// fakeAPI is an httptest server that records every request and answers
// with a JSON echo of it (so that a leak of what was sent would show in
// the result), or with the status and body of a route in answers.
type fakeAPI struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	answers map[string]func(w http.ResponseWriter, r *http.Request)
	tokens  atomic.Int32
}

func newFakeAPI(tb testing.TB) *fakeAPI {
	tb.Helper()
	f := &fakeAPI{answers: map[string]func(http.ResponseWriter, *http.Request){}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		rec := received{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(data)}
		if r.URL.Path == "/oauth/token" {
			f.tokens.Add(1)
			id, secret, _ := r.BasicAuth()
			if id != "client-id" || secret != "client-s3cret" || !strings.Contains(string(data), "grant_type=client_credentials") {
				http.Error(w, "bad client", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"tok-f7c1a9","token_type":"Bearer","expires_in":3600,"scope":"`+r.FormValue("scope")+`"}`)
			return
		}
		f.mu.Lock()
		f.got = append(f.got, rec)
		answer := f.answers[r.URL.Path]
		f.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rec)
	}))
	tb.Cleanup(f.Close)
	return f
}

// last returns the last request recorded, failing when there is none.
func (f *fakeAPI) last(tb testing.TB) received {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		tb.Fatal("the fake API received nothing")
	}
	return f.got[len(f.got)-1]
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func loadSpec(tb testing.TB, name string) *openapi2mcp.Spec {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := openapi2mcp.Parse(data)
	if err != nil {
		tb.Fatalf("parse %s: %v", name, err)
	}
	return s
}

func newToolset(tb testing.TB, spec string, o openapi2mcp.Options) *openapi2mcp.Toolset {
	tb.Helper()
	ts, err := openapi2mcp.New(loadSpec(tb, spec), o)
	if err != nil {
		tb.Fatalf("new toolset of %s: %v", spec, err)
	}
	return ts
}

func resultText(tb testing.TB, r *mcp.CallToolResult) string {
	tb.Helper()
	if r == nil {
		tb.Fatal("nil result")
	}
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestOpenAPICallRequests(t *testing.T) {
	api := newFakeAPI(t)
	tests := []struct {
		name  string
		spec  string
		tool  string
		args  map[string]any
		check func(t *testing.T, got received)
	}{
		{"query parameters", "petstore.json", "listPets", map[string]any{"limit": float64(5), "status": "sold", "tags": []any{"a", "b c"}},
			func(t *testing.T, got received) {
				expect(t, "method", got.Method, "GET")
				expect(t, "path", got.Path, "/v1/pets")
				expect(t, "query", got.RawQuery, "limit=5&status=sold&tags=a&tags=b+c")
			}},
		{"integer path parameter", "petstore.json", "showPetById", map[string]any{"petId": float64(7)},
			func(t *testing.T, got received) {
				expect(t, "path", got.Path, "/v1/pets/7")
				expect(t, "query", got.RawQuery, "")
			}},
		{"JSON body", "petstore.json", "createPet", map[string]any{"body": map[string]any{"name": "Rex", "age": float64(3), "owner": map[string]any{"phones": []any{"1"}}}},
			func(t *testing.T, got received) {
				expect(t, "method", got.Method, "POST")
				expect(t, "content type", got.Header.Get("Content-Type"), "application/json")
				expect(t, "body", got.Body, `{"age":3,"name":"Rex","owner":{"phones":["1"]}}`)
			}},
		{"header parameter", "petstore.json", "deletePet", map[string]any{"petId": float64(9), "X-Request-Reason": "sold out"},
			func(t *testing.T, got received) {
				expect(t, "method", got.Method, "DELETE")
				expect(t, "path", got.Path, "/v1/pets/9")
				expect(t, "header", got.Header.Get("X-Request-Reason"), "sold out")
			}},
		{"url-encoded form", "forms.json", "login", map[string]any{"body": map[string]any{"username": "ann", "password": "pw d", "remember": true, "scopes": []any{"a", "b"}}},
			func(t *testing.T, got received) {
				expect(t, "content type", got.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
				expect(t, "body", got.Body, "password=pw+d&remember=true&scopes=a&scopes=b&username=ann")
			}},
		{"multipart form", "forms.json", "upload", map[string]any{"body": map[string]any{"file": "hello file", "title": "T", "meta": map[string]any{"lang": "en"}}},
			func(t *testing.T, got received) {
				mt, params, err := mime.ParseMediaType(got.Header.Get("Content-Type"))
				if err != nil || mt != "multipart/form-data" {
					t.Fatalf("content type %q", got.Header.Get("Content-Type"))
				}
				r := multipart.NewReader(strings.NewReader(got.Body), params["boundary"])
				parts := map[string]string{}
				for {
					p, err := r.NextPart()
					if err == io.EOF {
						break
					} else if err != nil {
						t.Fatal(err)
					}
					data, _ := io.ReadAll(p)
					parts[p.FormName()] = p.FileName() + "|" + p.Header.Get("Content-Type") + "|" + string(data)
				}
				expect(t, "file part", parts["file"], "file|application/octet-stream|hello file")
				expect(t, "title part", parts["title"], "||T")
				expect(t, "meta part", parts["meta"], `|application/json|{"lang":"en"}`)
			}},
		{"text body", "forms.json", "putNote", map[string]any{"body": "just text"},
			func(t *testing.T, got received) {
				expect(t, "content type", got.Header.Get("Content-Type"), "text/plain")
				expect(t, "body", got.Body, "just text")
			}},
		{"deepObject and cookie", "yaml.yaml", "search", map[string]any{"q": "go", "filter": map[string]any{"lang": "en", "year": float64(2024)}},
			func(t *testing.T, got received) {
				expect(t, "query", got.RawQuery, "filter%5Blang%5D=en&filter%5Byear%5D=2024&q=go")
			}},
		{"cookie parameter", "yaml.yaml", "delete_documents_path", map[string]any{"path": "a b", "session": "s1"},
			func(t *testing.T, got received) {
				expect(t, "path", got.Path, "/v1/documents/a%20b")
				expect(t, "cookie", got.Header.Get("Cookie"), "session=s1")
			}},
		{"swagger csv array and body", "swagger2.json", "getOrderById", map[string]any{"orderId": float64(12), "fields": []any{"id", "status"}},
			func(t *testing.T, got received) {
				expect(t, "path", got.Path, "/v1/orders/12")
				expect(t, "query", got.RawQuery, "fields=id%2Cstatus")
			}},
		{"3.1 null type", "openapi31.json", "listItems", map[string]any{"label": "x", "min": 0.5},
			func(t *testing.T, got received) {
				expect(t, "query", got.RawQuery, "label=x&min=0.5")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newToolset(t, tt.spec, openapi2mcp.Options{BaseURL: api.URL + "/v1"})
			res, err := ts.Call(context.Background(), tt.tool, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if res.IsError {
				t.Fatalf("tool error: %s", resultText(t, res))
			}
			text := resultText(t, res)
			if !strings.HasPrefix(text, "HTTP 200 OK\n\n{\n  \"") {
				t.Errorf("result does not start with the status line and pretty JSON:\n%s", text)
			}
			tt.check(t, api.last(t))
		})
	}
}

func expect(tb testing.TB, what, got, want string) {
	tb.Helper()
	if got != want {
		tb.Errorf("%s = %q, want %q", what, got, want)
	}
}

// secrets are the credentials of the security tests: none may show in
// anything a client sees.
var secrets = map[string]string{
	"headerKey": "hk-91d2e7",
	"queryKey":  "qk-5b3c8a",
	"cookieKey": "ck-77aa10",
	"bearer":    "bt-c0ffee",
	"basic":     "alice:pw-1e2d3c",
	"oauth":     "client-id:client-s3cret",
}

func TestOpenAPISecuritySchemes(t *testing.T) {
	api := newFakeAPI(t)
	ts := newToolset(t, "security.json", openapi2mcp.Options{BaseURL: api.URL, Credentials: secrets})
	type want struct{ header, query, cookie, auth string }
	tests := []struct {
		tool string
		want want
	}{
		{"usesDefault", want{header: "hk-91d2e7"}},
		{"usesQueryKey", want{query: "api_key=qk-5b3c8a"}},
		{"usesCookieKey", want{cookie: "sid=ck-77aa10"}},
		{"usesBearer", want{auth: "Bearer bt-c0ffee"}},
		{"usesBasic", want{auth: "Basic YWxpY2U6cHctMWUyZDNj"}},
		{"usesOAuth2", want{auth: "Bearer tok-f7c1a9"}},
		// openid has no credential: the second requirement is used.
		{"usesEither", want{header: "hk-91d2e7", auth: "Bearer bt-c0ffee"}},
		{"public", want{}},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			res, err := ts.Call(context.Background(), tt.tool, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.IsError {
				t.Fatalf("tool error: %s", resultText(t, res))
			}
			got := api.last(t)
			expect(t, "X-API-Key", got.Header.Get("X-API-Key"), tt.want.header)
			expect(t, "query", got.RawQuery, tt.want.query)
			expect(t, "cookie", got.Header.Get("Cookie"), tt.want.cookie)
			expect(t, "authorization", got.Header.Get("Authorization"), tt.want.auth)
			// The fake API echoes the request: the result must not.
			assertNoSecret(t, "result", []byte(resultText(t, res)))
		})
	}
	t.Run("token cached", func(t *testing.T) {
		before := api.tokens.Load()
		for range 3 {
			if _, err := ts.Call(context.Background(), "usesOAuth2", nil); err != nil {
				t.Fatal(err)
			}
		}
		if n := api.tokens.Load() - before; n != 0 {
			t.Errorf("%d more token requests, want the cached token reused", n)
		}
		if n := api.tokens.Load(); n != 1 {
			t.Errorf("%d token requests in all, want 1", n)
		}
	})
	t.Run("tool list", func(t *testing.T) {
		data, err := json.Marshal(ts.Tools())
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, "tool list", data)
		data, _ = json.Marshal(ts.AIProxyTools())
		assertNoSecret(t, "aiproxy tools", data)
	})
}

func assertNoSecret(tb testing.TB, what string, data []byte) {
	tb.Helper()
	for scheme, v := range secrets {
		parts := []string{v}
		if a, b, ok := strings.Cut(v, ":"); ok {
			parts = append(parts, a, b)
		}
		for _, p := range append(parts, "YWxpY2U6cHctMWUyZDNj", "tok-f7c1a9") {
			if strings.Contains(string(data), p) {
				tb.Errorf("%s holds the credential of %s (%q):\n%s", what, scheme, p, data)
			}
		}
	}
}

func TestOpenAPICredentialsNeverLeak(t *testing.T) {
	// An API that answers errors quoting what it got, a token endpoint
	// that fails, and an unreachable API: no error or result may hold a
	// credential.
	api := newFakeAPI(t)
	api.answers["/query"] = func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad key "+r.URL.Query().Get("api_key")+" for "+r.URL.String(), http.StatusForbidden)
	}
	ts := newToolset(t, "security.json", openapi2mcp.Options{BaseURL: api.URL, Credentials: secrets})
	res, err := ts.Call(context.Background(), "usesQueryKey", map[string]any{"q": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError {
		t.Error("a 403 is not a tool error")
	}
	text := resultText(t, res)
	if !strings.Contains(text, "HTTP 403 Forbidden") || !strings.Contains(text, "[REDACTED]") {
		t.Errorf("result:\n%s", text)
	}
	assertNoSecret(t, "403 result", []byte(text))

	bad := map[string]string{}
	for k, v := range secrets {
		bad[k] = v
	}
	bad["oauth"] = "client-id:wrong-s3cret"
	ts = newToolset(t, "security.json", openapi2mcp.Options{BaseURL: api.URL, Credentials: bad})
	_, err = ts.Call(context.Background(), "usesOAuth2", nil)
	if aiproxy.ErrorCode(err) != aiproxy.EUPSTREAM {
		t.Fatalf("token failure: %v, want EUPSTREAM", err)
	}
	if strings.Contains(err.Error(), "wrong-s3cret") {
		t.Errorf("error holds the secret: %v", err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	ts = newToolset(t, "security.json", openapi2mcp.Options{BaseURL: closed.URL, Credentials: secrets})
	for _, tool := range []string{"usesQueryKey", "usesBearer", "usesOAuth2"} {
		_, err := ts.Call(context.Background(), tool, nil)
		if err == nil {
			t.Fatalf("%s: no error from a closed server", tool)
		}
		assertNoSecret(t, tool+" error", []byte(err.Error()))
	}
}

func TestOpenAPIHostCannotChange(t *testing.T) {
	api := newFakeAPI(t)
	var evilHits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { evilHits.Add(1) }))
	defer evil.Close()
	evilHost := strings.TrimPrefix(evil.URL, "http://")

	ts := newToolset(t, "yaml.yaml", openapi2mcp.Options{BaseURL: api.URL + "/v1"})
	tests := []struct {
		name     string
		path     string
		wantPath string // "" when the call must be refused
	}{
		{"absolute URL", evil.URL + "/x", "/v1/documents/http:%2F%2F" + evilHost + "%2Fx"},
		{"scheme-relative", "//" + evilHost + "/x", "/v1/documents/%2F%2F" + evilHost + "%2Fx"},
		{"dot dot", "..", ""},
		{"dot", ".", ""},
		{"dot dot slash", "../../x", "/v1/documents/..%2F..%2Fx"},
		{"encoded dot dot", "%2e%2e", "/v1/documents/%252e%252e"},
		{"userinfo", "@" + evilHost, "/v1/documents/@" + evilHost},
		{"query", "a?host=" + evilHost, "/v1/documents/a%3Fhost=" + evilHost},
		{"fragment", "a#frag", "/v1/documents/a%23frag"},
		{"backslash", `\\` + evilHost, "/v1/documents/%5C%5C" + evilHost},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := api.count()
			res, err := ts.Call(context.Background(), "delete_documents_path", map[string]any{"path": tt.path})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPath == "" {
				if !res.IsError || !strings.Contains(resultText(t, res), `"path"`) {
					t.Errorf("result %+v, want a tool error naming the argument", resultText(t, res))
				}
				if api.count() != before {
					t.Error("the refused call reached the API")
				}
				return
			}
			if res.IsError {
				t.Fatalf("tool error: %s", resultText(t, res))
			}
			expect(t, "path", api.last(t).Path, tt.wantPath)
		})
	}

	t.Run("query injection", func(t *testing.T) {
		res, err := ts.Call(context.Background(), "search", map[string]any{"q": "x&page=9#http://" + evilHost})
		if err != nil || res.IsError {
			t.Fatalf("%v %v", err, res)
		}
		expect(t, "query", api.last(t).RawQuery, "q=x%26page%3D9%23http%3A%2F%2F"+strings.ReplaceAll(evilHost, ":", "%3A"))
	})
	t.Run("CRLF in a header", func(t *testing.T) {
		ps := newToolset(t, "petstore.json", openapi2mcp.Options{BaseURL: api.URL})
		before := api.count()
		for _, v := range []string{"a\r\nHost: " + evilHost, "a\nX-Evil: 1", "a\rb"} {
			res, err := ps.Call(context.Background(), "deletePet", map[string]any{"petId": float64(1), "X-Request-Reason": v})
			if err != nil {
				t.Fatal(err)
			}
			if !res.IsError || !strings.Contains(resultText(t, res), "X-Request-Reason") {
				t.Errorf("%q: %s, want a tool error naming the header", v, resultText(t, res))
			}
		}
		if api.count() != before {
			t.Error("a refused call reached the API")
		}
	})
	t.Run("cookie injection", func(t *testing.T) {
		res, err := ts.Call(context.Background(), "delete_documents_path", map[string]any{"path": "a", "session": "x; admin=1"})
		if err != nil || !res.IsError {
			t.Fatalf("%v %v, want a tool error", err, res)
		}
	})
	t.Run("redirect to another host", func(t *testing.T) {
		api.answers["/v1/documents/hop"] = func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, evil.URL+"/stolen", http.StatusFound)
		}
		res, err := ts.Call(context.Background(), "delete_documents_path", map[string]any{"path": "hop"})
		if err != nil {
			t.Fatal(err)
		}
		if !res.IsError || !strings.HasPrefix(resultText(t, res), "HTTP 302 Found") {
			t.Errorf("result %s, want the redirect itself", resultText(t, res))
		}
	})
	if n := evilHits.Load(); n != 0 {
		t.Errorf("the evil server received %d requests", n)
	}
}

func TestOpenAPIValidation(t *testing.T) {
	api := newFakeAPI(t)
	tests := []struct {
		name string
		spec string
		tool string
		args map[string]any
		want []string // in the tool error
	}{
		{"missing required path parameter", "petstore.json", "showPetById", nil, []string{`"petId"`, "required"}},
		{"string for integer", "petstore.json", "showPetById", map[string]any{"petId": "7"}, []string{`"petId"`, "integer"}},
		{"fraction for integer", "petstore.json", "showPetById", map[string]any{"petId": 7.5}, []string{`"petId"`, "integer"}},
		{"enum violation", "petstore.json", "listPets", map[string]any{"status": "dead"}, []string{`"status"`, "one of"}},
		{"maximum", "petstore.json", "listPets", map[string]any{"limit": float64(500)}, []string{`"limit"`, "100"}},
		{"body missing", "petstore.json", "createPet", map[string]any{}, []string{`"body"`, "required"}},
		{"body required field missing", "petstore.json", "createPet", map[string]any{"body": map[string]any{"tag": "x"}}, []string{`"body.name"`, "missing"}},
		{"nested type", "petstore.json", "createPet", map[string]any{"body": map[string]any{"name": "x", "owner": map[string]any{"phones": "123"}}}, []string{`"body.owner.phones"`, "array"}},
		{"unknown argument", "petstore.json", "listPets", map[string]any{"host": "evil"}, []string{`"host"`, "unknown"}},
		{"required header", "refs.json", "getUser", map[string]any{"id": "u1"}, []string{`"X-Trace"`, "required"}},
		{"pattern", "refs.json", "getUser", map[string]any{"id": "U 1", "X-Trace": "x"}, []string{`"id"`}},
		{"allOf required", "refs.json", "user.update", map[string]any{"id": "u1", "body": map[string]any{}}, []string{`"body.email"`}},
		{"3.1 const", "openapi31.json", "createItem", map[string]any{"body": map[string]any{"kind": "other", "name": "n"}}, []string{`"body.kind"`}},
		{"form required field", "forms.json", "login", map[string]any{"body": map[string]any{"username": "a"}}, []string{`"body.password"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newToolset(t, tt.spec, openapi2mcp.Options{BaseURL: api.URL})
			before := api.count()
			res, err := ts.Call(context.Background(), tt.tool, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			text := resultText(t, res)
			if !res.IsError {
				t.Fatalf("no tool error: %s", text)
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("error %q does not mention %s", text, w)
				}
			}
			if api.count() != before {
				t.Error("an invalid call reached the API")
			}
		})
	}
}

func TestOpenAPIResults(t *testing.T) {
	api := newFakeAPI(t)
	api.answers["/pets"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"code":500,"message":"boom"}`)
	}
	api.answers["/pets/1"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat("x", 100))
	}
	api.answers["/pets/2"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte{0x89, 'P', 'N', 'G', 0, 1, 2})
	}
	api.answers["/pets/3"] = func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	}
	ts := newToolset(t, "petstore.json", openapi2mcp.Options{BaseURL: api.URL, MaxResponseBytes: 40, Timeout: 100 * time.Millisecond})
	tests := []struct {
		name    string
		tool    string
		args    map[string]any
		isError bool
		want    string
	}{
		{"non-2xx", "listPets", nil, true, "HTTP 500 Internal Server Error\n\n{\n  \"code\": 500,\n  \"message\": \"boom\"\n}"},
		{"truncated", "showPetById", map[string]any{"petId": float64(1)}, false, "HTTP 200 OK\n\n" + strings.Repeat("x", 40) + "\n\n[the answer was truncated at 40 bytes]"},
		{"binary", "showPetById", map[string]any{"petId": float64(2)}, false, "HTTP 200 OK\n\n(binary content: image/png, 7 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := ts.Call(context.Background(), tt.tool, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if res.IsError != tt.isError {
				t.Errorf("IsError = %v, want %v", res.IsError, tt.isError)
			}
			expect(t, "text", resultText(t, res), tt.want)
		})
	}
	t.Run("timeout", func(t *testing.T) {
		_, err := ts.Call(context.Background(), "showPetById", map[string]any{"petId": float64(3)})
		if aiproxy.ErrorCode(err) != aiproxy.ETIMEOUT {
			t.Errorf("error %v, want ETIMEOUT", err)
		}
	})
	t.Run("unknown tool", func(t *testing.T) {
		_, err := ts.Call(context.Background(), "nope", nil)
		if aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
			t.Errorf("error %v, want ENOTFOUND", err)
		}
	})
}

// TestOpenAPICredentialInSpec: a spec quoting a credential (in a
// description, a default, an enum) does not show it in the tool list,
// and the shared parsed spec is left as it was.
func TestOpenAPICredentialInSpec(t *testing.T) {
	spec, err := openapi2mcp.Parse([]byte(`{"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
		"paths": {"/a": {"get": {"operationId": "a", "summary": "Use key hk-91d2e7 here",
			"parameters": [{"name": "k", "in": "query", "description": "like hk-91d2e7", "schema": {"type": "string", "default": "hk-91d2e7", "enum": ["hk-91d2e7", "other"]}}],
			"responses": {"200": {"description": "ok"}}}}},
		"components": {"securitySchemes": {"headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	with, err := openapi2mcp.New(spec, openapi2mcp.Options{BaseURL: "https://x.example.com", Credentials: map[string]string{"headerKey": "hk-91d2e7"}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(with.Tools())
	assertNoSecret(t, "tool list", data)
	if !strings.Contains(string(data), `"enum":["[REDACTED]","other"]`) {
		t.Errorf("tool list %s", data)
	}
	without, err := openapi2mcp.New(spec, openapi2mcp.Options{BaseURL: "https://x.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ = json.Marshal(without.Tools())
	if strings.Count(string(data), "hk-91d2e7") != 5 {
		t.Errorf("the spec was changed by the first toolset: %s", data)
	}
}
