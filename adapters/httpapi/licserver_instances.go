package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/oklog/ulid/v2"
)

// Product-instance endpoints (R25–R28), role client (or admin).
//
// The license key is the license's aggregate subject, "subscription/<id>"
// or "perpetual/<id>": what the vendor hands the customer, and what every
// activation and check reply carries as "license". An instance's seat
// lives in that aggregate, so the key names the one consistency boundary
// that guards the seat limit.

// ActivateRequest is the body of POST /v1/instances/activate. ReleasedAt is
// the release instant of ProductVersion; perpetual licenses need it (R28)
// unless the server has a release list, subscriptions ignore it.
type ActivateRequest struct {
	LicenseKey     string     `json:"license_key"`
	ProductVersion string     `json:"product_version"`
	ReleasedAt     *time.Time `json:"released_at,omitempty"`
}

// ActivateResponse is the answer to an activation: the instance id and its
// secret (sent once, never stored: only its hash is in the log), then the
// plan and lease exactly as a check returns them (Instance repeats
// InstanceID).
type ActivateResponse struct {
	InstanceID string `json:"instance_id"`
	Secret     string `json:"secret"`
	domain.InstanceCheckReply
}

// CheckRequest is the body of POST /v1/instances/{id}/check. A
// ProductVersion other than the recorded one reports an upgrade (for a
// perpetual license it must be covered, R28); empty keeps the recorded
// version.
type CheckRequest struct {
	LicenseKey     string     `json:"license_key"`
	Secret         string     `json:"secret"`
	ProductVersion string     `json:"product_version,omitempty"`
	ReleasedAt     *time.Time `json:"released_at,omitempty"`
}

// DeactivateRequest is the body of POST /v1/instances/{id}/deactivate. A
// client proves the secret; an admin may leave it out to free a seat.
type DeactivateRequest struct {
	LicenseKey string `json:"license_key"`
	Secret     string `json:"secret,omitempty"`
	// Reason is recorded with an admin's release of a stuck seat (the
	// instance moved to another machine); a client's own deactivation
	// records none.
	Reason string `json:"reason,omitempty"`
}

// parseLicenseKey reads the license key of an instance request: the
// license's key (domain.ParseLicenseKey), whose id names the aggregate
// holding the seats. A caller without a token is named after the key's
// hash from here on (its events' source, the scope of its
// Idempotency-Keys); the key itself is never logged or recorded.
func (s *Server) parseLicenseKey(r *http.Request, key string) (domain.LicenseKey, *http.Request, error) {
	k, err := domain.ParseLicenseKey(key)
	if err != nil {
		return k, r, err
	}
	if err := s.checkInstanceLimits(r, k.Aggregate.String()); err != nil {
		return k, r, err
	}
	if err := s.ownsLicenseKey(r, k); err != nil {
		return k, r, err
	}
	if c, _ := CallerOf(r.Context()); c.Role == RoleLicenseKey {
		c.Actor = "key#" + domain.HashSecret(k.Secret)[:8]
		r = r.WithContext(withCaller(r.Context(), c))
	}
	return k, r, nil
}

// tokenCaller reports whether the request was authenticated with a client
// or admin token: the only callers a legacy license name still opens a
// license for (LicenseKeys.Check).
func tokenCaller(r *http.Request) bool {
	c, _ := CallerOf(r.Context())
	return c.Role == RoleClient || c.Role == RoleAdmin
}

// releasedAt resolves a version's release instant for a perpetual license
// (R28): from the release list when the server has one (the client's
// claim must agree), else the client's claim. strict refuses versions the
// list does not know (activation); a check passes them on as unknown, and
// the domain refuses them only if they are a change it must cover.
func (ls *licServer) releasedAt(kind, version string, claimed *time.Time, strict bool) (time.Time, error) {
	if kind != domain.KindPerpetual {
		// Subscriptions cover every version; the release instant matters
		// only to a perpetual fallback (R28 Decision (fallback)), so it is
		// resolved but never required.
		strict = false
	}
	if ls.releases == nil {
		if claimed == nil {
			return time.Time{}, nil
		}
		return claimed.UTC(), nil
	}
	t, ok := ls.releases[version]
	switch {
	case !ok && strict:
		return time.Time{}, domain.Reasonf(domain.EINVALID, domain.ReasonUnknownVersion, "product version %q is not in the vendor's release list", version)
	case !ok:
		return time.Time{}, nil
	case claimed != nil && !claimed.Equal(t):
		return time.Time{}, domain.Reasonf(domain.EINVALID, domain.ReasonReleasedAtMismatch,
			"version %s was released %s per the release list, not %s", version, t.Format(time.RFC3339), claimed.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// newInstanceID is a ULID at the ledger's clock, so ids sort with the log.
func newInstanceID(now time.Time) string {
	return ulid.MustNew(ulid.Timestamp(now), rand.Reader).String()
}

// instanceSecret returns a new instance secret: 256 random bits, base64url.
// With an Idempotency-Key it is instead derived (HMAC-SHA256 under the
// server's key) from the license, the instance and the key, so a retried
// activation can hand the same secret out again; the log, which records
// the key, never holds what the derivation needs.
func (ls *licServer) instanceSecret(agg domain.Aggregate, instance, idemKey string) string {
	if idemKey == "" {
		b := make([]byte, 32)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	m := hmac.New(sha256.New, ls.key)
	m.Write([]byte(agg.String() + "\x00" + instance + "\x00" + idemKey))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// licenseCommand runs a command on a subscription, perpetual license or
// coupon through x and answers with a LicenseCommandResult (201 when it
// recorded events, else 200) and the version as ETag.
func licenseCommand[S any](w http.ResponseWriter, r *http.Request, ls *licServer, x Executor[S], id, name string, creates bool, decide func(S, time.Time) ([]domain.Event, error)) error {
	cmd, err := newCommand(r, id, decide)
	if err != nil {
		return err
	}
	cmd.Creates = creates
	res, err := run(ls.s, r, x, name, cmd)
	if err != nil {
		return err
	}
	out := LicenseCommandResult{License: domain.Aggregate{Kind: x.Kind().Name, ID: id}.String(), Version: res.Version(x.Kind()), Events: appended(res.Records)}
	w.Header().Set("ETag", etag(out.Version))
	writeJSON(w, commandStatus(r, len(out.Events)), out)
	return nil
}

// activation is one activation request on its way through the command
// layer: the instance it creates is named, and its secret made, once, at
// the command's instant (the ledger clock is read once per command).
type activation struct {
	ls          *licServer
	agg         domain.Aggregate
	key         domain.LicenseKey
	tokenCaller bool
	idemKey     string
	cmd         domain.InstanceActivate
	reply       domain.InstanceCheckReply
	now         time.Time // the decision instant the reply is signed at
}

// at returns the command, naming the instance on first use.
func (a *activation) at(now time.Time) domain.InstanceActivate {
	if a.cmd.InstanceID == "" {
		a.cmd.InstanceID = newInstanceID(now)
		a.cmd.Secret = a.ls.instanceSecret(a.agg, a.cmd.InstanceID, a.idemKey)
	}
	return a.cmd
}

// activate takes a seat (R26): 201 with the new instance's id, secret and
// plan (again 201, same instance and secret, for a replay of the same
// Idempotency-Key).
func (ls *licServer) activate(w http.ResponseWriter, r *http.Request) (err error) {
	var req ActivateRequest
	if err := decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	license := ""
	defer func() { err = ls.s.signRefusal(err, license, "", req.ProductVersion, req.LicenseKey) }()
	key, r, err := ls.s.parseLicenseKey(r, req.LicenseKey)
	if err != nil {
		return err
	}
	agg := key.Aggregate
	license = agg.String()
	released, err := ls.releasedAt(agg.Kind, req.ProductVersion, req.ReleasedAt, true)
	if err != nil {
		return err
	}
	a := &activation{ls: ls, agg: agg, key: key, tokenCaller: tokenCaller(r), cmd: domain.InstanceActivate{Version: req.ProductVersion, ReleasedAt: released}}
	var recs []eventstore.Record
	switch agg.Kind {
	case domain.KindSubscription:
		var res eventstore.Result[*domain.SubscriptionState]
		var fb *domain.PerpetualState
		if fb, err = ls.fallbackFor(r, agg.ID); err != nil {
			return err
		}
		res, err = activateOn(r, a, ls.cmds.Subscriptions, func(st *domain.SubscriptionState) domain.LicenseKeys { return st.Keys },
			func(st *domain.SubscriptionState, cmd domain.InstanceActivate, now time.Time) (domain.InstanceCheckReply, []domain.Event, error) {
				return domain.SubscriptionActivateWith(st, fb, cmd, now)
			})
		recs = res.Records
		if err == nil && res.Replayed {
			a.now = res.At
			// The first answer came from the fallback when the subscription
			// needed one then (R28 Decision (fallback)): so does its replay.
			if need := res.State.NeedsFallback(res.At); need != "" && (fb == nil || fb.Subject() != need) {
				var agg domain.Aggregate
				if agg, err = domain.ParseAggregate(need); err == nil {
					fb, err = ls.cmds.Perpetuals.Current(r.Context(), agg.ID)
				}
			}
			if err == nil {
				err = a.replay(res.Records, func(cmd domain.InstanceActivate) (domain.InstanceCheckReply, []domain.Event, error) {
					return domain.SubscriptionActivateWith(res.State, fb, cmd, res.At)
				})
			}
		}
	case domain.KindPerpetual:
		var res eventstore.Result[*domain.PerpetualState]
		res, err = activateOn(r, a, ls.cmds.Perpetuals, func(st *domain.PerpetualState) domain.LicenseKeys { return st.Keys }, domain.PerpetualActivate)
		recs = res.Records
		if err == nil && res.Replayed {
			a.now = res.At
			err = a.replay(res.Records, func(cmd domain.InstanceActivate) (domain.InstanceCheckReply, []domain.Event, error) {
				return domain.PerpetualActivate(res.State, cmd, res.At)
			})
		}
	}
	if err != nil {
		return err
	}
	ls.s.signReply(domain.AnswerActivation, &a.reply, a.now)
	writeJSON(w, commandStatus(r, len(recs)), ActivateResponse{InstanceID: a.cmd.InstanceID, Secret: a.cmd.Secret, InstanceCheckReply: a.reply})
	return nil
}

// activateOn runs an activation on the license's executor: the license
// key must open the license (R27 Decision (trust)), then the seat rules
// decide.
func activateOn[S any](r *http.Request, a *activation, x Executor[S], keys func(S) domain.LicenseKeys,
	decide func(S, domain.InstanceActivate, time.Time) (domain.InstanceCheckReply, []domain.Event, error)) (eventstore.Result[S], error) {
	cmd, err := newCommand(r, a.agg.ID, func(st S, now time.Time) ([]domain.Event, error) {
		if err := keys(st).Check(a.key, a.tokenCaller); err != nil {
			return nil, err
		}
		reply, events, err := decide(st, a.at(now), now)
		a.reply, a.now = reply, now
		return events, err
	})
	if err != nil {
		return eventstore.Result[S]{}, err
	}
	a.idemKey = cmd.IdempotencyKey
	return run(a.ls.s, r, x, "activate_instance", cmd)
}

// replay answers an activation retried with the same Idempotency-Key: the
// instance the first request activated, its secret derived again, and the
// seat as it stands now (the domain treats an exact retry of a live
// activation as success with no events).
func (a *activation) replay(recs []eventstore.Record, decide func(domain.InstanceActivate) (domain.InstanceCheckReply, []domain.Event, error)) error {
	var d domain.InstanceActivated
	if len(recs) != 1 || recs[0].Event.Type != domain.EventInstanceActivated {
		return domain.Reasonf(domain.ECONFLICT, domain.ReasonIdempotencyKeyReused,
			"Idempotency-Key %s was used for another request on %s (%s); send a new key for a new activation", a.idemKey, a.agg, recs[0].Event.Type)
	}
	if err := decodeData(recs[0].Event, &d); err != nil {
		return err
	}
	a.cmd.InstanceID, a.cmd.Version = d.Instance, d.Version
	a.cmd.Secret = a.ls.instanceSecret(a.agg, d.Instance, a.idemKey)
	if d.ReleasedAt != nil {
		a.cmd.ReleasedAt = *d.ReleasedAt
	}
	if domain.HashSecret(a.cmd.Secret) != d.SecretSHA256 {
		return domain.Reasonf(domain.ECONFLICT, domain.ReasonIdempotencyKeyReused,
			"Idempotency-Key %s already activated instance %s, whose secret this server can no longer derive (it restarted without a configured secret key); activate with a new key", a.idemKey, d.Instance)
	}
	reply, events, err := decide(a.cmd)
	if err == nil && len(events) > 0 {
		err = domain.Errorf(domain.EINTERNAL, "replayed activation of %s in %s decided new events", a.cmd.InstanceID, a.agg)
	}
	a.reply = reply
	return err
}

// check is an instance's periodic check (R27): 200 with the current plan
// (R24), or a refusal with its reason. Most checks record nothing and are
// answered from the cached state after one version round trip; the rest
// append one instance.checked_in with optimistic concurrency. Check-ins
// ignore Idempotency-Key: a repeated check is just another check.
func (ls *licServer) check(w http.ResponseWriter, r *http.Request) (err error) {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req CheckRequest
	if err := decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	license := ""
	defer func() { err = ls.s.signRefusal(err, license, id, req.ProductVersion, req.Secret) }()
	key, r, err := ls.s.parseLicenseKey(r, req.LicenseKey)
	if err != nil {
		return err
	}
	agg := key.Aggregate
	license = agg.String()
	released, err := ls.releasedAt(agg.Kind, req.ProductVersion, req.ReleasedAt, false)
	if err != nil {
		return err
	}
	cmd := domain.InstanceCheckIn{InstanceID: id, Secret: req.Secret, Version: req.ProductVersion, ReleasedAt: released}
	var reply domain.InstanceCheckReply
	var now time.Time
	switch agg.Kind {
	case domain.KindSubscription:
		reply, now, err = ls.checkSubscription(r, agg.ID, cmd)
	case domain.KindPerpetual:
		reply, now, err = checkIn(r, ls, ls.cmds.Perpetuals, agg.ID, cmd, domain.PerpetualCheck)
	}
	if err != nil {
		return err
	}
	ls.s.signReply(domain.AnswerCheck, &reply, now)
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// checkIn runs a check through the command layer, which answers it on the
// cached state and takes the aggregate's lock only when the domain wants
// the check recorded.
func checkIn[S any](r *http.Request, ls *licServer, x Executor[S], id string, c domain.InstanceCheckIn,
	decide func(S, domain.InstanceCheckIn, time.Time) (domain.InstanceCheckReply, []domain.Event, error)) (domain.InstanceCheckReply, time.Time, error) {
	var reply domain.InstanceCheckReply
	var at time.Time
	caller, _ := CallerOf(r.Context())
	_, err := runUnseen(ls.s, r, x, "check_in", eventstore.Command[S]{ID: id, Source: "api/" + caller.Actor,
		Decide: func(st S, now time.Time) ([]domain.Event, error) {
			var events []domain.Event
			var err error
			reply, events, err = decide(st, c, now)
			at = now
			return events, err
		}})
	return reply, at, err
}

// fallbackFor reads the perpetual fallback an activation on subscription
// id needs now (R28 Decision (fallback)), nil when it needs none.
// Activations are rare next to checks, so they pay the extra read.
func (ls *licServer) fallbackFor(r *http.Request, id string) (*domain.PerpetualState, error) {
	st, err := ls.cmds.Subscriptions.Current(r.Context(), id)
	if err != nil {
		return nil, err
	}
	need := st.NeedsFallback(ls.s.cfg.Now())
	if need == "" {
		return nil, nil
	}
	agg, err := domain.ParseAggregate(need)
	if err != nil {
		return nil, err
	}
	return ls.cmds.Perpetuals.Current(r.Context(), agg.ID)
}

// checkSubscription checks in on a subscription. A canceled or expired one
// with a perpetual fallback answers from the fallback (R28 Decision
// (fallback)): the first decision names it, the handler reads it (never
// inside a decision, which must not do I/O) and decides again with it.
// Only such checks pay the extra read.
func (ls *licServer) checkSubscription(r *http.Request, id string, c domain.InstanceCheckIn) (domain.InstanceCheckReply, time.Time, error) {
	var fb *domain.PerpetualState
	for range 3 {
		need := ""
		reply, now, err := checkIn(r, ls, ls.cmds.Subscriptions, id, c, func(st *domain.SubscriptionState, c domain.InstanceCheckIn, now time.Time) (domain.InstanceCheckReply, []domain.Event, error) {
			if n := st.NeedsFallback(now); n != "" && (fb == nil || fb.Subject() != n) {
				need = n
				return domain.InstanceCheckReply{}, nil, domain.Reasonf(domain.ECONFLICT, domain.ReasonConcurrentUpdate, "the fallback of subscription %s changed while it was read; retry", id)
			}
			return domain.SubscriptionCheckWith(st, fb, c, now)
		})
		if need == "" {
			return reply, now, err
		}
		agg, perr := domain.ParseAggregate(need)
		if perr != nil {
			return reply, now, perr
		}
		if fb, err = ls.cmds.Perpetuals.Current(r.Context(), agg.ID); err != nil {
			return reply, now, err
		}
	}
	return domain.InstanceCheckReply{}, time.Time{}, domain.Reasonf(domain.ECONFLICT, domain.ReasonConcurrentUpdate, "the fallback of subscription %s kept changing; retry", id)
}

// LicenseCommandResult is the answer to a license-server command other
// than activation and check: the license (aggregate subject), its version
// after the command (also the ETag) and the events appended. A retried
// request (same Idempotency-Key) gets the same answer, nothing appended.
type LicenseCommandResult struct {
	License string          `json:"license"`
	Version uint64          `json:"version"`
	Events  []AppendedEvent `json:"events"`
	// LicenseKey is the license key a create, purchase or rotation
	// issued: shown in this answer only (the ledger keeps its hash).
	LicenseKey string `json:"license_key,omitempty"`
}

// deactivate frees a seat at once: a client proves the secret, an admin
// may leave it out.
func (ls *licServer) deactivate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req DeactivateRequest
	if err := decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	key, r, err := ls.s.parseLicenseKey(r, req.LicenseKey)
	if err != nil {
		return err
	}
	agg := key.Aggregate
	caller, _ := CallerOf(r.Context())
	cmd := domain.InstanceDeactivate{InstanceID: id, Secret: req.Secret, ByAdmin: caller.Role == RoleAdmin && req.Secret == "", Reason: req.Reason}
	switch agg.Kind {
	case domain.KindSubscription:
		return licenseCommand(w, r, ls, ls.cmds.Subscriptions, agg.ID, "deactivate_instance", false, func(st *domain.SubscriptionState, now time.Time) ([]domain.Event, error) {
			return domain.DecideSubscription(st, cmd, now)
		})
	default:
		return licenseCommand(w, r, ls, ls.cmds.Perpetuals, agg.ID, "deactivate_instance", false, func(st *domain.PerpetualState, now time.Time) ([]domain.Event, error) {
			return domain.DecidePerpetual(st, cmd, now)
		})
	}
}
