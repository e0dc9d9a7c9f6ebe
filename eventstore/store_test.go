package eventstore_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/oklog/ulid/v2"
)

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)

// R33: every event is stamped with the envelope, its version and the
// digest of the aggregate's previous event; Load returns exactly what
// Append returned.
func testAppendLoadRoundTrip(t *testing.T, be backend) {
	clk := eventstoretest.NewClock(t0)
	s := be.open(t, eventstoretest.WithClock(clk.Now))
	agg := platform("acme")

	first := mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))
	clk.Set(t0.Add(time.Minute))
	batch := mustAppend(t, s, agg, 1, hostAdded(t, agg, "h-2"), hostAdded(t, agg, "h-3"))
	appended := append(first, batch...)

	got := mustLoad(t, s, agg)
	if !reflect.DeepEqual(got, appended) {
		t.Fatalf("Load returned\n%+v\nwant what Append returned\n%+v", got, appended)
	}
	for i, r := range got {
		e := r.Event
		wantTime := t0
		if i > 0 {
			wantTime = t0.Add(time.Minute)
		}
		wantPrev := ""
		if i > 0 {
			wantPrev = domain.Digest(got[i-1].Raw)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"seq", r.Seq, uint64(i + 1)},
			{"specversion", e.SpecVersion, domain.SpecVersion},
			{"source", e.Source, eventstore.DefaultSource},
			{"subject", e.Subject, "platform/acme"},
			{"type", e.Type, domain.EventHostAdded},
			{"time", e.Time, wantTime},
			{"aggregateversion", e.AggregateVersion, uint64(i + 1)},
			{"prevdigest", e.PrevDigest, wantPrev},
			{"schemaversion", e.SchemaVersion, domain.SchemaVersion},
		}
		for _, c := range checks {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("event %d %s = %v, want %v", i+1, c.name, c.got, c.want)
			}
		}
		id, err := ulid.ParseStrict(e.ID)
		if err != nil {
			t.Errorf("event %d id %q is not a ULID: %v", i+1, e.ID, err)
		} else if got, want := ulid.Time(id.Time()), wantTime.Truncate(time.Millisecond); !got.Equal(want) {
			t.Errorf("event %d id time = %v, want the ledger time %v", i+1, got, want)
		}
		canon, err := e.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Raw) != string(canon) {
			t.Errorf("event %d stored bytes are not canonical:\n got %s\nwant %s", i+1, r.Raw, canon)
		}
	}
	if rep := mustVerify(t, s); !rep.OK() {
		t.Errorf("Verify of a clean log found problems: %+v", rep.Problems)
	}
}

func testLoadUnknownAggregateIsEmpty(t *testing.T, be backend) {
	s := be.open(t)
	mustAppend(t, s, platform("other"), 0, hostAdded(t, platform("other"), "h-1"))
	if got := mustLoad(t, s, platform("nobody")); len(got) != 0 {
		t.Fatalf("Load of an aggregate with no events = %d records, want 0", len(got))
	}
}

// A stale expected version is a conflict and stores nothing.
func testAppendConflictOnStaleVersion(t *testing.T, be backend) {
	s := be.open(t)
	agg := platform("acme")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))
	mustAppend(t, s, agg, 1, hostAdded(t, agg, "h-2"))

	tests := []struct {
		name     string
		expected uint64
		events   int
	}{
		{"brand-new expected, aggregate exists", 0, 1},
		{"behind", 1, 1},
		{"ahead", 5, 1},
		{"batch behind", 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mustLastSeq(t, s)
			events := make([]domain.Event, tt.events)
			for i := range events {
				events[i] = hostAdded(t, agg, "h-x")
			}
			_, err := s.Append(testCtx(t), agg, tt.expected, events...)
			wantCode(t, err, domain.ECONFLICT, "concurrent-update")
			if got := mustLastSeq(t, s); got != before {
				t.Errorf("last seq after a refused append = %d, want %d (nothing stored)", got, before)
			}
		})
	}
	if got := len(mustLoad(t, s, agg)); got != 2 {
		t.Fatalf("aggregate has %d events, want 2", got)
	}
}

// A conflict found only by the server (another process appended, so this
// store's cache is stale) is still ECONFLICT, and the next append with the
// right version succeeds and chains onto the other process's event.
func testAppendStaleCacheConflictsThenChains(t *testing.T, be backend) {
	a := be.open(t)
	b := be.peer(t, a)
	agg := platform("acme")

	mustAppend(t, a, agg, 0, hostAdded(t, agg, "h-1")) // a caches version 1
	mustAppend(t, b, agg, 1, hostAdded(t, agg, "h-2")) // behind a's back

	_, err := a.Append(testCtx(t), agg, 1, hostAdded(t, agg, "h-3"))
	wantCode(t, err, domain.ECONFLICT, "concurrent-update")
	recs := mustAppend(t, a, agg, 2, hostAdded(t, agg, "h-3"))

	history := mustLoad(t, b, agg)
	if got, want := recs[0].Event.PrevDigest, domain.Digest(history[1].Raw); got != want {
		t.Fatalf("prevdigest = %s, want digest of b's event %s", got, want)
	}

	// The same for an atomic batch: the server refuses the whole batch.
	mustAppend(t, b, agg, 3, hostAdded(t, agg, "h-4"))
	before := mustLastSeq(t, a)
	_, err = a.Append(testCtx(t), agg, 3, hostAdded(t, agg, "h-5"), hostAdded(t, agg, "h-6"))
	wantCode(t, err, domain.ECONFLICT, "concurrent-update")
	if got := mustLastSeq(t, a); got != before {
		t.Fatalf("last seq = %d, want %d: part of a refused batch was stored", got, before)
	}
	mustAppend(t, a, agg, 4, hostAdded(t, agg, "h-5"), hostAdded(t, agg, "h-6"))
	if rep := mustVerify(t, a); !rep.OK() {
		t.Fatalf("Verify: %+v", rep.Problems)
	}
}

// A retried append (same event ids) returns the stored records and stores
// nothing, for one event and for a batch, even after the aggregate moved on.
func testAppendIdempotentRetry(t *testing.T, be backend) {
	s := be.open(t)
	agg := platform("acme")
	withID := func(id, host string) domain.Event {
		e := hostAdded(t, agg, host)
		e.ID = id
		return e
	}

	single := mustAppend(t, s, agg, 0, withID("01J00000000000000000000001", "h-1"))
	batch := mustAppend(t, s, agg, 1, withID("01J00000000000000000000002", "h-2"), withID("01J00000000000000000000003", "h-3"))
	lastSeq := mustLastSeq(t, s)

	tests := []struct {
		name     string
		expected uint64
		events   []domain.Event
		want     []eventstore.Record
	}{
		{"single, same version", 0, []domain.Event{withID("01J00000000000000000000001", "h-1")}, single},
		{"batch, same version", 1, []domain.Event{withID("01J00000000000000000000002", "h-2"), withID("01J00000000000000000000003", "h-3")}, batch},
		{"single, current version", 3, []domain.Event{withID("01J00000000000000000000001", "h-1")}, single},
		{"batch, current version", 3, []domain.Event{withID("01J00000000000000000000002", "h-2"), withID("01J00000000000000000000003", "h-3")}, batch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Append(testCtx(t), agg, tt.expected, tt.events...)
			if err != nil {
				t.Fatalf("retried append: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("retried append returned\n%+v\nwant the stored\n%+v", got, tt.want)
			}
			if got := mustLastSeq(t, s); got != lastSeq {
				t.Fatalf("last seq = %d after a retry, want %d (stored once)", got, lastSeq)
			}
		})
	}

	// Ids that match only part of a stored batch are not a retry.
	_, err := s.Append(testCtx(t), agg, 1, withID("01J00000000000000000000002", "h-2"), withID("01J00000000000000000000009", "h-9"))
	wantCode(t, err, domain.ECONFLICT, "concurrent-update")
}

// R10: a batch is stored all or none.
func testAppendBatchIsAtomic(t *testing.T, be backend) {
	s := be.open(t)
	agg := platform("acme")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))
	before := mustLastSeq(t, s)

	badData := hostAdded(t, agg, "h-3")
	badData.Data = []byte(`{"host":`)
	tests := []struct {
		name     string
		expected uint64
		events   []domain.Event
		code     string
	}{
		{"stale version", 0, []domain.Event{hostAdded(t, agg, "h-2"), hostAdded(t, agg, "h-3"), hostAdded(t, agg, "h-4")}, domain.ECONFLICT},
		{"one event invalid", 1, []domain.Event{hostAdded(t, agg, "h-2"), badData}, domain.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(testCtx(t), agg, tt.expected, tt.events...)
			wantCode(t, err, tt.code, "")
			if got := mustLastSeq(t, s); got != before {
				t.Fatalf("last seq = %d, want %d: part of a refused batch was stored", got, before)
			}
		})
	}

	// A batch that commits is stored at consecutive sequences, in order.
	recs := mustAppend(t, s, agg, 1, hostAdded(t, agg, "h-2"), hostAdded(t, agg, "h-3"), hostAdded(t, agg, "h-4"))
	got := mustLoad(t, s, agg)
	if !reflect.DeepEqual(got[1:], recs) {
		t.Fatalf("stored batch\n%+v\nwant\n%+v", got[1:], recs)
	}
}

func testAppendBadInput(t *testing.T, be backend) {
	s := be.open(t)
	agg := platform("acme")
	ev := func(f func(*domain.Event)) []domain.Event {
		e := hostAdded(t, agg, "h-1")
		f(&e)
		return []domain.Event{e}
	}
	tooMany := make([]domain.Event, eventstore.MaxBatch+1)
	for i := range tooMany {
		tooMany[i] = hostAdded(t, agg, "h")
	}
	twice := append(ev(func(e *domain.Event) { e.ID = "01J00000000000000000000001" }), ev(func(e *domain.Event) { e.ID = "01J00000000000000000000001" })...)

	tests := []struct {
		name   string
		agg    domain.Aggregate
		events []domain.Event
	}{
		{"no events", agg, nil},
		{"unknown kind", domain.Aggregate{Kind: "planet", ID: "x"}, ev(func(*domain.Event) {})},
		{"id with a dot", domain.Aggregate{Kind: domain.KindPlatform, ID: "a.b"}, ev(func(*domain.Event) {})},
		{"id with a wildcard", domain.Aggregate{Kind: domain.KindPlatform, ID: "*"}, ev(func(*domain.Event) {})},
		{"event for another aggregate", agg, ev(func(e *domain.Event) { e.Subject = "platform/other" })},
		{"no type", agg, ev(func(e *domain.Event) { e.Type = "" })},
		{"data not JSON", agg, ev(func(e *domain.Event) { e.Data = []byte("{") })},
		{"event id with a newline", agg, ev(func(e *domain.Event) { e.ID = "a\nb" })},
		{"same id twice", agg, twice},
		{"too many events", agg, tooMany},
		{"too large", agg, ev(func(e *domain.Event) { e.Data = mustJSON(t, strings.Repeat("x", 2<<20)) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(testCtx(t), tt.agg, 0, tt.events...)
			wantCode(t, err, domain.EINVALID, "")
		})
	}
	if got := mustLastSeq(t, s); got != 0 {
		t.Fatalf("last seq = %d, want 0: bad input was stored", got)
	}
}

// R32 relies on ledger time never going backwards within an aggregate:
// when the clock goes back, the store stamps the last event's time and
// logs the skew.
func TestTimeNeverGoesBackwards(t *testing.T) {
	t.Parallel()
	clk := eventstoretest.NewClock(t0)
	var logs eventstoretest.SyncBuffer
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clk.Now), eventstoretest.WithLogger(bufferLogger(&logs)))
	agg := platform("acme")

	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))
	clk.Set(t0.Add(-time.Hour))
	back := mustAppend(t, s, agg, 1, hostAdded(t, agg, "h-2"))
	if got := back[0].Event.Time; !got.Equal(t0) {
		t.Fatalf("time after the clock went back = %v, want the last event's %v", got, t0)
	}
	if !strings.Contains(logs.String(), "clock is behind") {
		t.Fatalf("the skew was not logged; log:\n%s", logs.String())
	}

	// The same holds with a cold cache (a restarted process).
	dir := t.TempDir()
	s1 := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir), eventstoretest.WithClock(clk.Now))
	clk.Set(t0)
	mustAppend(t, s1, agg, 0, hostAdded(t, agg, "h-1"))
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(-time.Hour))
	s2 := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir), eventstoretest.WithClock(clk.Now))
	if got := mustAppend(t, s2, agg, 1, hostAdded(t, agg, "h-2"))[0].Event.Time; !got.Equal(t0) {
		t.Fatalf("time after restart with the clock back = %v, want %v", got, t0)
	}
}

// The store keeps working across a restart: the log, the chain and the
// append cache all come back from disk.
func TestReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	agg := platform("acme")
	s1 := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir))
	mustAppend(t, s1, agg, 0, hostAdded(t, agg, "h-1"), hostAdded(t, agg, "h-2"))

	// Only one process may own a data directory.
	_, err := eventstore.Open(testCtx(t), eventstore.Config{DataDir: dir})
	wantCode(t, err, domain.ECONFLICT, "data-dir-in-use")

	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir))
	mustAppend(t, s2, agg, 2, hostAdded(t, agg, "h-3"))
	if got := len(mustLoad(t, s2, agg)); got != 3 {
		t.Fatalf("after reopen the aggregate has %d events, want 3", got)
	}
	if rep := mustVerify(t, s2); !rep.OK() {
		t.Fatalf("Verify after reopen: %+v", rep.Problems)
	}
}

// SyncAlways (fsync before every acknowledgement) is a server option of
// the embedded store; appends and reopening work the same under it.
func TestSyncAlways(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	agg := platform("acme")
	syncAlways := eventstoretest.WithConfig(func(c *eventstore.Config) { c.SyncAlways = true })
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir), syncAlways)
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"), hostAdded(t, agg, "h-2"))
	mustAppend(t, s, agg, 2, hostAdded(t, agg, "h-3"))
	mustDo(t, s.Close())
	s = eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir), syncAlways)
	if got := len(mustLoad(t, s, agg)); got != 3 {
		t.Fatalf("%d events after reopen, want 3", got)
	}
}

// R31: the ledger never deletes, and by default the stream refuses
// deletes and purges from anyone.
func testStreamRefusesDeletes(t *testing.T, be backend) {
	s := be.open(t)
	agg := platform("acme")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))
	stream, err := s.JetStream().Stream(testCtx(t), s.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteMsg(testCtx(t), 1); err == nil {
		t.Error("DeleteMsg succeeded on the ledger stream, want it refused")
	}
	if err := stream.Purge(testCtx(t)); err == nil {
		t.Error("Purge succeeded on the ledger stream, want it refused")
	}
	if got := len(mustLoad(t, s, agg)); got != 1 {
		t.Fatalf("aggregate has %d events, want 1", got)
	}
}

func TestOpenBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  eventstore.Config
	}{
		{"no data dir nor URL", eventstore.Config{}},
		{"stream name with a dot", eventstore.Config{DataDir: t.TempDir(), Stream: "A.B"}},
		{"bad listen address", eventstore.Config{DataDir: t.TempDir(), Listen: "nonsense"}},
		{"replicas without a cluster", eventstore.Config{DataDir: t.TempDir(), Replicas: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := eventstore.Open(testCtx(t), tt.cfg)
			if err == nil {
				s.Close()
			}
			wantCode(t, err, domain.EINVALID, "")
		})
	}
}

// Listen exposes the embedded server to other NATS clients (e.g. `audit
// verify --nats`), which see the same log. Without users they must be
// local and may only read (auth_test.go has the rest).
func TestListenServesOtherClients(t *testing.T) {
	t.Parallel()
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithConfig(func(c *eventstore.Config) { c.Listen = "127.0.0.1:0" }))
	agg := platform("acme")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))
	url := s.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q, want a local nats:// URL", url)
	}
	other := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), eventstoretest.WithConfig(func(c *eventstore.Config) { c.ReadOnly = true }))
	if got := len(mustLoad(t, other, agg)); got != 1 {
		t.Fatalf("other client sees %d events, want 1", got)
	}
}

func TestDecodeErrorUnwraps(t *testing.T) {
	t.Parallel()
	inner := domain.Errorf(domain.EINVALID, "bad")
	err := error(&eventstore.DecodeError{Seq: 7, Subject: "ledger.platform.x", Err: inner})
	if !errors.Is(err, inner) || domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("DecodeError does not unwrap to its cause: %v", err)
	}
	if !strings.Contains(err.Error(), "7") {
		t.Fatalf("DecodeError message %q does not name the sequence", err)
	}
}

// A ReadOnly store reads an existing ledger and changes nothing: no
// appends, no stream created or reconfigured.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	agg := platform("acme")
	_, err := eventstore.Open(testCtx(t), eventstore.Config{DataDir: dir, ReadOnly: true})
	wantCode(t, err, domain.ENOTFOUND, "")

	s := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir), eventstoretest.Mutable())
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))
	mustDo(t, s.Close())

	ro := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir), eventstoretest.WithConfig(func(c *eventstore.Config) { c.ReadOnly = true }))
	if got := len(mustLoad(t, ro, agg)); got != 1 {
		t.Fatalf("read-only Load = %d events, want 1", got)
	}
	_, err = ro.Append(testCtx(t), agg, 1, hostAdded(t, agg, "h-2"))
	wantCode(t, err, domain.EFORBIDDEN, "")
	stream, err := ro.JetStream().Stream(testCtx(t), ro.StreamName())
	mustDo(t, err)
	if cfg := stream.CachedInfo().Config; cfg.DenyDelete {
		t.Fatal("opening read-only reconfigured the stream (DenyDelete turned on)")
	}
}

func testVersion(t *testing.T, be backend) {
	s := be.open(t)
	agg := platform("acme")
	tests := []struct {
		name   string
		append int
		want   uint64
	}{
		{"brand new", 0, 0},
		{"one event", 1, 1},
		{"after a batch", 3, 4},
	}
	var v uint64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.append > 0 {
				events := make([]domain.Event, tt.append)
				for i := range events {
					events[i] = hostAdded(t, agg, "h")
				}
				mustAppend(t, s, agg, v, events...)
				v += uint64(tt.append)
			}
			got, err := s.Version(testCtx(t), agg)
			mustDo(t, err)
			if got != tt.want {
				t.Fatalf("Version = %d, want %d", got, tt.want)
			}
		})
	}
	_, err := s.Version(testCtx(t), domain.Aggregate{Kind: "nope", ID: "x"})
	wantCode(t, err, domain.EINVALID, "")
}

// A caller-set event id that another event already carries is refused,
// alone or in a batch, and nothing is stored.
func testAppendDuplicateIDElsewhere(t *testing.T, be backend) {
	s := be.open(t)
	a, b := platform("a"), platform("b")
	e := hostAdded(t, a, "h-1")
	e.ID = "01J00000000000000000000001"
	mustAppend(t, s, a, 0, e)
	before := mustLastSeq(t, s)

	reuse := hostAdded(t, b, "h-1")
	reuse.ID = e.ID
	tests := []struct {
		name   string
		events []domain.Event
	}{
		{"single", []domain.Event{reuse}},
		{"in a batch", []domain.Event{hostAdded(t, b, "h-0"), reuse}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(testCtx(t), b, 0, tt.events...)
			wantCode(t, err, domain.EINVALID, "duplicate-id")
			if got := mustLastSeq(t, s); got != before {
				t.Fatalf("last seq = %d, want %d", got, before)
			}
		})
	}
}
