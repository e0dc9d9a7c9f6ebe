package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// Status returns the HTTP status of an error: the catalogue of refusals
// (domain.Refusals) is THE table, and the API maps every error through it
// and nowhere else.
func Status(err error) int { return domain.Status(err) }

// ErrorBody is the one JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail: code is a domain code, reason a stable word of the
// catalogue (domain.Refusals), message a sentence for a person. Every
// error answer carries all three.
type ErrorDetail struct {
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Command is, for a refused simulation, the index (from 0) of the
	// hypothetical command the ledger would refuse.
	Command *int `json:"command,omitempty"`
	// EventIDs, on outcome-unknown only, are the ids of the events the
	// unconfirmed write carried: the log tells whether they landed
	// (GET /v1/events/{id}); the same request with the same
	// Idempotency-Key is the retry.
	EventIDs []string `json:"event_ids,omitempty"`
	// Signed, on a refused activation or check only, is the refusal
	// signed by the ledger (domain.AnswerRefusal): a license client acts
	// on a refusal only when it verifies (R27 Decision (trust)).
	Signed *domain.Signed `json:"signed,omitempty"`
}

// signedRefusal is a refusal with its signature (licserver_instances.go).
type signedRefusal struct {
	err    error
	signed domain.Signed
}

func (e *signedRefusal) Error() string { return e.err.Error() }
func (e *signedRefusal) Unwrap() error { return e.err }

// writeError answers with err through the status table. Internal errors
// are logged with their detail and answered with a generic message, so no
// internals (paths, SQL, NATS) leak to clients.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := domain.ErrorCode(err)
	reason := domain.ErrorReason(err)
	if reason == "" {
		if reason = domain.DefaultReason(code); reason == "" {
			log.Warn("an error without a reason reached the API; give it one from the catalogue", "code", code, "err", err)
		}
	}
	body := ErrorBody{Error: ErrorDetail{Code: code, Reason: reason, Message: domain.ErrorMessage(err), Command: simulationIndex(err)}}
	if sr, ok := errors.AsType[*signedRefusal](err); ok {
		body.Error.Signed = &sr.signed
	}
	if code == domain.EINTERNAL {
		if cerr := r.Context().Err(); cerr != nil {
			// The client went away (or the server is shutting down): what
			// failed is the wait for it, not the ledger. Nobody reads the
			// answer; it is no error for an operator either.
			log.Debug("request ended before its answer", "method", r.Method, "path", r.URL.Path, "cause", cerr, "err", err)
		} else {
			log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		body.Error = ErrorDetail{Code: domain.EINTERNAL, Reason: domain.ReasonInternal, Message: "internal error; the server log has the details"}
	}
	if code == domain.EUNAVAILABLE {
		if cerr := r.Context().Err(); cerr != nil {
			log.Debug("request ended before its answer", "method", r.Method, "path", r.URL.Path, "cause", cerr, "err", err)
		} else {
			// The detail (the NATS error, the event ids) is the operator's.
			log.Warn("the event store is unavailable", "method", r.Method, "path", r.URL.Path, "reason", reason, "err", err)
		}
		if reason == domain.ReasonOutcomeUnknown {
			// The client retries the request: the Idempotency-Key makes
			// the retry find a write that landed. The event ids let it
			// (or an operator) look the write up in the log.
			body.Error.Message = "the ledger did not confirm the write: it may or may not be stored. " +
				"Retry the same request with the same Idempotency-Key; if the first write was stored, the answer is its result. " +
				"Without an Idempotency-Key, look its event_ids up (GET /v1/events/{id}) or read the resource before retrying."
			body.Error.EventIDs = eventstore.UnconfirmedIDs(err)
		}
	}
	status := Status(err)
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// Every 503 says when to come back.
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter(reason)))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="licledger"`)
	}
	var ra *retryAfter
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", ra.seconds())
	}
	if sw, ok := w.(*statusWriter); ok {
		sw.reason = body.Error.Reason
	}
	writeJSON(w, status, body)
}

// unavailableRetryAfter is the Retry-After, in seconds, of a 503: soon
// for an unconfirmed write (the ledger was there a moment ago), longer
// for a full disk (an operator has to free space).
func unavailableRetryAfter(reason string) int {
	switch reason {
	case domain.ReasonOutcomeUnknown:
		return 1
	case domain.ReasonStorageFull:
		return 5
	}
	return 2
}

// writeJSON writes v as indented JSON with a trailing newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","reason":"internal","message":"internal error"}}`)
	}
	writeBytes(w, status, "application/json", append(b, '\n'))
}

func writeBytes(w http.ResponseWriter, status int, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

// readBody reads a request body under the server's size limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, domain.Reasonf(domain.EINVALID, domain.ReasonBodyTooLarge, "request body is larger than %d bytes", limit)
		}
		return nil, domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "could not read the request body: %v", err)
	}
	return b, nil
}

// decodeJSON reads a JSON request body into v: exactly one object, no
// unknown fields, nothing after it, under the size limit.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	b, err := readJSONBody(w, r, limit)
	if err != nil {
		return err
	}
	return strictUnmarshal(b, v)
}

// readJSONBody reads a body sent as JSON, under the size limit.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/cloudevents+json") {
			return nil, domain.Reasonf(domain.EINVALID, domain.ReasonUnsupportedMedia, "Content-Type %q is not application/json", ct)
		}
	}
	return readBody(w, r, limit)
}

// strictUnmarshal decodes exactly one JSON value into v, refusing unknown
// fields, duplicate keys, keys that match a field only when case is
// ignored (checkKeys), and trailing data.
func strictUnmarshal(b []byte, v any) error {
	if err := checkKeys(b, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonErr(err)
	}
	if dec.More() {
		return domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "request body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "request body has data after the JSON value")
	}
	return nil
}

func jsonErr(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "request body is empty; send a JSON object")
	case errors.As(err, &syn):
		return domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "request body is not valid JSON: %v (at byte %d)", err, syn.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "request body: expected a JSON object, got %s", typ.Value)
	case errors.As(err, &typ):
		return domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "field %q: expected %s, got %s", typ.Field, typ.Type, typ.Value)
	case bytes.HasPrefix([]byte(err.Error()), []byte("json: unknown field")):
		return domain.Reasonf(domain.EINVALID, domain.ReasonUnknownField, "%s", err.Error()[len("json: "):])
	}
	return domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "request body: %v", err)
}
