package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// randomHistory appends n events of a few platforms (and a coupon), drawn
// so that the batch models meet every case they mirror: licenses arriving
// again, changing slot, deleted (and again; unknown ones: poison), keys
// inserted twice on a node and pulled when absent, members re-added after
// removal, bundles of several events, events of other aggregates. Now and
// then the clock jumps days ahead, so key buffers run out (R19-R22) and
// licenses expire between events.
func randomHistory(l *ledger, r *rand.Rand, n int) {
	l.t.Helper()
	genHistory(l, r, n, nil)
}

// randomValidHistory is randomHistory less the platform events the ledger
// would refuse (domain.CheckPlatformEvent against v's states): a history
// the ledger could have written, in which a license id names one license.
func randomValidHistory(l *ledger, r *rand.Rand, n int, v *validator) {
	l.t.Helper()
	genHistory(l, r, n, v)
}

// validator keeps the platforms' states folded from what was appended.
type validator struct {
	states map[string]*domain.PlatformState // by subject
}

// keep returns the events of one append the ledger would write, checked
// in order at the platform's last instant (the store stamps them a little
// later: close enough for a test history).
func (v *validator) keep(t testing.TB, subject string, events []domain.Event) []domain.Event {
	t.Helper()
	st := v.states[subject]
	if st == nil {
		st = &domain.PlatformState{}
	}
	st = st.Clone()
	var out []domain.Event
	for _, e := range events {
		e.Subject, e.Time = subject, st.LastEventTime()
		if e.Time.IsZero() {
			e.Time = t0
		}
		if domain.CheckPlatformEvent(st, e) != nil {
			continue
		}
		if err := domain.EvolvePlatform(st, e); err != nil {
			t.Fatal(err)
		}
		e.Time = time.Time{} // the store stamps the ledger's time (a preset one would be kept)
		out = append(out, e)
	}
	return out
}

// fold folds what was appended to a platform.
func (v *validator) fold(t testing.TB, subject string, recs []eventstore.Record) {
	t.Helper()
	if v.states[subject] == nil {
		v.states[subject] = &domain.PlatformState{}
	}
	for _, rec := range recs {
		if err := domain.EvolvePlatform(v.states[subject], rec.Event); err != nil {
			t.Fatal(err)
		}
	}
}

func genHistory(l *ledger, r *rand.Rand, n int, v *validator) {
	l.t.Helper()
	platforms := []string{"platform/p1", "platform/p2", "platform/p3"}
	registered := map[string]bool{}
	nodes := []string{"mn-1", "mn-2"}
	modules := []string{"vmware", "cdp", "gpu"}
	fresh := 100 // a valid history's license ids: one content each
	license := func() domain.License {
		id := fmt.Sprintf("L-%d", r.IntN(12))
		if v != nil {
			fresh++
			id = fmt.Sprintf("L-%d", fresh)
		}
		if r.IntN(3) == 0 {
			return baseLicense(id, domain.EditionEnterprise, 1+r.IntN(16), t0, r.IntN(3))
		}
		m := modules[r.IntN(len(modules))]
		if m != "vmware" { // R3: only counted modules carry a quantity
			return plusLicense(id, m, 0, t0, r.IntN(3))
		}
		return plusLicense(id, m, 1+r.IntN(8), t0, r.IntN(3))
	}
	digest := strings.Repeat("d", 64)
	upload := func() domain.Event {
		if r.IntN(2) == 0 {
			return ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceRequestCode, Digest: digest, License: license()})
		}
		return ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceUSBKey, KeyID: fmt.Sprintf("K-%d", r.IntN(2)), Digest: digest, License: license()})
	}
	for written := 0; written < n; {
		if r.IntN(25) == 0 {
			l.clock.Advance(time.Duration(1+r.IntN(60)) * 24 * time.Hour)
		}
		if r.IntN(20) == 0 {
			l.append(fmt.Sprintf("coupon/C%d", written), ev("coupon.created", map[string]any{"partner": "p", "discount_percent": 5, "limit": 1}))
			written++
			continue
		}
		p := platforms[r.IntN(len(platforms))]
		if !registered[p] {
			registered[p] = true
			recs := l.append(p, ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: nodes[:1+r.IntN(2)], RequestCode: "RC-" + strings.TrimPrefix(p, "platform/")}))
			if v != nil {
				v.fold(l.t, p, recs)
			}
			written++
			continue
		}
		var events []domain.Event
		switch k := r.IntN(11); k {
		case 0:
			events = append(events, ev(domain.EventPlatformNodeAdded, domain.NodeChanged{Node: nodes[r.IntN(2)]}))
		case 1:
			events = append(events, ev(domain.EventPlatformNodeRemoved, domain.NodeChanged{Node: nodes[r.IntN(2)]}))
		case 2:
			events = append(events, ev(domain.EventHostAdded, domain.HostAdded{Host: fmt.Sprintf("h-%d", r.IntN(4)), Hypervisor: domain.HypervisorKVM, Sockets: 1 + r.IntN(4)}))
		case 3:
			events = append(events, ev(domain.EventHostRemoved, domain.HostRemoved{Host: fmt.Sprintf("h-%d", r.IntN(4))}))
		case 4, 5:
			events = append(events, upload())
		case 6: // a bundle
			for range 2 + r.IntN(3) {
				events = append(events, upload())
			}
		case 7, 8:
			id := fmt.Sprintf("L-%d", r.IntN(13))
			if v != nil {
				id = fmt.Sprintf("L-%d", 100+r.IntN(fresh-99))
			}
			events = append(events, ev(domain.EventLicenseDeleted, domain.LicenseDeleted{License: id}))
		case 9:
			var lics []domain.License
			for range r.IntN(4) {
				lics = append(lics, license())
			}
			events = append(events, ev(domain.EventUSBKeyInserted, domain.USBKeyInserted{Node: nodes[r.IntN(2)], KeyID: fmt.Sprintf("K-%d", r.IntN(2)), Licenses: lics}))
		case 10:
			events = append(events, ev(domain.EventUSBKeyRemoved, domain.USBKeyRemoved{Node: nodes[r.IntN(2)], KeyID: fmt.Sprintf("K-%d", r.IntN(2))}))
		}
		if v != nil {
			if events = v.keep(l.t, p, events); len(events) == 0 {
				continue
			}
		}
		recs := l.append(p, events...)
		if v != nil {
			v.fold(l.t, p, recs)
		}
		written += len(events)
	}
}

// R32: the batch models give the same tables whatever the batch
// boundaries, and the same as the statement-by-statement SQL they replaced
// (reference_test.go): a random history applied by the reference, and by
// the models in batches of 1 (every row read back from SQLite), 7 and 1000
// (rows changed many times in memory), in one catch-up or two (the second
// runner starts with no knowledge of which platforms have rows), and
// rebuilt in bulk, yields byte-identical table digests.
func TestBatchSizesAgree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			l := newLedger(t)
			r := rand.New(rand.NewPCG(seed, 7))
			randomHistory(l, r, 150)
			mid := l.lastSeq()
			randomHistory(l, r, 150)
			last := l.lastSeq()

			type run struct {
				name  string
				size  int
				steps []uint64 // catch-up targets, each by a new runner
				projs []Projection
			}
			runs := []run{
				{"statement-by-statement reference", 1, []uint64{last}, refProjections()},
				{"batch 1", 1, []uint64{last}, nil},
				{"batch 7", 7, []uint64{last}, nil},
				{"batch 1000", 1000, []uint64{last}, nil},
				{"batch 7 in two catch-ups", 7, []uint64{mid, last}, nil},
				{"batch 1000 in two catch-ups", 1000, []uint64{mid, last}, nil},
			}
			var want string
			for i, rn := range runs {
				db := openDB(t, fmt.Sprintf("r%d.db", i))
				for _, until := range rn.steps {
					runner := NewRunner(db, l.store, discard(), rn.projs...)
					runner.BatchSize = rn.size
					if _, err := runner.CatchUp(ctx, until, nil); err != nil {
						t.Fatalf("%s: %v", rn.name, err)
					}
				}
				seq, ds := mustDigests(t, db)
				if seq != last {
					t.Fatalf("%s: at %d, want %d", rn.name, seq, last)
				}
				got := digestString(ds)
				if i == 0 {
					want = got
					assertExercised(t, db)
					continue
				}
				if got != want {
					t.Errorf("%s differs from the reference:\n%s\nwant:\n%s", rn.name, got, want)
				}
			}
			built, _, err := Build(ctx, l.store, filepath.Join(t.TempDir(), "built.db"), 0, discard(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer built.Close()
			if _, ds := mustDigests(t, built); digestString(ds) != want {
				t.Errorf("rebuild differs from the reference:\n%s\nwant:\n%s", digestString(ds), want)
			}
		})
	}
}

// assertExercised fails the test when the random history missed a case
// the batch models must get right, so TestBatchSizesAgree cannot pass by
// comparing empty tables.
func assertExercised(t *testing.T, db *DB) {
	t.Helper()
	checks := []struct{ what, query string }{
		{"deleted licenses", `SELECT count(*) FROM licenses WHERE deleted_event IS NOT NULL`},
		{"licenses that arrived again", `SELECT count(*) FROM licenses WHERE arrived_seq > recorded_seq`},
		{"removed key insertions", `SELECT count(*) FROM usb_key_insertions WHERE removed_seq IS NOT NULL`},
		{"removed hosts", `SELECT count(*) FROM platform_hosts WHERE removed_event IS NOT NULL`},
		{"removed nodes", `SELECT count(*) FROM platform_nodes WHERE removed_event IS NOT NULL`},
		{"poison events", `SELECT count(*) FROM poison`},
	}
	for _, c := range checks {
		var n int
		if err := db.r.QueryRow(c.query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("the random history has no %s", c.what)
		}
	}
}

// bulkCounting is counting through Tx.Insert: its rows go to SQLite in
// multi-row statements on the bulkWriter (every bulkRows rows, then at
// Flush), not through the batch's *sql.Tx.
type bulkCounting struct{ counting }

func (c bulkCounting) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	if rec.Seq == c.failAt {
		return errors.New("simulated crash")
	}
	_, err := tx.Insert(ctx, `INSERT INTO applied_`+c.name+` (seq, n) VALUES`, int64(rec.Seq), 1)
	return err
}

// The bulkWriter's statements belong to the batch's transaction: a batch
// that fails after some of its rows were written by them (more than
// bulkRows rows before the failure) leaves none of them, and its
// checkpoint, behind.
func TestBulkRowsRollBackWithTheBatch(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	appendN(l, 3*bulkRows)
	db := openDB(t, "p.db")
	createCounting(t, db, "c")
	r := NewRunner(db, l.store, discard(), bulkCounting{counting{name: "c", failAt: 2*bulkRows + 5}})
	r.BatchSize = 10 * bulkRows
	if _, err := r.CatchUp(context.Background(), 0, nil); err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("CatchUp error = %v, want the simulated crash", err)
	}
	cp, err := db.Checkpoint(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(appliedCounts(t, db, "c")); got != 0 || cp != 0 {
		t.Errorf("after the failed batch: %d rows, checkpoint %d; want 0 and 0", got, cp)
	}
	r2 := NewRunner(db, l.store, discard(), bulkCounting{counting{name: "c"}})
	if _, err := r2.CatchUp(context.Background(), 0, nil); err != nil {
		t.Fatal(err)
	}
	counts := appliedCounts(t, db, "c")
	for s := uint64(1); s <= 3*bulkRows; s++ {
		if got, want := counts[s], 1; got != want {
			t.Errorf("event %d applied %d times, want %d", s, got, want)
		}
	}
}
