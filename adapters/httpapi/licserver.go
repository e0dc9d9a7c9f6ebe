package httpapi

// The license server (rules R23–R30): product instances activate and check
// in with the `client` role; administrators run the subscription,
// perpetual-license and coupon commands and read their views. The rules
// are the domain's (domain/subscription.go, perpetual.go, coupon.go,
// instance.go); the command layer (eventstore.Executor) runs them: it
// decides on the cached folded state after one version round trip, so a
// check-in that records nothing — nearly all of them, since the domain
// records at most one per lease/4 — costs that round trip alone, and a
// writer that lost a race to another process decides again on fresh
// state (what keeps racing activations from over-allocating seats, R26).

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"time"

	"github.com/licledger/licledger/domain"
)

// LicenseServerConfig configures the license-server endpoints. The zero
// value works: no release list, a random secret key per process.
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

// licServer holds what the license-server endpoints share: the release
// list and the secret-derivation key. One per Server.
type licServer struct {
	s        *Server
	cmds     Commands
	releases map[string]time.Time
	key      []byte
}

func newLicServer(s *Server) *licServer {
	cfg := s.cfg.LicenseServer
	key := cfg.SecretKey
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand panics rather than return short)
	}
	return &licServer{s: s, cmds: s.cmds, releases: cfg.Releases, key: key}
}

// licenseServerRoutes is the license server's part of the route table.
func (s *Server) licenseServerRoutes() []route {
	ls := newLicServer(s)
	// Instance requests are authenticated by the license key in their
	// body (and the instance secret), or by a client or admin token.
	instances := []string{RoleClient, RoleAdmin, RoleLicenseKey}
	return []route{
		{"POST /v1/instances/activate", instances, ls.activate},
		{"POST /v1/instances/{id}/check", instances, ls.check},
		{"POST /v1/instances/{id}/deactivate", instances, ls.deactivate},

		{"POST /v1/subscriptions", admins, ls.createSubscription},
		{"GET /v1/subscriptions", readers, serveList(s, domain.KindSubscription, ls.subscriptionItem)},
		{"GET /v1/perpetual", readers, serveList(s, domain.KindPerpetual, ls.perpetualItem)},
		{"GET /v1/coupons", readers, serveList(s, domain.KindCoupon, ls.couponItem)},
		{"GET /v1/subscriptions/{id}", readers, ls.getSubscription},
		{"GET /v1/subscriptions/{id}/explain", readers, ls.explainSubscription},
		{"POST /v1/subscriptions/{id}/simulate", auditors, ls.simulateSubscription},
		{"PUT /v1/subscriptions/{id}/plan", admins, ls.changePlan},
		{"POST /v1/subscriptions/{id}/instances", admins, ls.addInstances},
		{"POST /v1/subscriptions/{id}/renewals", admins, ls.renewSubscription},
		{"POST /v1/subscriptions/{id}/past-due", admins, ls.markPastDue},
		{"POST /v1/subscriptions/{id}/cancel", admins, ls.cancelSubscription},
		{"POST /v1/subscriptions/{id}/fallback", admins, ls.attachFallback},
		{"DELETE /v1/subscriptions/{id}/fallback", admins, ls.detachFallback},
		{"POST /v1/subscriptions/{id}/license-key", admins, rotateKey(ls, ls.cmds.Subscriptions, decideSubscriptionKey[domain.LicenseKeyRotate])},
		{"DELETE /v1/subscriptions/{id}/license-key", admins, revokeKey(ls, ls.cmds.Subscriptions, decideSubscriptionKey[domain.LicenseKeyRevoke])},

		{"POST /v1/perpetual", admins, ls.purchasePerpetual},
		{"GET /v1/perpetual/{id}", readers, ls.getPerpetual},
		{"POST /v1/perpetual/{id}/renewals", admins, ls.renewUpdates},
		{"POST /v1/perpetual/{id}/license-key", admins, rotateKey(ls, ls.cmds.Perpetuals, decidePerpetualKey[domain.LicenseKeyRotate])},
		{"DELETE /v1/perpetual/{id}/license-key", admins, revokeKey(ls, ls.cmds.Perpetuals, decidePerpetualKey[domain.LicenseKeyRevoke])},

		{"POST /v1/coupons", admins, ls.createCoupon},
		{"GET /v1/coupons/{code}", readers, ls.getCoupon},
		{"POST /v1/coupons/{code}/redemptions", admins, ls.redeemCoupon},
		{"GET /v1/partners/{partner}/redemptions", readers, ls.getPartnerRedemptions},
	}
}

// decodeData reads an event's data into v.
func decodeData(e domain.Event, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return domain.Errorf(domain.EINTERNAL, "event %s (%s): bad data: %v", e.ID, e.Type, err)
	}
	return nil
}
