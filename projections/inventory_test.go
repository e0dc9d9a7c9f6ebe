package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// R13, R21: a key pulled and a different key inserted voids the old key's
// buffer at once, so the old key's vmware license takes no part and the
// request-code vmware license it had outranked shows through. The
// entitlement grants vmware from that request-code license; the inventory
// must not call it superseded.
func TestInventoryAfterR21VoidsABuffer(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	l.append("platform/r21", ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1"}, RequestCode: "RC-R21"}))
	l.append("platform/r21",
		ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceRequestCode, Bundle: "B-1",
			License: baseLicense("L-BASE", domain.EditionEnterprise, 16, t0, 1)}),
		ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceRequestCode, Bundle: "B-1",
			License: plusLicense("L-RC-VMW", "vmware", 8, t0, 1)}))
	l.append("platform/r21", ev(domain.EventUSBKeyInserted, domain.USBKeyInserted{Node: "mn-1", KeyID: "K-1",
		Licenses: []domain.License{plusLicense("L-K1-VMW", "vmware", 4, t0, 1)}}))
	l.clock.Set(t0.AddDate(0, 1, 0))
	l.append("platform/r21", ev(domain.EventUSBKeyRemoved, domain.USBKeyRemoved{Node: "mn-1", KeyID: "K-1"}))
	l.append("platform/r21", ev(domain.EventUSBKeyInserted, domain.USBKeyInserted{Node: "mn-1", KeyID: "K-2",
		Licenses: []domain.License{plusLicense("L-K2-CDP", "cdp", 0, t0, 1)}}))
	db := openDB(t, "p.db")
	catchUp(t, db, l.store)
	ctx := context.Background()
	at := t0.AddDate(0, 1, 1)

	raw, err := NewQueries(db).Entitlement(ctx, "r21", at)
	if err != nil {
		t.Fatal(err)
	}
	var ent domain.Entitlement
	if err := json.Unmarshal(raw, &ent); err != nil {
		t.Fatal(err)
	}
	vmw := ent.Modules["vmware"]
	if got, want := fmt.Sprint(vmw.Entitled, " ", vmw.Source, " ", vmw.License), "true request-code L-RC-VMW"; got != want {
		t.Fatalf("vmware entitlement = %s, want %s", got, want)
	}
	lics, err := db.Licenses(ctx, "r21")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, lic := range lics {
		got[lic.ID] = lic.State
	}
	for id, want := range map[string]string{
		"L-BASE": LicenseCurrent, "L-RC-VMW": LicenseCurrent, "L-K2-CDP": LicenseCurrent,
		"L-K1-VMW": LicenseUnavailable, // its key takes no part (R21)
	} {
		if got[id] != want {
			t.Errorf("license %s: state %q, want %q", id, got[id], want)
		}
	}
}

// The inventory and the entitlement are one answer (R13, R14, R16-R22): on
// random histories the ledger could have written (in which a license id
// names one license: one row of the inventory), applied a few events at a
// time, for every platform and
// instants from its last event to weeks later (buffers run out meanwhile),
//   - each license the entitlement decides by (the Base, a module's license
//     from a source) is in effect in the inventory, never superseded,
//     deleted or unavailable;
//   - each license in effect in the inventory is the one the entitlement
//     names for its slot when it names one from a source, and no slot has
//     two.
//
// "In effect at an instant" is the inventory's state, or its Next state
// from Next's instant on.
func TestInventoryAgreesWithEntitlement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			l := newLedger(t)
			r := rand.New(rand.NewPCG(seed, 11))
			db := openDB(t, "p.db")
			q := NewQueries(db)
			v := &validator{states: map[string]*domain.PlatformState{}}
			checked := 0
			seen := map[string]int{}
			for range 40 {
				randomValidHistory(l, r, 6, v)
				catchUp(t, db, l.store)
				for _, id := range []string{"p1", "p2", "p3"} {
					p, err := db.GetPlatform(ctx, id)
					if domain.ErrorCode(err) == domain.ENOTFOUND {
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					lics, err := db.Licenses(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					for range 3 {
						at := p.LastEventAt.Add(time.Duration(r.IntN(60*24)) * time.Hour)
						ent, err := q.EntitlementDoc(ctx, id, at)
						if err != nil {
							t.Fatal(err)
						}
						checkInventory(t, id, at, lics, ent, seen)
						checked++
					}
				}
			}
			if checked < 200 {
				t.Fatalf("only %d instants checked", checked)
			}
			// The cases the property is about must have come up.
			for _, c := range []string{LicenseCurrent, LicenseSuperseded, LicenseUnavailable, LicenseDeleted, "next", "shows through"} {
				if seen[c] == 0 {
					t.Errorf("no instant saw %q (seen: %v)", c, seen)
				}
			}
		})
	}
}

// checkInventory asserts the agreement of TestInventoryAgreesWithEntitlement
// at one instant.
// seen counts the states met, "next" the states changing with no event,
// and "shows through" a module granted from a request-code license that a
// later key license, now unavailable, had outranked (R13, R21).
func checkInventory(t *testing.T, platform string, at time.Time, lics []InventoryLicense, ent domain.Entitlement, seen map[string]int) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("platform %s at %s: "+format, append([]any{platform, at.Format(time.RFC3339)}, args...)...)
	}
	state := map[string]string{}
	current := map[string]string{} // slot -> the license in effect
	for _, l := range lics {
		s := l.State
		if l.Next != nil && !at.Before(l.Next.At) {
			s = l.Next.State
		}
		state[l.ID] = s
		seen[s]++
		if l.Next != nil && !at.Before(l.Next.At) {
			seen["next"]++
		}
		if s != LicenseCurrent {
			continue
		}
		slot := slotOf(l.License)
		if other, dup := current[slot]; dup {
			fail("%s and %s are both in effect in slot %s", other, l.ID, slot)
		}
		current[slot] = l.ID
	}
	if b := ent.Base; b != nil && b.Reason != domain.ReasonSourceUnavailable {
		if state[b.License] != LicenseCurrent {
			fail("the entitlement's Base %s is %q in the inventory", b.License, state[b.License])
		}
		if current["base"] != b.License {
			fail("the inventory's Base in effect is %q, the entitlement's %s", current["base"], b.License)
		}
	}
	for name, m := range ent.Modules {
		if (m.Source != domain.SourceRequestCode && m.Source != domain.SourceUSBKey) || m.Reason == domain.ReasonSourceUnavailable {
			continue
		}
		if state[m.License] != LicenseCurrent {
			fail("module %s: the entitlement uses %s (entitled %v, %s), the inventory says %q", name, m.License, m.Entitled, m.Reason, state[m.License])
		}
		if got := current["plus:"+name]; got != m.License {
			fail("module %s: the inventory's license in effect is %q, the entitlement's %s", name, got, m.License)
		}
		if m.Entitled && m.Source == domain.SourceRequestCode {
			var arrived uint64
			for _, l := range lics {
				if l.ID == m.License {
					arrived = l.LastBrought.Seq
				}
			}
			for _, l := range lics {
				if l.Module == name && l.Source == domain.SourceUSBKey && state[l.ID] == LicenseUnavailable && l.LastBrought.Seq > arrived {
					seen["shows through"]++
				}
			}
		}
	}
}
