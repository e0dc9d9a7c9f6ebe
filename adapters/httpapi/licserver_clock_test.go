package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// The ledger clock is read once per command, and the answer is built on
// that reading, which is also the stored events' time. With a clock that
// moves on every reading (as a real one does), a retried activation used
// to answer a seat_expires_at a few microseconds off the first answer and
// the stored event, and a perpetual license's updates_until came out short
// of one year. R26, R27, R28.
func TestCommandsReadTheClockOnce(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	e.clock.Step = time.Microsecond
	sub := e.subscription("S-1", 2, 24*time.Hour)

	r := e.call("POST", "/v1/instances/activate", clientToken, ActivateRequest{LicenseKey: sub, ProductVersion: "1.0.0"}, "Idempotency-Key: boot-1")
	if r.status != http.StatusCreated {
		t.Fatalf("activate: %d %s", r.status, r.body)
	}
	var first, again ActivateResponse
	decodeInto(t, r.body, &first)
	r = e.call("POST", "/v1/instances/activate", clientToken, ActivateRequest{LicenseKey: sub, ProductVersion: "1.0.0"}, "Idempotency-Key: boot-1")
	decodeInto(t, r.body, &again)
	if got, want := again.SeatExpiresAt, first.SeatExpiresAt; got != want {
		t.Errorf("retried activation: seat_expires_at %s, want the first answer's %s", got, want)
	}
	var doc domain.SubscriptionDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1", nil).body, &doc)
	if len(doc.Instances) != 1 {
		t.Fatalf("instances %+v, want one", doc.Instances)
	}
	if got, want := doc.Instances[0].SeatExpiresAt, first.SeatExpiresAt; got != want {
		t.Errorf("stored seat expiry %s, want the activation's answer %s", got, want)
	}

	e.admin(http.StatusCreated, "POST", "/v1/perpetual", PerpetualRequest{ID: "P-1", Plan: plan("solo", 1)})
	var p domain.PerpetualDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/perpetual/P-1", nil).body, &p)
	purchased, err := time.Parse(time.RFC3339Nano, p.PurchasedAt)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.UpdatesUntil, purchased.AddDate(1, 0, 0).Format(time.RFC3339Nano); got != want {
		t.Errorf("updates_until %s, want exactly one year after the purchase %s: %s", got, p.PurchasedAt, want)
	}
}
