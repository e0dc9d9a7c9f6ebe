package httpapi

import (
	"context"
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
}

// parseLicenseKey maps a license key to the aggregate holding the seats.
func parseLicenseKey(key string) (domain.Aggregate, error) {
	agg, err := domain.ParseAggregate(key)
	if err != nil || (agg.Kind != domain.KindSubscription && agg.Kind != domain.KindPerpetual) {
		return domain.Aggregate{}, domain.Reasonf(domain.EINVALID, ReasonBadLicenseKey,
			"license_key %q must be subscription/<id> or perpetual/<id> (the \"license\" of an activation reply)", key)
	}
	return agg, nil
}

// releasedAt resolves a version's release instant for a perpetual license
// (R28): from the release list when the server has one (the client's
// claim must agree), else the client's claim. strict refuses versions the
// list does not know (activation); a check passes them on as unknown, and
// the domain refuses them only if they are a change it must cover.
func (ls *licServer) releasedAt(kind, version string, claimed *time.Time, strict bool) (time.Time, error) {
	if kind != domain.KindPerpetual {
		return time.Time{}, nil // subscriptions cover every version (R28 is perpetual only)
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
		return time.Time{}, domain.Reasonf(domain.EINVALID, ReasonUnknownVersion, "product version %q is not in the vendor's release list", version)
	case !ok:
		return time.Time{}, nil
	case claimed != nil && !claimed.Equal(t):
		return time.Time{}, domain.Reasonf(domain.EINVALID, ReasonReleasedAtMismatch,
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

// source names the caller as the events' CloudEvents source.
func source(r *http.Request) string {
	c, _ := CallerOf(r.Context())
	return "api/" + c.Actor
}

// observe records a license command's latency (the store counts the
// appended events, see New).
func (ls *licServer) observe(name string, start time.Time) {
	ls.s.metrics.appendLatency.WithLabelValues(name).Observe(time.Since(start).Seconds())
}

// activate takes a seat (R26): 201 with the new instance's id, secret and
// plan (again 201, same instance and secret, for a replay of the same
// Idempotency-Key).
func (ls *licServer) activate(w http.ResponseWriter, r *http.Request) error {
	var req ActivateRequest
	if err := decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	agg, err := parseLicenseKey(req.LicenseKey)
	if err != nil {
		return err
	}
	opts, err := ls.s.commandOptions(r)
	if err != nil {
		return err
	}
	released, err := ls.releasedAt(agg.Kind, req.ProductVersion, req.ReleasedAt, true)
	if err != nil {
		return err
	}
	id := newInstanceID(ls.now())
	cmd := domain.InstanceActivate{InstanceID: id, Secret: ls.instanceSecret(agg, id, opts.IdempotencyKey),
		Version: req.ProductVersion, ReleasedAt: released}
	var reply domain.InstanceCheckReply
	var recs []eventstore.Record
	replayed := false
	start := time.Now()
	switch agg.Kind {
	case domain.KindSubscription:
		var res written[*domain.SubscriptionState]
		res, err = write(r.Context(), ls, subscriptionKind, agg.ID, opts, source(r), func(st *domain.SubscriptionState, now time.Time) ([]domain.Event, error) {
			rep, events, err := domain.SubscriptionActivate(st, cmd, now)
			reply = rep
			return events, err
		})
		recs, replayed = res.recs, res.replayed
	case domain.KindPerpetual:
		var res written[*domain.PerpetualState]
		res, err = write(r.Context(), ls, perpetualKind, agg.ID, opts, source(r), func(st *domain.PerpetualState, now time.Time) ([]domain.Event, error) {
			rep, events, err := domain.PerpetualActivate(st, cmd, now)
			reply = rep
			return events, err
		})
		recs, replayed = res.recs, res.replayed
	}
	ls.observe("activate_instance", start)
	if err != nil {
		return err
	}
	if replayed {
		if cmd, reply, err = ls.replayActivation(r.Context(), agg, recs, cmd, opts.IdempotencyKey); err != nil {
			return err
		}
	}
	status := http.StatusOK
	if len(recs) > 0 {
		status = http.StatusCreated // a replay too: the same answer as the first time
	}
	writeJSON(w, status, ActivateResponse{InstanceID: cmd.InstanceID, Secret: cmd.Secret, InstanceCheckReply: reply})
	return nil
}

// replayActivation answers an activation retried with the same
// Idempotency-Key: the instance the first request activated, its secret
// derived again, and the seat as it stands now (the domain treats an exact
// retry of a live activation as success with no events).
func (ls *licServer) replayActivation(ctx context.Context, agg domain.Aggregate, recs []eventstore.Record, cmd domain.InstanceActivate, idemKey string) (domain.InstanceActivate, domain.InstanceCheckReply, error) {
	var d domain.InstanceActivated
	if len(recs) != 1 || recs[0].Event.Type != domain.EventInstanceActivated {
		return cmd, domain.InstanceCheckReply{}, domain.Reasonf(domain.ECONFLICT, ReasonIdempotencyKeyReused,
			"Idempotency-Key %s was used for another request on %s (%s); send a new key for a new activation", idemKey, agg, recs[0].Event.Type)
	}
	if err := decodeData(recs[0].Event, &d); err != nil {
		return cmd, domain.InstanceCheckReply{}, err
	}
	cmd.InstanceID, cmd.Version = d.Instance, d.Version
	cmd.Secret = ls.instanceSecret(agg, d.Instance, idemKey)
	if d.ReleasedAt != nil {
		cmd.ReleasedAt = *d.ReleasedAt
	}
	if domain.HashSecret(cmd.Secret) != d.SecretSHA256 {
		return cmd, domain.InstanceCheckReply{}, domain.Reasonf(domain.ECONFLICT, ReasonIdempotencyKeyReused,
			"Idempotency-Key %s already activated instance %s, whose secret this server can no longer derive (it restarted without a configured secret key); activate with a new key", idemKey, d.Instance)
	}
	var reply domain.InstanceCheckReply
	var events []domain.Event
	var err error
	switch agg.Kind {
	case domain.KindSubscription:
		var st *domain.SubscriptionState
		if st, err = current(ctx, ls, subscriptionKind, agg.ID); err == nil {
			reply, events, err = domain.SubscriptionActivate(st, cmd, ls.now())
		}
	case domain.KindPerpetual:
		var st *domain.PerpetualState
		if st, err = current(ctx, ls, perpetualKind, agg.ID); err == nil {
			reply, events, err = domain.PerpetualActivate(st, cmd, ls.now())
		}
	}
	if err == nil && len(events) > 0 {
		err = domain.Errorf(domain.EINTERNAL, "replayed activation of %s in %s decided new events", cmd.InstanceID, agg)
	}
	return cmd, reply, err
}

// check is an instance's periodic check (R27): 200 with the current plan
// (R24), or a refusal with its reason. Most checks record nothing and are
// answered from the cached state after one version round trip; the rest
// append one instance.checked_in with optimistic concurrency. Check-ins
// ignore Idempotency-Key: a repeated check is just another check.
func (ls *licServer) check(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req CheckRequest
	if err := decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	agg, err := parseLicenseKey(req.LicenseKey)
	if err != nil {
		return err
	}
	released, err := ls.releasedAt(agg.Kind, req.ProductVersion, req.ReleasedAt, false)
	if err != nil {
		return err
	}
	cmd := domain.InstanceCheckIn{InstanceID: id, Secret: req.Secret, Version: req.ProductVersion, ReleasedAt: released}
	var reply domain.InstanceCheckReply
	switch agg.Kind {
	case domain.KindSubscription:
		reply, err = checkIn(r, ls, subscriptionKind, agg.ID, func(st *domain.SubscriptionState, now time.Time) (domain.InstanceCheckReply, []domain.Event, error) {
			return domain.SubscriptionCheck(st, cmd, now)
		})
	case domain.KindPerpetual:
		reply, err = checkIn(r, ls, perpetualKind, agg.ID, func(st *domain.PerpetualState, now time.Time) (domain.InstanceCheckReply, []domain.Event, error) {
			return domain.PerpetualCheck(st, cmd, now)
		})
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// checkIn decides a check on the current state and, only when the domain
// wants it recorded, goes through write (which decides again under the
// aggregate's lock, on state that may have moved).
func checkIn[S any](r *http.Request, ls *licServer, k kind[S], id string,
	decide func(S, time.Time) (domain.InstanceCheckReply, []domain.Event, error)) (domain.InstanceCheckReply, error) {
	st, err := current(r.Context(), ls, k, id)
	if err != nil {
		return domain.InstanceCheckReply{}, err
	}
	reply, events, err := decide(st, ls.now())
	if err != nil || len(events) == 0 {
		return reply, err
	}
	start := time.Now()
	_, err = write(r.Context(), ls, k, id, eventstore.ExecuteOptions{MaxRetries: ls.s.cfg.MaxRetries}, source(r),
		func(st S, now time.Time) ([]domain.Event, error) {
			var events []domain.Event
			var err error
			reply, events, err = decide(st, now)
			return events, err
		})
	ls.observe("check_in", start)
	return reply, err
}

// LicenseCommandResult is the answer to a license-server command other
// than activation and check: the license (aggregate subject), its version
// after the command (also the ETag) and the events appended. A retried
// request (same Idempotency-Key) gets the same answer, nothing appended.
type LicenseCommandResult struct {
	License string          `json:"license"`
	Version uint64          `json:"version"`
	Events  []AppendedEvent `json:"events"`
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
	agg, err := parseLicenseKey(req.LicenseKey)
	if err != nil {
		return err
	}
	caller, _ := CallerOf(r.Context())
	cmd := domain.InstanceDeactivate{InstanceID: id, Secret: req.Secret, ByAdmin: caller.Role == RoleAdmin && req.Secret == ""}
	switch agg.Kind {
	case domain.KindSubscription:
		return licenseCommand(w, r, ls, subscriptionKind, agg.ID, "deactivate_instance", func(st *domain.SubscriptionState, now time.Time) ([]domain.Event, error) {
			return domain.DecideSubscription(st, cmd, now)
		})
	default:
		return licenseCommand(w, r, ls, perpetualKind, agg.ID, "deactivate_instance", func(st *domain.PerpetualState, now time.Time) ([]domain.Event, error) {
			return domain.DecidePerpetual(st, cmd, now)
		})
	}
}

// licenseCommand is the common shape of the admin commands: headers to
// options, write, answer with a LicenseCommandResult (201 when a POST
// appended events, else 200) and the version as ETag.
func licenseCommand[S any](w http.ResponseWriter, r *http.Request, ls *licServer, k kind[S], id, name string, decide decider[S]) error {
	opts, err := ls.s.commandOptions(r)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := write(r.Context(), ls, k, id, opts, source(r), decide)
	ls.observe(name, start)
	if err != nil {
		return err
	}
	out := LicenseCommandResult{License: domain.Aggregate{Kind: k.name, ID: id}.String(), Version: k.version(res.state), Events: []AppendedEvent{}}
	for _, rec := range res.recs {
		out.Events = append(out.Events, AppendedEvent{ID: rec.Event.ID, Type: rec.Event.Type,
			Version: rec.Event.AggregateVersion, Seq: rec.Seq, Time: rec.Event.Time})
	}
	if n := len(res.recs); n > 0 && res.replayed {
		out.Version = res.recs[n-1].Event.AggregateVersion
	}
	w.Header().Set("ETag", etag(out.Version))
	status := http.StatusOK
	if r.Method == http.MethodPost && len(out.Events) > 0 {
		status = http.StatusCreated // a replay too: the same answer as the first time
	}
	writeJSON(w, status, out)
	return nil
}
