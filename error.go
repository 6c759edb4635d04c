// Package aiproxy holds the domain of the aiproxy gateway: channels, groups,
// tokens, model configs, usage and request logs, and the one error type that
// every layer returns. It imports only the standard library; the store, relay
// and graph packages implement and consume what is declared here.
package aiproxy

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. The edges translate them: the relay into an HTTP status and an
// OpenAI error body, the GraphQL API into extensions.code.
const (
	ECONFLICT     = "conflict"           // a unique value is taken
	EINTERNAL     = "internal"           // a bug or an unexpected failure
	EINVALID      = "invalid"            // the caller sent something malformed
	ENOTFOUND     = "not_found"          // no such entity
	EUNAUTHORIZED = "unauthorized"       // missing or wrong credentials
	EFORBIDDEN    = "forbidden"          // credentials are fine, the action is not allowed
	ERATELIMITED  = "rate_limited"       // a limit was reached
	ETOOLARGE     = "too_large"          // a request body over the configured limit
	EUPSTREAM     = "upstream"           // the provider failed or could not be reached
	ETIMEOUT      = "timeout"            // the provider did not answer in time
	EUNAVAILABLE  = "unavailable"        // no channel can serve the request now
	EQUOTA        = "insufficient_quota" // the quota or balance does not cover the request
)

// Error is the error type of the domain. Code is one of the E* constants;
// Message is safe to show to the caller; Field, when set, names the input
// field at fault (for EINVALID); Reason, when set, says more precisely what
// went wrong within Code, in snake_case (such as "ip_not_allowed" within
// EFORBIDDEN), and becomes the machine-readable code of the edges that have
// one (OpenAI's error "code").
//
// RetryAfter, when positive, says when the request may succeed again (an
// ERATELIMITED limit's window); the relay sends it as Retry-After.
type Error struct {
	Code       string
	Message    string
	Field      string
	Reason     string
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("aiproxy error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error naming the field at fault.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of the first *Error in err's
// chain, or "internal error" for any other non-nil error, so that internal
// details never leak to clients.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ReasonErrorf returns an *Error with a code, a reason and a formatted message.
func ReasonErrorf(code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ErrorReason returns the Reason of the first *Error in err's chain, or "".
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// ErrorField returns the Field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
