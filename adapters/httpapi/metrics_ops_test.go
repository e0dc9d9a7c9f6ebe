package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The operator gauges count what the ledger records: platforms by
// entitlement status, the running buffer and when it ends (R19: a key
// pulled while in force leaves its licenses usable for 30 days), seats
// held (R26) and subscriptions by status (R23); and they say the
// projections are caught up and the store connected. Business gauges are
// cached for businessTTL on the ledger clock: a change shows once it has
// passed.
func TestOperatorMetrics(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	e.registerAcme()
	e.must(http.StatusCreated, "POST", "/v1/platforms", `{"id":"beta","nodes":["mn-1"]}`)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes/mn-1/usb-keys", `{"key_id":"K-1","licenses":[
		{"id":"L-100","kind":"base","edition":"enterprise","sockets":32,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2028-01-01T00:00:00Z"}]}`)
	license := e.subscription("S-1", 3, time.Hour)
	e.activate(license, "2.4.0")
	e.activate(license, "2.4.0")
	e.subscription("S-2", 1, time.Hour)
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-2/cancel", nil)

	m := e.metrics()
	for _, want := range []string{
		`licledger_platforms{status="licensed"} 1`,
		`licledger_platforms{status="unlicensed"} 1`,
		`licledger_platforms{status="grace"} 0`,
		`licledger_buffers_running 0`,
		`licledger_seats_in_use{kind="subscription"} 2`,
		`licledger_seats_in_use{kind="perpetual"} 0`,
		`licledger_subscriptions{status="active"} 1`,
		`licledger_subscriptions{status="canceled"} 1`,
		`licledger_projection_lag_seconds 0`,
		`licledger_nats_connected 1`,
		`licledger_nats_connection_state{state="CONNECTED"} 1`,
		`licledger_stream_has_leader 1`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(m, "licledger_buffer_earliest_end_timestamp_seconds") {
		t.Error("an earliest buffer end is exported while no buffer runs")
	}

	// The key is pulled: a buffer runs for 30 days from now. Within the
	// cache's lifetime the gauges still show the old figures.
	pulled := e.clock.Now()
	e.must(http.StatusOK, "DELETE", "/v1/platforms/acme/nodes/mn-1/usb-keys/K-1", "")
	if m := e.metrics(); !strings.Contains(m, "licledger_buffers_running 0\n") {
		t.Error("business gauges recomputed within their cache's lifetime")
	}
	e.clock.Advance(businessTTL)
	m = e.metrics()
	for _, want := range []string{
		`licledger_platforms{status="grace"} 1`,
		`licledger_platforms{status="licensed"} 0`,
		`licledger_buffers_running 1`,
		fmt.Sprintf(`licledger_buffer_earliest_end_timestamp_seconds %g`, float64(pulled.AddDate(0, 0, 30).Unix())),
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("after the key was pulled, metrics lack %q", want)
		}
	}
}

// metrics scrapes /metrics.
func (e *env) metrics() string {
	e.t.Helper()
	return string(e.must(http.StatusOK, "GET", "/metrics", "").body)
}
