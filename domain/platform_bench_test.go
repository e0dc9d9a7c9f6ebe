package domain

import (
	"testing"
	"time"
)

// The fold target is 2M events/s single-core on a large random history
// (events/s is reported as a metric; no test asserts a time).
func BenchmarkEvolvePlatform(b *testing.B) {
	events := randomHistory(b, 1, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		s := &PlatformState{}
		for _, e := range events {
			if err := EvolvePlatform(s, e); err != nil {
				b.Fatal(err)
			}
		}
		n += len(events)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}

// BenchmarkPlatformEntitlement evaluates the state at the end of a large
// random history, which holds hundreds of licenses.
func BenchmarkPlatformEntitlement(b *testing.B) {
	events := randomHistory(b, 1, 100_000)
	s, err := PlatformAsOf(events, "random", time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	at := s.LastEventTime()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = PlatformEntitlement(s, at)
	}
}

func BenchmarkMarshalEntitlement(b *testing.B) {
	events := randomHistory(b, 1, 10_000)
	s, err := PlatformAsOf(events, "random", time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	ent := PlatformEntitlement(s, s.LastEventTime())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := MarshalEntitlement(ent); err != nil {
			b.Fatal(err)
		}
	}
}
