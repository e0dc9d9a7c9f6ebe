package projections

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// R32: an as-of entitlement answered from a rung (a state folded earlier
// and kept) is byte-identical to the domain's fold from the first event
// (domain.PlatformAsOf), at
// random instants and sequences, asked in random order, over a randomized
// history long enough to hold several rungs.
func TestAsOfFromRungsEqualsAFoldFromTheStart(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	l := newLedger(t)
	l.append("platform/acme", ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1", "mn-2"}, RequestCode: "RC-7F3A"}))
	var recs []eventstore.Record
	inserted := map[string]bool{}
	for len(recs) < 3*rungEvery {
		l.clock.Set(l.clock.Now().Add(time.Duration(rng.IntN(48)) * time.Hour))
		var e domain.Event
		switch n := rng.IntN(10); {
		case n < 5:
			e = ev(domain.EventHostAdded, domain.HostAdded{Host: fmt.Sprintf("h-%d", rng.IntN(40)), Hypervisor: domain.HypervisorKVM, Sockets: 1 + rng.IntN(4)})
		case n < 7:
			node := []string{"mn-1", "mn-2"}[rng.IntN(2)]
			if inserted[node] {
				e = ev(domain.EventUSBKeyRemoved, domain.USBKeyRemoved{Node: node, KeyID: "K-" + node})
			} else {
				e = ev(domain.EventUSBKeyInserted, domain.USBKeyInserted{Node: node, KeyID: "K-" + node,
					Licenses: []domain.License{baseLicense("L-K"+node, domain.EditionStandard, 8, t0, 2)}})
			}
			inserted[node] = !inserted[node]
		default:
			e = ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceRequestCode, Digest: fmt.Sprintf("d%d", len(recs)),
				License: plusLicense(fmt.Sprintf("L-%d", len(recs)), "vmware", 1+rng.IntN(8), l.clock.Now(), 1)})
		}
		recs = append(recs, l.append("platform/acme", e)...)
	}
	ctx := context.Background()
	db := openDB(t, "live.db")
	catchUp(t, db, l.store)
	shared := NewQueries(db)
	reference := NewQueries(db)
	reference.ladders = nil // the domain's fold from the first event, every time
	for range 60 {
		r := recs[rng.IntN(len(recs))]
		at := r.Event.Time.Add(time.Duration(rng.IntN(3)-1) * time.Minute)
		seq := uint64(0)
		if rng.IntN(2) == 0 {
			seq = recs[rng.IntN(len(recs))].Seq
		}
		want, err := reference.EntitlementAt(ctx, "acme", at, seq)
		if err != nil {
			t.Fatal(err)
		}
		got, err := shared.EntitlementAt(ctx, "acme", at, seq)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("as of %s seq %d:\n got %s\nwant %s", at, seq, got, want)
		}
	}
	if l, _, _ := shared.ladders.Get("acme"); len(l) < 2 {
		t.Errorf("%d rungs kept, want at least 2: the questions did not exercise them", len(l))
	}
}
