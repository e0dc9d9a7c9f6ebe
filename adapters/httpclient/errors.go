package httpclient

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
)

// Codes and reasons of the API's error body are the ledger's catalogue of
// refusals: switch on the constants of package domain (domain.ECONFLICT,
// domain.ReasonInstanceTooMany, ...), which imports the standard library
// only and is safe for a product to import; domain.Refusals lists every
// word with its status and meaning. Reason returns whatever word the
// ledger sent, including words newer than the client.

// Error is an answer with a status the method does not take as success
// (anything outside 2xx for most methods; each method's documentation
// lists its statuses), or Ready's 503. Code, Reason and Message come from
// the API's error body; for an answer that is not in that shape (a proxy's
// page, say) Code and Reason are empty and Message holds the start of the
// body or the status text.
type Error struct {
	Method string // of the request, e.g. "POST"
	Path   string // of the request, without the base URL's path or the query
	Status int    // HTTP status

	Code    string // the API's code (domain.ECONFLICT, ...), "" if the body had none
	Reason  string // the API's reason (domain.ReasonInstanceTooMany, ...)
	Message string // a sentence for a person

	// RetryAfter is the wait the answer's Retry-After header asks for
	// (delay-seconds or an HTTP date), 0 without one. A ledger behind a
	// rate-limiting proxy, or a 503, may send it.
	RetryAfter time.Duration

	// EventIDs, on outcome-unknown only, are the ids of the events the
	// unconfirmed write carried (GET /v1/events/{id} tells whether they landed; the
	// same call with the same idempotency key is the retry).
	EventIDs []string
	// Command, for a refused simulation, is the index of the hypothetical
	// command the ledger refused; nil otherwise.
	Command *int
	// Signed, on a refused activation or check, is the ledger's signed
	// refusal (domain.VerifyRefusal checks it); nil otherwise.
	Signed *domain.Signed
}

// Error renders "licledger POST /v1/instances/activate: 409
// conflict/too-many-instances: <message>".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "licledger %s %s: %d", e.Method, e.Path, e.Status)
	switch {
	case e.Code != "" && e.Reason != "":
		fmt.Fprintf(&b, " %s/%s", e.Code, e.Reason)
	case e.Code != "":
		fmt.Fprintf(&b, " %s", e.Code)
	case e.Reason != "":
		fmt.Fprintf(&b, " %s", e.Reason)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	return b.String()
}

// ErrMalformedResponse is wrapped by the error of a request answered with a
// success status but a body the method cannot read.
var ErrMalformedResponse = errors.New("malformed response")

// Reason returns the API reason of err (an *Error in its chain), or "".
func Reason(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Reason
	}
	return ""
}

// Code returns the API code of err (an *Error in its chain), or "".
func Code(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return ""
}

// Status returns the HTTP status of err (an *Error in its chain), or 0 for
// nil and for errors that got no answer.
func Status(err error) int {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status
	}
	return 0
}

// errorBody is the API's one error shape.
type errorBody struct {
	Error struct {
		Code     string         `json:"code"`
		Reason   string         `json:"reason,omitempty"`
		Message  string         `json:"message"`
		EventIDs []string       `json:"event_ids,omitempty"`
		Command  *int           `json:"command,omitempty"`
		Signed   *domain.Signed `json:"signed,omitempty"`
	} `json:"error"`
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date
// (RFC 9110 §10.2.3). Unreadable, negative and past values are 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case n <= 0:
			return 0
		case n > math.MaxInt64/int64(time.Second):
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
