package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func apiErr(code jetstream.ErrorCode) error {
	return fmt.Errorf("nats: %w", &jetstream.APIError{Code: 503, ErrorCode: code, Description: "from the server"})
}

// Infrastructure failures a retry may cure are told apart, with the NATS
// error kept in the chain and out of the client's message.
func TestTranslateFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantCode   string
		wantReason string
	}{
		{"insufficient resources", apiErr(10023), domain.EUNAVAILABLE, domain.ReasonStorageFull},
		{"storage resources exceeded", apiErr(10047), domain.EUNAVAILABLE, domain.ReasonStorageFull},
		{"memory resources exceeded", apiErr(10028), domain.EUNAVAILABLE, domain.ReasonStorageFull},
		{"account resources exceeded", apiErr(10002), domain.EUNAVAILABLE, domain.ReasonStorageFull},
		{"store failed", apiErr(10077), domain.EUNAVAILABLE, domain.ReasonStorageFull},
		{"cluster not available", apiErr(10008), domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"not leader", apiErr(10009), domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"stream offline", apiErr(10118), domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"no responders", nats.ErrNoResponders, domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"no stream response", jetstream.ErrNoStreamResponse, domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"connection closed", nats.ErrConnectionClosed, domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"reconnecting", nats.ErrConnectionReconnecting, domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"read timeout", fmt.Errorf("get: %w", nats.ErrTimeout), domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"read deadline", context.DeadlineExceeded, domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"wrong last sequence", apiErr(10071), domain.ECONFLICT, domain.ReasonConcurrentUpdate},
		{"message too large", apiErr(10054), domain.EINVALID, domain.ReasonEventTooLarge},
		{"canceled", context.Canceled, domain.EINTERNAL, ""},
		{"unknown API error", apiErr(19999), domain.EINTERNAL, ""},
		{"unknown error", errors.New("boom"), domain.EINTERNAL, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := translate(tt.err, "append to platform.acme")
			if code, reason := domain.ErrorCode(got), domain.ErrorReason(got); code != tt.wantCode || reason != tt.wantReason {
				t.Fatalf("translate(%v) = %q/%q (%v), want %q/%q", tt.err, code, reason, got, tt.wantCode, tt.wantReason)
			}
			if tt.wantCode == domain.EUNAVAILABLE {
				if !errors.Is(got, tt.err) {
					t.Errorf("translate(%v) = %v: the cause left the chain", tt.err, got)
				}
				if msg := domain.ErrorMessage(got); strings.Contains(msg, "nats:") || strings.Contains(msg, "from the server") {
					t.Errorf("client message %q leaks the NATS error", msg)
				}
			}
		})
	}
}

// A publish that timed out may have been stored: outcome-unknown, with the
// event ids to retry with; a publish that never went out is
// ledger-unavailable.
func TestPublishFailed(t *testing.T) {
	t.Parallel()
	ids := []string{"01J0000000000000000000000A", "01J0000000000000000000000B"}
	tests := []struct {
		name       string
		err        error
		wantCode   string
		wantReason string
	}{
		{"ack timeout", nats.ErrTimeout, domain.EUNAVAILABLE, domain.ReasonOutcomeUnknown},
		{"ack deadline", fmt.Errorf("publish: %w", context.DeadlineExceeded), domain.EUNAVAILABLE, domain.ReasonOutcomeUnknown},
		{"no stream leader", jetstream.ErrNoStreamResponse, domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"not connected", nats.ErrConnectionReconnecting, domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable},
		{"disk full", apiErr(10047), domain.EUNAVAILABLE, domain.ReasonStorageFull},
		{"conflict", apiErr(10071), domain.ECONFLICT, domain.ReasonConcurrentUpdate},
		{"canceled", context.Canceled, domain.EINTERNAL, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := publishFailed(tt.err, "append to platform.acme", ids)
			if code, reason := domain.ErrorCode(got), domain.ErrorReason(got); code != tt.wantCode || reason != tt.wantReason {
				t.Fatalf("publishFailed(%v) = %q/%q (%v), want %q/%q", tt.err, code, reason, got, tt.wantCode, tt.wantReason)
			}
			if tt.wantReason == domain.ReasonOutcomeUnknown {
				for _, id := range ids {
					if msg := domain.ErrorMessage(got); !strings.Contains(msg, id) {
						t.Errorf("message %q does not name event id %s", msg, id)
					}
				}
			}
		})
	}
}
