package domain

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the public contract: the HTTP layer maps
// each to one status, the CLI prints them, and clients switch on them.
const (
	ECONFLICT     = "conflict"           // lost an optimistic-concurrency race, or the state forbids it now
	EINTERNAL     = "internal"           // a bug or an infrastructure failure; never the caller's fault
	EINVALID      = "invalid"            // malformed or rule-breaking input
	ENOTFOUND     = "not_found"          // the thing named does not exist
	EFORBIDDEN    = "forbidden"          // authenticated, but the role may not do this
	EUNAUTHORIZED = "unauthorized"       // no or bad credentials
	EMETHOD       = "method_not_allowed" // the endpoint exists, but not with this method
	ERATELIMITED  = "rate_limited"       // too many requests: wait (Retry-After) and try again
	EUNAVAILABLE  = "unavailable"        // the event store cannot take or confirm the write now: wait (Retry-After) and retry
)

// Error is the one error type the domain returns. Code is machine-readable
// (one of the constants above); Reason optionally refines it with a stable,
// kebab-case word a client can switch on (e.g. "key-not-inserted",
// "too-many-instances"); Message is for a person and says what to do.
type Error struct {
	Code    string
	Reason  string
	Message string
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds an *Error with a code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Reasonf builds an *Error with a code, a stable reason word and a message.
func Reasonf(code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil,
// and EINTERNAL for any other error: an error the domain did not classify is
// by definition not the caller's fault.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorReason returns the reason of the first *Error in err's chain, or "".
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// ErrorMessage returns the person-facing message of the first *Error in
// err's chain; other errors get a generic text so internals never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
