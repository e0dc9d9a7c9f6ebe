package licclient_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/licclient"
	"github.com/licledger/licledger/domain"
)

// R27: the product runs while its last verified answer is younger than the
// tolerance: degraded (with the time left) through an outage of 23 hours,
// expired after 25, active again once the ledger answers.
func TestOutageTolerance(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var changes []licclient.State
	c := w.product(func(cfg *licclient.Config) {
		cfg.OnChange = func(s licclient.Status) { changes = append(changes, s.State) }
	})
	mustStart(t, c, licclient.Active)
	w.net.set(func(n *network) { n.down = true })
	w.l.Clock.Advance(23 * time.Hour)
	st := mustState(t, c, licclient.Degraded, "unreachable")
	if st.TimeLeft != time.Hour {
		t.Errorf("time left after 23 h = %v, want 1h", st.TimeLeft)
	}
	w.l.Clock.Advance(2 * time.Hour)
	mustState(t, c, licclient.Expired, "unreachable")
	w.net.set(func(n *network) { n.down = false })
	mustState(t, c, licclient.Active, "")
	if want := []licclient.State{licclient.Active, licclient.Degraded, licclient.Expired, licclient.Active}; !slices.Equal(changes, want) {
		t.Errorf("OnChange saw %v, want %v", changes, want)
	}
}

// R27 Decision (trust): a restart during an outage resumes from the stored
// answer (verified again), and the stored answer tampered with is rejected:
// the product then stops until the ledger answers.
func TestRestartFromStoredAnswer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	file := filepath.Join(t.TempDir(), "license.json")
	first := w.product(func(cfg *licclient.Config) { cfg.StateFile = file })
	started := mustStart(t, first, licclient.Active)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v; want mode 0600", fi, err)
	}
	w.net.set(func(n *network) { n.down = true })
	w.l.Clock.Advance(10 * time.Hour)

	again := w.product(func(cfg *licclient.Config) { cfg.StateFile = file })
	st := mustStart(t, again, licclient.Degraded)
	if st.Instance != started.Instance || st.TimeLeft != 14*time.Hour {
		t.Errorf("resumed as %s with %v left, want %s with 14h", st.Instance, st.TimeLeft, started.Instance)
	}

	// Push valid_until a year on: the signature no longer matches.
	b, _ := os.ReadFile(file)
	var f map[string]json.RawMessage
	json.Unmarshal(b, &f)
	var ans domain.Signed
	json.Unmarshal(f["answer"], &ans)
	payload, _ := base64.RawURLEncoding.DecodeString(ans.Payload)
	payload = bytes.Replace(payload, []byte(`"valid_until":"2026`), []byte(`"valid_until":"2027`), 1)
	ans.Payload = base64.RawURLEncoding.EncodeToString(payload)
	f["answer"], _ = json.Marshal(ans)
	b, _ = json.Marshal(f)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	tampered := w.product(func(cfg *licclient.Config) { cfg.StateFile = file })
	st, err := tampered.Start(t.Context())
	if domain.ErrorReason(err) != domain.ReasonBadAnswerSignature || st.State != licclient.Expired {
		t.Errorf("tampered stored answer: state %s, err %v; want expired and %s", st.State, err, domain.ReasonBadAnswerSignature)
	}
	// Online again, the instance (its secret was not tampered with) resumes.
	w.net.set(func(n *network) { n.down = false })
	if st := mustState(t, tampered, licclient.Active, ""); st.Instance != started.Instance {
		t.Errorf("instance %s, want %s", st.Instance, started.Instance)
	}
}

// R27 Decision (trust): an answer that does not verify counts as a failed
// check (degraded, never a refusal and never more time): tampered in
// transit, forged with another key, another instance's answer replayed,
// or an older answer of this instance replayed.
func TestRejectsForgedTamperedReplayed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var checks [][]byte // every check answer the product received, in order
	w.net.set(func(n *network) {
		n.rewrite = func(path string, b []byte) []byte {
			if strings.HasSuffix(path, "/check") {
				checks = append(checks, b)
			}
			return b
		}
	})
	c := w.product(nil)
	mustStart(t, c, licclient.Active)
	other := w.product(nil)
	otherSt := mustStart(t, other, licclient.Active)
	otherAnswer := mustCheckBody(t, w, other)
	w.l.Clock.Advance(time.Hour)
	mustState(t, c, licclient.Active, "")
	old := checks[len(checks)-1]
	w.l.Clock.Advance(time.Hour)
	good := mustState(t, c, licclient.Active, "")

	tests := []struct {
		name    string
		rewrite func([]byte) []byte
	}{
		{"tampered in transit", func(b []byte) []byte {
			return rewriteSigned(t, b, func(s *domain.Signed) {
				p, _ := base64.RawURLEncoding.DecodeString(s.Payload)
				p = bytes.Replace(p, []byte(`"instances":2`), []byte(`"instances":200`), 1)
				s.Payload = base64.RawURLEncoding.EncodeToString(p)
			})
		}},
		{"forged with another key", func(b []byte) []byte {
			return rewriteSigned(t, b, func(s *domain.Signed) {
				p, _ := base64.RawURLEncoding.DecodeString(s.Payload)
				*s = domain.SignAnswer(forger{}, mustClaims(t, p))
			})
		}},
		{"another instance's answer", func([]byte) []byte { return otherAnswer }},
		{"an older answer", func([]byte) []byte { return old }},
		{"unsigned", func(b []byte) []byte { return rewriteSigned(t, b, nil) }},
	}
	for _, tt := range tests {
		w.net.set(func(n *network) {
			n.rewrite = func(path string, b []byte) []byte {
				if !strings.HasSuffix(path, "/check") {
					return b // the keys the client fetches for an unknown key id
				}
				return tt.rewrite(b)
			}
		})
		st, _ := c.CheckNow(t.Context())
		if st.State != licclient.Degraded || st.Reason != domain.ReasonBadAnswerSignature || st.Answer != good.Answer {
			t.Errorf("%s: state %s (%s), answer issued %s; want degraded (%s) on the answer issued %s",
				tt.name, st.State, st.Reason, st.Answer.IssuedAt, domain.ReasonBadAnswerSignature, good.Answer.IssuedAt)
		}
	}
	if otherSt.Instance == good.Instance {
		t.Fatal("the two products hold the same instance")
	}
}

// forger signs with a key of its own under the ledger key's id pattern.
type forger struct{}

func (forger) ID() string { return "ledger-00000000" }
func (forger) Sign(msg []byte) []byte {
	return bytes.Repeat([]byte{7}, 64)
}

func mustClaims(t *testing.T, payload []byte) domain.AnswerClaims {
	t.Helper()
	var c domain.AnswerClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// rewriteSigned changes the "signed" member of an answer (nil: drops it).
func rewriteSigned(t *testing.T, b []byte, change func(*domain.Signed)) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	if change == nil {
		delete(m, "signed")
	} else {
		var s domain.Signed
		json.Unmarshal(m["signed"], &s)
		change(&s)
		m["signed"], _ = json.Marshal(s)
	}
	out, _ := json.Marshal(m)
	return out
}

// mustCheckBody checks c in and returns the ledger's answer as sent.
func mustCheckBody(t *testing.T, w *world, c *licclient.Client) []byte {
	t.Helper()
	var body []byte
	w.net.set(func(n *network) {
		prev := n.rewrite
		n.rewrite = func(path string, b []byte) []byte {
			body = b
			if prev != nil {
				return prev(path, b)
			}
			return b
		}
	})
	mustState(t, c, licclient.Active, "")
	w.net.set(func(n *network) { n.rewrite = nil })
	return body
}

// R27, seed 004 "move to another hardware instance": an admin releases a stuck
// seat with a recorded reason; the product is refused seat-released, and its
// next attempt activates a new instance. A clean shutdown (Close)
// deactivates and forgets the state file.
func TestReleasedSeatReactivatesAndCloseDeactivates(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	file := filepath.Join(t.TempDir(), "license.json")
	c := w.product(func(cfg *licclient.Config) { cfg.StateFile = file })
	first := mustStart(t, c, licclient.Active)
	if _, err := w.admin.Deactivate(t.Context(), first.Instance, httpclient.DeactivateRequest{LicenseKey: w.key, Reason: "moved to new hardware (ticket 4711)"}); err != nil {
		t.Fatal(err)
	}
	mustState(t, c, licclient.Refused, domain.ReasonInstanceSeatReleased)
	second := mustState(t, c, licclient.Active, "")
	if second.Instance == first.Instance {
		t.Error("reactivated under the released instance id")
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("state file after Close: %v, want it removed", err)
	}
	doc, err := w.admin.GetSubscription(t.Context(), "S-1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, in := range doc.Instances {
		got[in.ID] = in.Seat + "/" + in.DeactivatedBy + "/" + in.DeactivatedReason
	}
	want := map[string]string{first.Instance: "deactivated/admin/moved to new hardware (ticket 4711)", second.Instance: "deactivated/client/"}
	if !maps(got, want) {
		t.Errorf("instances %v, want %v", got, want)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// R27: failed checks back off exponentially (with jitter) up to MaxBackoff
// and wait at least the ledger's Retry-After; a success goes back to the
// interval with jitter.
func TestNextDelay(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := 0.5 // no jitter: 1 + 0.1*(2*0.5-1) = 1
	c := w.product(func(cfg *licclient.Config) {
		cfg.Interval, cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Second, 10*time.Second
		cfg.Rand = func() float64 { return r }
	})
	mustStart(t, c, licclient.Active)
	steps := []struct {
		name   string
		status int
		retry  time.Duration
		rand   float64
		want   time.Duration
	}{
		{"success: the interval", 0, 0, 0.5, time.Hour},
		{"success, jitter high: +10%", 0, 0, 1, 66 * time.Minute},
		{"first failure", http.StatusBadGateway, 0, 0.5, time.Second},
		{"second failure doubles", http.StatusBadGateway, 0, 0.5, 2 * time.Second},
		{"third", http.StatusBadGateway, 0, 0.5, 4 * time.Second},
		{"Retry-After waits longer", http.StatusServiceUnavailable, 120 * time.Second, 0.5, 120 * time.Second},
		{"capped at MaxBackoff", http.StatusBadGateway, 0, 0.5, 10 * time.Second},
		{"capped, jitter low: -10%", http.StatusBadGateway, 0, 0, 9 * time.Second},
		{"success again", 0, 0, 0.5, time.Hour},
	}
	for _, s := range steps {
		w.net.set(func(n *network) { n.status, n.retry = s.status, s.retry })
		c.CheckNow(t.Context())
		r = s.rand
		if got := c.NextDelay(); got != s.want {
			t.Errorf("%s: NextDelay = %v, want %v", s.name, got, s.want)
		}
	}
}

// R27: Run checks at the delays NextDelay gives, on an injected timer.
func TestRunChecksPeriodically(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	waits := make(chan time.Duration, 10)
	fire := make(chan time.Time)
	c := w.product(func(cfg *licclient.Config) {
		cfg.Interval = 30 * time.Minute
		cfg.Rand = func() float64 { return 0.5 }
		cfg.After = func(d time.Duration) <-chan time.Time { waits <- d; return fire }
	})
	first := mustStart(t, c, licclient.Active)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(t.Context())
	}()
	t.Cleanup(func() { <-done }) // Run ends with the test's context
	for range 2 {
		if d := <-waits; d != 30*time.Minute {
			t.Errorf("waits %v, want 30m", d)
		}
		w.l.Clock.Advance(30 * time.Minute)
		fire <- w.l.Clock.Now()
	}
	<-waits // Run waits for the third check: the second has been made
	if st := c.Status(); st.State != licclient.Active || !st.Answer.Issued().After(first.Answer.Issued()) {
		t.Errorf("after two periodic checks: %s, answer issued %s (first %s)", st.State, st.Answer.IssuedAt, first.Answer.IssuedAt)
	}
}

// R27 Decision (trust): the tolerance counts from the ledger's issue
// instant, so a product whose clock runs more than the tolerance ahead
// stops at once, and says why.
func TestClockSkewFailsClosed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.product(func(cfg *licclient.Config) {
		cfg.Now = func() time.Time { return w.l.Clock.Now().Add(48 * time.Hour) }
	})
	st, err := c.Start(t.Context())
	if err != nil || st.State != licclient.Expired || st.Reason != licclient.ReasonClockSkew {
		t.Errorf("Start with the clock 48 h ahead: %s (%q), %v; want expired (%s)", st.State, st.Reason, err, licclient.ReasonClockSkew)
	}
}

// R27: against the ledger's own rate limit (a burst of checks on one
// license, the ledger's clock standing still), the client is degraded
// (rate-limited), not refused, and waits at least the Retry-After the
// ledger sends.
func TestHonoursLedgerRateLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.product(func(cfg *licclient.Config) { cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, time.Millisecond })
	mustStart(t, c, licclient.Active)
	var limited licclient.Status
	for range 1000 { // the ledger's burst per license is 500
		st, _ := c.CheckNow(t.Context())
		if st.Reason == domain.ReasonRateLimited {
			limited = st
			break
		}
	}
	if limited.State != licclient.Degraded {
		t.Fatalf("no rate-limited check in 1000 at one instant: %+v", limited)
	}
	if d := c.NextDelay(); d < time.Second {
		t.Errorf("NextDelay after a 429 = %v, want at least the ledger's Retry-After (1s or more)", d)
	}
}

// R27, seed 004 "move to another hardware instance": on a one-seat
// license the old machine shuts down cleanly and the new one activates,
// with no admin.
func TestMoveToAnotherMachine(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r, err := w.admin.CreateSubscription(t.Context(), httpclient.SubscriptionRequest{ID: "S-SOLO", Plan: httpclient.InstancePlan{Name: "solo", Instances: 1}, Period: "annual"})
	if err != nil {
		t.Fatal(err)
	}
	w.key = r.LicenseKey
	old := w.product(nil)
	mustStart(t, old, licclient.Active)
	if st, _ := w.product(nil).Start(t.Context()); st.State != licclient.Refused || st.Reason != domain.ReasonInstanceTooMany {
		t.Fatalf("a second machine while the first runs: %s (%s), want refused (%s)", st.State, st.Reason, domain.ReasonInstanceTooMany)
	}
	if err := old.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustStart(t, w.product(nil), licclient.Active)
}
