package httpclient

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// License-server endpoints (R23–R30): subscriptions, perpetual licenses
// and coupons (admin commands, admin/auditor/billing views), and the
// product instances' activation, check and deactivation (client or admin
// token).
//
// Errors common to the admin commands, besides the 401/403 of the token:
// 400 invalid (malformed input, invalid-id, bad-parameter for a bad
// Idempotency-Key or If-Match), 404 subscription-unknown,
// perpetual-unknown or coupon-unknown, 409 conflict (the rules refuse it
// now; Reason says which), 412 version-mismatch (WithIfMatch was stale).

// licenseCommand sends a license-server command and decodes its
// LicenseCommandResult. A nil body sends none (the optional bodies).
func (c *Client) licenseCommand(ctx context.Context, method, path string, body any, opts []CallOption) (*LicenseCommandResult, error) {
	return send[LicenseCommandResult](ctx, c, method, path, body, opts)
}

// view reads a license-server view now (zero at) or as of at.
func (c *Client) view(ctx context.Context, path string, at time.Time, out any) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: path, query: atQuery(at), ok: []int{http.StatusOK}}, out)
	return err
}

// CreateSubscription creates a subscription (POST /v1/subscriptions,
// admin, R23): 201 with subscription.created. 409 subscription-exists;
// 400 for a bad plan, period or lease.
func (c *Client) CreateSubscription(ctx context.Context, req SubscriptionRequest, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPost, "/v1/subscriptions", req, opts)
}

// GetSubscription returns the subscription with its instances and their
// seats at instant at (GET /v1/subscriptions/{id}, admin, auditor or
// billing); the zero time asks for now, an earlier instant answers "as of"
// then (R32). 404 subscription-unknown (also before its creation).
func (c *Client) GetSubscription(ctx context.Context, id string, at time.Time) (*SubscriptionDoc, error) {
	var d SubscriptionDoc
	if err := c.view(ctx, "/v1/subscriptions/"+seg(id), at, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ChangePlan upgrades or downgrades the subscription's plan (PUT
// /v1/subscriptions/{id}/plan, admin, R24): 200 (PUT never answers 201);
// every instance gets the new plan on its next check. 409
// below-instances-in-use for a downgrade below the seats held.
func (c *Client) ChangePlan(ctx context.Context, id string, plan InstancePlan, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPut, "/v1/subscriptions/"+seg(id)+"/plan", struct {
		Plan InstancePlan `json:"plan"`
	}{plan}, opts)
}

// AddInstances adds count instances to the subscription's limit (POST
// /v1/subscriptions/{id}/instances, admin, R25): 201. 400 for a count
// outside 1..10000; 409 subscription-not-active.
func (c *Client) AddInstances(ctx context.Context, id string, count int, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPost, "/v1/subscriptions/"+seg(id)+"/instances", struct {
		Count int `json:"count"`
	}{count}, opts)
}

// referenceBody is the optional body of the renewal and past-due commands.
func referenceBody(reference string) any {
	if reference == "" {
		return nil
	}
	return struct {
		Reference string `json:"reference"`
	}{reference}
}

// Renew renews the subscription for one more period (POST
// /v1/subscriptions/{id}/renewals, admin): 201 with subscription.renewed.
// reference is the billing system's payment or invoice id ("" for none).
// 409 subscription-not-active for a canceled subscription.
func (c *Client) Renew(ctx context.Context, id, reference string, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPost, "/v1/subscriptions/"+seg(id)+"/renewals", referenceBody(reference), opts)
}

// MarkPastDue marks the subscription past due (POST
// /v1/subscriptions/{id}/past-due, admin): 201, or 200 with no events when
// it is past due already. Its instances keep checking in (R28: past_due
// still decides checks). 409 subscription-not-active when canceled.
func (c *Client) MarkPastDue(ctx context.Context, id, reference string, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPost, "/v1/subscriptions/"+seg(id)+"/past-due", referenceBody(reference), opts)
}

// Cancel cancels the subscription (POST /v1/subscriptions/{id}/cancel,
// admin): 201, or 200 with no events when it is canceled already; checks
// are then refused subscription-not-active (or answered by a perpetual
// fallback, R28). reason is free text ("" for none).
func (c *Client) Cancel(ctx context.Context, id, reason string, opts ...CallOption) (*LicenseCommandResult, error) {
	var body any
	if reason != "" {
		body = struct {
			Reason string `json:"reason"`
		}{reason}
	}
	return c.licenseCommand(ctx, http.MethodPost, "/v1/subscriptions/"+seg(id)+"/cancel", body, opts)
}

// PurchasePerpetual records a perpetual license (POST /v1/perpetual,
// admin, R28): 201 with perpetual.purchased; one instance, one year of
// updates. 409 perpetual-exists.
func (c *Client) PurchasePerpetual(ctx context.Context, req PerpetualRequest, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPost, "/v1/perpetual", req, opts)
}

// GetPerpetual returns the perpetual license at instant at (GET
// /v1/perpetual/{id}, admin, auditor or billing; zero at: now). 404
// perpetual-unknown.
func (c *Client) GetPerpetual(ctx context.Context, id string, at time.Time) (*PerpetualDoc, error) {
	var d PerpetualDoc
	if err := c.view(ctx, "/v1/perpetual/"+seg(id), at, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// RenewUpdates extends the perpetual license's updates by one year (POST
// /v1/perpetual/{id}/renewals, admin, R28): 201.
func (c *Client) RenewUpdates(ctx context.Context, id, reference string, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPost, "/v1/perpetual/"+seg(id)+"/renewals", referenceBody(reference), opts)
}

// CreateCoupon creates a coupon (POST /v1/coupons, admin, R29): 201. 409
// coupon-exists; 400 for a missing expiry or a bad discount or limit.
func (c *Client) CreateCoupon(ctx context.Context, req CouponRequest, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPost, "/v1/coupons", req, opts)
}

// GetCoupon returns the coupon and its redemptions at instant at (GET
// /v1/coupons/{code}, admin, auditor or billing; zero at: now). 404
// coupon-unknown.
func (c *Client) GetCoupon(ctx context.Context, code string, at time.Time) (*CouponDoc, error) {
	var d CouponDoc
	if err := c.view(ctx, "/v1/coupons/"+seg(code), at, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// RedeemCoupon records one redemption of the coupon for subscription
// ("" for none) (POST /v1/coupons/{code}/redemptions, admin, R29): 201.
// 409 coupon-expired, coupon-exhausted (the limit is reached) or
// coupon-already-redeemed (the same subscription twice).
func (c *Client) RedeemCoupon(ctx context.Context, code, subscription string, opts ...CallOption) (*LicenseCommandResult, error) {
	var body any
	if subscription != "" {
		body = struct {
			Subscription string `json:"subscription"`
		}{subscription}
	}
	return c.licenseCommand(ctx, http.MethodPost, "/v1/coupons/"+seg(code)+"/redemptions", body, opts)
}

// Activate takes a seat for a product instance (POST
// /v1/instances/activate, client or admin, R26): the new instance's id and
// secret, and the plan and lease as Check returns them. Send it with
// WithIdempotencyKey and retry a request that got no answer with the same
// key: a stored activation whose answer was lost is then handed back
// (same instance, same secret) instead of taking a second seat.
//
// Refusals (*Error): 409 too-many-instances (every seat is held; seats
// float, R25: try again later), subscription-not-active,
// idempotency-key-reused; 403 version-not-covered (perpetual, R28); 404
// subscription-unknown, perpetual-unknown; 400 bad-license-key,
// unknown-version, released-at-mismatch. An answer without an instance id
// or secret is an error wrapping ErrMalformedResponse.
func (c *Client) Activate(ctx context.Context, req ActivateRequest, opts ...CallOption) (*ActivateResponse, error) {
	b, err := jsonBody(req)
	if err != nil {
		return nil, err
	}
	var a ActivateResponse
	r := request{method: http.MethodPost, path: "/v1/instances/activate", body: b, contentType: "application/json", opts: opts,
		ok: []int{http.StatusCreated, http.StatusOK}}
	if _, err := c.do(ctx, r, &a); err != nil {
		return nil, err
	}
	if a.InstanceID == "" || a.Secret == "" {
		return nil, fmt.Errorf("licledger %s %s: %w: no instance_id or secret in the answer", r.method, r.path, ErrMalformedResponse)
	}
	return &a, nil
}

// Check is an instance's periodic check-in (POST /v1/instances/{id}/check,
// client or admin, R27): 200 with the license's current plan (a plan
// change arrives here, R24) and the seat's new expiry. The product keeps
// running while checks succeed, and for up to 24 hours after the last one
// that did (R27); when a check is refused the instance has no seat.
//
// Refusals (*Error): 409 seat-released (the lease lapsed or the seat was
// freed: Activate again), subscription-not-active; 401 bad-secret; 404
// instance-unknown, subscription-unknown, perpetual-unknown; 403
// version-not-covered (a perpetual license and a newer version); 400
// bad-license-key, released-at-mismatch.
func (c *Client) Check(ctx context.Context, instanceID string, req CheckRequest) (*InstanceCheckReply, error) {
	b, err := jsonBody(req)
	if err != nil {
		return nil, err
	}
	var reply InstanceCheckReply
	r := request{method: http.MethodPost, path: "/v1/instances/" + seg(instanceID) + "/check", body: b, contentType: "application/json",
		ok: []int{http.StatusOK}}
	if _, err := c.do(ctx, r, &reply); err != nil {
		return nil, err
	}
	return &reply, nil
}

// Deactivate frees the instance's seat at once (POST
// /v1/instances/{id}/deactivate, client with the secret, or admin without
// it): 201 with instance.deactivated, 200 with no events when it was
// already deactivated. A product calls it on a clean shutdown. 401
// bad-secret; 404 instance-unknown.
func (c *Client) Deactivate(ctx context.Context, instanceID string, req DeactivateRequest, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPost, "/v1/instances/"+seg(instanceID)+"/deactivate", req, opts)
}

// LedgerKeys returns the ledger's public signing keys, current and retired
// (GET /v1/ledger/keys, no authentication): what domain.VerifyAnswer
// verifies signed answers with (R27 Decision (trust)).
func (c *Client) LedgerKeys(ctx context.Context) (*LedgerKeys, error) {
	var k LedgerKeys
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/ledger/keys", ok: []int{http.StatusOK}}, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// AttachFallback attaches the perpetual license perpetual as the
// subscription's fallback (POST /v1/subscriptions/{id}/fallback, admin,
// R28 Decision (fallback)): 201 with subscription.fallback_attached, 200
// when it is attached already. 404 perpetual-unknown; 409
// subscription-not-active when canceled.
func (c *Client) AttachFallback(ctx context.Context, id, perpetual string, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodPost, "/v1/subscriptions/"+seg(id)+"/fallback", struct {
		Perpetual string `json:"perpetual"`
	}{perpetual}, opts)
}

// DetachFallback removes the subscription's fallback (DELETE
// /v1/subscriptions/{id}/fallback, admin): 201. 409 fallback-not-attached.
func (c *Client) DetachFallback(ctx context.Context, id string, opts ...CallOption) (*LicenseCommandResult, error) {
	return c.licenseCommand(ctx, http.MethodDelete, "/v1/subscriptions/"+seg(id)+"/fallback", nil, opts)
}
