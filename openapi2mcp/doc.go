// Package openapi2mcp turns an OpenAPI document (3.0, 3.1, or Swagger 2.0
// converted to OpenAPI 3) into MCP tools, one per operation, and calls
// the operations. It is pure translation: it imports only the root
// package, kin-openapi and mcp-go, and does its HTTP with the client the
// caller supplies (the gateway's outbound client, which refuses private
// addresses; http.DefaultClient only when nil, which suits the command
// line, not the gateway).
//
// # Tool names
//
// A tool is named after its operationId, every character outside
// [A-Za-z0-9_.-] replaced by '_' and cut at 128 (MCP's limit); without
// an operationId, after its method and path: GET /pets/{petId} is
// get_pets_petId. Tools are listed by path, then method (GET, HEAD,
// OPTIONS, POST, PUT, PATCH, DELETE, TRACE, QUERY); a name already taken
// earlier in that order gets the suffix _2, _3 and so on.
//
// # Arguments
//
// The input schema of a tool is an object (additionalProperties false)
// whose properties are:
//
//   - each parameter (path-level ones merged with the operation's, the
//     operation's winning by name and location), under its own name.
//     Parameters are taken in the order path, query, header, cookie
//     (spec order within each); one whose name is already taken, or is
//     "body", is named <in>_<name> instead (query_id when a path
//     parameter id exists), and <in>_<name>_2, _3... if that is taken
//     too. Path parameters are always required, the others when the spec
//     says so;
//   - the request body, if the operation has one, under "body": its
//     schema is the body's (JSON, or the fields of a form), its own
//     required list included, and "body" is required when the request
//     body is.
//
// Not arguments: the header parameters OpenAPI says to ignore (Accept,
// Content-Type, Authorization), hop-by-hop and framing headers (Host,
// Connection, Content-Length, Transfer-Encoding, Cookie), and every
// parameter that carries an apiKey of a security scheme: credentials are
// the caller's (Options.Credentials), never the model's.
//
// The body's media type is application/json (or another JSON type) when
// the operation accepts it, else application/x-www-form-urlencoded, else
// multipart/form-data (a string field of format binary or base64 is sent
// as a file part), else the first other type, sent as the string given.
//
// # Calls
//
// Before a call the arguments are validated against the spec's schemas
// (kin-openapi's Schema.VisitJSON): a missing, unknown or mistyped
// argument is a tool error naming it, and no request is sent. The URL is
// the base URL (Options.BaseURL) and the operation's path, path
// parameters escaped with url.PathEscape (a value cannot add a segment,
// a query or a fragment, and may not be "." or ".."), the query encoded
// with url.Values; header values with line breaks are refused; the final
// URL is checked to have the base URL's scheme, host, port and path
// prefix. Only the arguments make the request: nothing of the MCP
// client's own request is forwarded.
//
// Credentials are added only to the operations whose security (or the
// document's default security) names their scheme, taking the first
// requirement whose schemes all have a credential. They are redacted
// from every result and error.
//
// A result is the status line and the body: JSON pretty-printed, other
// text as is, binary content described by its type and size; IsError is
// set for a non-2xx status. The answer read is bounded by
// Options.MaxResponseBytes and the call by Options.Timeout.
package openapi2mcp
