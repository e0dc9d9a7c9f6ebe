// Package licclient is the license client a product embeds (seed 004's
// product side, rules R26–R28): it activates with the license key, checks
// in periodically with jitter, keeps the last signed answer on disk and
// verifies it at start, keeps the product running while that answer is
// younger than the tolerance (24 hours by default), backs off on errors
// honouring Retry-After, and deactivates on a clean shutdown. The product
// acts on one State: active, degraded (with the time left), expired, or
// refused (with the ledger's reason), and may be called back on changes.
//
// Every answer is verified with the ledger's Ed25519 keys before it counts
// (R27 Decision (trust); the byte format is in domain/answer.go): a forged
// or tampered answer, one for another instance or license, or one older
// than the answer already held is rejected, and counts as a failed check,
// never as a refusal. A refusal counts only when the ledger signed it for
// the request this client made (its license, instance and credential), so
// nobody between the product and the ledger can extend its time or stop
// it by answering no: they can only withhold answers, an outage.
//
// The package imports the standard library, domain and httpclient only.
package licclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/domain"
)

// State is what the product acts on.
type State string

// States. Inactive is before Start; the product must not run in it.
const (
	Inactive State = "inactive"
	// Active: the last check got a verified answer; run.
	Active State = "active"
	// Degraded: the ledger could not be reached (or answered
	// unverifiably) since the last good answer, which still holds:
	// run, and warn with Status.TimeLeft.
	Degraded State = "degraded"
	// Expired: no verified answer younger than the tolerance; stop.
	Expired State = "expired"
	// Refused: the ledger refused the instance (Status.Reason, a
	// domain.Reason* word: seat-released, subscription-not-active,
	// version-not-covered, ...); stop.
	Refused State = "refused"
)

// ReasonClockSkew is Status.Reason when a verified answer is expired as
// soon as it arrives: the product's clock is ahead of the ledger's by more
// than the tolerance (answers count from the ledger's issue instant).
const ReasonClockSkew = "clock-skew"

// DefaultTolerance is how long a product keeps running on its last
// verified answer (R27: the client stops after 24 hours without a
// successful check).
const DefaultTolerance = 24 * time.Hour

// DefaultInterval is the time between checks when they succeed.
const DefaultInterval = time.Hour

// Status is the client's state at an instant.
type Status struct {
	State State
	// TimeLeft is how long the product may run on the answer it holds
	// (Active and Degraded), 0 otherwise.
	TimeLeft time.Duration
	// Reason is the ledger's refusal (Refused), or why the last check
	// failed (Degraded: "unreachable", "rate-limited", a 5xx, or
	// domain.ReasonBadAnswerSignature for an answer rejected).
	Reason string
	// Answer is the last verified answer (zero before the first).
	Answer domain.AnswerClaims
	// Instance is the instance id this client holds, "" before activation.
	Instance string
}

// Config configures a Client. Client, LicenseKey and ProductVersion are
// required.
type Config struct {
	Client         *httpclient.Client
	LicenseKey     string
	ProductVersion string
	// ReleasedAt is the release instant of ProductVersion: a perpetual
	// license (and a subscription's perpetual fallback, R28) covers
	// versions by it. Zero: the ledger's release list decides.
	ReleasedAt time.Time
	// StateFile keeps the instance id and secret and the last signed
	// answer across restarts (mode 0600). "" keeps them in memory only.
	StateFile string
	// Keys are the ledger's public keys by id, shipped with the product.
	// Nil: fetched from GET /v1/ledger/keys at the first start and kept
	// in the state file (trust on first use), fetched again when an
	// answer names a key id not held yet (a rotation).
	Keys map[string]ed25519.PublicKey
	// Tolerance is how long the product runs on its last verified answer
	// (default DefaultTolerance); never longer than the answer's own
	// valid_until.
	Tolerance time.Duration
	// Interval between successful checks (default DefaultInterval), with
	// ±Jitter of it at random (default 0.1) so a fleet that booted
	// together does not check in together.
	Interval time.Duration
	Jitter   float64
	// MaxBackoff bounds the wait between failed checks (default Interval);
	// waits start at MinBackoff (default 1s) and double, and a
	// Retry-After the ledger sends is waited at least.
	MinBackoff, MaxBackoff time.Duration
	// IdempotencyPrefix starts the Idempotency-Key of each activation
	// attempt (default random): an activation that got no answer is
	// retried with the same key, so it never takes a second seat.
	IdempotencyPrefix string
	// OnChange is called (from the goroutine that noticed) when the
	// State or Reason changes.
	OnChange func(Status)
	// Now is the clock (default time.Now); After waits (default
	// time.After); Rand returns [0,1) for the jitter (default math/rand).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	Rand  func() float64
}

// Client keeps one product instance licensed. Safe for concurrent use.
type Client struct {
	cfg Config
	lic domain.LicenseKey

	mu       sync.Mutex
	st       stored
	keys     map[string]ed25519.PublicKey
	reason   string // refusal or failure of the last attempt
	refused  bool
	started  bool
	failures int           // consecutive failed attempts, for the backoff
	retry    time.Duration // the last Retry-After
	attempt  int           // activation attempts answered
	lastOK   bool          // the last attempt got a verified answer
	// refused is the instance the ledger last refused and the issue
	// instant of the answer held then: an answer for that instance
	// issued at or before it is from before the refusal, and a replay of
	// it must not undo the refusal.
	refusal refusal
	last    Status // as last reported to OnChange
}

// New checks cfg and returns a client; nothing is sent before Start.
func New(cfg Config) (*Client, error) {
	if cfg.Client == nil || cfg.ProductVersion == "" {
		return nil, errors.New("licclient: Client and ProductVersion are required")
	}
	lic, err := domain.ParseLicenseKey(cfg.LicenseKey)
	if err != nil {
		return nil, fmt.Errorf("licclient: license key: %s", domain.ErrorMessage(err))
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Jitter <= 0 || cfg.Jitter >= 1 {
		cfg.Jitter = 0.1
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = cfg.Interval
	}
	if cfg.IdempotencyPrefix == "" {
		cfg.IdempotencyPrefix = "licclient-" + rand.Text()[:16]
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Rand == nil {
		cfg.Rand = mrand.Float64
	}
	c := &Client{cfg: cfg, lic: lic, keys: map[string]ed25519.PublicKey{}}
	for id, k := range cfg.Keys {
		c.keys[id] = k
	}
	return c, nil
}

// Start reads the stored answer (verified: a tampered or foreign one is
// dropped, and its error returned joined with the outcome) and then
// checks in, or activates when nothing usable is stored. It returns the
// status the product starts in; an unreachable ledger is not an error (the
// stored answer, if any, keeps the product running).
func (c *Client) Start(ctx context.Context) (Status, error) {
	loadErr := c.load()
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	st, err := c.CheckNow(ctx)
	if ue := (unanswered{}); errors.As(err, &ue) {
		err = nil // degraded or expired: the status says so
	}
	return st, errors.Join(loadErr, err)
}

// Status is the state now.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusLocked(c.cfg.Now())
}

func (c *Client) statusLocked(now time.Time) Status {
	s := Status{State: Inactive, Reason: c.reason, Answer: c.st.Claims, Instance: c.st.Instance}
	switch {
	case !c.started:
	case c.refused:
		s.State = Refused
	default:
		left := c.expiresLocked().Sub(now)
		switch {
		case c.st.Claims.IssuedAt != "" && left <= 0 && c.reason == "" && c.lastOK:
			// A verified answer, just received, is already past: the
			// product's clock is ahead of the ledger's by more than the
			// tolerance. Fail closed, and say why.
			s.State, s.Reason = Expired, ReasonClockSkew
		case left <= 0 || c.st.Claims.IssuedAt == "":
			s.State = Expired
		case c.reason != "":
			s.State, s.TimeLeft = Degraded, left
		default:
			s.State, s.TimeLeft = Active, left
		}
	}
	return s
}

// expiresLocked is when the held answer stops holding: its issue instant
// plus the tolerance, at most its own valid_until.
func (c *Client) expiresLocked() time.Time {
	issued, until := c.st.Claims.Issued(), c.st.Claims.Until()
	if issued.IsZero() {
		return time.Time{}
	}
	end := issued.Add(c.cfg.Tolerance)
	if until.Before(end) {
		end = until
	}
	return end
}

// unanswered wraps a failure that is not the ledger's refusal: no answer,
// 5xx, 429, or an answer that does not verify.
type unanswered struct{ err error }

func (u unanswered) Error() string { return u.err.Error() }
func (u unanswered) Unwrap() error { return u.err }

// NeedsActivation reports whether the next attempt (CheckNow) activates
// rather than checks in: no instance yet, or its seat is gone.
func (c *Client) NeedsActivation() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Instance == "" || (c.refused && reactivates(c.reason))
}

// CheckNow makes one attempt now: activate when the client holds no seat
// (none yet, or the last one was released), else check in. It returns
// the resulting status and the attempt's error (nil on a verified
// answer): an *httpclient.Error for a refusal, or one wrapping the cause
// when the ledger was not reached or its answer was rejected.
func (c *Client) CheckNow(ctx context.Context) (Status, error) {
	needActivate := c.NeedsActivation()
	c.mu.Lock()
	st, attempt := c.st, c.attempt
	c.mu.Unlock()

	var signed *domain.Signed
	var instance, secret string
	var err error
	if needActivate {
		var a *httpclient.ActivateResponse
		req := httpclient.ActivateRequest{LicenseKey: c.cfg.LicenseKey, ProductVersion: c.cfg.ProductVersion, ReleasedAt: c.cfg.ReleasedAt}
		a, err = c.cfg.Client.Activate(ctx, req, httpclient.WithIdempotencyKey(fmt.Sprintf("%s-%d", c.cfg.IdempotencyPrefix, attempt)))
		if err == nil || httpclient.Status(err) != 0 {
			c.mu.Lock()
			c.attempt++ // answered: the next activation is a new request
			c.mu.Unlock()
		}
		if err == nil {
			signed, instance, secret = a.Signed, a.InstanceID, a.Secret
		}
	} else {
		var r *httpclient.InstanceCheckReply
		r, err = c.cfg.Client.Check(ctx, st.Instance, httpclient.CheckRequest{LicenseKey: c.cfg.LicenseKey, Secret: st.Secret,
			ProductVersion: c.cfg.ProductVersion, ReleasedAt: c.cfg.ReleasedAt})
		if err == nil {
			signed, instance, secret = r.Signed, st.Instance, st.Secret
		}
	}
	var claims domain.AnswerClaims
	if err == nil {
		claims, err = c.verify(ctx, signed, instance, st.Claims)
	} else if ae, ok := errors.AsType[*httpclient.Error](err); ok && isRefusal(ae) {
		// The refusal of the request made: a check's instance and secret,
		// or an activation's license key.
		refusedInstance, credential := st.Instance, st.Secret
		if needActivate {
			refusedInstance, credential = "", c.cfg.LicenseKey
		}
		err = c.verifyRefusal(ctx, ae, refusedInstance, credential, st.Claims)
	}
	return c.settle(stored{Instance: instance, Secret: secret, Signed: signed, Claims: claims}, err)
}

// isRefusal reports whether an answer is the ledger saying no (a 4xx with
// a reason, not a rate limit), as opposed to not answering.
func isRefusal(ae *httpclient.Error) bool {
	return ae.Status != http.StatusTooManyRequests && ae.Status >= 400 && ae.Status < 500 && ae.Reason != ""
}

// verifyRefusal returns ae when it carries the ledger's signed refusal of
// this request (R27 Decision (trust)): signed by a ledger key, with ae's
// reason, for this license and instance ("" for an activation), of the
// credential this client presented, and issued no earlier than the answer
// held. Anything else is not the ledger's refusal of this product (a
// forged one, or one obtained with another credential or replayed) and
// counts as a failed check, so nobody between the product and the ledger
// can stop it by answering no.
func (c *Client) verifyRefusal(ctx context.Context, ae *httpclient.Error, instance, credential string, held domain.AnswerClaims) error {
	if ae.Signed == nil {
		return unanswered{errors.Join(domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadAnswerSignature, "the refusal (%d %s) is not signed by the ledger", ae.Status, ae.Reason), ae)}
	}
	keys, err := c.keysFor(ctx, ae.Signed.KeyID)
	if err != nil {
		return unanswered{err}
	}
	claims, err := domain.VerifyRefusal(keys, *ae.Signed)
	switch {
	case err != nil:
	case claims.Status != ae.Reason || claims.License != c.lic.Aggregate.String() || claims.Instance != instance:
		err = domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadAnswerSignature,
			"the signed refusal is %s of instance %q on %s, not %s of instance %q on %s", claims.Status, claims.Instance, claims.License, ae.Reason, instance, c.lic.Aggregate)
	case claims.Credential != domain.HashSecret(credential):
		err = domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadAnswerSignature, "the signed refusal is of a request with another credential")
	case held.IssuedAt != "" && claims.Issued().Before(held.Issued()):
		err = domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadAnswerSignature,
			"the refusal was issued %s, before the answer held (%s): replayed", claims.IssuedAt, held.IssuedAt)
	}
	if err != nil {
		// The answer stays in the chain for callers that look at it
		// (its status, Retry-After); the state's reason is the rejection.
		return unanswered{errors.Join(err, ae)}
	}
	return ae
}

// reactivates reports whether a refusal means the seat is gone and a new
// activation (a new instance id) may get one: a lapsed lease, a seat
// released by an admin (moving to another machine), an instance the
// ledger does not know.
func reactivates(reason string) bool {
	switch reason {
	case domain.ReasonInstanceSeatReleased, domain.ReasonInstanceUnknown, domain.ReasonInstanceBadSecret, domain.ReasonInstanceTooMany:
		return true
	}
	return false
}

// verify checks a signed answer: the ledger's signature (fetching the
// keys once more if it names a key id not held: a rotation, trust on first
// use only), this instance and license, and no older than prev.
func (c *Client) verify(ctx context.Context, signed *domain.Signed, instance string, prev domain.AnswerClaims) (domain.AnswerClaims, error) {
	if signed == nil {
		return domain.AnswerClaims{}, unanswered{domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadAnswerSignature, "the answer is not signed")}
	}
	keys, err := c.keysFor(ctx, signed.KeyID)
	if err != nil {
		return domain.AnswerClaims{}, unanswered{err}
	}
	c.mu.Lock()
	refused := c.refusal
	c.mu.Unlock()
	claims, err := domain.VerifyAnswer(keys, *signed)
	switch {
	case err != nil:
	case claims.Instance != instance || claims.License != c.lic.Aggregate.String():
		err = domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadAnswerSignature,
			"the answer is for %s on %s, not for instance %s on %s (replayed)", claims.Instance, claims.License, instance, c.lic.Aggregate)
	case prev.IssuedAt != "" && claims.Issued().Before(prev.Issued()) && claims.Instance == prev.Instance:
		err = domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadAnswerSignature,
			"the answer was issued %s, before the one held (%s): replayed", claims.IssuedAt, prev.IssuedAt)
	case claims.Instance == refused.Instance && !claims.Issued().After(refused.After):
		err = domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadAnswerSignature,
			"the answer was issued %s, not after the answer held when the ledger refused instance %s: replayed", claims.IssuedAt, refused.Instance)
	}
	if err != nil {
		return domain.AnswerClaims{}, unanswered{err}
	}
	return claims, nil
}

// keysFor returns the keys to verify a document signed by keyID with:
// those held, fetched once more when keyID is not among them and the
// keys are not pinned (a rotation; fetchKeys says what it accepts).
func (c *Client) keysFor(ctx context.Context, keyID string) (map[string]ed25519.PublicKey, error) {
	c.mu.Lock()
	_, known := c.keys[keyID]
	c.mu.Unlock()
	if !known && c.cfg.Keys == nil {
		if err := c.fetchKeys(ctx); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys, nil
}

// fetchKeys reads GET /v1/ledger/keys and adds keys not held yet (never
// replacing one: a key id names one key forever). The first fetch trusts
// what it reads (trust on first use); after it, a key counts only with an
// endorsement by a key already held (a rotation), so whoever answers in
// the ledger's place cannot slip in a key of its own.
func (c *Client) fetchKeys(ctx context.Context) error {
	ks, err := c.cfg.Client.LedgerKeys(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first := len(c.keys) == 0
	fresh := make(map[string]ed25519.PublicKey, len(c.keys)+len(ks.Keys))
	for id, k := range c.keys {
		fresh[id] = k
	}
	for _, k := range ks.Keys {
		if _, held := fresh[k.ID]; held || len(k.Key) != ed25519.PublicKeySize {
			continue
		}
		if !first && (k.Endorsement == nil || domain.VerifyEndorsement(c.keys, *k.Endorsement, k.ID, k.Key) != nil) {
			continue // not vouched for by a key held: not the ledger's
		}
		fresh[k.ID] = ed25519.PublicKey(k.Key)
	}
	c.keys = fresh
	return nil
}

// settle records an attempt's outcome, stores a new answer, and calls
// OnChange when the state or reason changed.
func (c *Client) settle(next stored, err error) (Status, error) {
	c.mu.Lock()
	var ae *httpclient.Error
	var save *stored
	c.lastOK = false
	switch {
	case err == nil:
		c.st = next
		c.reason, c.refused, c.failures, c.retry = "", false, 0, 0
		c.lastOK = true
		save = &stored{Instance: next.Instance, Secret: next.Secret, Signed: next.Signed, Claims: next.Claims, keys: c.keys, refusal: c.refusal}
	case !errors.As(err, new(unanswered)) && errors.As(err, &ae) && isRefusal(ae):
		// Only a verified refusal (verifyRefusal) gets here: a forged
		// or replayed one is unanswered, a failed check.
		c.reason, c.refused, c.failures, c.retry = ae.Reason, true, 0, 0
		err = ae
		// The ledger said no: the held answer must not outlive the
		// refusal, not even through a restart during an outage, nor
		// come back replayed (verify).
		if c.st.Claims.IssuedAt != "" {
			c.refusal = refusal{Instance: c.st.Claims.Instance, After: c.st.Claims.Issued()}
		}
		c.st.Signed, c.st.Claims = nil, domain.AnswerClaims{}
		save = &stored{Instance: c.st.Instance, Secret: c.st.Secret, keys: c.keys, refusal: c.refusal}
	default:
		c.failures++
		c.reason, c.retry = failureReason(err), 0
		if errors.As(err, &ae) {
			c.retry = ae.RetryAfter
		}
		if _, ok := errors.AsType[unanswered](err); !ok {
			err = unanswered{err}
		}
	}
	now := c.cfg.Now()
	s := c.statusLocked(now)
	changed := s.State != c.last.State || s.Reason != c.last.Reason
	c.last = s
	c.mu.Unlock()
	if save != nil {
		if serr := c.save(*save); serr != nil {
			err = serr // the product runs on; the next start activates anew
		}
	}
	if changed && c.cfg.OnChange != nil {
		c.cfg.OnChange(s)
	}
	return s, err
}

// failureReason names a failed attempt for Status.Reason.
func failureReason(err error) string {
	switch st := httpclient.Status(err); {
	case domain.ErrorReason(err) == domain.ReasonBadAnswerSignature:
		return domain.ReasonBadAnswerSignature // an answer or refusal rejected, whatever it said
	case httpclient.Reason(err) != "":
		return httpclient.Reason(err)
	case st != 0:
		return fmt.Sprintf("http-%d", st)
	case domain.ErrorReason(err) != "":
		return domain.ErrorReason(err)
	}
	return "unreachable"
}

// Close deactivates the instance (a clean shutdown frees the seat at
// once) and forgets the stored answer. A failure leaves the seat to
// lapse with its lease and is returned.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	if st.Instance == "" {
		return nil
	}
	_, err := c.cfg.Client.Deactivate(ctx, st.Instance, httpclient.DeactivateRequest{LicenseKey: c.cfg.LicenseKey, Secret: st.Secret})
	if err != nil && !errors.Is(err, httpclient.ErrMalformedResponse) {
		return fmt.Errorf("licclient: deactivate %s: %w", st.Instance, err)
	}
	c.mu.Lock()
	c.st, c.started = stored{}, false
	c.mu.Unlock()
	return c.forget()
}
