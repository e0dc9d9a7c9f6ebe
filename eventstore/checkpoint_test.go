package eventstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/licledger/licledger/adapters/ledgerkey"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func mustLedgerKey(t testing.TB) *ledgerkey.Key {
	t.Helper()
	k, _, err := ledgerkey.Open(filepath.Join(t.TempDir(), ledgerkey.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func markKey(k *ledgerkey.Key) *eventstore.MarkKey {
	return &eventstore.MarkKey{ID: k.ID(), Secret: k.Derive(eventstore.MarkPurpose)}
}

func withMark(k *ledgerkey.Key) eventstoretest.Option {
	return eventstoretest.WithConfig(func(c *eventstore.Config) { c.Mark = markKey(k) })
}

// seedCheckpointLog writes acme v1..v3 and beta v1..v2, interleaved:
// sequences 1..5.
func seedCheckpointLog(t *testing.T, s *eventstore.Store) {
	t.Helper()
	acme, beta := platform("acme"), platform("beta")
	mustAppend(t, s, acme, 0, hostAdded(t, acme, "h-1"), hostAdded(t, acme, "h-2"))
	mustAppend(t, s, beta, 0, hostAdded(t, beta, "h-1"))
	mustAppend(t, s, acme, 2, hostAdded(t, acme, "h-3"))
	mustAppend(t, s, beta, 1, hostAdded(t, beta, "h-2"))
}

func mustWriteCheckpoint(t *testing.T, s *eventstore.Store, k eventstore.Signer) domain.Checkpoint {
	t.Helper()
	cp, err := s.WriteCheckpoint(testCtx(t), k)
	if err != nil {
		t.Fatalf("write checkpoint: %v", err)
	}
	return cp
}

func mustVerifyCheckpoint(t *testing.T, cp domain.Checkpoint, pub []byte, stream string, log iter.Seq2[eventstore.Record, error]) eventstore.CheckpointReport {
	t.Helper()
	rep, err := eventstore.VerifyCheckpoint(cp, pub, stream, log)
	if err != nil {
		t.Fatalf("verify checkpoint: %v", err)
	}
	return rep
}

func checkpointFindings(rep eventstore.CheckpointReport) []finding {
	return findings(eventstore.VerifyReport{Problems: rep.Problems})
}

func TestCheckpointKeptAndVerified(t *testing.T) {
	t.Parallel()
	k := mustLedgerKey(t)
	dir := t.TempDir()
	clk := eventstoretest.NewClock(t0)
	s := eventstoretest.MustOpenStore(t, withMark(k), eventstoretest.WithDataDir(dir), eventstoretest.WithClock(clk.Now))
	if _, err := s.LatestCheckpoint(testCtx(t)); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Fatalf("latest checkpoint of a ledger without one = %v, want ENOTFOUND", err)
	}
	seedCheckpointLog(t, s)
	cp1 := mustWriteCheckpoint(t, s, k)
	if got, want := [3]uint64{cp1.LastSeq, cp1.Events, uint64(cp1.Aggregates)}, [3]uint64{5, 5, 2}; got != want {
		t.Errorf("checkpoint last_seq, events, aggregates = %v, want %v", got, want)
	}
	if !cp1.Time.Equal(t0) || cp1.KeyID != k.ID() || cp1.Stream != "LEDGER" {
		t.Errorf("checkpoint = %+v, want time %v, key %s, stream LEDGER", cp1, t0, k.ID())
	}
	// The root is the documented one: recomputed here from the heads
	// by hand, not through the code under test's tree.
	heads := map[string][2]string{}
	for rec, err := range s.Read(testCtx(t), 1) {
		mustDo(t, err)
		heads[rec.Event.Subject] = [2]string{strconv.FormatUint(rec.Event.AggregateVersion, 10), domain.Digest(rec.Raw)}
	}
	leaf := func(agg string) []byte {
		d, _ := hex.DecodeString(heads[agg][1])
		v, _ := strconv.ParseUint(heads[agg][0], 10, 64)
		b := []byte{0}
		b = append(b, 0, 0, 0, byte(len(agg)))
		b = append(b, agg...)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, byte(v))
		sum := sha256.Sum256(append(b, d...))
		return sum[:]
	}
	node := sha256.Sum256(slices.Concat([]byte{1}, leaf("platform/acme"), leaf("platform/beta")))
	if got, want := cp1.Root, hex.EncodeToString(node[:]); got != want {
		t.Errorf("root = %s, want %s (FORMAT.md's layout)", got, want)
	}

	rep := mustVerifyCheckpoint(t, cp1, k.Public(), "LEDGER", s.Read(testCtx(t), 1))
	if !rep.OK() || rep.Unsealed != (eventstore.Unsealed{}) || rep.Root != cp1.Root {
		t.Fatalf("untouched log against its checkpoint: %+v", rep)
	}

	// Events after the checkpoint are reported as not yet sealed.
	acme := platform("acme")
	clk.Advance(1e9)
	mustAppend(t, s, acme, 3, hostAdded(t, acme, "h-4"), hostAdded(t, acme, "h-5"))
	rep = mustVerifyCheckpoint(t, cp1, k.Public(), "LEDGER", s.Read(testCtx(t), 1))
	if want := (eventstore.Unsealed{Events: 2, FirstSeq: 6, LastSeq: 7}); !rep.OK() || rep.Unsealed != want {
		t.Fatalf("unsealed = %+v, problems %v; want %+v and none", rep.Unsealed, rep.Problems, want)
	}
	cp2 := mustWriteCheckpoint(t, s, k)

	// Kept across a restart, newest first.
	mustDo(t, s.Close())
	s2 := eventstoretest.MustOpenStore(t, withMark(k), eventstoretest.WithDataDir(dir))
	cps, err := s2.Checkpoints(testCtx(t), 0)
	mustDo(t, err)
	if got := []uint64{cps[0].LastSeq, cps[1].LastSeq}; len(cps) != 2 || !slices.Equal(got, []uint64{7, 5}) || cps[0].Signature != cp2.Signature {
		t.Fatalf("checkpoints after restart = %+v, want last_seq 7 then 5", cps)
	}
	if cps, _ := s2.Checkpoints(testCtx(t), 1); len(cps) != 1 || cps[0].LastSeq != 7 {
		t.Errorf("checkpoints limit 1 = %+v, want the newest", cps)
	}
	latest, err := s2.LatestCheckpoint(testCtx(t))
	if err != nil || latest.Signature != cp2.Signature {
		t.Errorf("latest = %+v, %v; want the second checkpoint", latest, err)
	}
}

// The attacks the hash chain alone misses: a log rewritten with
// recomputed digests, or cut short, still verifies chain by chain, and
// fails against a checkpoint signed before.
func TestCheckpointDetectsRewriteAndTruncation(t *testing.T) {
	t.Parallel()
	k := mustLedgerKey(t)
	orig := eventstoretest.MustOpenStore(t, withMark(k))
	seedCheckpointLog(t, orig)
	cp := mustWriteCheckpoint(t, orig, k)
	var raws []eventstore.Record
	for rec, err := range orig.Read(testCtx(t), 1) {
		mustDo(t, err)
		raws = append(raws, rec)
	}
	acme := platform("acme")
	tests := []struct {
		name   string
		tamper func(t *testing.T) *eventstore.Store // the tampered log
		pub    []byte
		want   []finding
	}{
		{
			name:   "untouched copy",
			tamper: func(t *testing.T) *eventstore.Store { return copyLog(t, raws) },
		},
		{
			// Stream deleted and recreated with every event again, one of
			// them changed and every later digest recomputed.
			name: "consistent rewrite with recomputed digests",
			tamper: func(t *testing.T) *eventstore.Store {
				s := eventstoretest.MustOpenStore(t)
				for _, r := range raws {
					e := r.Event
					if e.Subject == acme.String() && e.AggregateVersion == 2 {
						e = hostAdded(t, acme, "h-forged")
						e.ID, e.Time = r.Event.ID, r.Event.Time
					}
					agg, _ := domain.ParseAggregate(e.Subject)
					mustAppend(t, s, agg, r.Event.AggregateVersion-1, domain.Event{ID: e.ID, Type: e.Type, Time: e.Time, Data: e.Data})
				}
				if rep := mustVerify(t, s); !rep.OK() {
					t.Fatalf("the rewrite should fool the chain check: %v", rep.Problems)
				}
				return s
			},
			want: []finding{{5, eventstore.ProblemRootMismatch}},
		},
		{
			name: "truncated tail",
			tamper: func(t *testing.T) *eventstore.Store {
				s := copyLog(t, raws[:3])
				if rep := mustVerify(t, s); !rep.OK() {
					t.Fatalf("the truncation should fool the chain check: %v", rep.Problems)
				}
				return s
			},
			want: []finding{{4, eventstore.ProblemTruncated}, {5, eventstore.ProblemRootMismatch}},
		},
		{
			// An aggregate's whole history purged and published again
			// with a fresh, valid chain.
			name: "aggregate purged and republished",
			tamper: func(t *testing.T) *eventstore.Store {
				url := eventstoretest.MustRunJetStream(t)
				s := copyLogWith(t, raws, eventstoretest.WithURL(url), eventstoretest.Mutable())
				st, err := s.JetStream().Stream(testCtx(t), "LEDGER")
				mustDo(t, err)
				mustDo(t, st.Purge(testCtx(t), jetstream.WithPurgeSubject("ledger.platform.acme")))
				// A writer that never saw the old history (no cached head).
				w := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), eventstoretest.Mutable())
				mustAppend(t, w, acme, 0, hostAdded(t, acme, "h-1"), hostAdded(t, acme, "h-9"), hostAdded(t, acme, "h-3"))
				return s
			},
			want: []finding{{1, eventstore.ProblemMissing}, {4, eventstore.ProblemMissing}, {5, eventstore.ProblemRootMismatch}},
		},
		{
			name:   "checkpoint checked with another key",
			tamper: func(t *testing.T) *eventstore.Store { return copyLog(t, raws) },
			pub:    mustLedgerKey(t).Public(),
			want:   []finding{{0, eventstore.ProblemBadSignature}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.tamper(t)
			pub := tt.pub
			if pub == nil {
				pub = k.Public()
			}
			rep := mustVerifyCheckpoint(t, cp, pub, "LEDGER", s.Read(testCtx(t), 1))
			if got := checkpointFindings(rep); !slices.Equal(got, tt.want) {
				t.Errorf("live log: findings = %v, want %v\n%+v", got, tt.want, rep.Problems)
			}
			// The same through an export file.
			out := mustExport(t, s, eventstore.ExportFilter{})
			rep = mustVerifyCheckpoint(t, cp, pub, "", exportRecords(t, out))
			if got := checkpointFindings(rep); !slices.Equal(got, tt.want) {
				t.Errorf("export: findings = %v, want %v\n%+v", got, tt.want, rep.Problems)
			}
		})
	}
}

// copyLog stores the records' exact bytes in a new log: the same digests
// and chains, so a copy of a prefix is a log with its tail cut off.
func copyLog(t *testing.T, recs []eventstore.Record) *eventstore.Store {
	return copyLogWith(t, recs)
}

func copyLogWith(t *testing.T, recs []eventstore.Record, opts ...eventstoretest.Option) *eventstore.Store {
	t.Helper()
	s := eventstoretest.MustOpenStore(t, opts...)
	for _, r := range recs {
		agg, err := domain.ParseAggregate(r.Event.Subject)
		mustDo(t, err)
		if _, err := s.AppendEncoded(testCtx(t), agg, r.Event.AggregateVersion-1, r.Raw); err != nil {
			t.Fatalf("copy seq %d: %v", r.Seq, err)
		}
	}
	return s
}

func exportRecords(t *testing.T, out []byte) iter.Seq2[eventstore.Record, error] {
	return func(yield func(eventstore.Record, error) bool) {
		for line := range bytes.Lines(out) {
			rec, err := eventstore.DecodeExportLine(bytes.Clone(line))
			if !yield(rec, err) {
				return
			}
		}
	}
}

// An event published straight to the stream, with a chain that looks
// right, is flagged as foreign; events from before marking existed are
// reported as legacy, not as problems.
func TestAuthorshipMarks(t *testing.T) {
	t.Parallel()
	url := eventstoretest.MustRunJetStream(t)
	k := mustLedgerKey(t)
	old := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url)) // a ledger from before marking
	acme := platform("acme")
	mustAppend(t, old, acme, 0, hostAdded(t, acme, "h-1"), hostAdded(t, acme, "h-2"))
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), withMark(k))
	mustAppend(t, s, acme, 2, hostAdded(t, acme, "h-3"))
	mustAppend(t, s, acme, 3, hostAdded(t, acme, "h-4"), hostAdded(t, acme, "h-5")) // a marked batch

	if rep := mustVerify(t, s); !rep.OK() || rep.LegacyUnmarked != 2 || rep.Authorship != eventstore.AuthorshipChecked {
		t.Fatalf("before the forgery: %+v", rep)
	}
	// Forge acme v6 onto the real chain and publish it raw (seq 6), then
	// one marked with another ledger's key (seq 7), then the ledger
	// writes on (seq 8).
	forge := func(version uint64, prev []byte, mark string) []byte {
		e := hostAdded(t, acme, fmt.Sprintf("h-forged-%d", version))
		dec, err := domain.DecodeEvent(prev)
		mustDo(t, err)
		e.SpecVersion, e.ID, e.Source, e.Subject, e.Time = domain.SpecVersion, fmt.Sprintf("01JFORGED00000000000000000%d", version), "licledger", acme.String(), dec.Time
		e.AggregateVersion, e.PrevDigest, e.SchemaVersion = version, domain.Digest(prev), domain.SchemaVersion
		raw := canonicalEvent(t, e)
		msg := &nats.Msg{Subject: "ledger.platform.acme", Data: raw, Header: nats.Header{}}
		if mark != "" {
			msg.Header.Set(eventstore.MarkHeader, mark)
		}
		if _, err := s.JetStream().PublishMsg(testCtx(t), msg); err != nil {
			t.Fatal(err)
		}
		return raw
	}
	hist := mustLoad(t, s, acme)
	raw6 := forge(6, hist[len(hist)-1].Raw, "")
	other := markKey(mustLedgerKey(t))
	forge(7, raw6, "v1 "+other.ID+" AAAA")
	mustAppend(t, s, acme, 7, hostAdded(t, acme, "h-8"))

	rep := mustVerify(t, s)
	if got, want := findings(rep), []finding{{6, eventstore.ProblemForeign}, {7, eventstore.ProblemForeign}}; !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
	cp := mustWriteCheckpoint(t, s, k)
	if !slices.Equal(cp.Foreign, []uint64{6, 7}) || cp.LegacyUnmarked != 2 {
		t.Errorf("checkpoint foreign %v legacy %d, want [6 7] and 2", cp.Foreign, cp.LegacyUnmarked)
	}
	if rep := mustVerifyCheckpoint(t, cp, k.Public(), "LEDGER", s.Read(testCtx(t), 1)); !rep.OK() {
		t.Errorf("the signed checkpoint names the foreign events and verifies: %v", rep.Problems)
	}
	// A reader without the key cannot check marks, and says so.
	ro := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url))
	if rep := mustVerify(t, ro); !rep.OK() || rep.Authorship != eventstore.AuthorshipNotChecked {
		t.Errorf("verify without the key: %+v", rep)
	}
}

// The periodic and shutdown checkpoints sign only when the log grew:
// an idle ledger does not pile up identical checkpoints.
func TestCheckpointIfGrown(t *testing.T) {
	t.Parallel()
	k := mustLedgerKey(t)
	s := eventstoretest.MustOpenStore(t, withMark(k))
	acme := platform("acme")
	steps := []struct {
		name    string
		append  bool
		written bool
		lastSeq uint64
	}{
		{"empty log", false, false, 0},
		{"first events", true, true, 1},
		{"idle", false, false, 1},
		{"grown", true, true, 2},
	}
	version := uint64(0)
	for _, st := range steps {
		if st.append {
			mustAppend(t, s, acme, version, hostAdded(t, acme, fmt.Sprintf("h-%d", version)))
			version++
		}
		cp, written, err := s.CheckpointIfGrown(testCtx(t), k)
		if err != nil || written != st.written || cp.LastSeq != st.lastSeq {
			t.Errorf("%s: written %v last_seq %d, %v; want written %v last_seq %d", st.name, written, cp.LastSeq, err, st.written, st.lastSeq)
		}
	}
	if cps, err := s.Checkpoints(testCtx(t), 0); err != nil || len(cps) != 2 {
		t.Errorf("kept %d checkpoints, %v; want 2", len(cps), err)
	}
}
