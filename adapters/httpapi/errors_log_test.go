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
