package eventstore

// The command layer: the one way every edge (HTTP handlers, the USB key
// watcher, license-file uploads, the CLI) changes the ledger. Per
// aggregate kind one Executor takes the folded state from a bounded cache
// (or loads and folds the history), decides with the pure domain, appends
// with optimistic concurrency, retries only the races it lost, honours
// Idempotency-Key, and reads the ledger clock exactly once per command.
//
// It lives in eventstore because it is the store's write discipline made
// whole: the expected version, the per-aggregate lock, the retry bound and
// the idempotency key are all the store's concepts, and the domain it
// calls is the only other thing it needs.

import (
	"context"
	"time"

	"github.com/licledger/licledger/domain"
)

// Kind tells an Executor how to fold one aggregate kind's state S. S is
// a pointer to a domain state; the Executor shares states between
// goroutines through its cache, so Decide functions must only read them.
type Kind[S any] struct {
	Name    string                      // domain.KindPlatform, domain.KindSubscription, ...
	New     func() S                    // the state of an aggregate with no events
	Evolve  func(S, domain.Event) error // folds one event into the state
	Clone   func(S) S                   // an independent copy to fold more events into
	Version func(S) uint64              // the number of events folded
	Exists  func(S) bool                // the aggregate has been created
	// Missing is the refusal of a command on an aggregate that does not
	// exist (one that does not create it); ENOTFOUND with the kind's reason.
	Missing func(id string) error
}

// The four aggregate kinds of the ledger.
var (
	Platforms = Kind[*domain.PlatformState]{
		Name:    domain.KindPlatform,
		New:     func() *domain.PlatformState { return &domain.PlatformState{} },
		Evolve:  domain.EvolvePlatform,
		Clone:   (*domain.PlatformState).Clone,
		Version: (*domain.PlatformState).Version,
		Exists:  (*domain.PlatformState).Registered,
		Missing: func(id string) error {
			return domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownPlatform,
				"platform %q is not registered; register it first (POST /v1/platforms)", id)
		},
	}
	Subscriptions = Kind[*domain.SubscriptionState]{
		Name:    domain.KindSubscription,
		New:     func() *domain.SubscriptionState { return &domain.SubscriptionState{} },
		Evolve:  domain.EvolveSubscription,
		Clone:   (*domain.SubscriptionState).Clone,
		Version: func(s *domain.SubscriptionState) uint64 { return s.Version },
		Exists:  (*domain.SubscriptionState).Created,
		Missing: func(id string) error {
			return domain.Reasonf(domain.ENOTFOUND, domain.ReasonSubscriptionUnknown, "no subscription %q", id)
		},
	}
	Perpetuals = Kind[*domain.PerpetualState]{
		Name:    domain.KindPerpetual,
		New:     func() *domain.PerpetualState { return &domain.PerpetualState{} },
		Evolve:  domain.EvolvePerpetual,
		Clone:   (*domain.PerpetualState).Clone,
		Version: func(s *domain.PerpetualState) uint64 { return s.Version },
		Exists:  (*domain.PerpetualState).Created,
		Missing: func(id string) error {
			return domain.Reasonf(domain.ENOTFOUND, domain.ReasonPerpetualUnknown, "no perpetual license %q", id)
		},
	}
	Coupons = Kind[*domain.CouponState]{
		Name:    domain.KindCoupon,
		New:     func() *domain.CouponState { return &domain.CouponState{} },
		Evolve:  domain.EvolveCoupon,
		Clone:   (*domain.CouponState).Clone,
		Version: func(s *domain.CouponState) uint64 { return s.Version },
		Exists:  (*domain.CouponState).Created,
		Missing: func(id string) error {
			return domain.Reasonf(domain.ENOTFOUND, domain.ReasonCouponUnknown, "no coupon %q", id)
		},
	}
)

// DefaultStateCacheSize is how many folded states an Executor keeps when
// ExecutorConfig.CacheSize is 0.
const DefaultStateCacheSize = 10_000

// ExecutorConfig tunes an Executor. The zero value works.
type ExecutorConfig struct {
	// CacheSize bounds the folded states kept in memory; 0 means
	// DefaultStateCacheSize. An evicted state is loaded again on next use.
	CacheSize int
	// MaxRetries bounds the retries of a command that lost a race; 0
	// means DefaultMaxRetries, negative means none.
	MaxRetries int
	// Now is the ledger clock commands decide at; default the store's.
	Now func() time.Time
}

// Command is one command for Executor.Execute.
type Command[S any] struct {
	ID     string // the aggregate's id
	Source string // the events' CloudEvents source (who asks), unless decide sets one
	// Creates says the command may run on an aggregate that does not exist
	// yet (a registration, a purchase); any other command on one is
	// refused with Kind.Missing.
	Creates bool
	// IdempotencyKey, if set, is stamped on every event the command
	// appends; a later command with the same key on the same aggregate
	// gets those events back (Result.Replayed) instead of deciding again.
	IdempotencyKey string
	// IfMatch, if > 0, is the aggregate version the caller last saw: the
	// command is refused ECONFLICT version-mismatch at another version.
	IfMatch uint64
	// Decide decides on the state at the ledger instant now. It may run
	// several times (on a cached state, again under the aggregate's lock,
	// after a lost race), always with the same now; it must be pure and
	// must not change st. Its errors are returned unchanged.
	Decide func(st S, now time.Time) ([]domain.Event, error)
}

// Result is what a command did.
type Result[S any] struct {
	State    S        // after the command (the current state if nothing was appended)
	Records  []Record // appended; or, for a replay, the ones an earlier command stored
	Replayed bool     // an Idempotency-Key replay: nothing was decided or appended
	// At is the command's ledger instant: the clock read once. Every
	// event appended carries it as its Time, so an answer built from At
	// equals one built from the stored events.
	At time.Time
}

// Version is the aggregate's version after the command; for a replay, the
// version of the last event the original command stored.
func (r Result[S]) Version(k Kind[S]) uint64 {
	if n := len(r.Records); n > 0 && r.Replayed {
		return r.Records[n-1].Event.AggregateVersion
	}
	return k.Version(r.State)
}

// Executor runs the commands of one aggregate kind. Safe for concurrent
// use; all Executors of one Store share its per-aggregate locks.
type Executor[S any] struct {
	store   *Store
	kind    Kind[S]
	cache   *StateCache[entry[S]]
	retries int
	now     func() time.Time
}

// NewExecutor returns the Executor of kind k on store.
func NewExecutor[S any](store *Store, k Kind[S], cfg ExecutorConfig) *Executor[S] {
	if cfg.Now == nil {
		cfg.Now = store.cfg.Now
	}
	return &Executor[S]{store: store, kind: k, cache: NewStateCache[entry[S]](cfg.CacheSize), retries: cfg.MaxRetries, now: cfg.Now}
}

// Executors are the four Executors of a ledger, one per aggregate kind.
// A process builds them once and hands them to every edge, so all share
// one cache per kind and one lock table.
type Executors struct {
	Platforms     *Executor[*domain.PlatformState]
	Subscriptions *Executor[*domain.SubscriptionState]
	Perpetuals    *Executor[*domain.PerpetualState]
	Coupons       *Executor[*domain.CouponState]
}

// NewExecutors builds the Executors of store; cfg applies to each.
func NewExecutors(store *Store, cfg ExecutorConfig) Executors {
	return Executors{
		Platforms:     NewExecutor(store, Platforms, cfg),
		Subscriptions: NewExecutor(store, Subscriptions, cfg),
		Perpetuals:    NewExecutor(store, Perpetuals, cfg),
		Coupons:       NewExecutor(store, Coupons, cfg),
	}
}

// Kind is the aggregate kind the Executor runs commands on.
func (x *Executor[S]) Kind() Kind[S] { return x.kind }

// Execute runs one command.
//
// It reads the ledger clock once; the decision instant is that reading,
// or the aggregate's last event time if the clock is behind it (ledger
// time never goes backwards within an aggregate). It first decides on
// the current state without the aggregate's lock: a refusal, or a command
// that appends nothing (nearly every check-in), is answered there, at the
// cost of one version round trip. A command that appends decides again
// under this process's lock on the aggregate, on the state as it is then,
// and appends with that state's version as the expected version; when
// another process got there first it retries on fresh state, up to the
// configured bound.
//
// Errors: decide's; Kind.Missing for a command on an aggregate that does
// not exist (unless Creates); ECONFLICT version-mismatch for IfMatch;
// ECONFLICT concurrent-update after the retries; the store's otherwise.
func (x *Executor[S]) Execute(ctx context.Context, cmd Command[S]) (Result[S], error) {
	agg := domain.Aggregate{Kind: x.kind.Name, ID: cmd.ID}
	if err := validAggregate(agg); err != nil {
		return Result[S]{}, err
	}
	now := x.now().Round(0).UTC()
	if now.IsZero() {
		return Result[S]{}, domain.Errorf(domain.EINTERNAL, "%s: the ledger clock returned the zero time", agg)
	}
	// The lock-free attempt: most refusals and all no-op commands end here.
	cur, err := x.current(ctx, agg, false)
	if err != nil {
		return Result[S]{}, err
	}
	res, events, err := x.decide(agg, cur, cmd, now)
	if refusal(err) {
		// A refusal is final only on the whole history. The head came
		// from whichever replica answered, and one that has just come
		// back may not have applied an append another process had
		// acknowledged (issue 13: a 404 for a platform registered a
		// moment before): ask the stream leader, and decide again on
		// what it has if that is later.
		if later, ok := x.confirm(ctx, agg, cur); ok {
			cur = later
			res, events, err = x.decide(agg, cur, cmd, now)
		}
	}
	if err != nil || res.Replayed || len(events) == 0 {
		return res, err
	}
	err = x.store.guard(ctx, agg, x.retries, func() (raced bool, err error) {
		res, raced, err = x.attempt(ctx, agg, cmd, now)
		return raced, err
	})
	return res, err
}

// refusal reports whether err refuses the command on the aggregate's
// state (not found, a conflict with it), as opposed to a malformed
// command or an infrastructure failure.
func refusal(err error) bool {
	switch domain.ErrorCode(err) {
	case domain.ENOTFOUND, domain.ECONFLICT:
		return true
	}
	return false
}

// confirm returns the aggregate's state as the stream leader has it, if
// that is later than cur's (ok false otherwise, or when the leader cannot
// be asked: the refusal then stands on what the replica had).
func (x *Executor[S]) confirm(ctx context.Context, agg domain.Aggregate, cur entry[S]) (entry[S], bool) {
	hd, err := x.store.leaderHead(ctx, subjectOf(agg))
	if err != nil || hd.version <= cur.version {
		return cur, false
	}
	later, err := x.current(ctx, agg, false)
	if err != nil || later.version <= cur.version {
		return cur, false
	}
	return later, true
}

// decide runs the checks every attempt makes and then cmd.Decide.
func (x *Executor[S]) decide(agg domain.Aggregate, cur entry[S], cmd Command[S], now time.Time) (Result[S], []domain.Event, error) {
	if done := cur.keys[cmd.IdempotencyKey]; cmd.IdempotencyKey != "" && len(done) > 0 {
		return Result[S]{State: cur.state, Records: done, Replayed: true, At: now}, nil, nil
	}
	at := now
	if at.Before(cur.last) {
		at = cur.last
	}
	res := Result[S]{State: cur.state, At: at}
	if v := x.kind.Version(cur.state); cmd.IfMatch > 0 && cmd.IfMatch != v {
		return res, nil, domain.Reasonf(domain.ECONFLICT, domain.ReasonVersionMismatch,
			"%s is at version %d, not the version %d you last saw; reload it and try again", agg, v, cmd.IfMatch)
	}
	if !cmd.Creates && !x.kind.Exists(cur.state) {
		return res, nil, x.kind.Missing(agg.ID)
	}
	events, err := cmd.Decide(cur.state, at)
	return res, events, err
}

// attempt is one locked attempt; raced reports that its append lost to
// another writer (a stale expected version), the only failure worth a
// retry: a refusal of decide's, even one coded ECONFLICT, is the answer.
func (x *Executor[S]) attempt(ctx context.Context, agg domain.Aggregate, cmd Command[S], now time.Time) (Result[S], bool, error) {
	cur, err := x.current(ctx, agg, true)
	if err != nil {
		return Result[S]{}, false, err
	}
	res, events, err := x.decide(agg, cur, cmd, now)
	if err != nil || res.Replayed || len(events) == 0 {
		return res, false, err
	}
	for i := range events {
		if events[i].Source == "" {
			events[i].Source = cmd.Source
		}
		events[i].IdempotencyKey = cmd.IdempotencyKey
		events[i].Time = res.At
	}
	recs, err := x.store.Append(ctx, agg, x.kind.Version(cur.state), events...)
	if err != nil {
		return Result[S]{}, domain.ErrorReason(err) == domain.ReasonConcurrentUpdate, err
	}
	res.Records = recs
	if next, ok := x.advance(cur, recs); ok {
		x.cache.Put(agg.String(), next, next.version)
		res.State = next.state
		return res, false, nil
	}
	cur, err = x.current(ctx, agg, true)
	res.State = cur.state
	return res, false, err
}

// Current returns the aggregate's state as the store has it now (an
// empty state when it has no events). It costs one JetStream round trip
// when the cached state is current, and a full load and fold otherwise.
// The state is shared: read it, never change it.
func (x *Executor[S]) Current(ctx context.Context, id string) (S, error) {
	agg := domain.Aggregate{Kind: x.kind.Name, ID: id}
	if err := validAggregate(agg); err != nil {
		var zero S
		return zero, err
	}
	e, err := x.current(ctx, agg, false)
	return e.state, err
}

// AsOf returns the aggregate's state folded from its history up to and
// including instant at (R32), loaded from the store; a fresh state the
// caller may keep.
func (x *Executor[S]) AsOf(ctx context.Context, id string, at time.Time) (S, error) {
	e, err := x.prefix(ctx, domain.Aggregate{Kind: x.kind.Name, ID: id}, at, 0)
	return e.state, err
}

// View returns the aggregate's state folded from the events stamped at or
// before instant at and stored at or below stream sequence seq (0: no
// bound), and the stream sequence of the last event folded (0 if none):
// the log position a reproducible view names. Asked again with that
// position, it folds exactly the same events, whatever was appended
// since. The current (cached) state answers when it is that prefix, so a
// view of "now" costs what Current costs. The state is shared: read it,
// never change it.
func (x *Executor[S]) View(ctx context.Context, id string, at time.Time, seq uint64) (S, uint64, error) {
	agg := domain.Aggregate{Kind: x.kind.Name, ID: id}
	if err := validAggregate(agg); err != nil {
		var zero S
		return zero, 0, err
	}
	cur, err := x.current(ctx, agg, false)
	if err != nil {
		var zero S
		return zero, 0, err
	}
	if !cur.last.After(at) && (seq == 0 || cur.seq <= seq) {
		return cur.state, cur.seq, nil
	}
	e, err := x.prefix(ctx, agg, at, seq)
	return e.state, e.seq, err
}

// prefix loads the aggregate's history and folds its events stamped at or
// before at and stored at or below seq (0: no bound).
func (x *Executor[S]) prefix(ctx context.Context, agg domain.Aggregate, at time.Time, seq uint64) (entry[S], error) {
	recs, err := x.store.Load(ctx, agg)
	if err != nil {
		return entry[S]{}, err
	}
	n := 0
	for n < len(recs) && !recs[n].Event.Time.After(at) && (seq == 0 || recs[n].Seq <= seq) {
		n++ // ledger time and sequences never go backwards within an aggregate
	}
	return x.fold(agg, recs[:n])
}

// current returns the aggregate's cache entry as the store has it now;
// locked says the caller holds the aggregate's lock.
//
// A cached state at or beyond the version the store reports is current:
// versions only grow, and a later state is the state at a later instant,
// as good an answer (appends happen only after their decision). On a
// miss the loader first takes the aggregate's lock: a local writer that
// has appended but not yet cached holds it, so readers racing a local
// append wait for its state instead of each loading the whole history.
func (x *Executor[S]) current(ctx context.Context, agg domain.Aggregate, locked bool) (entry[S], error) {
	key := agg.String()
	hd, err := x.store.fetchHead(ctx, subjectOf(agg))
	if err != nil {
		return entry[S]{}, err
	}
	if e, v, ok := x.cache.Get(key); ok && v >= hd.version {
		return e, nil
	}
	if hd.version == 0 {
		return entry[S]{state: x.kind.New()}, nil // nothing to load: unknown ids stay cheap
	}
	if !locked {
		unlock, err := x.store.lock(ctx, agg)
		if err != nil {
			return entry[S]{}, err
		}
		defer unlock()
		if e, v, ok := x.cache.Get(key); ok && v >= hd.version {
			return e, nil
		}
	}
	recs, err := x.store.Load(ctx, agg)
	if err != nil {
		return entry[S]{}, err
	}
	e, err := x.fold(agg, recs)
	if err != nil {
		return entry[S]{}, err
	}
	x.cache.Put(key, e, e.version)
	return e, nil
}

// fold folds records from scratch. A history that does not fold is a
// damaged log, never the caller's fault: EINTERNAL.
func (x *Executor[S]) fold(agg domain.Aggregate, recs []Record) (entry[S], error) {
	st := x.kind.New()
	for _, r := range recs {
		if err := x.kind.Evolve(st, r.Event); err != nil {
			return entry[S]{}, domain.Errorf(domain.EINTERNAL, "%s: history does not fold at version %d: %s; run `licledger audit verify`",
				agg, r.Event.AggregateVersion, domain.ErrorMessage(err))
		}
	}
	e := entry[S]{state: st, version: x.kind.Version(st), keys: keyed(nil).with(recs)}
	if n := len(recs); n > 0 {
		e.last, e.seq = recs[n-1].Event.Time, recs[n-1].Seq
	}
	return e, nil
}

// advance returns a copy of e with recs (the events just appended after
// it) folded in; e is shared through the cache and never changes.
func (x *Executor[S]) advance(e entry[S], recs []Record) (entry[S], bool) {
	next := x.kind.Clone(e.state)
	for _, r := range recs {
		if r.Event.AggregateVersion != x.kind.Version(next)+1 || x.kind.Evolve(next, r.Event) != nil {
			return entry[S]{}, false
		}
	}
	last := recs[len(recs)-1]
	return entry[S]{state: next, version: x.kind.Version(next), last: last.Event.Time, seq: last.Seq, keys: e.keys.with(recs)}, true
}

// keyed indexes the events of an aggregate that carry an Idempotency-Key,
// by key: what a retried command finds instead of deciding again. Only
// commands sent with a key add to it, so it stays small next to the
// history. Shared through the cache like the state: never changed once
// built (copy on write).
type keyed map[string][]Record

// with returns keys plus the keyed ones of recs, copying only when recs
// carry a key.
func (keys keyed) with(recs []Record) keyed {
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

// entry is an Executor's cached view of an aggregate: its folded state,
// the version, time and stream sequence of the last event folded, and its
// keyed events.
type entry[S any] struct {
	state   S
	version uint64
	last    time.Time
	seq     uint64
	keys    keyed
}
