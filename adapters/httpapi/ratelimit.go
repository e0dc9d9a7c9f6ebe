package httpapi

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licledger/licledger/domain"
)

// Abuse limits on the instance endpoints (activate, check, deactivate),
// the ones product instances call, unattended and without a token: a
// runaway activation loop, or a guessing attack on secrets, must not
// take the ledger down or go on for ever. Limits are per process.

// RateLimits configures them; the zero value gives the defaults, a
// negative rate turns that limit off.
type RateLimits struct {
	// PerLicense bounds the requests per second naming one license (its
	// key or name), with Burst on top; default 50/s, burst 500.
	PerLicense float64
	// PerAddress bounds the requests per second from one source address;
	// default 200/s, burst 2000 (a fleet behind one NAT address).
	PerAddress float64
	Burst      float64
	// BadSecrets is how many failed secrets (bad-secret, wrong-license-key)
	// one address may send before it is slowed down: from that one on it
	// waits a second, and each further failure doubles the wait, up to
	// MaxPenalty; a success clears the count. Default 5.
	BadSecrets int
	MaxPenalty time.Duration // default 5 minutes
}

func (l RateLimits) withDefaults() RateLimits {
	if l.PerLicense == 0 {
		l.PerLicense = 50
	}
	if l.PerAddress == 0 {
		l.PerAddress = 200
	}
	if l.Burst == 0 {
		l.Burst = 10
	}
	if l.BadSecrets == 0 {
		l.BadSecrets = 5
	}
	if l.MaxPenalty == 0 {
		l.MaxPenalty = 5 * time.Minute
	}
	return l
}

// limiter is a set of token buckets and failure counts. Safe for
// concurrent use.
type limiter struct {
	cfg RateLimits
	now func() time.Time

	mu       sync.Mutex
	buckets  map[string]*bucket
	failures map[string]*failure
	failing  atomic.Int64 // len(failures), read without the lock
}

type bucket struct {
	tokens float64
	last   time.Time
}

type failure struct {
	n     int
	until time.Time // slowed down until
}

// maxTracked bounds each map; when full it is emptied (a limiter that
// forgets is safer than one that grows without bound).
const maxTracked = 100_000

func newLimiter(cfg RateLimits, now func() time.Time) *limiter {
	return &limiter{cfg: cfg.withDefaults(), now: now, buckets: map[string]*bucket{}, failures: map[string]*failure{}}
}

// allow takes one token from the bucket of key at rate per second (burst
// = rate × Burst seconds); it returns how long to wait when there is none.
func (l *limiter) allow(key string, rate float64) (time.Duration, bool) {
	if rate < 0 {
		return 0, true
	}
	now := l.now()
	burst := rate * l.cfg.Burst
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxTracked {
			clear(l.buckets)
		}
		b = &bucket{tokens: burst, last: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(burst, b.tokens+d.Seconds()*rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
}

// penalty says how long an address is still slowed down for its failed
// secrets.
func (l *limiter) penalty(addr string) time.Duration {
	if l.failing.Load() == 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.failures[addr]; f != nil {
		if d := f.until.Sub(l.now()); d > 0 {
			return d
		}
	}
	return 0
}

// failed records a failed secret from addr.
func (l *limiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[addr]
	if f == nil {
		if len(l.failures) >= maxTracked {
			clear(l.failures)
		}
		f = &failure{}
		l.failures[addr] = f
	}
	f.n++
	l.failing.Store(int64(len(l.failures)))
	if over := f.n - l.cfg.BadSecrets; over >= 0 {
		wait := time.Second << min(over, 20)
		f.until = l.now().Add(min(wait, l.cfg.MaxPenalty))
	}
}

// succeeded forgets an address's failures (nearly always none: no lock
// is taken then).
func (l *limiter) succeeded(addr string) {
	if l.failing.Load() == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, addr)
	l.failing.Store(int64(len(l.failures)))
}

// sourceAddress is the request's remote host (without the port).
func sourceAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimited is the refusal of a request over a limit.
func rateLimited(wait time.Duration, format string, args ...any) error {
	return &retryAfter{err: domain.Reasonf(domain.ERATELIMITED, domain.ReasonRateLimited, format, args...), wait: wait}
}

// retryAfter is an error with the Retry-After to answer it with.
type retryAfter struct {
	err  *domain.Error
	wait time.Duration
}

func (e *retryAfter) Error() string { return e.err.Error() }
func (e *retryAfter) Unwrap() error { return e.err }

// seconds is the Retry-After value: whole seconds, at least 1.
func (e *retryAfter) seconds() string {
	return strconv.Itoa(max(1, int(math.Ceil(e.wait.Seconds()))))
}

// checkInstanceLimits runs before an instance request is decided: the
// address's penalty for failed secrets, its rate, and the license's.
func (s *Server) checkInstanceLimits(r *http.Request, license string) error {
	addr := sourceAddress(r)
	if d := s.limits.penalty(addr); d > 0 {
		return rateLimited(d, "too many failed secrets from this address; wait %s", d.Round(time.Second))
	}
	if d, ok := s.limits.allow("addr:"+addr, s.limits.cfg.PerAddress); !ok {
		return rateLimited(d, "too many requests from this address; slow down")
	}
	if d, ok := s.limits.allow("license:"+license, s.limits.cfg.PerLicense); !ok {
		return rateLimited(d, "too many requests for this license; slow down (a product checks in every few minutes)")
	}
	return nil
}

// noteSecretOutcome counts failed secrets per address from an instance
// request's answer: a failure adds to the address's count, a success
// clears it.
func (s *Server) noteSecretOutcome(r *http.Request, status int, reason string) {
	switch {
	case reason == domain.ReasonInstanceBadSecret || reason == domain.ReasonWrongLicenseKey:
		s.limits.failed(sourceAddress(r))
	case status < 300:
		s.limits.succeeded(sourceAddress(r))
	}
}
