package eventstore_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go/jetstream"
)

type finding struct {
	Seq  uint64
	Kind string
}

func findings(rep eventstore.VerifyReport) []finding {
	var out []finding
	for _, p := range rep.Problems {
		out = append(out, finding{p.Seq, p.Kind})
	}
	return out
}

// R33: Verify shows what was removed, altered or reordered behind the
// ledger's back. Each case starts from the same clean log:
//
//	seq 1 acme v1, 2 acme v2, 3 beta v1, 4 acme v3, 5 acme v4
func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(t *testing.T, s *eventstore.Store, stream jetstream.Stream, log []eventstore.Record)
		want   []finding
	}{
		{
			name:   "untouched",
			tamper: func(*testing.T, *eventstore.Store, jetstream.Stream, []eventstore.Record) {},
		},
		{
			name: "message deleted in the middle",
			tamper: func(t *testing.T, _ *eventstore.Store, stream jetstream.Stream, _ []eventstore.Record) {
				mustDo(t, stream.DeleteMsg(testCtx(t), 2))
			},
			// the hole in the stream, and acme jumping from v1 to v3
			want: []finding{{2, eventstore.ProblemMissing}, {4, eventstore.ProblemVersionGap}},
		},
		{
			name: "last message deleted",
			tamper: func(t *testing.T, _ *eventstore.Store, stream jetstream.Stream, _ []eventstore.Record) {
				mustDo(t, stream.DeleteMsg(testCtx(t), 5))
			},
			want: []finding{{5, eventstore.ProblemMissing}},
		},
		{
			name: "first message deleted",
			tamper: func(t *testing.T, _ *eventstore.Store, stream jetstream.Stream, _ []eventstore.Record) {
				mustDo(t, stream.DeleteMsg(testCtx(t), 1))
			},
			want: []finding{{1, eventstore.ProblemMissing}, {2, eventstore.ProblemVersionGap}},
		},
		{
			name: "forged event appended directly on the subject",
			tamper: func(t *testing.T, s *eventstore.Store, _ jetstream.Stream, log []eventstore.Record) {
				forged := log[4].Event // a copy of acme v4 with other data, claiming to be v5
				forged.ID, forged.AggregateVersion = "forged-1", 5
				forged.PrevDigest = "0000"
				forged.Data = []byte(`{"host":"h-evil","hypervisor":"kvm","sockets":64}`)
				publishRaw(t, s, "ledger.platform.acme", canonicalEvent(t, forged))
			},
			want: []finding{{6, eventstore.ProblemBrokenChain}},
		},
		{
			name: "forged event replaying an existing version",
			tamper: func(t *testing.T, s *eventstore.Store, _ jetstream.Stream, log []eventstore.Record) {
				forged := log[1].Event // acme v2 again, with other data
				forged.ID = "forged-2"
				forged.Data = []byte(`{"host":"h-evil","hypervisor":"kvm","sockets":64}`)
				publishRaw(t, s, "ledger.platform.acme", canonicalEvent(t, forged))
			},
			want: []finding{{6, eventstore.ProblemVersionDuplicate}},
		},
		{
			name: "event altered: purged and republished with a correct-looking chain",
			tamper: func(t *testing.T, s *eventstore.Store, stream jetstream.Stream, log []eventstore.Record) {
				// The attacker rewrites acme v2 and re-chains v3 and v4 onto it.
				mustDo(t, stream.Purge(testCtx(t), jetstream.WithPurgeSubject("ledger.platform.acme")))
				prev := ""
				for _, i := range []int{0, 1, 3, 4} {
					e := log[i].Event
					e.PrevDigest = prev
					if i == 1 {
						e.Data = []byte(`{"host":"h-evil","hypervisor":"kvm","sockets":64}`)
					}
					raw := canonicalEvent(t, e)
					publishRaw(t, s, "ledger.platform.acme", raw)
					prev = domain.Digest(raw)
				}
			},
			// seq 1, 2, 4, 5 are gone; 3 (beta) stays; acme is at 6..9
			want: []finding{{1, eventstore.ProblemMissing}, {4, eventstore.ProblemMissing}},
		},
		{
			name: "event altered in place: purged and republished, chain not fixed",
			tamper: func(t *testing.T, s *eventstore.Store, stream jetstream.Stream, log []eventstore.Record) {
				mustDo(t, stream.Purge(testCtx(t), jetstream.WithPurgeSubject("ledger.platform.acme")))
				for _, i := range []int{0, 1, 3, 4} {
					e := log[i].Event
					if i == 1 {
						e.Data = []byte(`{"host":"h-evil","hypervisor":"kvm","sockets":64}`)
					}
					publishRaw(t, s, "ledger.platform.acme", canonicalEvent(t, e))
				}
			},
			// acme v3 at seq 8 no longer chains onto the altered v2
			want: []finding{{1, eventstore.ProblemMissing}, {4, eventstore.ProblemMissing}, {8, eventstore.ProblemBrokenChain}},
		},
		{
			name: "time going backwards",
			tamper: func(t *testing.T, s *eventstore.Store, _ jetstream.Stream, log []eventstore.Record) {
				e := log[4].Event
				e.ID, e.AggregateVersion, e.PrevDigest = "forged-3", 5, domain.Digest(log[4].Raw)
				e.Time = e.Time.Add(-time.Hour)
				publishRaw(t, s, "ledger.platform.acme", canonicalEvent(t, e))
			},
			want: []finding{{6, eventstore.ProblemTimeBackwards}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := eventstoretest.NewClock(t0)
			s := eventstoretest.MustOpenStore(t, eventstoretest.Mutable(), eventstoretest.WithClock(clk.Now))
			acme, beta := platform("acme"), platform("beta")
			mustAppend(t, s, acme, 0, hostAdded(t, acme, "h-1"), hostAdded(t, acme, "h-2"))
			clk.Set(t0.Add(time.Minute))
			mustAppend(t, s, beta, 0, hostAdded(t, beta, "h-1"))
			mustAppend(t, s, acme, 2, hostAdded(t, acme, "h-3"))
			mustAppend(t, s, acme, 3, hostAdded(t, acme, "h-4"))
			log, errs := readAll(t, s, 1)
			if len(log) != 5 || len(errs) != 0 {
				t.Fatalf("seed log: %d records, errors %v", len(log), errs)
			}
			stream, err := s.JetStream().Stream(testCtx(t), s.StreamName())
			mustDo(t, err)

			tt.tamper(t, s, stream, log)

			rep := mustVerify(t, s)
			if got := findings(rep); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("findings = %v, want %v\nreport: %+v", got, tt.want, rep.Problems)
			}
			if rep.OK() != (len(tt.want) == 0) {
				t.Fatalf("OK() = %v with %d problems", rep.OK(), len(rep.Problems))
			}
		})
	}
}

func TestVerifyReportAndProgress(t *testing.T) {
	t.Parallel()
	s := eventstoretest.MustOpenStore(t)
	for i := range 3 {
		agg := platform(fmt.Sprintf("p-%d", i))
		mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"), hostAdded(t, agg, "h-2"))
	}
	var calls [][2]uint64
	rep, err := s.Verify(testCtx(t), func(done, total uint64) { calls = append(calls, [2]uint64{done, total}) })
	mustDo(t, err)
	want := eventstore.VerifyReport{Stream: "LEDGER", FirstSeq: 1, LastSeq: 6, Messages: 6, Events: 6, Aggregates: 3, Authorship: eventstore.AuthorshipNotChecked}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("report = %+v, want %+v", rep, want)
	}
	if len(calls) < 2 || calls[0] != [2]uint64{0, 6} || calls[len(calls)-1] != [2]uint64{6, 6} {
		t.Fatalf("progress calls = %v, want to start at 0/6 and end at 6/6", calls)
	}
}

func publishRaw(t *testing.T, s *eventstore.Store, subject string, data []byte) {
	t.Helper()
	if _, err := s.JetStream().Publish(testCtx(t), subject, data); err != nil {
		t.Fatalf("publish raw on %s: %v", subject, err)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
