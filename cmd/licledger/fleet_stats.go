package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strings"
	"sync"
	"time"
)

// latencyHistogram records durations in log-linear buckets (HDR style): 64
// linear sub-buckets per power of two of microseconds, so a quantile is
// within about 1.6% of the true value whatever the run length, in constant
// memory (a long simulation at thousands of check-ins a second would
// otherwise keep millions of samples). Not safe for concurrent use.
type latencyHistogram struct {
	counts [64 * 64]uint64
	n      uint64
	max    time.Duration
}

const histSub = 64 // sub-buckets per power of two; a power of two

func histIndex(d time.Duration) int {
	us := uint64(max(d/time.Microsecond, 0))
	if us < histSub {
		return int(us) // exact below 64µs
	}
	exp := bits.Len64(us) - 7 // us >> exp is in [64, 128)
	return min((exp+1)*histSub+int(us>>exp)-histSub, len(latencyHistogram{}.counts)-1)
}

// histValue is the midpoint of bucket i.
func histValue(i int) time.Duration {
	if i < histSub {
		return time.Duration(i) * time.Microsecond
	}
	exp := i/histSub - 1
	lo := uint64(i%histSub+histSub) << exp
	return time.Duration(lo+(uint64(1)<<exp)/2) * time.Microsecond
}

func (h *latencyHistogram) add(d time.Duration) {
	h.counts[histIndex(d)]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the q-quantile (0 < q ≤ 1), 0 without samples.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(histValue(i), h.max)
		}
	}
	return h.max
}

// tally counts one kind of request: accepted, or refused by reason code
// (the API's error reason, else its code; transport failures by kind).
type tally struct {
	OK      int            `json:"ok"`
	Refused map[string]int `json:"refused"`
}

func (t *tally) refuse(reason string) {
	if t.Refused == nil {
		t.Refused = map[string]int{}
	}
	t.Refused[reason]++
}

func (t tally) refusedTotal() int {
	n := 0
	for _, c := range t.Refused {
		n += c
	}
	return n
}

// byReason renders counts as "too-many-instances: 3, seat-released: 1",
// largest first, then by name.
func byReason(m map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var s []kv
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].v != s[j].v {
			return s[i].v > s[j].v
		}
		return s[i].k < s[j].k
	})
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = fmt.Sprintf("%s: %d", e.k, e.v)
	}
	return strings.Join(parts, ", ")
}

// fleetStats is what the simulated instances report. Safe for concurrent
// use.
type fleetStats struct {
	mu          sync.Mutex
	activations tally
	checkIns    tally
	seatsLost   int
	lat         latencyHistogram // check-ins, answered ones
	window      latencyHistogram // check-ins since the last progress line
}

func (s *fleetStats) activation(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		s.activations.OK++
	} else {
		s.activations.refuse(reason)
	}
}

// checkIn records an answered check-in; lost says it cost the seat.
func (s *fleetStats) checkIn(reason string, took time.Duration, lost bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		s.checkIns.OK++
	} else {
		s.checkIns.refuse(reason)
	}
	if lost {
		s.seatsLost++
	}
	s.lat.add(took)
	s.window.add(took)
}

// fleetSummary is the end-of-run report (printed as text, or JSON with
// --json).
type fleetSummary struct {
	License       string  `json:"license"`
	Instances     int     `json:"instances"`
	Seconds       float64 `json:"seconds"`
	Activated     int     `json:"activated"`              // instances holding a seat at the end
	Refused       tally   `json:"instances_without_seat"` // .Refused: instances without one, by last reason
	Activations   tally   `json:"activations"`
	CheckIns      tally   `json:"check_ins"`
	CheckInsPerS  float64 `json:"check_ins_per_second"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	SeatsLost     int     `json:"seats_lost"`
	Deactivated   int     `json:"deactivated"`
	Interrupted   bool    `json:"interrupted"`
	KeptSeats     bool    `json:"kept_seats"`
	DeactivateErr int     `json:"deactivate_failures"`

	answered uint64 // check-ins with an answer: the latency samples
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

func (s fleetSummary) write(w io.Writer, asJSON bool) error {
	if asJSON {
		if s.Refused.Refused == nil {
			s.Refused.Refused = map[string]int{}
		}
		for _, t := range []*tally{&s.Activations, &s.CheckIns} {
			if t.Refused == nil {
				t.Refused = map[string]int{}
			}
		}
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var b strings.Builder
	how := "ran"
	if s.Interrupted {
		how = "interrupted after"
	}
	fmt.Fprintf(&b, "fleet simulate: %d instances on %s, %s %.1fs\n", s.Instances, s.License, how, s.Seconds)
	fmt.Fprintf(&b, "instances:   %d activated, %d refused%s\n", s.Activated, s.Refused.refusedTotal(), paren(s.Refused.Refused))
	fmt.Fprintf(&b, "activations: %d accepted, %d refused%s\n", s.Activations.OK, s.Activations.refusedTotal(), paren(s.Activations.Refused))
	fmt.Fprintf(&b, "check-ins:   %d ok, %d refused%s; %.1f check-ins/s\n", s.CheckIns.OK, s.CheckIns.refusedTotal(), paren(s.CheckIns.Refused), s.CheckInsPerS)
	if s.answered > 0 {
		fmt.Fprintf(&b, "latency:     p50 %.2fms, p99 %.2fms, max %.2fms (check-ins)\n", s.P50ms, s.P99ms, s.MaxMs)
	} else {
		fmt.Fprintf(&b, "latency:     no check-in answered (the first comes one --interval after activation)\n")
	}
	switch {
	case s.KeptSeats:
		fmt.Fprintf(&b, "seats:       %d lost on a check-in, %d kept at exit (--keep-seats)\n", s.SeatsLost, s.Activated)
	case s.DeactivateErr > 0:
		fmt.Fprintf(&b, "seats:       %d lost on a check-in, %d freed at exit, %d could not be freed (they lapse with their lease)\n", s.SeatsLost, s.Deactivated, s.DeactivateErr)
	default:
		fmt.Fprintf(&b, "seats:       %d lost on a check-in, %d freed at exit\n", s.SeatsLost, s.Deactivated)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func paren(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	return " (" + byReason(m) + ")"
}
