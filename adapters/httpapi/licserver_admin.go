package httpapi

import (
	"bytes"
	"mime"
	"net/http"
	"time"

	"github.com/licledger/licledger/domain"
)

// Administrator endpoints of the license server: one per domain command
// (R23–R25, R28, R29), and the views of subscriptions, perpetual licenses
// and coupons, now or as of ?at= (R32).

// SubscriptionRequest is the body of POST /v1/subscriptions. LeaseSeconds
// 0 means the default lease (24 h, R27).
type SubscriptionRequest struct {
	ID           string              `json:"id"`
	Customer     string              `json:"customer,omitempty"`
	Plan         domain.InstancePlan `json:"plan"`
	Period       string              `json:"period"`
	LeaseSeconds int64               `json:"lease_seconds,omitempty"`
}

// PlanRequest is the body of PUT /v1/subscriptions/{id}/plan (R24).
type PlanRequest struct {
	Plan domain.InstancePlan `json:"plan"`
}

// AddInstancesRequest is the body of POST /v1/subscriptions/{id}/instances
// (R25).
type AddInstancesRequest struct {
	Count int `json:"count"`
}

// ReferenceRequest is the optional body of the renewal and past-due
// commands: the billing system's payment or invoice id.
type ReferenceRequest struct {
	Reference string `json:"reference,omitempty"`
}

// CancelRequest is the optional body of POST /v1/subscriptions/{id}/cancel.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// PerpetualRequest is the body of POST /v1/perpetual (R28).
type PerpetualRequest struct {
	ID           string              `json:"id"`
	Customer     string              `json:"customer,omitempty"`
	Plan         domain.InstancePlan `json:"plan"`
	LeaseSeconds int64               `json:"lease_seconds,omitempty"`
}

// CouponRequest is the body of POST /v1/coupons (R29).
type CouponRequest struct {
	Code            string    `json:"code"`
	Partner         string    `json:"partner"`
	DiscountPercent int       `json:"discount_percent"`
	RedemptionLimit int       `json:"redemption_limit"`
	ExpiresAt       time.Time `json:"expires_at"`
}

// RedeemRequest is the optional body of POST /v1/coupons/{code}/redemptions.
type RedeemRequest struct {
	Subscription string `json:"subscription,omitempty"`
}

// leaseOf converts lease_seconds, refusing values whose Duration would
// overflow before the domain can check its range.
func leaseOf(seconds int64) (time.Duration, error) {
	if seconds < 0 || seconds > int64(domain.InstanceMaxLease/time.Second)*2 {
		return 0, domain.Reasonf(domain.EINVALID, domain.ReasonInvalidLease, "lease_seconds %d is outside %d..%d",
			seconds, int64(domain.InstanceMinLease/time.Second), int64(domain.InstanceMaxLease/time.Second))
	}
	return time.Duration(seconds) * time.Second, nil
}

// decodeOptionalJSON is decodeJSON for commands whose body may be left
// out: an empty body leaves v as it is.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	b, err := readBody(w, r, limit)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return domain.Reasonf(domain.EINVALID, domain.ReasonUnsupportedMedia, "Content-Type %q is not application/json", ct)
		}
	}
	return strictUnmarshal(b, v)
}

// locationWriter sets Location on a successful answer only (a refused
// create names nothing).
type locationWriter struct {
	http.ResponseWriter
	location string
}

func withLocation(w http.ResponseWriter, location string) http.ResponseWriter {
	return locationWriter{ResponseWriter: w, location: location}
}

func (w locationWriter) WriteHeader(code int) {
	if code < http.StatusMultipleChoices {
		w.Header().Set("Location", w.location)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (ls *licServer) createSubscription(w http.ResponseWriter, r *http.Request) error {
	var req SubscriptionRequest
	if err := decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := domain.ValidateID(req.ID); err != nil {
		return domain.Reasonf(domain.EINVALID, domain.ReasonInvalidID, "id: %s", domain.ErrorMessage(err))
	}
	lease, err := leaseOf(req.LeaseSeconds)
	if err != nil {
		return err
	}
	if req.Customer, err = customerFor(r, req.Customer); err != nil {
		return err
	}
	return keyedLicenseCommand(withLocation(w, "/v1/subscriptions/"+req.ID), r, ls, ls.cmds.Subscriptions, req.ID, "create_subscription", true,
		func(hash string) func(*domain.SubscriptionState, time.Time) ([]domain.Event, error) {
			cmd := domain.SubscriptionCreate{ID: req.ID, Customer: req.Customer, Plan: req.Plan, Period: req.Period, Lease: lease, LicenseKeySHA256: hash}
			return func(st *domain.SubscriptionState, now time.Time) ([]domain.Event, error) {
				return domain.DecideSubscription(st, cmd, now)
			}
		})
}

// subscriptionCommand runs a command on the subscription named by id.
func subscriptionCommand(w http.ResponseWriter, r *http.Request, ls *licServer, id, name string, creates bool, cmd domain.SubscriptionCommand) error {
	return licenseCommand(w, r, ls, ls.cmds.Subscriptions, id, name, creates, func(st *domain.SubscriptionState, now time.Time) ([]domain.Event, error) {
		return domain.DecideSubscription(st, cmd, now)
	})
}

// onSubscription decodes an admin command's body and runs it on the
// subscription of the path.
func onSubscription[B any](ls *licServer, name string, optionalBody bool, build func(B) domain.SubscriptionCommand) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		var body B
		if optionalBody {
			err = decodeOptionalJSON(w, r, ls.s.cfg.MaxBodyBytes, &body)
		} else {
			err = decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &body)
		}
		if err != nil {
			return err
		}
		return subscriptionCommand(w, r, ls, id, name, false, build(body))
	}
}

func (ls *licServer) changePlan(w http.ResponseWriter, r *http.Request) error {
	return onSubscription(ls, "change_plan", false, func(b PlanRequest) domain.SubscriptionCommand {
		return domain.SubscriptionChangePlan{Plan: b.Plan}
	})(w, r)
}

func (ls *licServer) addInstances(w http.ResponseWriter, r *http.Request) error {
	return onSubscription(ls, "add_instances", false, func(b AddInstancesRequest) domain.SubscriptionCommand {
		return domain.SubscriptionAddInstances{Count: b.Count}
	})(w, r)
}

func (ls *licServer) renewSubscription(w http.ResponseWriter, r *http.Request) error {
	return onSubscription(ls, "renew_subscription", true, func(b ReferenceRequest) domain.SubscriptionCommand {
		return domain.SubscriptionRenew{Reference: b.Reference}
	})(w, r)
}

func (ls *licServer) markPastDue(w http.ResponseWriter, r *http.Request) error {
	return onSubscription(ls, "mark_past_due", true, func(b ReferenceRequest) domain.SubscriptionCommand {
		return domain.SubscriptionMarkPastDue{Reference: b.Reference}
	})(w, r)
}

func (ls *licServer) cancelSubscription(w http.ResponseWriter, r *http.Request) error {
	return onSubscription(ls, "cancel_subscription", true, func(b CancelRequest) domain.SubscriptionCommand {
		return domain.SubscriptionCancel{Reason: b.Reason}
	})(w, r)
}

func (ls *licServer) purchasePerpetual(w http.ResponseWriter, r *http.Request) error {
	var req PerpetualRequest
	if err := decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := domain.ValidateID(req.ID); err != nil {
		return domain.Reasonf(domain.EINVALID, domain.ReasonInvalidID, "id: %s", domain.ErrorMessage(err))
	}
	lease, err := leaseOf(req.LeaseSeconds)
	if err != nil {
		return err
	}
	if req.Customer, err = customerFor(r, req.Customer); err != nil {
		return err
	}
	return keyedLicenseCommand(withLocation(w, "/v1/perpetual/"+req.ID), r, ls, ls.cmds.Perpetuals, req.ID, "purchase_perpetual", true,
		func(hash string) func(*domain.PerpetualState, time.Time) ([]domain.Event, error) {
			cmd := domain.PerpetualPurchase{ID: req.ID, Customer: req.Customer, Plan: req.Plan, Lease: lease, LicenseKeySHA256: hash}
			return func(st *domain.PerpetualState, now time.Time) ([]domain.Event, error) {
				return domain.DecidePerpetual(st, cmd, now)
			}
		})
}

func (ls *licServer) renewUpdates(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req ReferenceRequest
	if err := decodeOptionalJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	return licenseCommand(w, r, ls, ls.cmds.Perpetuals, id, "renew_updates", false, func(st *domain.PerpetualState, now time.Time) ([]domain.Event, error) {
		return domain.DecidePerpetual(st, domain.PerpetualRenewUpdates{Reference: req.Reference}, now)
	})
}

func (ls *licServer) createCoupon(w http.ResponseWriter, r *http.Request) error {
	var req CouponRequest
	if err := decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := domain.ValidateID(req.Code); err != nil {
		return domain.Reasonf(domain.EINVALID, domain.ReasonInvalidID, "code: %s", domain.ErrorMessage(err))
	}
	if req.ExpiresAt.IsZero() {
		return domain.Reasonf(domain.EINVALID, domain.ReasonInvalidCoupon, "expires_at is required (RFC 3339): coupons always expire (R29)")
	}
	cmd := domain.CouponCreate{Code: req.Code, Partner: req.Partner, DiscountPercent: req.DiscountPercent,
		RedemptionLimit: req.RedemptionLimit, ExpiresAt: req.ExpiresAt}
	return licenseCommand(withLocation(w, "/v1/coupons/"+req.Code), r, ls, ls.cmds.Coupons, req.Code, "create_coupon", true, func(st *domain.CouponState, now time.Time) ([]domain.Event, error) {
		return domain.DecideCoupon(st, cmd, now)
	})
}

func (ls *licServer) redeemCoupon(w http.ResponseWriter, r *http.Request) error {
	code, err := pathID(r, "code")
	if err != nil {
		return err
	}
	var req RedeemRequest
	if err := decodeOptionalJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Subscription != "" {
		// Redemptions are recorded against an existing subscription (R29,
		// R30: billing applies the discount to it). Subscriptions are never
		// deleted, so existence checked here still holds at the append.
		sub, err := ls.cmds.Subscriptions.Current(r.Context(), req.Subscription)
		if err != nil {
			return err
		}
		if !sub.Created() {
			return ls.cmds.Subscriptions.Kind().Missing(req.Subscription)
		}
	}
	return licenseCommand(w, r, ls, ls.cmds.Coupons, code, "redeem_coupon", false, func(st *domain.CouponState, now time.Time) ([]domain.Event, error) {
		return domain.DecideCoupon(st, domain.CouponRedeem{Subscription: req.Subscription}, now)
	})
}

// view answers a query with the doc of the aggregate's state at the
// position asked (now without ?at=/?seq=, R32), its log position, and its
// version as ETag.
func view[S, D any](w http.ResponseWriter, r *http.Request, ls *licServer, x Executor[S], param string, render func(S, time.Time, *domain.LogPosition) (D, error)) error {
	id, err := pathID(r, param)
	if err != nil {
		return err
	}
	pos, err := ls.s.parsePosition(r)
	if err != nil {
		return err
	}
	st, seq, err := x.View(r.Context(), id, pos.at, pos.seq)
	if err != nil {
		return err
	}
	doc, err := render(st, pos.at, pos.asOf(seq))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(x.Kind().Version(st)))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, doc)
	return nil
}

// getSubscription: the subscription with its instances and their lease
// state (held, released, deactivated) at the instant (R23–R27).
func (ls *licServer) getSubscription(w http.ResponseWriter, r *http.Request) error {
	return view(w, r, ls, ls.cmds.Subscriptions, "id", func(st *domain.SubscriptionState, at time.Time, pos *domain.LogPosition) (domain.SubscriptionDoc, error) {
		doc, err := domain.SubscriptionView(st, at)
		doc.AsOf = pos
		return doc, err
	})
}

// explainSubscription says whether a new instance would get a seat, or
// with ?instance= whether that instance holds one, at the position asked,
// in words with the rules and the deciding events
// (domain.SubscriptionExplain).
func (ls *licServer) explainSubscription(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	pos, err := ls.s.parsePosition(r)
	if err != nil {
		return err
	}
	st, seq, err := ls.cmds.Subscriptions.View(r.Context(), id, pos.at, pos.seq)
	if err != nil {
		return err
	}
	x, err := domain.SubscriptionExplain(st, pos.at, r.URL.Query().Get("instance"))
	if err != nil {
		return err
	}
	x.AsOf = pos.asOf(seq)
	seqs, err := ls.s.cfg.Queries.DB().EventSeqs(r.Context(), eventIDs(x.DecidedBy))
	if err != nil {
		return err
	}
	x.SetSeqs(seqs)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, x)
	return nil
}

func (ls *licServer) getPerpetual(w http.ResponseWriter, r *http.Request) error {
	return view(w, r, ls, ls.cmds.Perpetuals, "id", func(st *domain.PerpetualState, at time.Time, pos *domain.LogPosition) (domain.PerpetualDoc, error) {
		doc, err := domain.PerpetualView(st, at)
		doc.AsOf = pos
		return doc, err
	})
}

// getCoupon: the coupon with its partner and every redemption (R29).
func (ls *licServer) getCoupon(w http.ResponseWriter, r *http.Request) error {
	return view(w, r, ls, ls.cmds.Coupons, "code", func(st *domain.CouponState, at time.Time, pos *domain.LogPosition) (domain.CouponDoc, error) {
		doc, err := domain.CouponView(st, at)
		doc.AsOf = pos
		return doc, err
	})
}

// FallbackRequest is the body of POST /v1/subscriptions/{id}/fallback: the
// perpetual license (its id) to attach as the fallback (R28 Decision
// (fallback)).
type FallbackRequest struct {
	Perpetual string `json:"perpetual"`
}

// attachFallback attaches a perpetual license as the subscription's
// fallback. The perpetual license is read first (404 perpetual-unknown);
// the attachment records its subject and its update window at the time.
func (ls *licServer) attachFallback(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req FallbackRequest
	if err := decodeJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := domain.ValidateID(req.Perpetual); err != nil {
		return domain.Reasonf(domain.EINVALID, domain.ReasonInvalidID, "perpetual: %s", domain.ErrorMessage(err))
	}
	fb, err := ls.cmds.Perpetuals.Current(r.Context(), req.Perpetual)
	if err != nil {
		return err
	}
	if c, _ := CallerOf(r.Context()); c.Customer != "" && fb.Customer != c.Customer {
		// Another customer's perpetual is, to a scoped token, one that
		// does not exist: the decision answers it as such (perpetual-unknown).
		fb = nil
	}
	return subscriptionCommand(w, r, ls, id, "attach_fallback", false, domain.SubscriptionAttachFallback{Fallback: fb})
}

// detachFallback removes the subscription's fallback.
func (ls *licServer) detachFallback(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return subscriptionCommand(w, r, ls, id, "detach_fallback", false, domain.SubscriptionDetachFallback{})
}
