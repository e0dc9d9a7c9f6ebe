package eventstore_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go/jetstream"
)

// Command latency (issue 13). Run (both in one run: the cluster's p99
// and the large log's against 10k events, with their ratio):
//
//	go test -run '^$' -bench 'CommandCluster|LogSize' -benchtime 2000x ./eventstore/
//	LICLEDGER_BENCH_EVENTS=1000000 go test -run '^$' -bench 'LogSize' -benchtime 2000x -timeout 30m ./eventstore/
//
// Every command is a small real platform command (a management node
// added or removed, one event) run by Executor.Execute, one at a time,
// and the sub-benchmarks report its latency percentiles in ms. "cached"
// runs with the Executor's state cache warm (a version check, the
// decision and the append); "cold" with a cache of one state, so every
// command also loads and folds its aggregate's history, as the first
// command on an aggregate after a restart does, and as every command did
// that issue 13 saw stall.

// largeEventsEnv sets the large log of BenchmarkLogSize.
const largeEventsEnv = "LICLEDGER_BENCH_EVENTS"

// defaultLargeEvents keeps BenchmarkLogSize under a minute on the 2-core
// reference machine; 1M events / 250k platforms adds about 40s (25s of
// it seeding) and 300 MB of temporary disk.
const defaultLargeEvents = 200_000

// eventsPerAggregate is the seeded history of each platform: registered,
// then a node added, removed and added again.
const eventsPerAggregate = 4

// BenchmarkCommandCluster: a 3-node cluster, a 3-replica stream, one
// serial writer over 200 platforms.
func BenchmarkCommandCluster(b *testing.B) {
	c := eventstoretest.MustRunCluster(b, 3)
	s := eventstoretest.MustOpenStore(b, eventstoretest.WithURL(c.URL()),
		eventstoretest.WithConfig(func(cfg *eventstore.Config) { cfg.Replicas = 3 }))
	const platforms = 200
	ids := make([]string, platforms)
	withNode := make([]bool, platforms) // registered with mn-1 only
	x := eventstore.NewExecutor(s, eventstore.Platforms, eventstore.ExecutorConfig{})
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%d", i)
		if _, err := x.Execute(context.Background(), platformCommand(ids[i], domain.RegisterPlatform{Platform: ids[i], Nodes: []string{"mn-1"}}, true)); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []struct {
		name  string
		cache int
	}{{"cached", 0}, {"cold", 1}} {
		b.Run(mode.name, func(b *testing.B) {
			x := eventstore.NewExecutor(s, eventstore.Platforms, eventstore.ExecutorConfig{CacheSize: mode.cache})
			runCommands(b, x, ids, withNode)
		})
	}
}

// BenchmarkLogSize: the embedded store with logs of 4k, 10k and a large
// number of events (LICLEDGER_BENCH_EVENTS, default 200k), four per
// platform, the events of each platform spread over the whole log. Per
// size: "load" is Store.Load of one platform; "load-consumer" reads the
// same platform the way Load did before issue 13, with an ordered
// consumer filtered by its subject (the baseline); and "command-cached"
// and "command-cold" as above.
func BenchmarkLogSize(b *testing.B) {
	large := defaultLargeEvents
	if v := os.Getenv(largeEventsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < eventsPerAggregate {
			b.Fatalf("%s=%q: want a number of events", largeEventsEnv, v)
		}
		large = n
	}
	// p99 of each command mode at 10k events: the large log's command
	// sub-benchmarks report their p99 against it (p99-vs-10k), the ratio
	// issue 13 wants within 2.
	p99at10k := map[string]float64{}
	for _, events := range []int{4_000, 10_000, large} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			s := eventstoretest.MustOpenStore(b)
			ids := seedPlatforms(b, s, events/eventsPerAggregate)
			withNode := make([]bool, len(ids))
			for i := range withNode {
				withNode[i] = true // the seeded history ends with mn-2 added
			}
			b.Run("load", func(b *testing.B) {
				measure(b, func(i int) {
					recs, err := s.Load(context.Background(), platform(ids[i%len(ids)]))
					if err != nil || len(recs) < eventsPerAggregate {
						b.Fatalf("load: %d events, %v", len(recs), err)
					}
				})
			})
			b.Run("load-consumer", func(b *testing.B) {
				measure(b, func(i int) {
					if n := consumerLoad(b, s, platform(ids[i%len(ids)])); n < eventsPerAggregate {
						b.Fatalf("consumer read %d events", n)
					}
				})
			})
			for _, mode := range []struct {
				name  string
				cache int
			}{{"command-cached", 0}, {"command-cold", 1}} {
				b.Run(mode.name, func(b *testing.B) {
					x := eventstore.NewExecutor(s, eventstore.Platforms, eventstore.ExecutorConfig{CacheSize: mode.cache})
					p99 := runCommands(b, x, ids, withNode)
					switch base := p99at10k[mode.name]; {
					case events == 10_000:
						p99at10k[mode.name] = p99
					case events == large && base > 0:
						b.ReportMetric(p99/base, "p99-vs-10k")
					}
				})
			}
		})
	}
}

// runCommands runs b.N commands, one at a time, each on the next of ids,
// toggling the platform's second management node; withNode says which
// platforms have it now.
func runCommands(b *testing.B, x *eventstore.Executor[*domain.PlatformState], ids []string, withNode []bool) float64 {
	b.Helper()
	ctx := context.Background()
	return measure(b, func(i int) {
		k := i % len(ids)
		var cmd domain.PlatformCommand = domain.AddNode{Node: "mn-2"}
		if withNode[k] {
			cmd = domain.RemoveNode{Node: "mn-2"}
		}
		if _, err := x.Execute(ctx, platformCommand(ids[k], cmd, false)); err != nil {
			b.Fatal(err)
		}
		withNode[k] = !withNode[k]
	})
}

func platformCommand(id string, cmd domain.PlatformCommand, creates bool) eventstore.Command[*domain.PlatformState] {
	return eventstore.Command[*domain.PlatformState]{ID: id, Source: "bench", Creates: creates,
		Decide: func(st *domain.PlatformState, now time.Time) ([]domain.Event, error) {
			return domain.DecidePlatform(st, cmd, now)
		}}
}

// measure runs op b.N times, reports its latency percentiles and
// returns the p99 in ms.
func measure(b *testing.B, op func(i int)) float64 {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		op(i)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
	return ms(0.99)
}

// seedPlatforms writes n platforms of eventsPerAggregate events each
// straight to the stream, in rounds (every platform's first event, then
// every platform's second...), so each history is spread over the whole
// log as in a long-lived ledger. The events are what Append would store:
// stamped, chained, canonical. It returns the platform ids.
func seedPlatforms(b *testing.B, s *eventstore.Store, n int) []string {
	b.Helper()
	ctx := context.Background()
	js := s.JetStream()
	ids := make([]string, n)
	prev := make([]string, n) // digest of each platform's last event
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	data := []struct {
		typ string
		v   any
	}{
		{domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1"}, RequestCode: "RC-1"}},
		{domain.EventPlatformNodeAdded, domain.NodeChanged{Node: "mn-2"}},
		{domain.EventPlatformNodeRemoved, domain.NodeChanged{Node: "mn-2"}},
		{domain.EventPlatformNodeAdded, domain.NodeChanged{Node: "mn-2"}},
	}
	start := time.Now()
	for round, d := range data {
		for i := range n {
			if round == 0 {
				ids[i] = fmt.Sprintf("p-%d", i)
			}
			agg := platform(ids[i])
			e, err := domain.NewEvent(agg.String(), d.typ, d.v)
			if err != nil {
				b.Fatal(err)
			}
			seq := round*n + i + 1
			e.SpecVersion, e.Source, e.SchemaVersion = domain.SpecVersion, "bench", domain.SchemaVersion
			e.ID = fmt.Sprintf("01JBENCH%018d", seq)
			e.Time = t0.Add(time.Duration(seq) * time.Millisecond)
			e.AggregateVersion, e.PrevDigest = uint64(round+1), prev[i]
			raw, err := e.Canonical()
			if err != nil {
				b.Fatal(err)
			}
			prev[i] = domain.Digest(raw)
			if _, err := js.PublishAsync(eventstore.SubjectPrefix+".platform."+ids[i], raw); err != nil {
				b.Fatal(err)
			}
			// Below the connection's limit of outstanding async
			// publishes (4000): a busy machine acknowledges slower than
			// this loop publishes, and a stalled publish fails.
			if seq%2_000 == 0 {
				waitPublished(b, js)
			}
		}
	}
	waitPublished(b, js)
	if last, err := s.LastSeq(ctx); err != nil || last != uint64(n*len(data)) {
		b.Fatalf("seeded %d events, stream has %d (%v)", n*len(data), last, err)
	}
	b.Logf("seeded %d events over %d platforms in %v", n*len(data), n, time.Since(start).Round(time.Millisecond))
	return ids
}

func waitPublished(b *testing.B, js jetstream.JetStream) {
	b.Helper()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		b.Fatal("seeding timed out")
	}
}

// consumerLoad reads an aggregate the way Load did before issue 13: an
// ordered consumer filtered by its subject, stopped when nothing more is
// pending.
func consumerLoad(b *testing.B, s *eventstore.Store, agg domain.Aggregate) int {
	b.Helper()
	ctx := context.Background()
	js := s.JetStream()
	cons, err := js.OrderedConsumer(ctx, s.StreamName(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{eventstore.SubjectPrefix + "." + agg.Kind + "." + agg.ID},
	})
	if err != nil {
		b.Fatal(err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(benchPull))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		it.Stop()
		_ = js.DeleteConsumer(ctx, s.StreamName(), cons.CachedInfo().Name)
	}()
	n := 0
	for {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		n++
		md, err := m.Metadata()
		if err != nil {
			b.Fatal(err)
		}
		if md.NumPending == 0 {
			return n
		}
	}
}
