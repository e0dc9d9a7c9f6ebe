package eventstore_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

const (
	benchReadEvents = 100_000
	benchBatch      = 100
	benchPull       = 1000 // the store's readPull: raw and store read alike
)

// BenchmarkStoreVsRaw measures the store against raw JetStream on the
// same embedded server in the same run, and prints the ratios:
//
//	go test -run '^$' -bench StoreVsRaw ./eventstore/
//
// The raw baseline uses a second stream with the ledger stream's exact
// configuration and the same message bytes, so the ratio is the store's
// own cost: encoding, stamping, the hash chain, headers for optimistic
// concurrency and de-duplication, and decoding on read. Targets: single
// Append >= 70% of a raw synchronous publish; Read >= 70% of a raw
// ordered-consumer read. append-1-headers and read-100k-headers (no
// target) give raw JetStream the store's headers too (a message id, the
// expected last sequence), to split each cost between what JetStream
// charges for those guarantees and what the store itself adds.
func BenchmarkStoreVsRaw(b *testing.B) {
	// Marked, as serve runs it: each event carries its authorship mark.
	s := eventstoretest.MustOpenStore(b, withMark(mustLedgerKey(b)))
	ctx := context.Background()
	js := s.JetStream()
	rawCfg := s.StreamConfig()
	rawCfg.Name, rawCfg.Subjects = "RAWBENCH", []string{"rawbench.>"}
	if _, err := js.CreateOrUpdateStream(ctx, rawCfg); err != nil {
		b.Fatal(err)
	}

	// Each sub-benchmark interleaves the raw operation and the store's, so
	// whatever else the machine is doing weighs on both alike.
	type result struct{ raw, store float64 } // events/s
	results := map[string]result{}
	// rounds is how many raw+store pairs one benchmark op runs: more
	// than one for the long read, so its ratio is not one sample.
	pair := func(name string, perOp, rounds int, raw, store func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			var rawDur, storeDur time.Duration
			for b.Loop() {
				for range rounds {
					t0 := time.Now()
					raw(b)
					t1 := time.Now()
					store(b)
					rawDur, storeDur = rawDur+t1.Sub(t0), storeDur+time.Since(t1)
				}
			}
			r := result{
				raw:   float64(b.N*rounds*perOp) / rawDur.Seconds(),
				store: float64(b.N*rounds*perOp) / storeDur.Seconds(),
			}
			b.ReportMetric(r.raw, "raw-events/s")
			b.ReportMetric(r.store, "store-events/s")
			b.ReportMetric(r.store/r.raw, "store/raw")
			results[name] = r // the last (longest) run wins
		})
	}

	// The appends go first, on a fresh stream; the 100k events for the
	// read come after. The raw payload is the bytes of a stored event.
	appendAgg := platform("append")
	appendEvent := hostAdded(b, appendAgg, "h-1")
	first, err := s.Append(ctx, appendAgg, 0, appendEvent)
	if err != nil {
		b.Fatal(err)
	}
	payload := first[0].Raw
	appendVersion := uint64(1)
	pair("append-1", 1, 1, func(b *testing.B) {
		if _, err := js.Publish(ctx, "rawbench.platform.append", payload); err != nil {
			b.Fatal(err)
		}
	}, func(b *testing.B) {
		if _, err := s.Append(ctx, appendAgg, appendVersion, appendEvent); err != nil {
			b.Fatal(err)
		}
		appendVersion++
	})
	// The same publish with the guarantees the store asks of JetStream: a
	// message id (de-duplication) and the subject's expected last
	// sequence (optimistic concurrency). The server's work for those is
	// part of every store append; this row says how much (informational).
	var lastRawSeq uint64
	if info, err := js.Publish(ctx, "rawbench.platform.guarded", payload); err != nil {
		b.Fatal(err)
	} else {
		lastRawSeq = info.Sequence
	}
	rawID := 0
	pair("append-1-headers", 1, 1, func(b *testing.B) {
		rawID++
		ack, err := js.Publish(ctx, "rawbench.platform.guarded", payload,
			jetstream.WithMsgID(fmt.Sprintf("raw-%d", rawID)), jetstream.WithExpectLastSequencePerSubject(lastRawSeq))
		if err != nil {
			b.Fatal(err)
		}
		lastRawSeq = ack.Sequence
	}, func(b *testing.B) {
		if _, err := s.Append(ctx, appendAgg, appendVersion, appendEvent); err != nil {
			b.Fatal(err)
		}
		appendVersion++
	})

	batchAgg := platform("batch")
	batchEvents := make([]domain.Event, benchBatch)
	for i := range batchEvents {
		batchEvents[i] = hostAdded(b, batchAgg, fmt.Sprintf("h-%d", i))
	}
	var batchVersion uint64
	pair("append-batch100", benchBatch, 1, func(b *testing.B) {
		msgs := make([]*nats.Msg, benchBatch)
		for i := range msgs {
			msgs[i] = &nats.Msg{Subject: "rawbench.platform.batch", Data: payload, Header: nats.Header{}}
		}
		if _, err := jetstreamext.PublishMsgBatch(ctx, js, msgs); err != nil {
			b.Fatal(err)
		}
	}, func(b *testing.B) {
		if _, err := s.Append(ctx, batchAgg, batchVersion, batchEvents...); err != nil {
			b.Fatal(err)
		}
		batchVersion += benchBatch
	})

	// The read data: 100k events over 100 aggregates in the ledger, and
	// the same bytes in the raw stream.
	var payloads [][]byte
	for a := range benchReadEvents / eventstore.MaxBatch {
		agg := platform(fmt.Sprintf("read-%d", a))
		events := make([]domain.Event, eventstore.MaxBatch)
		for i := range events {
			events[i] = hostAdded(b, agg, fmt.Sprintf("h-%d", i))
		}
		recs, err := s.Append(ctx, agg, 0, events...)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			payloads = append(payloads, r.Raw)
		}
	}
	for i, p := range payloads {
		if _, err := js.PublishAsync(fmt.Sprintf("rawbench.platform.read-%d", i/eventstore.MaxBatch), p); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			<-js.PublishAsyncComplete() // bounded in flight (see copyWithHeaders)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("raw stream setup timed out")
	}

	// The same 100k messages once more, with the headers the store keeps
	// on each (its message id, and on a batch's first event the expected
	// sequence, renamed so this stream does not enforce it): the store
	// must keep them for de-duplication and optimistic concurrency, and
	// every reader then receives and parses them. Reading this stream
	// says how much of the read ratio is those headers and how much the
	// store's own decoding (read-100k-headers, informational).
	hdrCfg := s.StreamConfig()
	hdrCfg.Name, hdrCfg.Subjects = "RAWHDRBENCH", []string{"rawhdr.>"}
	if _, err := js.CreateOrUpdateStream(ctx, hdrCfg); err != nil {
		b.Fatal(err)
	}
	copyWithHeaders(b, js, s.StreamName(), benchReadEvents)

	storeRead := func(b *testing.B) {
		n := 0
		for _, err := range s.Read(ctx, 1, eventstore.UntilSeq(benchReadEvents)) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchReadEvents {
			b.Fatalf("store read %d", n)
		}
	}
	pair("read-100k-headers", benchReadEvents, 3, func(b *testing.B) {
		if n := rawRead(b, js, "RAWHDRBENCH", benchReadEvents); n != benchReadEvents {
			b.Fatalf("raw read %d", n)
		}
	}, storeRead)
	pair("read-100k", benchReadEvents, 3, func(b *testing.B) {
		if n := rawRead(b, js, "RAWBENCH", benchReadEvents); n != benchReadEvents {
			b.Fatalf("raw read %d", n)
		}
	}, storeRead)
	// Export: the same 100k events written as export lines (to a
	// discarding writer: the disk is not what is measured), against the
	// same raw ordered-consumer read.
	pair("export-100k", benchReadEvents, 3, func(b *testing.B) {
		if n := rawRead(b, js, "RAWBENCH", benchReadEvents); n != benchReadEvents {
			b.Fatalf("raw read %d", n)
		}
	}, func(b *testing.B) {
		st, err := s.Export(ctx, io.Discard, eventstore.ExportFilter{ToSeq: benchReadEvents}, nil)
		if err != nil || st.Events != benchReadEvents {
			b.Fatalf("export: %+v, %v", st, err)
		}
	})

	rows := []struct{ name, raw, target string }{
		{"append-1", "js.Publish (sync, one at a time)", "store/raw >= 0.70"},
		{"append-1-headers", "js.Publish, msg id + expected seq", "(informational)"},
		{"read-100k", "ordered consumer", "store/raw >= 0.70"},
		{"export-100k", "ordered consumer", "store/raw >= 0.70"},
		{"append-batch100", "jetstreamext.PublishMsgBatch", ""},
		{"read-100k-headers", "ordered consumer, store's headers", "(informational)"},
	}
	fmt.Fprintf(os.Stdout, "\n%-16s %14s %14s %9s   %-34s %s\n", "measure", "store ev/s", "raw ev/s", "store/raw", "raw baseline", "target")
	for _, r := range rows {
		res, ok := results[r.name]
		if !ok {
			continue
		}
		fmt.Fprintf(os.Stdout, "%-16s %14.0f %14.0f %9.2f   %-34s %s\n", r.name, res.store, res.raw, res.store/res.raw, r.raw, r.target)
	}
}

// copyWithHeaders copies the first n messages of the ledger stream whose
// subject is a read-benchmark aggregate to subjects "rawhdr.…", headers included,
// with JetStream's Nats-Expected-* headers renamed (same length) so the
// copy is stored unconditionally.
func copyWithHeaders(b *testing.B, js jetstream.JetStream, from string, n int) {
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, from, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"ledger.platform.*"}})
	if err != nil {
		b.Fatal(err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(benchPull))
	if err != nil {
		b.Fatal(err)
	}
	// Collected first, published after: publishing while the consumer
	// reads on the same connection stalls both.
	var msgs []*nats.Msg
	for len(msgs) < n {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		rest, ok := strings.CutPrefix(m.Subject(), "ledger.platform.read-")
		if !ok {
			continue
		}
		h := nats.Header{}
		for k, v := range m.Headers() {
			if name, ok := strings.CutPrefix(k, "Nats-Expected-"); ok {
				k = "Copy-Expected-" + name
			}
			h[k] = v
		}
		msgs = append(msgs, &nats.Msg{Subject: "rawhdr.platform.read-" + rest, Data: m.Data(), Header: h})
	}
	it.Stop()
	for i, m := range msgs {
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			// Bounded in flight: on a loaded machine 100k outstanding
			// publishes stall the client ("too many outstanding").
			<-js.PublishAsyncComplete()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("copy with headers timed out")
	}
}

// rawRead reads n messages of a stream with an ordered consumer, as a
// client with no event store would: the read baseline.
func rawRead(b *testing.B, js jetstream.JetStream, stream string, n int) int {
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(benchPull))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		it.Stop()
		_ = js.DeleteConsumer(ctx, stream, cons.CachedInfo().Name)
	}()
	got := 0
	for got < n {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		_ = m.Data()
		got++
	}
	return got
}
