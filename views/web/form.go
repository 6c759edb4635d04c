package web

import (
	"errors"

	"github.com/aiproxy/aiproxy"
)

// FieldErrors are a form's validation errors: messages by field name, ""
// for the form as a whole. The nil map has none.
type FieldErrors map[string]string

// FieldErrorsOf returns the errors to show for err: an EINVALID
// *aiproxy.Error's Message under its Field ("" when it names none); for
// any other non-nil error, its caller-safe message under "" (see
// aiproxy.ErrorMessage: "internal error" for an internal one). Nil for
// nil.
func FieldErrorsOf(err error) FieldErrors {
	var e *aiproxy.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e) && e.Code == aiproxy.EINVALID:
		return FieldErrors{e.Field: e.Message}
	}
	return FieldErrors{"": aiproxy.ErrorMessage(err)}
}

// Has reports whether field has an error.
func (fe FieldErrors) Has(field string) bool { _, ok := fe[field]; return ok }

// Invalid returns "true" when field has an error and "false" otherwise:
// the value of the input's aria-invalid.
func (fe FieldErrors) Invalid(field string) string { return boolString(fe.Has(field)) }

// DescribedBy returns the id of field's error message (FieldError), for
// the input's aria-describedby; "" when it has none.
func (fe FieldErrors) DescribedBy(field string) string {
	if !fe.Has(field) {
		return ""
	}
	return ErrorID(field)
}

// ErrorID returns the id of the element showing field's error.
func ErrorID(field string) string {
	if field == "" {
		return "form-error"
	}
	return "error-" + field
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
