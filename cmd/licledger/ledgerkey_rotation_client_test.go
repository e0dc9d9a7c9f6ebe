package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// R27 Decision (trust): a product that fetched the ledger's keys on first
// use (no keys shipped) keeps running after `ledger-key rotate` and a
// restart: GET /v1/ledger/keys carries the rotated key endorsed by the
// root key the product already holds, so the client adds it (and only a
// key so endorsed: TestKeyFetchedForUnknownIDMustBeVouchedFor).
func TestRotatedKeyIsEndorsedForClientsThatFetchedKeys(t *testing.T) {
	t.Parallel()
	clock := eventstoretest.NewClock(productT0)
	l := mustRunMain(t, fleetServe(clock)...)
	key := createSubscription(t, l, "S-ROT", "acme", "annual")
	file := filepath.Join(t.TempDir(), "license.json")
	c := product(t, l.URL, key, file, clock, "5.2.0", time.Time{})
	first, err := c.Start(t.Context())
	if err != nil || first.State != "active" {
		t.Fatalf("start: %s (%v)", first.State, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := dispatch(t.Context(), []string{"ledger-key", "rotate", "--data", l.Dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("rotate: exit %d: %s", code, stderr.String())
	}
	newID := strings.Fields(stdout.String())[0]
	l = mustRunMain(t, append(fleetServe(clock), withDataDir(l.Dir))...)
	ks, err := newClient(t, l.URL, "").LedgerKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks.Keys {
		if k.ID == first.Answer.KeyID && k.Endorsement != nil {
			t.Errorf("the root key %s carries an endorsement", k.ID)
		}
		if k.ID == newID {
			if k.Endorsement == nil {
				t.Fatalf("the rotated key %s has no endorsement", newID)
			}
		}
	}
	clock.Advance(time.Hour)
	resumed := product(t, l.URL, key, file, clock, "5.2.0", time.Time{})
	st, err := resumed.Start(t.Context())
	if err != nil || st.State != "active" || st.Answer.KeyID != newID || st.Instance != first.Instance {
		t.Errorf("after the rotation: %s (%s), instance %s signed by %s (%v); want active, instance %s signed by %s",
			st.State, st.Reason, st.Instance, st.Answer.KeyID, err, first.Instance, newID)
	}
}
