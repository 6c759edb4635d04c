package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/openapi2mcp"
)

const openAPI2MCPUsage = `usage: aiproxy openapi2mcp SPEC [--base-url URL] [--header K:V]... [--credential scheme=value]... [--http ADDR]

Serves the operations of the OpenAPI spec SPEC (a file or an http(s) URL;
OpenAPI 3.0, 3.1 or Swagger 2.0, JSON or YAML) as MCP tools, over stdio or,
with --http, Streamable HTTP at http://ADDR/mcp.

  --base-url URL            where calls go (default: the spec's first server)
  --header K:V              a header sent with every call (repeatable)
  --credential scheme=value the credential of a security scheme of the spec
                            (repeatable): an API key, a bearer token,
                            user:password (basic), client_id:client_secret
                            (OAuth2 client credentials)
  --http ADDR               serve Streamable HTTP at ADDR instead of stdio
  --timeout D               time limit of one call (default 30s)
  --max-response-bytes N    size limit of an answer read (default 1 MiB)
`

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ", ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// runOpenAPI2MCP runs "aiproxy openapi2mcp"; args are the arguments after
// the subcommand's name. It serves until stdin ends (stdio) or ctx is
// done, and returns the exit status: 0, 1 for a failure (the spec cannot
// be read or parsed, the server fails) or 2 for a usage error. The calls
// use http.DefaultClient: on the command line, private addresses are
// the user's to reach.
func runOpenAPI2MCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := serveOpenAPI2MCP(ctx, args, stdin, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "aiproxy openapi2mcp: %s\n\n%s", ue.msg, openAPI2MCPUsage)
		return 2
	default:
		fmt.Fprintf(stderr, "aiproxy openapi2mcp: %v\n", err)
		return 1
	}
}

func serveOpenAPI2MCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("openapi2mcp", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var headers, creds repeated
	baseURL := fs.String("base-url", "", "")
	addr := fs.String("http", "", "")
	timeout := fs.Duration("timeout", openapi2mcp.DefaultTimeout, "")
	maxBytes := fs.Int64("max-response-bytes", openapi2mcp.DefaultMaxResponseBytes, "")
	fs.Var(&headers, "header", "")
	fs.Var(&creds, "credential", "")

	// Flags may come before or after SPEC.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stderr, openAPI2MCPUsage)
				return err
			}
			return usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(positional) == 0:
		return usageError{"SPEC is missing"}
	case len(positional) > 1:
		return usageError{fmt.Sprintf("one SPEC expected, got %q", positional)}
	case *timeout <= 0:
		return usageError{"--timeout must be positive"}
	case *maxBytes <= 0:
		return usageError{"--max-response-bytes must be positive"}
	}
	h := http.Header{}
	for _, kv := range headers {
		k, v, ok := strings.Cut(kv, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n") || strings.ContainsAny(v, "\r\n") {
			return usageError{fmt.Sprintf("--header %q: want Name: value", kv)}
		}
		h.Add(k, v)
	}
	credentials := map[string]string{}
	for _, kv := range creds {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return usageError{fmt.Sprintf("--credential %q: want scheme=value", strings.SplitN(kv, "=", 2)[0]+"=...")}
		}
		credentials[k] = v
	}

	spec, err := loadOpenAPISpec(ctx, positional[0])
	if err != nil {
		return err
	}
	var names []string
	for _, si := range spec.SecuritySchemes() {
		names = append(names, si.Name)
	}
	for k := range credentials {
		if !slices.Contains(names, k) {
			return usageError{fmt.Sprintf("--credential: the spec has no security scheme %q (it has: %s)", k, strings.Join(names, ", "))}
		}
	}
	ts, err := openapi2mcp.New(spec, openapi2mcp.Options{
		BaseURL:          *baseURL,
		Credentials:      credentials,
		Headers:          h,
		Timeout:          *timeout,
		MaxResponseBytes: *maxBytes,
	})
	if err != nil {
		return usageError{fmt.Sprintf("%s (servers of the spec: %q; set --base-url)", messageOf(err), spec.Servers())}
	}

	name := "openapi2mcp"
	if t := spec.Title(); t != "" {
		name = t
	}
	srv := server.NewMCPServer(name, "1.0.0", server.WithToolCapabilities(false), server.WithRecovery())
	ts.Register(srv)
	logger := log.New(stderr, "aiproxy openapi2mcp: ", 0)

	if *addr == "" {
		stdio := server.NewStdioServer(srv)
		stdio.SetErrorLogger(logger)
		if err := stdio.Listen(ctx, stdin, stdout); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("stdio: %w", err)
		}
		return nil
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usageError{fmt.Sprintf("--http %s: %v", *addr, err)}
	}
	mux := http.NewServeMux()
	streamable := server.NewStreamableHTTPServer(srv, server.WithEndpointPath("/mcp"))
	mux.Handle("/mcp", streamable)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	fmt.Fprintf(stderr, "aiproxy openapi2mcp: serving %d tools at http://%s/mcp\n", len(ts.Tools()), ln.Addr())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = streamable.Shutdown(shutdown) // closes the sessions; hs is not its own
	if err := hs.Shutdown(shutdown); err != nil {
		return fmt.Errorf("http: shutdown: %w", err)
	}
	<-done
	return nil
}

// loadOpenAPISpec reads SPEC: an http(s) URL, else a file.
func loadOpenAPISpec(ctx context.Context, spec string) (*openapi2mcp.Spec, error) {
	if strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://") {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		s, _, err := openapi2mcp.Fetch(ctx, http.DefaultClient, spec)
		if err != nil {
			return nil, errors.New(messageOf(err))
		}
		return s, nil
	}
	data, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	s, err := openapi2mcp.Parse(data)
	if err != nil {
		return nil, errors.New(messageOf(err))
	}
	return s, nil
}

// messageOf returns the message of an *aiproxy.Error, else err's text.
func messageOf(err error) string {
	var ae *aiproxy.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}
