package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// An internal error is an ERROR for the operator, unless the request had
// already ended (the client hung up): then it is only a debug line.
func TestInternalErrorLogLevel(t *testing.T) {
	t.Parallel()
	internal := domain.Errorf(domain.EINTERNAL, "read: %v", errors.New("nats: timeout"))
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"request alive", context.Background(), "level=ERROR"},
		{"client gone", canceled, "level=DEBUG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs eventstoretest.SyncBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			r := httptest.NewRequest("GET", "/v1/platforms/acme/entitlement", nil).WithContext(tt.ctx)
			w := httptest.NewRecorder()
			writeError(w, r, log, internal)
			if got := w.Code; got != 500 {
				t.Errorf("status %d, want 500", got)
			}
			if got := logs.String(); !strings.Contains(got, tt.want) || strings.Count(got, "\n") != 1 {
				t.Errorf("log %q, want one line at %s", got, tt.want)
			}
		})
	}
}

// Every 503 carries Retry-After; outcome-unknown tells the client to retry
// with the same Idempotency-Key (it never sees the event ids the store
// names, which go to the log); the operator gets a warning.
func TestUnavailableAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		err            error
		wantRetryAfter string
		wantMessage    string
	}{
		{"ledger unavailable", domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable, "load platform.acme: no answer"), "2", "no answer"},
		{"storage full", domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonStorageFull, "append to platform.acme: no room"), "5", "no room"},
		{"outcome unknown", domain.Reasonf(domain.EUNAVAILABLE, domain.ReasonOutcomeUnknown, "append to platform.acme: retry with the same event ids (01J0EVENTID)"),
			"1", "same Idempotency-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs eventstoretest.SyncBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			r := httptest.NewRequest("POST", "/v1/platforms/acme/nodes", nil)
			w := httptest.NewRecorder()
			writeError(w, r, log, tt.err)
			if got := w.Code; got != 503 {
				t.Errorf("status %d, want 503", got)
			}
			if got := w.Header().Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.wantRetryAfter)
			}
			body := w.Body.String()
			if !strings.Contains(body, tt.wantMessage) || !strings.Contains(body, `"reason": "`+domain.ErrorReason(tt.err)+`"`) {
				t.Errorf("body %s lacks %q or its reason", body, tt.wantMessage)
			}
			if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, domain.ErrorMessage(tt.err)) {
				t.Errorf("log %q, want a warning with the detail", got)
			}
		})
	}
}
