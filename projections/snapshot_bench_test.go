package projections

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// BenchmarkReplicaStart measures how long a new replica takes to get its
// projections to the head of a long log (issue 13): from zero (a Build
// from the first event) and from a snapshot stored in the log's
// JetStream object store (fetch, open, apply the events after it), both
// on the same log in one run. The snapshot is taken, untimed, before the
// last 1% of the log, which the restored replica then tails.
//
//	go test -run '^$' -bench ReplicaStart -benchtime 1x -timeout 30m ./projections/   # 1M events
//	LICLEDGER_BENCH_EVENTS=100000 go test -run '^$' -bench ReplicaStart -benchtime 1x ./projections/
func BenchmarkReplicaStart(b *testing.B) {
	ctx := context.Background()
	n := *rebuildEvents
	tail := max(n/100, 1)
	l := benchLog(b, n-tail)
	dir := b.TempDir()
	live, _, err := Build(ctx, l.store, filepath.Join(dir, "live.db"), 0, discard(), nil)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	seq, err := TakeSnapshot(ctx, live, l.store, dir)
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	live.Close()
	// The tail: events after the snapshot, on a platform of its own.
	for off := 0; off < tail; off += 1000 {
		k := min(1000, tail-off)
		events := make([]domain.Event, k)
		for i := range events {
			events[i] = ev(domain.EventHostAdded, domain.HostAdded{Host: fmt.Sprintf("h-%d", off+i), Hypervisor: domain.HypervisorKVM, Sockets: 2})
		}
		if off == 0 {
			events[0] = ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1"}})
		}
		l.append("platform/tail", events...)
	}
	head := l.lastSeq()
	b.Logf("log of %d events, snapshot at %d taken in %v", head, seq, took.Round(time.Millisecond))

	var fromZero, fromSnapshot time.Duration
	var size int64
	i := 0
	for b.Loop() {
		start := time.Now()
		db, got, err := Build(ctx, l.store, filepath.Join(dir, fmt.Sprintf("zero-%d.db", i)), 0, discard(), nil)
		if err != nil || got != head {
			b.Fatalf("build from zero: at %d, %v", got, err)
		}
		fromZero += time.Since(start)
		db.Close()

		path := filepath.Join(dir, fmt.Sprintf("restored-%d.db", i))
		start = time.Now()
		if _, err := RestoreSnapshot(ctx, l.store, path, head); err != nil {
			b.Fatal(err)
		}
		db, err = Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		if got, err := NewRunner(db, l.store, discard()).CatchUp(ctx, 0, nil); err != nil || got != head {
			b.Fatalf("tail from the snapshot: at %d, %v", got, err)
		}
		fromSnapshot += time.Since(start)
		db.Close()
		if st, err := os.Stat(path); err == nil {
			size = st.Size()
		}
		i++
	}
	b.ReportMetric(float64(head), "events")
	b.ReportMetric(float64(head-seq), "tail-events")
	b.ReportMetric(float64(size)/(1<<20), "snapshot-MB")
	b.ReportMetric(took.Seconds(), "take-snapshot-s")
	b.ReportMetric(fromZero.Seconds()/float64(i), "from-zero-s")
	b.ReportMetric(fromSnapshot.Seconds()/float64(i), "from-snapshot-s")
	b.ReportMetric(fromZero.Seconds()/fromSnapshot.Seconds(), "speedup")
}
