package httpclient

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Codes of the API's error body ("code"): the kind of failure. Every API
// error has one; the status follows from it (invalid 400, unauthorized 401,
// forbidden 403, not_found 404, conflict 409, internal 500), except for a
// few reasons with a more precise status (version-mismatch 412,
// body-too-large 413, unsupported-media-type 415, method-not-allowed 405).
const (
	CodeInvalid      = "invalid"      // malformed or rule-breaking input
	CodeUnauthorized = "unauthorized" // no or bad credentials (token, instance secret)
	CodeForbidden    = "forbidden"    // authenticated, but not allowed
	CodeNotFound     = "not_found"    // the thing named does not exist
	CodeConflict     = "conflict"     // the ledger's state forbids it now
	CodeInternal     = "internal"     // the ledger failed; never the caller's fault
)

// Reasons of the API's error body ("reason"): stable words refining a code,
// for a program to act on. These are the ones a client most often needs;
// the ledger has more (each endpoint's documentation in /openapi.json), and
// Reason returns whatever word the ledger sent.
const (
	// Instances (R25–R28).
	ReasonTooManyInstances      = "too-many-instances"      // 409: every seat is held (R26); try again later
	ReasonSeatReleased          = "seat-released"           // 409: the lease lapsed or the seat was freed (R27); activate again
	ReasonBadSecret             = "bad-secret"              // 401: the instance secret does not match
	ReasonInstanceUnknown       = "instance-unknown"        // 404: no such instance on the license
	ReasonSubscriptionNotActive = "subscription-not-active" // 409: canceled or expired
	ReasonVersionNotCovered     = "version-not-covered"     // 403: released after the perpetual update window (R28)
	ReasonSubscriptionUnknown   = "subscription-unknown"    // 404
	ReasonPerpetualUnknown      = "perpetual-unknown"       // 404
	ReasonBadLicenseKey         = "bad-license-key"         // 400: not subscription/<id> or perpetual/<id>
	ReasonUnknownVersion        = "unknown-version"         // 400: not in the vendor's release list
	ReasonReleasedAtMismatch    = "released-at-mismatch"    // 400: released_at disagrees with the release list
	ReasonBelowInstancesInUse   = "below-instances-in-use"  // 409: a downgrade below the seats held (R24)

	// Commands in general.
	ReasonIdempotencyKeyReused = "idempotency-key-reused" // 409: the key belongs to another request
	ReasonVersionMismatch      = "version-mismatch"       // 412: If-Match is stale; read again

	// Platforms.
	ReasonUnknownPlatform       = "unknown-platform"        // 404: a query (Entitlement, Timeline) names no registered platform
	ReasonPlatformNotRegistered = "platform-not-registered" // 404: a command names no registered platform

	// Requests and credentials.
	ReasonMissingToken  = "missing-token"    // 401
	ReasonBadToken      = "bad-token"        // 401
	ReasonRole          = "role-not-allowed" // 403: the token's role may not call this
	ReasonNoRoute       = "no-route"         // 404: no such endpoint (a client newer than the ledger?)
	ReasonBadParameter  = "bad-parameter"    // 400: a query parameter or header (Idempotency-Key, If-Match)
	ReasonMalformedJSON = "malformed-json"   // 400
	ReasonUnknownField  = "unknown-field"    // 400: the ledger is older than the client's request type
)

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

	Code    string // the API's code (CodeConflict, ...), "" if the body had none
	Reason  string // the API's reason (ReasonTooManyInstances, ...), often ""
	Message string // a sentence for a person

	// RetryAfter is the wait the answer's Retry-After header asks for
	// (delay-seconds or an HTTP date), 0 without one. A ledger behind a
	// rate-limiting proxy, or a 503, may send it.
	RetryAfter time.Duration
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
		Code    string `json:"code"`
		Reason  string `json:"reason,omitempty"`
		Message string `json:"message"`
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
