package httpapi

// The license server (rules R23–R30): product instances activate and check
// in with the `client` role; administrators run the subscription,
// perpetual-license and coupon commands and read their views. The rules
// are the domain's (domain/subscription.go, perpetual.go, coupon.go,
// instance.go); this file is the plumbing they run on:
//
//   - current: an aggregate's folded state, served from an in-memory cache
//     validated against the event store with one round trip
//     (eventstore.Store.Version, a JetStream direct get of the subject's
//     last message). A check-in that records nothing — nearly all of them,
//     since the domain records at most one per lease/4 — costs that round
//     trip and a fold of nothing.
//   - write: decide on the current state and append with the state's
//     version as the expected version (optimistic concurrency); a writer
//     that lost a race gets a conflict, re-reads and decides again. This is
//     what keeps racing activations from over-allocating seats (R26): the
//     cache can only make a writer's expected version stale, and a stale
//     expected version is refused by JetStream.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"sync"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// DefaultStateCacheSize is how many aggregates' folded states the license
// server keeps in memory when LicenseServerConfig.CacheSize is 0.
const DefaultStateCacheSize = 10_000

// LicenseServerConfig configures the license-server endpoints. The zero
// value works: no release list, a random secret key per process, the
// default cache size.
type LicenseServerConfig struct {
	// Releases is the vendor's release list, product version → release
	// instant. Perpetual licenses cover versions by release date (R28);
	// with a list, it is the only source of a version's release instant
	// (a client's released_at must agree with it, and an activation of a
	// version not in it is refused). Without one, the client's
	// released_at is taken as given: the product states its own build's
	// release date.
	Releases map[string]time.Time
	// SecretKey derives the secret of an activation sent with an
	// Idempotency-Key (HMAC-SHA256 of the license, instance and key), so a
	// retried activation gets the same secret back although the log only
	// stores its hash. Empty: a random key per process, and a retry across
	// a restart is refused as idempotency-key-reused instead.
	SecretKey []byte
	// CacheSize bounds the folded states kept in memory; default
	// DefaultStateCacheSize. An evicted state is loaded again on next use.
	CacheSize int
}

// ParseReleases reads a release list: a JSON object of product version to
// RFC 3339 release instant, e.g. {"2.4.0": "2026-03-01T00:00:00Z"}.
// Errors are EINVALID.
func ParseReleases(data []byte) (map[string]time.Time, error) {
	var m map[string]time.Time
	if err := strictUnmarshal(data, &m); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "release list: %s", domain.ErrorMessage(err))
	}
	for v, t := range m {
		if v == "" || len(v) > 64 || t.IsZero() {
			return nil, domain.Errorf(domain.EINVALID, "release list: version %q needs 1 to 64 characters and a release instant", v)
		}
		m[v] = t.UTC()
	}
	return m, nil
}

// LoadReleases reads a release list file (see ParseReleases).
func LoadReleases(path string) (map[string]time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "read release list: %v", err)
	}
	return ParseReleases(b)
}

// Reasons the license-server endpoints add to the domain's.
const (
	ReasonBadLicenseKey        = "bad-license-key"        // EINVALID: not subscription/<id> or perpetual/<id>
	ReasonUnknownVersion       = "unknown-version"        // EINVALID: not in the release list (perpetual)
	ReasonReleasedAtMismatch   = "released-at-mismatch"   // EINVALID: released_at disagrees with the release list
	ReasonIdempotencyKeyReused = "idempotency-key-reused" // ECONFLICT: the key belongs to another request
)

// licServer holds the license server's state: the folded-state cache (the
// per-aggregate write locks are the store's, shared with the platform
// commands). One per Server; safe for concurrent use.
type licServer struct {
	s        *Server
	store    *eventstore.Store
	now      func() time.Time
	releases map[string]time.Time
	key      []byte
	cache    *stateCache
}

func newLicServer(s *Server) *licServer {
	cfg := s.cfg.LicenseServer
	key := cfg.SecretKey
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand panics rather than return short)
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = DefaultStateCacheSize
	}
	return &licServer{s: s, store: s.cfg.Store, now: s.cfg.Now, releases: cfg.Releases, key: key, cache: newStateCache(size)}
}

// licenseServerRoutes is the license server's part of the route table.
func (s *Server) licenseServerRoutes() []route {
	ls := newLicServer(s)
	instances := []string{RoleClient, RoleAdmin}
	return []route{
		{"POST /v1/instances/activate", instances, ls.activate},
		{"POST /v1/instances/{id}/check", instances, ls.check},
		{"POST /v1/instances/{id}/deactivate", instances, ls.deactivate},

		{"POST /v1/subscriptions", admins, ls.createSubscription},
		{"GET /v1/subscriptions/{id}", readers, ls.getSubscription},
		{"PUT /v1/subscriptions/{id}/plan", admins, ls.changePlan},
		{"POST /v1/subscriptions/{id}/instances", admins, ls.addInstances},
		{"POST /v1/subscriptions/{id}/renewals", admins, ls.renewSubscription},
		{"POST /v1/subscriptions/{id}/past-due", admins, ls.markPastDue},
		{"POST /v1/subscriptions/{id}/cancel", admins, ls.cancelSubscription},

		{"POST /v1/perpetual", admins, ls.purchasePerpetual},
		{"GET /v1/perpetual/{id}", readers, ls.getPerpetual},
		{"POST /v1/perpetual/{id}/renewals", admins, ls.renewUpdates},

		{"POST /v1/coupons", admins, ls.createCoupon},
		{"GET /v1/coupons/{code}", readers, ls.getCoupon},
		{"POST /v1/coupons/{code}/redemptions", admins, ls.redeemCoupon},
		{"GET /v1/partners/{partner}/redemptions", readers, ls.getPartnerRedemptions},
	}
}

// kind is what the generic load and write loops need to know about one
// aggregate kind's folded state S.
type kind[S any] struct {
	name    string
	empty   func() S
	evolve  func(S, domain.Event) error
	clone   func(S) S
	version func(S) uint64
}

var (
	subscriptionKind = kind[*domain.SubscriptionState]{
		name:    domain.KindSubscription,
		empty:   func() *domain.SubscriptionState { return &domain.SubscriptionState{} },
		evolve:  domain.EvolveSubscription,
		clone:   (*domain.SubscriptionState).Clone,
		version: func(s *domain.SubscriptionState) uint64 { return s.Version },
	}
	perpetualKind = kind[*domain.PerpetualState]{
		name:    domain.KindPerpetual,
		empty:   func() *domain.PerpetualState { return &domain.PerpetualState{} },
		evolve:  domain.EvolvePerpetual,
		clone:   (*domain.PerpetualState).Clone,
		version: func(s *domain.PerpetualState) uint64 { return s.Version },
	}
	couponKind = kind[*domain.CouponState]{
		name:    domain.KindCoupon,
		empty:   func() *domain.CouponState { return &domain.CouponState{} },
		evolve:  domain.EvolveCoupon,
		clone:   (*domain.CouponState).Clone,
		version: func(s *domain.CouponState) uint64 { return s.Version },
	}
)

// keyed indexes the events of an aggregate that carry an Idempotency-Key,
// by key: what a retried command finds instead of deciding again. Only
// commands sent with a key add to it (activations, admin commands), never
// check-ins, so it stays small next to the history. Shared through the
// cache like the state: never changed once built (copy on write).
type keyed map[string][]eventstore.Record

// with returns keys plus the keyed ones of recs, copying only when recs
// carry a key.
func (keys keyed) with(recs []eventstore.Record) keyed {
	out := keys
	copied := false
	for _, r := range recs {
		k := r.Event.IdempotencyKey
		if k == "" {
			continue
		}
		if !copied {
			out = make(keyed, len(keys)+1)
			for k, v := range keys {
				out[k] = v
			}
			copied = true
		}
		r.Raw = nil // the decoded event is what a replay answers with
		out[k] = append(out[k][:len(out[k]):len(out[k])], r)
	}
	return out
}

// fold folds records from scratch. A history that does not fold is a
// damaged log, never the caller's fault: EINTERNAL.
func fold[S any](k kind[S], agg domain.Aggregate, recs []eventstore.Record) (S, error) {
	st := k.empty()
	for _, r := range recs {
		if err := k.evolve(st, r.Event); err != nil {
			var zero S
			return zero, domain.Errorf(domain.EINTERNAL, "%s: history does not fold at version %d: %s", agg, r.Event.AggregateVersion, domain.ErrorMessage(err))
		}
	}
	return st, nil
}

// advance returns a copy of st with recs (the events just appended after
// it) folded in; st itself is shared through the cache and never changes.
func advance[S any](k kind[S], st S, recs []eventstore.Record) (S, bool) {
	next := k.clone(st)
	for _, r := range recs {
		if r.Event.AggregateVersion != k.version(next)+1 || k.evolve(next, r.Event) != nil {
			var zero S
			return zero, false
		}
	}
	return next, true
}

// current returns the aggregate's state as the store has it now. It costs
// one JetStream round trip when the cached state is current, and a full
// Load and fold otherwise. The returned state is shared: read it, never
// change it (the domain's Decide and Check functions only read).
func current[S any](ctx context.Context, ls *licServer, k kind[S], id string) (S, error) {
	st, _, err := currentState(ctx, ls, k, id, false)
	return st, err
}

// currentState is current with the aggregate's keyed events; locked says
// the caller already holds the aggregate's write lock.
//
// A cached state at or beyond the version the store reports is current:
// versions are unique per aggregate and only grow, so a cached state of a
// later version is the state at a later instant, which is as good an
// answer (appends only happen after their decision was made). On a miss,
// the loader first takes the aggregate's write lock: a writer of this
// process that has appended but not yet cached its state holds it, so
// readers racing a local append wait for its state instead of each
// loading the whole history.
func currentState[S any](ctx context.Context, ls *licServer, k kind[S], id string, locked bool) (S, keyed, error) {
	var zero S
	agg := domain.Aggregate{Kind: k.name, ID: id}
	key := agg.String()
	v, err := ls.store.Version(ctx, agg)
	if err != nil {
		return zero, nil, err
	}
	if st, keys, ok := cached(ls, k, key, v); ok {
		return st, keys, nil
	}
	if v == 0 {
		return k.empty(), nil, nil // no events: nothing to load (requests naming unknown licenses stay cheap)
	}
	if !locked {
		unlock, err := ls.store.Lock(ctx, agg)
		if err != nil {
			return zero, nil, err
		}
		defer unlock()
		if st, keys, ok := cached(ls, k, key, v); ok {
			return st, keys, nil
		}
	}
	recs, err := ls.store.Load(ctx, agg)
	if err != nil {
		return zero, nil, err
	}
	st, err := fold(k, agg, recs)
	if err != nil {
		return zero, nil, err
	}
	keys := keyed(nil).with(recs)
	ls.cache.put(key, st, keys, k.version(st))
	return st, keys, nil
}

// cached returns the cached state of key if it is at version v or later.
func cached[S any](ls *licServer, k kind[S], key string, v uint64) (S, keyed, bool) {
	if c, keys, ok := ls.cache.get(key); ok {
		if st, ok := c.(S); ok && k.version(st) >= v {
			return st, keys, true
		}
	}
	var zero S
	return zero, nil, false
}

// decider decides a command on a state at an instant; it may run several
// times (after a lost race) and must not change the state.
type decider[S any] func(st S, now time.Time) ([]domain.Event, error)

// written is what write did.
type written[S any] struct {
	state    S                   // the state after the command
	recs     []eventstore.Record // the events appended, or the stored ones of a replay
	replayed bool                // an Idempotency-Key replay: recs were stored by an earlier request
}

// write runs one command on an aggregate: decide on the current state,
// append with optimistic concurrency, retry on a lost race, and keep the
// cache current. With an Idempotency-Key it has the platform API's
// semantics (eventstore.Store.Execute's): a request whose key is on
// events of the aggregate gets those events back and decides nothing, and
// the events it appends carry the key. The key is looked up in the cached
// index of keyed events, so a command costs two round trips (version
// check and append) however long the history, instead of a full history
// load. Within this process writers of one aggregate queue on a lock
// rather than conflict; other processes are kept apart by the expected
// version alone (a stale cache can only make it stale, and JetStream
// refuses a stale expected version).
//
// Errors: decide's; ECONFLICT version-mismatch for If-Match; ECONFLICT
// concurrent-update after the retries; the store's otherwise.
func write[S any](ctx context.Context, ls *licServer, k kind[S], id string, opts eventstore.ExecuteOptions, source string, decide decider[S]) (written[S], error) {
	agg := domain.Aggregate{Kind: k.name, ID: id}
	var res written[S]
	err := ls.store.Guard(ctx, agg, opts.MaxRetries, func() (raced bool, err error) {
		res, raced, err = writeOnce(ctx, ls, k, agg, opts, source, decide)
		return raced, err
	})
	return res, err
}

// writeOnce is one attempt of write, under the aggregate's lock; raced
// reports that its append lost to another writer.
func writeOnce[S any](ctx context.Context, ls *licServer, k kind[S], agg domain.Aggregate, opts eventstore.ExecuteOptions, source string, decide decider[S]) (written[S], bool, error) {
	st, keys, err := currentState(ctx, ls, k, agg.ID, true)
	if err != nil {
		return written[S]{}, false, err
	}
	if done := keys[opts.IdempotencyKey]; opts.IdempotencyKey != "" && len(done) > 0 {
		return written[S]{state: st, recs: done, replayed: true}, false, nil
	}
	v := k.version(st)
	if opts.IfMatch > 0 && opts.IfMatch != v {
		return written[S]{}, false, domain.Reasonf(domain.ECONFLICT, ReasonVersionMismatch,
			"%s is at version %d, not the version %d you last saw; reload it and try again", agg, v, opts.IfMatch)
	}
	events, err := decide(st, ls.now())
	if err != nil || len(events) == 0 {
		return written[S]{state: st}, false, err
	}
	stampSource(events, source)
	for i := range events {
		events[i].IdempotencyKey = opts.IdempotencyKey
	}
	recs, err := ls.store.Append(ctx, agg, v, events...)
	if err != nil {
		return written[S]{}, domain.ErrorReason(err) == "concurrent-update", err
	}
	if next, ok := advance(k, st, recs); ok {
		ls.cache.put(agg.String(), next, keys.with(recs), k.version(next))
		return written[S]{state: next, recs: recs}, false, nil
	}
	st, _, err = currentState(ctx, ls, k, agg.ID, true)
	return written[S]{state: st, recs: recs}, false, err
}

func stampSource(events []domain.Event, source string) {
	for i := range events {
		if events[i].Source == "" {
			events[i].Source = source
		}
	}
}

// stateCache keeps folded states by aggregate subject. Entries are
// immutable: a writer folds new events into a copy and puts the copy.
// Bounded: when full, an arbitrary entry is evicted (it is only a cache;
// the store is the truth). Safe for concurrent use.
type stateCache struct {
	mu  sync.RWMutex
	m   map[string]cacheEntry
	max int
}

type cacheEntry struct {
	state   any
	keys    keyed
	version uint64
}

func newStateCache(max int) *stateCache {
	return &stateCache{m: make(map[string]cacheEntry), max: max}
}

func (c *stateCache) get(key string) (any, keyed, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[key]
	return e.state, e.keys, ok
}

// put records a state and its keyed events unless the cache holds a later
// one (a concurrent reader may finish loading an older version after a
// writer advanced). Empty aggregates (version 0) are not kept, so requests
// naming unknown licenses cannot flush real entries.
func (c *stateCache) put(key string, state any, keys keyed, version uint64) {
	if version == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.m[key]; ok {
		if cur.version > version {
			return
		}
	} else if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cacheEntry{state: state, keys: keys, version: version}
}

// decodeData reads an event's data into v.
func decodeData(e domain.Event, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return domain.Errorf(domain.EINTERNAL, "event %s (%s): bad data: %v", e.ID, e.Type, err)
	}
	return nil
}
