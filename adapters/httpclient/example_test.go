package httpclient_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/domain"
)

// A licensed product's life with the ledger: activate at start-up, check
// in periodically (the answer carries the current plan), deactivate on a
// clean shutdown. ledgerURL and clientToken are the ledger's address and a
// token of the client role, from the product's configuration.
func Example() {
	ctx := context.Background()
	c, err := httpclient.New(ledgerURL, httpclient.WithToken(clientToken), httpclient.WithUserAgent("acme-product/5.2.0"))
	if err != nil {
		log.Fatal(err)
	}
	license := exampleLicenseKey // the license key the vendor handed the customer (lks.S-ACME.…), e.g. from the product's configuration

	// One Idempotency-Key per start-up, kept until an activation is
	// answered: a retry after a lost answer gets the same instance back
	// instead of taking a second seat.
	bootKey := "boot-" + rand.Text()
	act, err := c.Activate(ctx, httpclient.ActivateRequest{LicenseKey: license, ProductVersion: "5.2.0"},
		httpclient.WithIdempotencyKey(bootKey))
	switch {
	case httpclient.Reason(err) == domain.ReasonInstanceTooMany:
		fmt.Println("every seat is held; try again later")
		return
	case err != nil:
		log.Fatal(err) // no answer (retry with bootKey) or another refusal
	}
	fmt.Printf("activated on %s: plan %s, %d instances, %d devices\n",
		act.License, act.Plan.Name, act.InstanceLimit, act.Plan.Devices)

	// Every few minutes: check in with the instance id and secret.
	reply, err := c.Check(ctx, act.InstanceID, httpclient.CheckRequest{
		LicenseKey: act.License, Secret: act.Secret, ProductVersion: "5.2.0"})
	switch {
	case httpclient.Reason(err) == domain.ReasonInstanceSeatReleased:
		fmt.Println("seat lost; activate again")
		return
	case httpclient.Status(err) == 0 && err != nil:
		fmt.Println("no answer; keep running on the last good check (up to 24 hours)")
		return
	case err != nil:
		log.Fatal(err)
	}
	fmt.Printf("checked in: %s, plan %s, seat held until %s\n",
		reply.Status, reply.Plan.Name, reply.SeatExpiresAt.Format(time.RFC3339))

	// Clean shutdown: free the seat for another instance.
	if _, err := c.Deactivate(ctx, act.InstanceID, httpclient.DeactivateRequest{LicenseKey: act.License, Secret: act.Secret}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("deactivated")
	// Output:
	// activated on subscription/S-ACME: plan team, 2 instances, 50 devices
	// checked in: active, plan team, seat held until 2026-03-02T14:00:00Z
	// deactivated
}
