package relay

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/aiproxy/aiproxy"
)

// StatusClientClosed is logged for requests whose client went away before
// the answer was complete (nginx's convention; never sent to a client).
const StatusClientClosed = 499

// status returns the HTTP status for an error code.
func status(code string) int {
	switch code {
	case aiproxy.EINVALID:
		return http.StatusBadRequest
	case aiproxy.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case aiproxy.EFORBIDDEN:
		return http.StatusForbidden
	case aiproxy.ENOTFOUND:
		return http.StatusNotFound
	case aiproxy.ECONFLICT:
		return http.StatusConflict
	case aiproxy.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case aiproxy.ERATELIMITED:
		return http.StatusTooManyRequests
	case aiproxy.EUPSTREAM:
		return http.StatusBadGateway
	case aiproxy.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case aiproxy.ETIMEOUT:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// errorType returns the OpenAI error "type" for a status.
func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

// errorCode returns the OpenAI error "code" for a domain error.
func errorCode(err error) string {
	switch aiproxy.ErrorCode(err) {
	case aiproxy.EUNAUTHORIZED:
		return "invalid_api_key"
	case aiproxy.EFORBIDDEN:
		return "model_not_allowed"
	case aiproxy.ENOTFOUND:
		return "model_not_found"
	case aiproxy.ETOOLARGE:
		return "request_too_large"
	case aiproxy.ERATELIMITED:
		return "rate_limit_exceeded"
	case aiproxy.EUPSTREAM:
		return "upstream_error"
	case aiproxy.EUNAVAILABLE:
		return "no_available_channel"
	case aiproxy.ETIMEOUT:
		return "upstream_timeout"
	case aiproxy.EINVALID:
		if f := aiproxy.ErrorField(err); f != "" {
			return "invalid_" + f
		}
		return "invalid_request"
	}
	return "internal_error"
}

// writeError writes err as an OpenAI error body. Messages of non-domain
// errors are replaced by "internal error", so nothing internal leaks.
func writeError(w http.ResponseWriter, err error) int {
	st := status(aiproxy.ErrorCode(err))
	writeErrorBody(w, st, appendError(nil, st, aiproxy.ErrorMessage(err), aiproxy.ErrorField(err), errorCode(err)))
	return st
}

func writeErrorBody(w http.ResponseWriter, st int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(st)
	w.Write(body)
}

// appendError appends {"error":{"message","type","param","code"}} to b.
func appendError(b []byte, st int, message, param, code string) []byte {
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, message)
	b = append(b, `,"type":`...)
	b = appendString(b, errorType(st))
	b = append(b, `,"param":`...)
	if param == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, param)
	}
	b = append(b, `,"code":`...)
	b = appendString(b, code)
	return append(b, "}}"...)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
