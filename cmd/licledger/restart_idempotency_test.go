package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/ledgerkey"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// Secrets handed out again on a retry (instance secrets, license keys)
// derive from the ledger key kept in the data directory, so an
// activation retried with its Idempotency-Key after a restart gets its
// original instance and secret (it used to be refused
// idempotency-key-reused, with the seat held for lease + lease/4).
func TestRetryAfterRestartGetsTheOriginalAnswer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := eventstoretest.NewClock(fleetT0)
	ctx := context.Background()
	run := func() (*Main, *httpclient.Client) {
		l := mustRunMain(t, withDataDir(dir), withClock(clock))
		return l.Main, l.API
	}
	m, c := run()
	created, err := c.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-1", Plan: httpclient.InstancePlan{Name: "solo", Instances: 1}, Period: "annual"},
		httpclient.WithIdempotencyKey("order-1"))
	if err != nil {
		t.Fatal(err)
	}
	req := httpclient.ActivateRequest{LicenseKey: created.LicenseKey, ProductVersion: "1.0"}
	first, err := c.Activate(ctx, req, httpclient.WithIdempotencyKey("boot-1"))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()

	m, c = run()
	defer m.Close()
	again, err := c.Activate(ctx, req, httpclient.WithIdempotencyKey("boot-1"))
	if err != nil {
		t.Fatalf("the retried activation after a restart: %v", err)
	}
	if again.InstanceID != first.InstanceID || again.Secret != first.Secret {
		t.Errorf("after a restart the retry got instance %s, want the original %s and its secret", again.InstanceID, first.InstanceID)
	}
	recreated, err := c.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-1", Plan: httpclient.InstancePlan{Name: "solo", Instances: 1}, Period: "annual"},
		httpclient.WithIdempotencyKey("order-1"))
	if err != nil || recreated.LicenseKey != created.LicenseKey {
		t.Errorf("the retried create after a restart answered key %v (%v), want the original", recreated, err)
	}
	// The key file is the ledger's own, private, and never the log's.
	st, err := os.Stat(filepath.Join(dir, ledgerkey.FileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("ledger key file: %v, %v", st, err)
	}
}
