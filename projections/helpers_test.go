package projections

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// t0 is when every test history starts.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ledger is a real event store with a test clock and deterministic event
// ids, so histories (and golden files) are the same on every run.
type ledger struct {
	t        testing.TB
	store    *eventstore.Store
	clock    *eventstoretest.Clock
	versions map[domain.Aggregate]uint64
	n        int
}

func newLedger(t testing.TB, opts ...eventstoretest.Option) *ledger {
	t.Helper()
	c := &eventstoretest.Clock{Step: time.Minute}
	c.Set(t0)
	opts = append([]eventstoretest.Option{eventstoretest.WithClock(c.Now)}, opts...)
	return &ledger{t: t, store: eventstoretest.MustOpenStore(t, opts...), clock: c, versions: map[domain.Aggregate]uint64{}}
}

// ev builds one event of a platform (or another aggregate when subject
// holds a '/').
func ev(typ string, data any) domain.Event {
	e, err := domain.NewEvent("", typ, data)
	if err != nil {
		panic(err)
	}
	return e
}

// append stores events on an aggregate ("platform/acme") atomically and
// returns their records.
func (l *ledger) append(subject string, events ...domain.Event) []eventstore.Record {
	l.t.Helper()
	agg, err := domain.ParseAggregate(subject)
	if err != nil {
		l.t.Fatal(err)
	}
	for i := range events {
		l.n++
		events[i].ID = fmt.Sprintf("ev-%05d", l.n)
		events[i].Subject = subject
	}
	recs, err := l.store.Append(context.Background(), agg, l.versions[agg], events...)
	if err != nil {
		l.t.Fatalf("append to %s: %v", subject, err)
	}
	l.versions[agg] += uint64(len(events))
	return recs
}

func ptime(t time.Time) *time.Time { return &t }

func baseLicense(id, edition string, sockets int, issued time.Time, years int) domain.License {
	l := domain.License{ID: id, Kind: domain.KindBase, Edition: edition, Sockets: sockets, IssuedAt: issued}
	if years > 0 {
		l.ExpiresAt = ptime(issued.AddDate(years, 0, 0))
	}
	return l
}

func plusLicense(id, module string, qty int, issued time.Time, years int) domain.License {
	l := domain.License{ID: id, Kind: domain.KindPlus, Module: module, Quantity: qty, IssuedAt: issued}
	if years > 0 {
		l.ExpiresAt = ptime(issued.AddDate(years, 0, 0))
	}
	return l
}

// history appends a varied history over two platforms and a coupon:
// a bundle upload, key insertions carrying licenses, supersession,
// deletion, key pulls and re-insertion, hosts, nodes and a rejected
// upload. It returns the number of events.
func history(l *ledger) int {
	l.t.Helper()
	start := l.n
	l.append("platform/acme", ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1"}, RequestCode: "RC-7F3A"}))
	l.append("platform/acme",
		ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceRequestCode, Bundle: "B-1", Digest: "d1",
			License: baseLicense("L-1", domain.EditionEnterprise, 16, t0, 1)}),
		ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceRequestCode, Bundle: "B-1", Digest: "d1",
			License: plusLicense("L-2", "vmware", 8, t0, 1)}))
	l.append("platform/beta", ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"n1", "n2"}}))
	l.append("platform/acme", ev(domain.EventUSBKeyInserted, domain.USBKeyInserted{Node: "mn-1", KeyID: "K-1",
		Licenses: []domain.License{baseLicense("L-100", domain.EditionStandard, 8, t0, 2), plusLicense("L-101", "cdp", 0, t0, 2)}}))
	l.append("platform/acme", ev(domain.EventHostAdded, domain.HostAdded{Host: "h-1", Hypervisor: domain.HypervisorKVM, Sockets: 2}))
	l.append("platform/acme", ev(domain.EventPlatformNodeAdded, domain.NodeChanged{Node: "mn-2"}))
	l.append("coupon/SPRING", ev("coupon.created", map[string]any{"partner": "p-1", "discount_percent": 10, "limit": 5}))
	l.append("platform/acme", ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceRequestCode, Digest: "d2",
		License: plusLicense("L-3", "vmware", 4, t0.Add(time.Hour), 1)}))
	l.append("platform/beta", ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceRequestCode, Digest: "d3",
		License: baseLicense("L-B1", domain.EditionCommunity, 0, t0, 0)}))
	l.append("platform/acme", ev(domain.EventLicenseDeleted, domain.LicenseDeleted{License: "L-3"}))
	l.append("platform/acme", ev(domain.EventLicenseUploadRejected, domain.LicenseUploadRejected{Digest: "d4", Code: domain.EFORBIDDEN,
		Reason: "wrong-request-code", Message: "license L-9 is issued for request code RC-0000, not this platform's RC-7F3A", Actor: "admin"}))
	l.clock.Set(t0.AddDate(0, 1, 0))
	l.append("platform/acme", ev(domain.EventUSBKeyRemoved, domain.USBKeyRemoved{Node: "mn-1", KeyID: "K-1"}))
	l.clock.Set(t0.AddDate(0, 2, 0))
	l.append("platform/acme", ev(domain.EventUSBKeyInserted, domain.USBKeyInserted{Node: "mn-2", KeyID: "K-1",
		Licenses: []domain.License{baseLicense("L-100", domain.EditionStandard, 8, t0, 2), plusLicense("L-101", "cdp", 0, t0, 2)}}))
	l.append("platform/acme", ev(domain.EventHostRemoved, domain.HostRemoved{Host: "h-1"}))
	return l.n - start
}

// openDB opens a fresh projections database in the test's directory.
func openDB(t testing.TB, name string) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatalf("open projections: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// catchUp applies the whole log to db and returns the sequence reached.
func catchUp(t testing.TB, db *DB, log Log, projs ...Projection) uint64 {
	t.Helper()
	seq, err := NewRunner(db, log, discard(), projs...).CatchUp(context.Background(), 0, nil)
	if err != nil {
		t.Fatalf("catch up: %v", err)
	}
	return seq
}

func mustDigests(t testing.TB, db *DB) (uint64, []TableDigest) {
	t.Helper()
	seq, ds, err := db.Digests(context.Background())
	if err != nil {
		t.Fatalf("digests: %v", err)
	}
	return seq, ds
}

// assertSameAsRebuild checks that db holds exactly what a fresh Build of
// log yields, table by table (R32); what names db in the failure.
func assertSameAsRebuild(t *testing.T, db *DB, log Log, what string) {
	t.Helper()
	built, _, err := Build(context.Background(), log, filepath.Join(t.TempDir(), "rebuilt.db"), 0, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()
	_, a := mustDigests(t, db)
	_, b := mustDigests(t, built)
	if got, want := digestString(a), digestString(b); got != want {
		t.Errorf("%s differs from a rebuild:\n%s\n%s", what, got, want)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func (l *ledger) lastSeq() uint64 {
	l.t.Helper()
	seq, err := l.store.LastSeq(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	return seq
}
