package projections

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// The read models of the test history, as golden files: the license
// inventory with provenance and each license's standing in precedence as
// the domain decides it (R13, R14 deleted licenses take no part), USB key
// insertions per node, the timeline, and the platform row.
func TestReadModelsGolden(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	history(l)
	db := openDB(t, "p.db")
	catchUp(t, db, l.store)
	ctx := context.Background()
	q := NewQueries(db)

	lics, err := db.Licenses(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "acme_licenses.json", mustJSON(t, lics))

	// R13: L-3 (vmware) superseded L-2, then was deleted (R14), so L-2 is
	// current again; the key's re-insertion made L-100 the latest Base.
	state := map[string]string{}
	for _, lic := range lics {
		state[lic.ID] = lic.State
	}
	for id, want := range map[string]string{"L-1": LicenseSuperseded, "L-2": LicenseCurrent, "L-3": LicenseDeleted, "L-100": LicenseCurrent, "L-101": LicenseCurrent} {
		if got := state[id]; got != want {
			t.Errorf("license %s state = %q, want %q", id, got, want)
		}
	}

	keys, err := q.USBKeys(ctx, "acme", t0.AddDate(0, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "acme_usb_keys.json", mustJSON(t, keys))
	if got, want := keys.Status.State, domain.KeyStateReady; got != want {
		t.Errorf("key state = %q, want %q", got, want)
	}

	tl, err := db.Timeline(ctx, "acme", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "acme_timeline.json", mustJSON(t, tl))
	page, err := db.Timeline(ctx, "acme", 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Version != 4 || page[1].Version != 5 {
		t.Errorf("timeline page after 3, limit 2 = %+v, want versions 4 and 5", page)
	}

	p, err := db.GetPlatform(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "acme_platform.json", mustJSON(t, p))

	for _, id := range []string{"nope"} {
		if _, err := db.Licenses(ctx, id); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Errorf("Licenses(%q) error = %v, want not_found", id, err)
		}
		if _, err := q.Entitlement(ctx, id, t0); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Errorf("Entitlement(%q) error = %v, want not_found", id, err)
		}
	}
}

// The events index returns every event by id, exactly as stored.
func TestEventByID(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	history(l)
	db := openDB(t, "p.db")
	catchUp(t, db, l.store)
	ctx := context.Background()
	for rec, err := range l.store.Read(ctx, 1) {
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Event(ctx, rec.Event.ID)
		if err != nil {
			t.Fatalf("Event(%s): %v", rec.Event.ID, err)
		}
		if got.Seq != rec.Seq || !bytes.Equal(got.Raw, rec.Raw) {
			t.Errorf("Event(%s) = seq %d %s, want seq %d %s", rec.Event.ID, got.Seq, got.Raw, rec.Seq, rec.Raw)
		}
	}
	if _, err := db.Event(ctx, "missing"); domain.ErrorCode(err) != domain.ENOTFOUND || domain.ErrorReason(err) != domain.ReasonUnknownEvent {
		t.Errorf("Event(missing) error = %v, want not_found unknown-event", err)
	}
}

// R32: the entitlement served from the projections equals, byte for byte,
// what `licledger replay` prints for the same history: the domain's
// PlatformAsOf + PlatformEntitlement + MarshalEntitlement over the log, at
// every event's instant, just before and after it, and long after (where
// the cached latest state answers).
func TestEntitlementEqualsReplay(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	history(l)
	db := openDB(t, "p.db")
	catchUp(t, db, l.store)
	ctx := context.Background()
	var log []domain.Event
	var seqs []uint64
	for rec, err := range l.store.Read(ctx, 1) {
		if err != nil {
			t.Fatal(err)
		}
		log, seqs = append(log, rec.Event), append(seqs, rec.Seq)
	}
	// replay is what `licledger replay` prints of an export: the
	// entitlement with its log position, the last event of id at or
	// before at.
	replay := func(id string, at time.Time) []byte {
		t.Helper()
		st, err := domain.PlatformAsOf(log, id, at)
		if err != nil {
			t.Fatal(err)
		}
		ent := domain.PlatformEntitlement(st, at)
		ent.AsOf = domain.Position(at, 0)
		byID := map[string]uint64{}
		for i, e := range log {
			if e.Subject == "platform/"+id && !e.Time.After(at) {
				ent.AsOf.Seq = seqs[i]
			}
			byID[e.ID] = seqs[i]
		}
		ent.SetSeqs(byID)
		want, err := domain.MarshalEntitlement(ent)
		if err != nil {
			t.Fatal(err)
		}
		return want
	}
	var instants []time.Time
	for _, e := range log {
		instants = append(instants, e.Time.Add(-time.Nanosecond), e.Time, e.Time.Add(30*time.Second))
	}
	instants = append(instants, t0.AddDate(0, 6, 0), t0.AddDate(1, 0, 1), t0.AddDate(5, 0, 0))
	q := NewQueries(db)
	for _, id := range []string{"acme", "beta"} {
		// Twice: the second round is served from the cache.
		for round := 0; round < 2; round++ {
			for _, at := range instants {
				want := replay(id, at)
				got, err := q.Entitlement(ctx, id, at)
				if err != nil {
					t.Fatalf("Entitlement(%s, %s): %v", id, at, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("Entitlement(%s, %s) differs from replay:\ngot:\n%s\nwant:\n%s", id, at.Format(time.RFC3339Nano), got, want)
				}
			}
		}
	}
	// The cache follows new events: a later event changes "now".
	l.clock.Set(t0.AddDate(0, 4, 0))
	l.append("platform/acme", ev(domain.EventUSBKeyRemoved, domain.USBKeyRemoved{Node: "mn-2", KeyID: "K-1"}))
	catchUp(t, db, l.store)
	log, seqs = nil, nil
	for rec, err := range l.store.Read(ctx, 1) {
		if err != nil {
			t.Fatal(err)
		}
		log, seqs = append(log, rec.Event), append(seqs, rec.Seq)
	}
	at := t0.AddDate(0, 4, 1)
	want := replay("acme", at)
	got, err := q.Entitlement(ctx, "acme", at)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("after a new event, Entitlement differs from replay:\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// R32: rebuilding twice gives identical table digests, and a rebuild
// equals the database built incrementally, in small batches across
// several catch-ups with events appended in between.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	inc := openDB(t, "incremental.db")
	step := func() {
		r := NewRunner(inc, l.store, discard())
		r.BatchSize = 3
		if _, err := r.CatchUp(ctx, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	l.append("platform/acme", ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1"}, RequestCode: "RC-0"}))
	step()
	history(l)
	step()
	l.append("platform/acme", ev(domain.EventPlatformNodeRemoved, domain.NodeChanged{Node: "mn-1"}))
	step()

	dir := t.TempDir()
	a, seqA, err := Build(ctx, l.store, filepath.Join(dir, "a.db"), 0, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, seqB, err := Build(ctx, l.store, filepath.Join(dir, "b.db"), 0, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	seqI, di := mustDigests(t, inc)
	_, da := mustDigests(t, a)
	_, dbb := mustDigests(t, b)
	if seqA != seqB || seqA != seqI {
		t.Fatalf("sequences differ: rebuild %d, %d, incremental %d", seqA, seqB, seqI)
	}
	if got, want := digestString(da), digestString(dbb); got != want {
		t.Errorf("two rebuilds differ:\n%s\n%s", got, want)
	}
	if got, want := digestString(di), digestString(da); got != want {
		t.Errorf("incremental differs from rebuild:\n%s\n%s", got, want)
	}
	for _, d := range da {
		if d.Table == "events" && d.Rows != int64(seqA) {
			t.Errorf("events table has %d rows, want %d", d.Rows, seqA)
		}
	}
}

// R32: Verify reports a clean database as clean, and a tampered one with
// the table and rows that differ.
func TestVerify(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	history(l)
	live := openDB(t, "live.db")
	catchUp(t, live, l.store)
	ctx := context.Background()
	rep, err := Verify(ctx, live, l.store, t.TempDir(), discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean || rep.Seq != l.lastSeq() {
		t.Fatalf("Verify = %+v, want clean at the head", rep)
	}
	if _, err := live.w.Exec(`UPDATE licenses SET quantity = 99 WHERE license = 'L-2'`); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(ctx, live, l.store, t.TempDir(), discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	diffs := rep.Differences()
	if rep.Clean || len(diffs) != 1 || diffs[0].Table != "licenses" {
		t.Fatalf("Verify after tampering: clean=%v differences=%+v, want licenses only", rep.Clean, diffs)
	}
	if len(diffs[0].OnlyLive) != 1 || len(diffs[0].OnlyRebuilt) != 1 {
		t.Errorf("differing rows: live %q rebuilt %q, want one each", diffs[0].OnlyLive, diffs[0].OnlyRebuilt)
	}
	// An empty log verifies too.
	empty := newLedger(t)
	edb := openDB(t, "empty.db")
	catchUp(t, edb, empty.store)
	if rep, err := Verify(ctx, edb, empty.store, t.TempDir(), discard(), nil); err != nil || !rep.Clean {
		t.Errorf("Verify on an empty log = %+v, %v; want clean", rep, err)
	}
}

// Rebuild refuses while the database is open (a running server), and
// otherwise swaps in a complete rebuild, even over a database with a
// leftover WAL.
func TestRebuildSwap(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	history(l)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "projections.db")
	live, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	catchUp(t, live, l.store)
	if _, err := Rebuild(ctx, l.store, path, discard(), nil); domain.ErrorReason(err) != "projections-in-use" {
		t.Fatalf("Rebuild while open: error %v, want projections-in-use", err)
	}
	if _, err := live.w.Exec(`DELETE FROM events`); err != nil {
		t.Fatal(err)
	}
	live.Close()
	if err := os.WriteFile(path+".rebuild", []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls int
	res, err := Rebuild(ctx, l.store, path, discard(), func(done, total uint64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq != l.lastSeq() || calls == 0 {
		t.Errorf("Rebuild = %+v after %d progress calls, want the head and some progress", res, calls)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tl, err := db.Timeline(ctx, "acme", 0, 0)
	if err != nil || len(tl) == 0 {
		t.Errorf("timeline after rebuild: %d entries, %v; want the rebuilt rows", len(tl), err)
	}
	if _, err := os.Stat(path + ".rebuild"); !os.IsNotExist(err) {
		t.Errorf("rebuild left %s.rebuild behind", path)
	}
}

// A database written by a newer build is refused rather than misread.
func TestMigrationsRefuseNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec(`INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, path); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("Open on a newer schema: %v, want invalid", err)
	}
}

// A database from before migration 0003 held the timeline as a table with
// its own checkpoint and poison rows; opening it drops all three, the
// timeline is then read from the events index, and the database equals a
// fresh rebuild (R32).
func TestMigrationTimelineFromEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	history(l)
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite3", dsn(path, modeWrite))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:2] {
		if _, err := old.Exec(m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := old.Exec(`INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO timeline VALUES ('acme', 1, 1, 'e1', '2026-01-01T00:00:00.000000000Z', 't', 's', 'old summary')`,
		`INSERT INTO checkpoints VALUES ('timeline', 1)`,
		`INSERT INTO poison VALUES (1, 'timeline', 'old poison')`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.w.QueryRow(`SELECT
		(SELECT COUNT(*) FROM sqlite_schema WHERE name = 'timeline') +
		(SELECT COUNT(*) FROM checkpoints WHERE name = 'timeline') +
		(SELECT COUNT(*) FROM poison WHERE projection = 'timeline')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d timeline table, checkpoint or poison rows left after migration 0003", n)
	}
	catchUp(t, db, l.store)
	tl, err := db.Timeline(ctx, "acme", 0, 0)
	if err != nil || len(tl) == 0 || tl[0].Summary == "old summary" {
		t.Errorf("timeline after migration = %+v, %v; want the events' summaries", tl, err)
	}
	assertSameAsRebuild(t, db, l.store, "the migrated database")
}
