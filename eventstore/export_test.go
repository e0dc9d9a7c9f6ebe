package eventstore_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// seedExportLog is seedLog plus an event whose data needs escaping (the
// general encoder's path) and a coupon: sequences 1..7.
func seedExportLog(t *testing.T) *eventstore.Store {
	t.Helper()
	clk := eventstoretest.NewClock(t0)
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clk.Now))
	seedLog(t, s, clk)
	clk.Set(t0.Add(10 * time.Minute))
	sub := domain.Aggregate{Kind: domain.KindSubscription, ID: "sub-1"}
	mustAppend(t, s, sub, 1, domain.Event{Type: "subscription.renamed", Data: []byte(`{"name":"Ärger <&> \u2028 co"}`)})
	coupon := domain.Aggregate{Kind: domain.KindCoupon, ID: "c-1"}
	mustAppend(t, s, coupon, 0, domain.Event{Type: "coupon.issued", Data: []byte(`{}`)})
	return s
}

func mustExport(t *testing.T, s *eventstore.Store, f eventstore.ExportFilter) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.Export(testCtx(t), &buf, f, nil); err != nil {
		t.Fatalf("Export(%+v): %v", f, err)
	}
	return buf.Bytes()
}

func exportedSeqs(t *testing.T, out []byte) []uint64 {
	t.Helper()
	var got []uint64
	for i, line := range bytes.SplitAfter(out, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		rec, err := eventstore.DecodeExportLine(line)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		got = append(got, rec.Seq)
	}
	return got
}

func TestExportFilters(t *testing.T) {
	t.Parallel()
	s := seedExportLog(t)
	acme := platform("acme")
	sub := domain.Aggregate{Kind: domain.KindSubscription, ID: "sub-1"}
	tests := []struct {
		name string
		f    eventstore.ExportFilter
		want []uint64
	}{
		{"everything", eventstore.ExportFilter{}, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{"one kind", eventstore.ExportFilter{Kinds: []string{domain.KindPlatform}}, []uint64{1, 2, 3, 4}},
		{"two kinds", eventstore.ExportFilter{Kinds: []string{domain.KindSubscription, domain.KindCoupon}}, []uint64{5, 6, 7}},
		{"one aggregate", eventstore.ExportFilter{Aggregates: []domain.Aggregate{acme}}, []uint64{1, 3, 4}},
		{"aggregates, repeated", eventstore.ExportFilter{Aggregates: []domain.Aggregate{acme, sub, acme}}, []uint64{1, 3, 4, 5, 6}},
		{"aggregate of another kind", eventstore.ExportFilter{Kinds: []string{domain.KindCoupon}, Aggregates: []domain.Aggregate{acme}}, nil},
		{"aggregate and its kind", eventstore.ExportFilter{Kinds: []string{domain.KindPlatform}, Aggregates: []domain.Aggregate{acme, sub}}, []uint64{1, 3, 4}},
		{"sequence range", eventstore.ExportFilter{FromSeq: 3, ToSeq: 5}, []uint64{3, 4, 5}},
		{"resume past the end", eventstore.ExportFilter{FromSeq: 8}, nil},
		{"since (inclusive)", eventstore.ExportFilter{Since: t0.Add(2 * time.Minute)}, []uint64{3, 4, 5, 6, 7}},
		{"until (inclusive)", eventstore.ExportFilter{Until: t0.Add(time.Minute)}, []uint64{1, 2}},
		{"time window and kind", eventstore.ExportFilter{Kinds: []string{domain.KindSubscription}, Since: t0.Add(time.Minute), Until: t0.Add(5 * time.Minute)}, []uint64{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exportedSeqs(t, mustExport(t, s, tt.f))
			if !equalSeqs(got, tt.want) {
				t.Fatalf("exported sequences %v, want %v", got, tt.want)
			}
		})
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A line is the stored bytes with streamseq first, and decodes back to
// exactly the record Read yields.
func TestExportLineRoundTrip(t *testing.T) {
	t.Parallel()
	s := seedExportLog(t)
	recs, errs := readAll(t, s, 1)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, rec := range recs {
		line, err := eventstore.AppendExportLine(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"streamseq":`; !bytes.HasPrefix(line, []byte(want)) || !bytes.HasSuffix(line, []byte("}\n")) {
			t.Fatalf("line %q", line)
		}
		got, err := eventstore.DecodeExportLine(line)
		if err != nil {
			t.Fatalf("seq %d: %v", rec.Seq, err)
		}
		if got.Seq != rec.Seq || !bytes.Equal(got.Raw, rec.Raw) || got.Event.ID != rec.Event.ID || !bytes.Equal(got.Event.Data, rec.Event.Data) {
			t.Fatalf("seq %d decoded to %+v, want %+v", rec.Seq, got, rec)
		}
	}
}

func TestDecodeExportLineRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, line, want string }{
		{"not JSON", "hello", "does not start with"},
		{"no streamseq", `{"specversion":"1.0"}`, "does not start with"},
		{"streamseq not a number", `{"streamseq":"1","specversion":"1.0"}`, "not a stream sequence"},
		{"streamseq zero", `{"streamseq":0,"specversion":"1.0"}`, "not a stream sequence"},
		{"nothing after streamseq", `{"streamseq":3}`, "no attribute"},
		{"not an event", `{"streamseq":3,"specversion":"1.0"}`, "no id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := eventstore.DecodeExportLine([]byte(tt.line))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// Export, import into an empty store, export again: the same bytes, and the
// imported log verifies.
func TestExportImportExportIsByteIdentical(t *testing.T) {
	t.Parallel()
	src := seedExportLog(t)
	first := mustExport(t, src, eventstore.ExportFilter{})

	dst := eventstoretest.MustOpenStore(t)
	st, err := dst.Import(testCtx(t), bytes.NewReader(first), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 7 || st.Aggregates != 4 || st.LastSeq != 7 || !st.SeqsKept {
		t.Fatalf("import stats %+v", st)
	}
	if again := mustExport(t, dst, eventstore.ExportFilter{}); !bytes.Equal(again, first) {
		t.Fatalf("export after import differs:\n%s\nwant\n%s", again, first)
	}
	if rep := mustVerify(t, dst); !rep.OK() || rep.Events != 7 {
		t.Fatalf("imported log: %+v", rep)
	}
	// The imported ledger goes on: Append chains onto the imported heads.
	acme := platform("acme")
	mustAppend(t, dst, acme, 3, hostAdded(t, acme, "h-4"))
	if rep := mustVerify(t, dst); !rep.OK() {
		t.Fatalf("after an append: %+v", rep.Problems)
	}

	// A second import into the now non-empty store is refused.
	_, err = dst.Import(testCtx(t), bytes.NewReader(first), nil)
	wantCode(t, err, domain.ECONFLICT, "")
}

func TestImportRefusesBadLines(t *testing.T) {
	t.Parallel()
	src := seedExportLog(t)
	export := mustExport(t, src, eventstore.ExportFilter{})
	lines := bytes.SplitAfter(export, []byte("\n"))[:7]
	edit := func(f func(l [][]byte) [][]byte) []byte {
		c := make([][]byte, len(lines))
		for i := range lines {
			c[i] = bytes.Clone(lines[i])
		}
		return bytes.Join(f(c), nil)
	}
	tests := []struct {
		name     string
		in       []byte
		wantLine uint64
		want     string
	}{
		{"edited data (acme v1, line 1; its successor is line 3)", edit(func(l [][]byte) [][]byte {
			l[0] = bytes.Replace(l[0], []byte(`"h-1"`), []byte(`"h-9"`), 1)
			return l
		}), 3, "line 1 or this line was altered"},
		{"garbage line", edit(func(l [][]byte) [][]byte { l[1] = []byte("not json\n"); return l }), 2, "not an export line"},
		{"line removed", edit(func(l [][]byte) [][]byte { return append(l[:2:2], l[3:]...) }), 3, "previous event (line 1) is version 1"},
		{"aggregate starts mid-chain", edit(func(l [][]byte) [][]byte { return l[2:] }), 1, "none of its earlier events"},
		{"lines swapped", edit(func(l [][]byte) [][]byte { l[0], l[1] = l[1], l[0]; return l }), 2, "not in stream order"},
		{"empty line", edit(func(l [][]byte) [][]byte { return append(l[:1:1], append([][]byte{[]byte("\n")}, l[1:]...)...) }), 2, "empty line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := eventstoretest.MustOpenStore(t)
			_, err := dst.Import(testCtx(t), bytes.NewReader(tt.in), nil)
			var ierr *eventstore.ImportError
			if !errors.As(err, &ierr) {
				t.Fatalf("error %v, want an *ImportError", err)
			}
			if ierr.Line != tt.wantLine || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want line %d and %q", err, tt.wantLine, tt.want)
			}
		})
	}
}

// AppendEncoded stores what it is given verbatim, only on the expected
// version and only when it extends the aggregate's chain.
func TestAppendEncoded(t *testing.T) {
	t.Parallel()
	src := seedExportLog(t)
	acme := mustLoad(t, src, platform("acme")) // versions 1, 2, 3
	raws := func(recs []eventstore.Record) [][]byte {
		out := make([][]byte, len(recs))
		for i, r := range recs {
			out[i] = r.Raw
		}
		return out
	}
	dst := eventstoretest.MustOpenStore(t)
	ctx := testCtx(t)
	tests := []struct {
		name     string
		expected uint64
		raws     [][]byte
		code     string
		reason   string
	}{
		{"not from the start", 0, raws(acme[1:2]), domain.EINVALID, domain.ReasonBrokenChain},
		{"stale expected version", 1, raws(acme[:1]), domain.ECONFLICT, domain.ReasonConcurrentUpdate},
		{"versions out of order", 0, [][]byte{acme[0].Raw, acme[2].Raw}, domain.EINVALID, domain.ReasonBrokenChain},
		{"another aggregate's events", 0, raws(mustLoad(t, src, platform("beta"))), domain.EINVALID, ""},
		{"not an event", 0, [][]byte{[]byte(`{"id":"x"}`)}, domain.EINVALID, ""},
		{"none", 0, nil, domain.EINVALID, ""},
	}
	for _, tt := range tests {
		_, err := dst.AppendEncoded(ctx, platform("acme"), tt.expected, tt.raws...)
		if err == nil {
			t.Fatalf("%s: stored", tt.name)
		}
		t.Run(tt.name, func(t *testing.T) { wantCode(t, err, tt.code, tt.reason) })
	}
	if n := mustLastSeq(t, dst); n != 0 {
		t.Fatalf("refused appends stored %d messages", n)
	}
	got, err := dst.AppendEncoded(ctx, platform("acme"), 0, raws(acme[:2])...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Seq != 2 || !bytes.Equal(got[1].Raw, acme[1].Raw) {
		t.Fatalf("stored %+v", got)
	}
	if _, err := dst.AppendEncoded(ctx, platform("acme"), 2, acme[2].Raw); err != nil {
		t.Fatal(err)
	}
	stored := mustLoad(t, dst, platform("acme"))
	for i := range acme {
		if !bytes.Equal(stored[i].Raw, acme[i].Raw) {
			t.Fatalf("version %d stored as %s, want %s", i+1, stored[i].Raw, acme[i].Raw)
		}
	}
}
