package httpapi

import (
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// Redemptions per partner (R29: "each redemption is recorded against the
// partner"). A coupon belongs to one partner, so the partner's view is a
// fold over every coupon aggregate. There is no projection of coupons: the
// query reads the coupon subjects of the log (the server filters on
// ledger.coupon.>, so platform and subscription events cost nothing),
// which is proportional to coupon events — small next to check-ins, and an
// admin query, not a hot path.

// PartnerRedemptionsDoc is the answer to GET
// /v1/partners/{partner}/redemptions: the partner's coupons and every
// redemption of them, as of an instant.
type PartnerRedemptionsDoc struct {
	Partner     string                 `json:"partner"`
	At          string                 `json:"at"`
	AsOf        *domain.LogPosition    `json:"as_of"`
	Redeemed    int                    `json:"redeemed"` // redemptions over all the partner's coupons
	Coupons     []PartnerCouponDoc     `json:"coupons"`  // by code
	Redemptions []PartnerRedemptionDoc `json:"redemptions"`
}

// PartnerCouponDoc is one coupon of a partner, as GET /v1/coupons/{code}
// shows it without its redemptions.
type PartnerCouponDoc struct {
	Coupon          string `json:"coupon"`
	Status          string `json:"status"`
	DiscountPercent int    `json:"discount_percent"`
	RedemptionLimit int    `json:"redemption_limit"`
	Redeemed        int    `json:"redeemed"`
	Remaining       int    `json:"remaining"`
	ExpiresAt       string `json:"expires_at"`
}

// PartnerRedemptionDoc is one redemption, in ledger time order (then by
// coupon and count, so equal instants still sort one way).
type PartnerRedemptionDoc struct {
	Coupon          string `json:"coupon"`
	Redemption      int    `json:"redemption"` // 1-based count within the coupon
	Subscription    string `json:"subscription,omitempty"`
	DiscountPercent int    `json:"discount_percent"`
	At              string `json:"at"`
}

// getPartnerRedemptions answers GET /v1/partners/{partner}/redemptions
// (?at= for "as of"). Errors: EINVALID for a bad partner id or instant,
// ENOTFOUND partner-unknown, EINTERNAL for a damaged coupon history.
func (ls *licServer) getPartnerRedemptions(w http.ResponseWriter, r *http.Request) error {
	partner, err := pathID(r, "partner")
	if err != nil {
		return err
	}
	pos, err := ls.s.parsePosition(r)
	if err != nil {
		return err
	}
	coupons, seq, err := ls.couponsAsOf(r, pos.at, pos.seq)
	if err != nil {
		return err
	}
	doc, err := partnerRedemptions(partner, pos.at, coupons)
	if err != nil {
		return err
	}
	doc.AsOf = pos.asOf(seq)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, doc)
	return nil
}

// couponsAsOf folds every coupon's events recorded up to at and stored at
// or below seq (0: no bound), and returns the sequence of the last one
// folded. Ledger time never goes backwards within an aggregate, so the
// events kept per coupon are a prefix of its history, as a view folds
// them.
func (ls *licServer) couponsAsOf(r *http.Request, at time.Time, seq uint64) (map[string]*domain.CouponState, uint64, error) {
	states := map[string]*domain.CouponState{}
	opts := []eventstore.ReadOption{eventstore.OnlyKinds(domain.KindCoupon), eventstore.UntilTime(at)}
	if seq != 0 {
		opts = append(opts, eventstore.UntilSeq(seq))
	}
	last := uint64(0)
	for rec, err := range ls.s.cfg.Store.Read(r.Context(), 0, opts...) {
		if de := (*eventstore.DecodeError)(nil); errors.As(err, &de) {
			return nil, 0, domain.Errorf(domain.EINTERNAL, "coupon history: stream sequence %d is not a valid event: %v; run `licledger audit verify`", rec.Seq, err)
		}
		if err != nil {
			return nil, 0, err
		}
		last = rec.Seq
		st := states[rec.Event.Subject]
		if st == nil {
			st = &domain.CouponState{}
			states[rec.Event.Subject] = st
		}
		if err := domain.EvolveCoupon(st, rec.Event); err != nil {
			return nil, 0, domain.Errorf(domain.EINTERNAL, "%s: history does not fold at version %d: %s; run `licledger audit verify`",
				rec.Event.Subject, rec.Event.AggregateVersion, domain.ErrorMessage(err))
		}
	}
	return states, last, nil
}

// partnerRedemptions renders the partner's part of the coupons. Pure: the
// same coupons and instant give the same document (R32).
func partnerRedemptions(partner string, at time.Time, coupons map[string]*domain.CouponState) (PartnerRedemptionsDoc, error) {
	at = at.UTC()
	doc := PartnerRedemptionsDoc{Partner: partner, At: at.Format(time.RFC3339Nano),
		Coupons: []PartnerCouponDoc{}, Redemptions: []PartnerRedemptionDoc{}}
	type timed struct {
		at  time.Time
		doc PartnerRedemptionDoc
	}
	var reds []timed
	for _, st := range coupons {
		if !st.Created() || st.Partner != partner {
			continue
		}
		c, err := domain.CouponView(st, at)
		if err != nil {
			return PartnerRedemptionsDoc{}, err
		}
		doc.Coupons = append(doc.Coupons, PartnerCouponDoc{Coupon: c.Coupon, Status: c.Status, DiscountPercent: c.DiscountPercent,
			RedemptionLimit: c.RedemptionLimit, Redeemed: c.Redeemed, Remaining: c.Remaining, ExpiresAt: c.ExpiresAt})
		for i, red := range c.Redemptions {
			reds = append(reds, timed{at: st.Redemptions[i].At, doc: PartnerRedemptionDoc{Coupon: c.Coupon, Redemption: red.Redemption,
				Subscription: red.Subscription, DiscountPercent: c.DiscountPercent, At: red.At}})
		}
		doc.Redeemed += c.Redeemed
	}
	if len(doc.Coupons) == 0 {
		return PartnerRedemptionsDoc{}, domain.Reasonf(domain.ENOTFOUND, domain.ReasonPartnerUnknown,
			"no coupon of partner %s was created by %s", partner, doc.At)
	}
	sort.Slice(doc.Coupons, func(i, j int) bool { return doc.Coupons[i].Coupon < doc.Coupons[j].Coupon })
	sort.Slice(reds, func(i, j int) bool {
		a, b := reds[i], reds[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		if a.doc.Coupon != b.doc.Coupon {
			return a.doc.Coupon < b.doc.Coupon
		}
		return a.doc.Redemption < b.doc.Redemption
	})
	for _, r := range reds {
		doc.Redemptions = append(doc.Redemptions, r.doc)
	}
	return doc, nil
}
