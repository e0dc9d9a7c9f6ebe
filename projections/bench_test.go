package projections

import (
	"context"
	"flag"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/nats-io/nats.go/jetstream"
)

// rebuildEvents is the log size of BenchmarkRebuild: 1M by default, or
// -rebuild.events / LICLEDGER_BENCH_EVENTS for quick runs.
var rebuildEvents = flag.Int("rebuild.events", envInt("LICLEDGER_BENCH_EVENTS", 1_000_000), "events in the logs of BenchmarkRebuild and BenchmarkReplicaStart")

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchLog appends n platform events: platforms of 1000 events each, a
// realistic mix of registrations, uploads, key insertions and pulls, and
// hosts, in atomic appends of up to 1000 events.
func benchLog(b *testing.B, n int) *ledger {
	b.Helper()
	l := newLedger(b)
	ctx := context.Background()
	const perPlatform = 1000
	for p := 0; n > 0; p++ {
		id := fmt.Sprintf("p%05d", p)
		agg := domain.Aggregate{Kind: domain.KindPlatform, ID: id}
		k := min(n, perPlatform)
		events := make([]domain.Event, 0, k)
		events = append(events, ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1", "mn-2"}, RequestCode: "RC-" + id}))
		for i := 1; i < k; i++ {
			var e domain.Event
			switch i % 6 {
			case 0:
				e = ev(domain.EventLicenseUploaded, domain.LicenseUploaded{Source: domain.SourceRequestCode, Digest: "d",
					License: plusLicense(fmt.Sprintf("L-%d", i), "vmware", 4, t0, 1)})
			case 1:
				e = ev(domain.EventUSBKeyInserted, domain.USBKeyInserted{Node: "mn-1", KeyID: "K-1",
					Licenses: []domain.License{baseLicense("L-K", domain.EditionEnterprise, 16, t0, 2)}})
			case 2:
				e = ev(domain.EventHostAdded, domain.HostAdded{Host: fmt.Sprintf("h-%d", i), Hypervisor: domain.HypervisorKVM, Sockets: 2})
			case 3:
				e = ev(domain.EventUSBKeyRemoved, domain.USBKeyRemoved{Node: "mn-1", KeyID: "K-1"})
			case 4:
				e = ev(domain.EventHostRemoved, domain.HostRemoved{Host: fmt.Sprintf("h-%d", i-2)})
			case 5:
				e = ev(domain.EventLicenseDeleted, domain.LicenseDeleted{License: fmt.Sprintf("L-%d", i-5)})
			}
			events = append(events, e)
		}
		for i := range events {
			events[i].Subject = agg.String()
		}
		for off := 0; off < len(events); off += eventstore.MaxBatch {
			end := min(off+eventstore.MaxBatch, len(events))
			if _, err := l.store.Append(ctx, agg, uint64(off), events[off:end]...); err != nil {
				b.Fatalf("append: %v", err)
			}
		}
		n -= k
	}
	return l
}

// rawRead reads the whole stream with a plain JetStream ordered consumer
// (what any reader of the log pays), counting messages.
func rawRead(b testing.TB, store *eventstore.Store, last uint64) {
	b.Helper()
	ctx := context.Background()
	cons, err := store.JetStream().OrderedConsumer(ctx, store.StreamName(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		b.Fatal(err)
	}
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		md, err := m.Metadata()
		if err != nil {
			b.Fatal(err)
		}
		if md.Sequence.Stream >= last {
			return
		}
	}
}

// BenchmarkRebuild measures the rebuild rate of every projection from the
// log into a fresh SQLite database, against the raw ordered-consumer read
// rate of the same log measured in the same run (target: ratio >= 0.5).
//
//	go test -run '^$' -bench Rebuild -benchtime 1x ./projections/              # 1M events
//	LICLEDGER_BENCH_EVENTS=100000 go test -run '^$' -bench Rebuild ./projections/
func BenchmarkRebuild(b *testing.B) {
	n := *rebuildEvents
	l := benchLog(b, n)
	last := l.lastSeq()
	dir := b.TempDir()
	var raw, rebuild, rawCPU, rebuildCPU time.Duration
	i := 0
	for b.Loop() {
		start, cpu0 := time.Now(), cpuTime()
		rawRead(b, l.store, last)
		raw += time.Since(start)
		rawCPU += cpuTime() - cpu0

		start, cpu0 = time.Now(), cpuTime()
		db, seq, err := Build(context.Background(), l.store, filepath.Join(dir, fmt.Sprintf("r%d.db", i)), 0, discard(), nil)
		if err != nil {
			b.Fatal(err)
		}
		rebuild += time.Since(start)
		rebuildCPU += cpuTime() - cpu0
		db.Close()
		if seq != last {
			b.Fatalf("rebuilt to %d, want %d", seq, last)
		}
		i++
	}
	rawRate := float64(int(last)*i) / raw.Seconds()
	rebuildRate := float64(int(last)*i) / rebuild.Seconds()
	b.ReportMetric(rawRate, "raw-events/s")
	b.ReportMetric(rebuildRate, "rebuild-events/s")
	b.ReportMetric(rebuildRate/rawRate, "ratio")
	// CPU per event (all goroutines, the embedded server's included) says
	// why the ratio is what it is on a small machine: a rebuild pays the
	// read and SQLite on the same cores.
	perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(int(last)*i) }
	b.ReportMetric(perEvent(rawCPU), "raw-cpu-µs/event")
	b.ReportMetric(perEvent(rebuildCPU), "rebuild-cpu-µs/event")
}

// memLog replays records held in memory: BenchmarkApply's log, so that
// the SQLite side of a rebuild is measured without NATS beside it.
type memLog []eventstore.Record

func (m memLog) Read(ctx context.Context, fromSeq uint64, _ ...eventstore.ReadOption) iter.Seq2[eventstore.Record, error] {
	return func(yield func(eventstore.Record, error) bool) {
		for _, r := range m {
			if r.Seq >= fromSeq && !yield(r, nil) {
				return
			}
		}
	}
}

func (m memLog) Subscribe(ctx context.Context, afterSeq uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.Record, error] {
	return m.Read(ctx, afterSeq+1, opts...)
}

func (m memLog) LastSeq(context.Context) (uint64, error) {
	if len(m) == 0 {
		return 0, nil
	}
	return m[len(m)-1].Seq, nil
}

// BenchmarkApply measures the applying half of a rebuild alone: the log
// is read into memory first, then built into fresh databases. It is the
// quiet number to tune the SQLite side with (BenchmarkRebuild's ratio
// moves with whatever else the machine runs):
//
//	LICLEDGER_BENCH_EVENTS=200000 go test -run '^$' -bench Apply -benchtime 3x ./projections/
func BenchmarkApply(b *testing.B) {
	n := min(*rebuildEvents, 300_000)
	l := benchLog(b, n)
	var recs memLog
	for rec, err := range l.store.Read(context.Background(), 1) {
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
	}
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		db, _, err := Build(context.Background(), recs, filepath.Join(dir, fmt.Sprintf("a%d.db", i)), 0, discard(), nil)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
		i++
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "events/s")
}
