package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Seats and leases (R25–R27), shared by subscriptions and perpetual
// licenses: instances live in the aggregate whose seats they use, so the
// seat limit is guarded by that aggregate's optimistic concurrency — two
// instances racing for the last seat append against the same expected
// version, and the loser gets a conflict and decides again on fresh state.
//
// A seat is held by a lease. Nothing records a lease's end: whether an
// instance holds its seat at an instant T is derived from the history (its
// last recorded check-in, a deactivation) and T alone, so no timer events
// exist and the answer is the same however often it is replayed (R32).

// InstanceCheckInRecordDivisor bounds how much check-ins grow the log: a
// successful check-in is recorded (instance.checked_in) only when the last
// recorded one — or the activation — is at least Lease/4 old, or when the
// instance reports a new product version. An instance therefore adds at most
// 4 check-in events per lease period while it runs (4 a day with the default
// 24 h lease), whatever its polling rate, plus one activation per seat taken.
//
// Because check-ins in between are not recorded, the history knows the last
// check-in only to within Lease/4. A seat is therefore held until
// Lease + Lease/4 after the last recorded check-in: never earlier than a full
// lease after the instance's real last check-in (R27 never releases a seat
// too soon), and at most Lease/4 later.
const InstanceCheckInRecordDivisor = 4

// Lease bounds. A subscription or perpetual license that names no lease gets
// InstanceDefaultLease (R27).
const (
	InstanceDefaultLease = 24 * time.Hour
	InstanceMinLease     = time.Minute
	InstanceMaxLease     = 31 * 24 * time.Hour
)

// InstanceMinSecretLen is the shortest secret an activation accepts. The
// caller generates secrets (the domain has no randomness); 16 characters of
// a random token is the floor, 32+ is what callers should use.
const InstanceMinSecretLen = 16

// HashSecret returns the hex SHA-256 of an instance secret: what the log
// stores instead of the secret. Secrets are high-entropy random tokens, so a
// plain hash (no salt, no stretching) is enough to keep them out of the log.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// InstanceActivate asks for a seat (R26). The caller picks the instance id
// and generates the secret; only its hash is recorded, and the caller hands
// the secret to the client in the reply. Version is the product version the
// instance runs; ReleasedAt is that version's release instant from the
// vendor's release list (never the client's claim) — required by perpetual
// licenses (R28), ignored by subscriptions, which cover every version.
type InstanceActivate struct {
	InstanceID string
	Secret     string
	Version    string
	ReleasedAt time.Time
}

// InstanceCheckIn is an instance's periodic check (R27). Version, when set
// and different from the recorded one, reports an upgraded product: for a
// perpetual license ReleasedAt is then required, as for activation.
type InstanceCheckIn struct {
	InstanceID string
	Secret     string
	Version    string
	ReleasedAt time.Time
}

// InstanceDeactivate frees a seat at once. A client proves its secret; with
// ByAdmin the secret is not checked — only an adapter that has
// authenticated an administrator may set it.
type InstanceDeactivate struct {
	InstanceID string
	Secret     string
	ByAdmin    bool
	// Reason is recorded with an admin's release of a seat (moving a stuck
	// instance to another machine); at most 256 characters.
	Reason string
}

func (InstanceActivate) subscriptionCommand()   {}
func (InstanceCheckIn) subscriptionCommand()    {}
func (InstanceDeactivate) subscriptionCommand() {}
func (InstanceActivate) perpetualCommand()      {}
func (InstanceCheckIn) perpetualCommand()       {}
func (InstanceDeactivate) perpetualCommand()    {}

// InstanceCheckReply is what an activation or a check answers (R26, R27):
// the current plan, so a plan change reaches every instance on its next
// check with no restart (R24). Times are RFC 3339 UTC.
type InstanceCheckReply struct {
	License       string       `json:"license"` // the aggregate subject, e.g. "subscription/S-1"
	Instance      string       `json:"instance"`
	Status        string       `json:"status"`
	Plan          InstancePlan `json:"plan"`
	InstanceLimit int          `json:"instance_limit"`
	Version       string       `json:"version"`
	PeriodEnd     string       `json:"period_end,omitempty"`    // subscriptions
	UpdatesUntil  string       `json:"updates_until,omitempty"` // perpetual licenses
	LeaseSeconds  int64        `json:"lease_seconds"`
	SeatExpiresAt string       `json:"seat_expires_at"`
	// Fallback names the perpetual license that answered for a canceled
	// or expired subscription (R28 Decision (fallback)), else "".
	Fallback string `json:"fallback,omitempty"`
	// Signed is the ledger's signature over what this answer states
	// (answer.go); the HTTP layer adds it, the domain never signs.
	Signed *Signed `json:"signed,omitempty"`
}

// InstanceSeat is one activated instance as the history records it.
type InstanceSeat struct {
	ID             string
	SecretHash     string
	Version        string
	ReleasedAt     time.Time // zero when the activation did not carry it
	ActivatedAt    time.Time
	LastCheckIn    time.Time // last recorded check-in; the activation counts as one
	DeactivatedAt  time.Time // zero unless deactivated
	DeactivatedBy  string
	DeactivatedWhy string // an admin's reason, if given
	// Provenance: the events of the activation, the last recorded
	// check-in (the activation until one) and the deactivation.
	ActivatedEvent, CheckInEvent, DeactivatedEvent string
}

// SeatExpiresAt is when the seat is released unless another check-in is
// recorded first (see InstanceCheckInRecordDivisor for the Lease/4 margin).
func (i InstanceSeat) SeatExpiresAt(lease time.Duration) time.Time {
	return i.LastCheckIn.Add(lease + lease/InstanceCheckInRecordDivisor)
}

// HoldsSeat reports whether the instance holds a seat at instant at.
func (i InstanceSeat) HoldsSeat(at time.Time, lease time.Duration) bool {
	return i.DeactivatedAt.IsZero() && at.Before(i.SeatExpiresAt(lease))
}

// seatState names the lease state of an instance in views.
func (i InstanceSeat) seatState(at time.Time, lease time.Duration) string {
	switch {
	case !i.DeactivatedAt.IsZero():
		return "deactivated"
	case i.HoldsSeat(at, lease):
		return "held"
	default:
		return "released"
	}
}

// InstanceSeats is every instance an aggregate ever activated, in activation
// (log) order. Activation order decides which seats keep working if a
// history ever holds more leases than the limit: the oldest ones.
type InstanceSeats struct {
	List  []InstanceSeat
	index map[string]int
}

// Find returns the instance with the given id.
func (s *InstanceSeats) Find(id string) (InstanceSeat, bool) {
	i, ok := s.index[id]
	if !ok {
		return InstanceSeat{}, false
	}
	return s.List[i], true
}

// HeldCount is len(Held(at, lease)) without copying the seats: it runs on
// every activation and check-in.
func (s *InstanceSeats) HeldCount(at time.Time, lease time.Duration) int {
	n := 0
	for i := range s.List {
		if s.List[i].HoldsSeat(at, lease) {
			n++
		}
	}
	return n
}

// heldBefore counts the instances holding a seat at instant at that were
// activated before the one at index i: its rank among the holders.
func (s *InstanceSeats) heldBefore(i int, at time.Time, lease time.Duration) int {
	n := 0
	for j := range s.List[:i] {
		if s.List[j].HoldsSeat(at, lease) {
			n++
		}
	}
	return n
}

// Held returns the instances holding a seat at instant at, oldest first.
func (s *InstanceSeats) Held(at time.Time, lease time.Duration) []InstanceSeat {
	var held []InstanceSeat
	for _, in := range s.List {
		if in.HoldsSeat(at, lease) {
			held = append(held, in)
		}
	}
	return held
}

func (s *InstanceSeats) clone() InstanceSeats {
	c := InstanceSeats{}
	if s.List != nil {
		c.List = append([]InstanceSeat(nil), s.List...)
	}
	if s.index != nil {
		c.index = make(map[string]int, len(s.index))
		for k, v := range s.index {
			c.index[k] = v
		}
	}
	return c
}

// evolve applies one instance.* event. It validates everything before it
// changes anything, so a refused event leaves the seats untouched.
func (s *InstanceSeats) evolve(e Event) error {
	if e.Time.IsZero() {
		return Errorf(EINVALID, "event %s (%s) has no time; leases are counted from it", e.ID, e.Type)
	}
	at := e.Time.UTC()
	switch e.Type {
	case EventInstanceActivated:
		var d InstanceActivated
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		if err := ValidateID(d.Instance); err != nil {
			return Errorf(EINVALID, "event %s: instance: %s", e.ID, ErrorMessage(err))
		}
		if _, dup := s.index[d.Instance]; dup {
			return Errorf(EINVALID, "event %s: instance %s activated twice", e.ID, d.Instance)
		}
		if b, err := hex.DecodeString(d.SecretSHA256); err != nil || len(b) != sha256.Size {
			return Errorf(EINVALID, "event %s: secret_sha256 is not a hex SHA-256", e.ID)
		}
		in := InstanceSeat{ID: d.Instance, SecretHash: d.SecretSHA256, Version: d.Version, ActivatedAt: at, LastCheckIn: at,
			ActivatedEvent: e.ID, CheckInEvent: e.ID}
		if d.ReleasedAt != nil {
			in.ReleasedAt = d.ReleasedAt.UTC()
		}
		if s.index == nil {
			s.index = map[string]int{}
		}
		s.index[in.ID] = len(s.List)
		s.List = append(s.List, in)
	case EventInstanceCheckedIn:
		var d InstanceCheckedIn
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		i, err := s.live(e, d.Instance)
		if err != nil {
			return err
		}
		s.List[i].LastCheckIn, s.List[i].CheckInEvent = at, e.ID
		if d.Version != "" {
			s.List[i].Version = d.Version
			s.List[i].ReleasedAt = time.Time{}
			if d.ReleasedAt != nil {
				s.List[i].ReleasedAt = d.ReleasedAt.UTC()
			}
		}
	case EventInstanceDeactivated:
		var d InstanceDeactivated
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		i, err := s.live(e, d.Instance)
		if err != nil {
			return err
		}
		s.List[i].DeactivatedAt = at
		s.List[i].DeactivatedBy, s.List[i].DeactivatedEvent = d.By, e.ID
		s.List[i].DeactivatedWhy = d.Reason
	default:
		return Errorf(EINVALID, "event %s: unknown instance event type %q", e.ID, e.Type)
	}
	return nil
}

// live finds an instance an event refers to; it must exist and not be
// deactivated (a deactivated instance must activate again, under a new id).
func (s *InstanceSeats) live(e Event, id string) (int, error) {
	i, ok := s.index[id]
	if !ok {
		return 0, Errorf(EINVALID, "event %s: instance %q was never activated", e.ID, id)
	}
	if !s.List[i].DeactivatedAt.IsZero() {
		return 0, Errorf(EINVALID, "event %s: instance %s is deactivated", e.ID, id)
	}
	return i, nil
}

// seatRules is what a seat-holding aggregate tells the shared decisions.
type seatRules struct {
	subject string
	limit   int
	lease   time.Duration
	// valid refuses when the license is not valid at now (canceled, expired).
	valid func(now time.Time) error
	// covers refuses a version the license does not cover (R28).
	covers func(version string, releasedAt time.Time) error
	// needReleased makes a version's release instant mandatory.
	needReleased bool
}

// decideActivate decides an activation (R26). An exact retry of an
// activation that still holds its seat (same id, secret and version) is
// success with no events, so a client retrying after a lost reply is safe.
func (s *InstanceSeats) decideActivate(r seatRules, cmd InstanceActivate, now time.Time) (InstanceSeat, []Event, error) {
	if err := ValidateID(cmd.InstanceID); err != nil {
		return InstanceSeat{}, nil, Reasonf(EINVALID, ReasonInvalidID, "instance id: %s", ErrorMessage(err))
	}
	if len(cmd.Secret) < InstanceMinSecretLen {
		return InstanceSeat{}, nil, Errorf(EINVALID, "instance secret must be at least %d characters", InstanceMinSecretLen)
	}
	if err := srvValidateVersion(cmd.Version, cmd.ReleasedAt, r.needReleased); err != nil {
		return InstanceSeat{}, nil, err
	}
	if err := r.valid(now); err != nil {
		return InstanceSeat{}, nil, err
	}
	hash := HashSecret(cmd.Secret)
	if in, ok := s.Find(cmd.InstanceID); ok {
		if srvSameHash(in.SecretHash, hash) && in.Version == cmd.Version && in.HoldsSeat(now, r.lease) {
			return in, nil, nil
		}
		return InstanceSeat{}, nil, Reasonf(ECONFLICT, ReasonInstanceExists,
			"instance id %s is already used in %s; activate with a new instance id", cmd.InstanceID, r.subject)
	}
	if err := r.covers(cmd.Version, cmd.ReleasedAt); err != nil {
		return InstanceSeat{}, nil, err
	}
	if held := s.HeldCount(now, r.lease); held >= r.limit {
		more := "; stop one, wait for its lease to lapse, or add instances"
		if strings.HasPrefix(r.subject, KindPerpetual+"/") {
			more = "; stop it or wait for its lease to lapse (a perpetual license covers one instance)"
		}
		return InstanceSeat{}, nil, Reasonf(ECONFLICT, ReasonInstanceTooMany,
			"%s allows %d instance(s) at once and %d hold a seat%s", r.subject, r.limit, held, more)
	}
	d := InstanceActivated{Instance: cmd.InstanceID, Version: cmd.Version, SecretSHA256: hash}
	if !cmd.ReleasedAt.IsZero() {
		t := cmd.ReleasedAt.UTC()
		d.ReleasedAt = &t
	}
	e, err := NewEvent(r.subject, EventInstanceActivated, d)
	if err != nil {
		return InstanceSeat{}, nil, err
	}
	in := InstanceSeat{ID: cmd.InstanceID, SecretHash: hash, Version: cmd.Version, ReleasedAt: srvUTC(cmd.ReleasedAt), ActivatedAt: now, LastCheckIn: now}
	return in, []Event{e}, nil
}

// decideCheckIn decides a check (R27) and returns the instance as it will be
// once the returned events (none, or one instance.checked_in) are appended.
func (s *InstanceSeats) decideCheckIn(r seatRules, cmd InstanceCheckIn, now time.Time) (InstanceSeat, []Event, error) {
	in, err := s.authenticate(r, cmd.InstanceID, cmd.Secret)
	if err != nil {
		return InstanceSeat{}, nil, err
	}
	if err := r.valid(now); err != nil {
		return InstanceSeat{}, nil, err
	}
	if !in.HoldsSeat(now, r.lease) {
		return InstanceSeat{}, nil, Reasonf(ECONFLICT, ReasonInstanceSeatReleased,
			"instance %s no longer holds a seat in %s (deactivated, or no check-in recorded since %s); activate again",
			in.ID, r.subject, srvTimeText(in.LastCheckIn))
	}
	if rank := s.heldBefore(s.index[in.ID], now, r.lease); rank >= r.limit {
		return InstanceSeat{}, nil, Reasonf(ECONFLICT, ReasonInstanceTooMany,
			"%s allows %d instance(s) at once and instance %s holds seat %d; older instances keep theirs", r.subject, r.limit, in.ID, rank+1)
	}
	changed := cmd.Version != "" && cmd.Version != in.Version
	version, released := in.Version, in.ReleasedAt
	if changed {
		if err := srvValidateVersion(cmd.Version, cmd.ReleasedAt, r.needReleased); err != nil {
			return InstanceSeat{}, nil, err
		}
		version, released = cmd.Version, srvUTC(cmd.ReleasedAt)
	}
	if !changed && released.IsZero() && !cmd.ReleasedAt.IsZero() {
		// A subscription's activation need not record the release instant;
		// a fallback's coverage (R28) then takes the check's own.
		released = srvUTC(cmd.ReleasedAt)
	}
	if err := r.covers(version, released); err != nil {
		return InstanceSeat{}, nil, err
	}
	if !changed && now.Sub(in.LastCheckIn) < r.lease/InstanceCheckInRecordDivisor {
		return in, nil, nil
	}
	d := InstanceCheckedIn{Instance: in.ID}
	if changed {
		d.Version = version
		if !released.IsZero() {
			d.ReleasedAt = &released
		}
	}
	e, err := NewEvent(r.subject, EventInstanceCheckedIn, d)
	if err != nil {
		return InstanceSeat{}, nil, err
	}
	in.LastCheckIn, in.Version, in.ReleasedAt = now, version, released
	return in, []Event{e}, nil
}

// decideDeactivate frees a seat. Deactivating an instance already
// deactivated is success with no events (a retried shutdown).
func (s *InstanceSeats) decideDeactivate(r seatRules, cmd InstanceDeactivate) ([]Event, error) {
	var in InstanceSeat
	var err error
	by := "admin"
	if len(cmd.Reason) > 256 {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "a release reason is at most 256 characters")
	}
	if cmd.ByAdmin {
		var ok bool
		if in, ok = s.Find(cmd.InstanceID); !ok {
			return nil, Reasonf(ENOTFOUND, ReasonInstanceUnknown, "no instance %q in %s", cmd.InstanceID, r.subject)
		}
	} else {
		by = "client"
		if in, err = s.authenticate(r, cmd.InstanceID, cmd.Secret); err != nil {
			return nil, err
		}
	}
	if !in.DeactivatedAt.IsZero() {
		return nil, nil
	}
	d := InstanceDeactivated{Instance: in.ID, By: by}
	if cmd.ByAdmin {
		d.Reason = cmd.Reason
	}
	e, err := NewEvent(r.subject, EventInstanceDeactivated, d)
	if err != nil {
		return nil, err
	}
	return []Event{e}, nil
}

// authenticate finds an instance and checks its secret.
func (s *InstanceSeats) authenticate(r seatRules, id, secret string) (InstanceSeat, error) {
	if err := ValidateID(id); err != nil {
		return InstanceSeat{}, Reasonf(EINVALID, ReasonInvalidID, "instance id: %s", ErrorMessage(err))
	}
	in, ok := s.Find(id)
	if !ok {
		return InstanceSeat{}, Reasonf(ENOTFOUND, ReasonInstanceUnknown, "no instance %q in %s; activate first", id, r.subject)
	}
	if !srvSameHash(in.SecretHash, HashSecret(secret)) {
		return InstanceSeat{}, Reasonf(EUNAUTHORIZED, ReasonInstanceBadSecret, "the secret does not match instance %s", id)
	}
	return in, nil
}

// InstanceView is one instance in a subscription or perpetual view.
type InstanceView struct {
	ID            string `json:"id"`
	Version       string `json:"version"`
	ReleasedAt    string `json:"released_at,omitempty"`
	ActivatedAt   string `json:"activated_at"`
	LastCheckIn   string `json:"last_check_in"`
	Seat          string `json:"seat"` // held, released or deactivated
	SeatExpiresAt string `json:"seat_expires_at,omitempty"`
	DeactivatedAt string `json:"deactivated_at,omitempty"`
	DeactivatedBy string `json:"deactivated_by,omitempty"`
	// DeactivatedReason is an admin's recorded reason for the release.
	DeactivatedReason string `json:"deactivated_reason,omitempty"`
}

// views lists every instance with its lease state at instant at.
func (s *InstanceSeats) views(at time.Time, lease time.Duration) []InstanceView {
	out := make([]InstanceView, 0, len(s.List))
	for _, in := range s.List {
		v := InstanceView{
			ID: in.ID, Version: in.Version, ReleasedAt: srvTimeText(in.ReleasedAt),
			ActivatedAt: srvTimeText(in.ActivatedAt), LastCheckIn: srvTimeText(in.LastCheckIn),
			Seat: in.seatState(at, lease), DeactivatedAt: srvTimeText(in.DeactivatedAt), DeactivatedBy: in.DeactivatedBy,
			DeactivatedReason: in.DeactivatedWhy,
		}
		if in.DeactivatedAt.IsZero() {
			v.SeatExpiresAt = srvTimeText(in.SeatExpiresAt(lease))
		}
		out = append(out, v)
	}
	return out
}
