package httpapi

// Customers: platforms, subscriptions and perpetual licenses belong to a
// customer; list endpoints page through them; a customer-scoped token
// (Caller.Customer) reads and changes only its customer's, and anything
// else answers exactly as if it did not exist.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/projections"
)

// scopedRoutes are the routes a customer-scoped token may use, by path
// pattern (the rest are the vendor's: coupons, partners, verification,
// the whole log). Each names its resource in the path, or filters by
// the caller's customer itself.
var scopedRoutes = map[string]bool{
	"/v1/platforms": true, "/v1/subscriptions": true, "/v1/perpetual": true, "/v1/customers": true,
	"/v1/customers/{id}": true, "/v1/events/{id}": true, "/v1/whoami": true,
	"/v1/instances/activate": true, "/v1/instances/{id}/check": true, "/v1/instances/{id}/deactivate": true,
}

// checkScope enforces a customer-scoped caller's boundary before a route's
// handler runs: the resource the path names must be the caller's
// customer's, else it answers the resource's not-found refusal.
func (s *Server) checkScope(r *http.Request, rt route, c Caller) error {
	if c.Customer == "" {
		return nil
	}
	_, path, _ := strings.Cut(rt.pattern, " ")
	switch {
	case strings.HasPrefix(path, "/v1/platforms/{id}"):
		return s.ownsPlatform(r.Context(), c, r.PathValue("id"))
	case strings.HasPrefix(path, "/v1/subscriptions/{id}"):
		return ownsLicense(r.Context(), c, s.cmds.Subscriptions, r.PathValue("id"), func(st *domain.SubscriptionState) (bool, string) { return st.Created(), st.Customer })
	case strings.HasPrefix(path, "/v1/perpetual/{id}"):
		return ownsLicense(r.Context(), c, s.cmds.Perpetuals, r.PathValue("id"), func(st *domain.PerpetualState) (bool, string) { return st.Created(), st.Customer })
	case path == "/v1/customers/{id}":
		if r.PathValue("id") != c.Customer {
			return domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownCustomer, "no customer %q", r.PathValue("id"))
		}
		return nil
	case path == "/v1/events/{id}":
		return s.ownsEvent(r.Context(), c, r.PathValue("id"))
	case scopedRoutes[path]:
		return nil // lists filter by the caller's customer; instance requests check their license
	}
	return domain.Reasonf(domain.EFORBIDDEN, domain.ReasonRole, "a token scoped to customer %s may not %s", c.Customer, rt.pattern)
}

func (s *Server) ownsPlatform(ctx context.Context, c Caller, id string) error {
	st, err := s.cmds.Platforms.Current(ctx, id)
	if err != nil {
		return err
	}
	if !st.Registered() || st.Customer() != c.Customer {
		return domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownPlatform, "platform %q has no events in the ledger", id)
	}
	return nil
}

func ownsLicense[S any](ctx context.Context, c Caller, x Executor[S], id string, holder func(S) (bool, string)) error {
	st, err := x.Current(ctx, id)
	if err != nil {
		return err
	}
	if ok, customer := holder(st); !ok || customer != c.Customer {
		return x.Kind().Missing(id)
	}
	return nil
}

func (s *Server) ownsEvent(ctx context.Context, c Caller, id string) error {
	missing := domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownEvent, "no event with id %q", id)
	ev, err := s.cfg.Queries.DB().Event(ctx, id)
	if err != nil {
		return err
	}
	e, err := domain.DecodeEvent(ev.Raw)
	if err != nil {
		return missing
	}
	agg, err := domain.ParseAggregate(e.Subject)
	if err != nil || agg.Kind == domain.KindCoupon {
		return missing
	}
	holder, err := s.cfg.Queries.DB().Holder(ctx, agg.Kind, agg.ID)
	if err != nil || holder != c.Customer {
		return missing
	}
	return nil
}

// ownsLicenseKey checks a scoped caller's instance request against the
// license its key names.
func (s *Server) ownsLicenseKey(r *http.Request, key domain.LicenseKey) error {
	c, _ := CallerOf(r.Context())
	if c.Customer == "" {
		return nil
	}
	if key.Aggregate.Kind == domain.KindPerpetual {
		return ownsLicense(r.Context(), c, s.cmds.Perpetuals, key.Aggregate.ID, func(st *domain.PerpetualState) (bool, string) { return st.Created(), st.Customer })
	}
	return ownsLicense(r.Context(), c, s.cmds.Subscriptions, key.Aggregate.ID, func(st *domain.SubscriptionState) (bool, string) { return st.Created(), st.Customer })
}

// customerFor is the customer a created resource belongs to: the body's,
// or a scoped caller's own (which a body may only repeat).
func customerFor(r *http.Request, body string) (string, error) {
	c, _ := CallerOf(r.Context())
	switch {
	case c.Customer == "":
		return body, nil
	case body == "" || body == c.Customer:
		return c.Customer, nil
	}
	return "", domain.Reasonf(domain.EFORBIDDEN, domain.ReasonRole, "a token scoped to customer %s may not create for customer %s", c.Customer, body)
}

// page is the answer of a list endpoint: a page of items, and the cursor
// of the next page (pass it as ?after=) when there may be more.
type page[T any] struct {
	// AsOf is the list's log position: the instant its items are
	// rendered at and the sequence they are folded up to.
	AsOf  *domain.LogPosition `json:"as_of,omitempty"`
	Items []T                 `json:"items"`
	Next  string              `json:"next,omitempty"`
}

// listParams are a list endpoint's query parameters.
type listParams struct {
	after, customer, status string
	limit                   int
	expiringBefore          time.Time
	at                      time.Time
	seq                     uint64 // the items are folded up to it
}

// DefaultPageSize is a list page's size without ?limit=.
const DefaultPageSize = 100

func (s *Server) listParams(r *http.Request) (listParams, error) {
	q := r.URL.Query()
	p := listParams{after: q.Get("after"), customer: q.Get("customer"), status: q.Get("status"), limit: DefaultPageSize}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > projections.MaxHoldingsPage {
			return p, badParam("limit", "%q is not a page size from 1 to %d", v, projections.MaxHoldingsPage)
		}
		p.limit = n
	}
	if v := q.Get("expiring_before"); v != "" {
		t, err := parseInstant(v)
		if err != nil {
			return p, badParam("expiring_before", "%q is not an RFC 3339 instant or a date", v)
		}
		p.expiringBefore = t
	}
	if c, _ := CallerOf(r.Context()); c.Customer != "" {
		if p.customer != "" && p.customer != c.Customer {
			return p, domain.Reasonf(domain.EFORBIDDEN, domain.ReasonRole, "a token scoped to customer %s may not list customer %s's", c.Customer, p.customer)
		}
		p.customer = c.Customer
	}
	pos, err := s.parsePosition(r)
	p.at, p.seq = pos.at, s.listSeq(pos)
	return p, err
}

// parseInstant reads RFC 3339, or a date meaning the end of that day in UTC.
func parseInstant(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, err
	}
	return d.Add(24*time.Hour - time.Nanosecond), nil
}

// maxListScan bounds the holdings one list request reads while filtering
// by status or expiry, so a filter that matches little cannot make a
// request read the whole ledger; the answer's next cursor resumes.
//
// 2,000 keeps the worst case (a filter nothing matches) near 100 ms on a
// 10k-platform fleet (BenchmarkConsolePages, platforms-expiring-none):
// a list page stays interactive in the console, which offers the next
// cursor to go on searching.
const maxListScan = 2_000

// list pages through the holdings of kind, renders each with item, and
// keeps those keep accepts, up to the page size.
func list[T any](ctx context.Context, s *Server, kind string, p listParams, item func(context.Context, projections.Holding) (T, bool, error)) (page[T], error) {
	out := page[T]{AsOf: domain.Position(p.at, p.seq), Items: []T{}}
	after := p.after
	for scanned := 0; scanned < maxListScan; {
		hs, err := s.cfg.Queries.DB().Holdings(ctx, kind, p.customer, after, p.limit)
		if err != nil {
			return out, err
		}
		for _, h := range hs {
			scanned++
			after = h.ID
			v, keep, err := item(ctx, h)
			if err != nil {
				return out, err
			}
			if keep {
				out.Items = append(out.Items, v)
				if len(out.Items) == p.limit {
					out.Next = h.ID
					return out, nil
				}
			}
		}
		if len(hs) < p.limit {
			return out, nil
		}
	}
	out.Next = after
	return out, nil
}

// serveList is the handler of a list endpoint: the holdings of kind, a
// page of them rendered and filtered by item.
func serveList[T any](s *Server, kind string, item func(context.Context, listParams, projections.Holding) (T, bool, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.listParams(r)
		if err != nil {
			return err
		}
		out, err := list(r.Context(), s, kind, p, func(ctx context.Context, h projections.Holding) (T, bool, error) {
			return item(ctx, p, h)
		})
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// keeps applies the status and expiry filters to an item with status
// whose term ends at until.
func (p listParams) keeps(status string, until time.Time) bool {
	return (p.status == "" || p.status == status) && (p.expiringBefore.IsZero() || until.Before(p.expiringBefore))
}

// PlatformItem is one platform in GET /v1/platforms.
type PlatformItem struct {
	ID        string     `json:"id"`
	Customer  string     `json:"customer,omitempty"`
	Status    string     `json:"status"`
	Edition   string     `json:"edition,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// GraceUntil is when a buffer license (key pulled) ends, if one runs.
	GraceUntil *time.Time `json:"grace_until,omitempty"`
	KeyState   string     `json:"usb_key_state"`
	// BufferExpiresAt is when the buffer license of a pulled key ends,
	// while one is granted (the console's "on a buffer, N days left").
	BufferExpiresAt *time.Time `json:"buffer_expires_at,omitempty"`
}

// platformItem renders a platform for GET /v1/platforms and applies
// the status and expiry filters.
func (s *Server) platformItem(ctx context.Context, p listParams, h projections.Holding) (PlatformItem, bool, error) {
	ent, err := s.cfg.Queries.EntitlementDocAt(ctx, h.ID, p.at, p.seq)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return PlatformItem{}, false, nil // not registered yet at the list's position
	}
	if err != nil {
		return PlatformItem{}, false, err
	}
	it := PlatformItem{ID: h.ID, Customer: h.Customer, Status: ent.Status, KeyState: ent.USBKey.State}
	if ent.USBKey.Buffer == domain.BufferActive {
		it.BufferExpiresAt = ent.USBKey.BufferExpiresAt
	}
	if ent.Base != nil {
		it.Edition, it.ExpiresAt, it.GraceUntil = ent.Base.Edition, ent.Base.ExpiresAt, ent.Base.GraceUntil
	}
	return it, p.keeps(it.Status, earliest(it.ExpiresAt, it.GraceUntil)), nil
}

// earliest is the earlier of two optional instants; far in the future
// when neither is set (nothing expires).
func earliest(a, b *time.Time) time.Time {
	t := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, x := range []*time.Time{a, b} {
		if x != nil && x.Before(t) {
			t = *x
		}
	}
	return t
}

// LicenseItem is one subscription or perpetual license in the lists.
type LicenseItem struct {
	ID             string              `json:"id"`
	Customer       string              `json:"customer,omitempty"`
	Status         string              `json:"status"`
	Plan           domain.InstancePlan `json:"plan"`
	Until          *time.Time          `json:"until,omitempty"` // a subscription's period end, a perpetual license's updates
	InstancesInUse int                 `json:"instances_in_use"`
	InstanceLimit  int                 `json:"instance_limit"`
}

// subscriptionItem renders a subscription for GET /v1/subscriptions.
func (ls *licServer) subscriptionItem(ctx context.Context, p listParams, h projections.Holding) (LicenseItem, bool, error) {
	st, _, err := ls.cmds.Subscriptions.View(ctx, h.ID, p.at, p.seq)
	if err != nil {
		return LicenseItem{}, false, err
	}
	doc, err := domain.SubscriptionView(st, p.at)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return LicenseItem{}, false, nil // not created yet at the list's position
	}
	if err != nil {
		return LicenseItem{}, false, err
	}
	return licenseItem(p, LicenseItem{ID: h.ID, Customer: st.Customer, Status: doc.Status, Plan: st.Plan,
		InstancesInUse: doc.InstancesInUse, InstanceLimit: doc.InstanceLimit}, st.PeriodEnd)
}

// perpetualItem renders a perpetual license for GET /v1/perpetual.
func (ls *licServer) perpetualItem(ctx context.Context, p listParams, h projections.Holding) (LicenseItem, bool, error) {
	st, _, err := ls.cmds.Perpetuals.View(ctx, h.ID, p.at, p.seq)
	if err != nil {
		return LicenseItem{}, false, err
	}
	doc, err := domain.PerpetualView(st, p.at)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return LicenseItem{}, false, nil // not created yet at the list's position
	}
	if err != nil {
		return LicenseItem{}, false, err
	}
	return licenseItem(p, LicenseItem{ID: h.ID, Customer: st.Customer, Status: doc.Status, Plan: st.Plan,
		InstancesInUse: doc.InstancesInUse, InstanceLimit: doc.InstanceLimit}, st.UpdatesUntil)
}

// licenseItem completes a license item with the end of its term and
// applies the status and expiry filters.
func licenseItem(p listParams, it LicenseItem, until time.Time) (LicenseItem, bool, error) {
	it.Until = &until
	return it, p.keeps(it.Status, until), nil
}

// CouponItem is one coupon in GET /v1/coupons.
type CouponItem struct {
	Code      string `json:"code"`
	Partner   string `json:"partner"`
	Status    string `json:"status"`
	Remaining int    `json:"remaining"`
	ExpiresAt string `json:"expires_at"`
}

// couponItem renders a coupon for GET /v1/coupons.
func (ls *licServer) couponItem(ctx context.Context, p listParams, h projections.Holding) (CouponItem, bool, error) {
	st, _, err := ls.cmds.Coupons.View(ctx, h.ID, p.at, p.seq)
	if err != nil {
		return CouponItem{}, false, err
	}
	doc, err := domain.CouponView(st, p.at)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return CouponItem{}, false, nil // not created yet at the list's position
	}
	if err != nil {
		return CouponItem{}, false, err
	}
	it := CouponItem{Code: h.ID, Partner: doc.Partner, Status: doc.Status, Remaining: doc.Remaining, ExpiresAt: doc.ExpiresAt}
	return it, p.status == "" || p.status == it.Status, nil // coupons have no term to filter by
}

// CustomerDoc is what a customer holds (GET /v1/customers/{id}).
type CustomerDoc struct {
	Customer      string              `json:"customer"`
	AsOf          *domain.LogPosition `json:"as_of"`
	Platforms     []string            `json:"platforms"`
	Subscriptions []string            `json:"subscriptions"`
	Perpetual     []string            `json:"perpetual"`
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	pos, err := s.parsePosition(r)
	if err != nil {
		return err
	}
	seq := s.listSeq(pos)
	doc := CustomerDoc{Customer: id, AsOf: domain.Position(pos.at, seq)}
	for _, k := range []struct {
		kind   string
		into   *[]string
		exists func(ctx context.Context, id string) (bool, error)
	}{
		{domain.KindPlatform, &doc.Platforms, func(ctx context.Context, id string) (bool, error) {
			st, _, err := s.cfg.Queries.PlatformAt(ctx, id, pos.at, seq)
			if domain.ErrorCode(err) == domain.ENOTFOUND {
				return false, nil
			}
			return err == nil && st.Registered(), err
		}},
		{domain.KindSubscription, &doc.Subscriptions, func(ctx context.Context, id string) (bool, error) {
			st, _, err := s.cmds.Subscriptions.View(ctx, id, pos.at, seq)
			return err == nil && st.Created(), err
		}},
		{domain.KindPerpetual, &doc.Perpetual, func(ctx context.Context, id string) (bool, error) {
			st, _, err := s.cmds.Perpetuals.View(ctx, id, pos.at, seq)
			return err == nil && st.Created(), err
		}},
	} {
		*k.into = []string{}
		for after := ""; ; {
			hs, err := s.cfg.Queries.DB().Holdings(r.Context(), k.kind, id, after, projections.MaxHoldingsPage)
			if err != nil {
				return err
			}
			for _, h := range hs {
				after = h.ID
				// Held at the position asked: created at or before it.
				ok, err := k.exists(r.Context(), h.ID)
				if err != nil {
					return err
				}
				if ok {
					*k.into = append(*k.into, h.ID)
				}
			}
			if len(hs) < projections.MaxHoldingsPage {
				break
			}
		}
	}
	if len(doc.Platforms)+len(doc.Subscriptions)+len(doc.Perpetual) == 0 {
		return domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownCustomer, "no customer %q holds anything in the ledger", id)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, doc)
	return nil
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request) error {
	p, err := s.listParams(r)
	if err != nil {
		return err
	}
	out := page[string]{AsOf: domain.Position(p.at, p.seq), Items: []string{}}
	if p.customer != "" { // a scoped caller lists itself
		out.Items = append(out.Items, p.customer)
	} else {
		if out.Items, err = s.cfg.Queries.DB().CustomersAt(r.Context(), p.after, p.limit, p.at, p.seq); err != nil {
			return err
		}
		if len(out.Items) == p.limit {
			out.Next = out.Items[len(out.Items)-1]
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}
