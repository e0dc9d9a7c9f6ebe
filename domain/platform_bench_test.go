package domain

import (
	"testing"
	"time"
)

// BenchmarkEvolvePlatform folds a large random history from scratch. The
// target is 2M events/s on one core; events/s (wall) and events/cpu-s
// (process CPU time, steadier on a shared machine) are reported as
// metrics, never asserted. Two mixes: typical (mostly hosts) and
// license-heavy (half the events carry licenses, a quarter move keys).
func BenchmarkEvolvePlatform(b *testing.B) {
	for _, bc := range []struct {
		name string
		mix  historyMix
	}{{"typical", typical}, {"license-heavy", licenseHeavy}} {
		b.Run(bc.name, func(b *testing.B) {
			events := randomHistory(b, 1, 100_000, bc.mix)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			cpu0 := cpuTime()
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
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
		})
	}
}

// BenchmarkPlatformEntitlement evaluates the state at the end of a large
// random history, which holds hundreds of licenses.
func BenchmarkPlatformEntitlement(b *testing.B) {
	events := randomHistory(b, 1, 100_000, licenseHeavy)
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
	events := randomHistory(b, 1, 10_000, licenseHeavy)
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

// BenchmarkPlatformAsOfEntitlement answers "what was this platform
// entitled to at T" from a 10k-event history in memory (an export, or a
// Load): fold the prefix up to T and evaluate. Target: under 5 ms/op,
// reported as ms/op, never asserted. T is the middle of the history, so
// the fold stops half way (the break in PlatformAsOf) and the result is
// a real past state.
//
//	go test -run '^$' -bench PlatformAsOfEntitlement ./domain/
func BenchmarkPlatformAsOfEntitlement(b *testing.B) {
	for _, bc := range []struct {
		name string
		mix  historyMix
	}{{"typical", typical}, {"license-heavy", licenseHeavy}} {
		b.Run(bc.name, func(b *testing.B) {
			events := randomHistory(b, 1, 10_000, bc.mix)
			at := events[len(events)/2].Time
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				s, err := PlatformAsOf(events, "random", at)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := MarshalEntitlement(PlatformEntitlement(s, at)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			// Process CPU time per answer: steadier than wall time on a
			// shared machine (the benchmark is single-threaded).
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
