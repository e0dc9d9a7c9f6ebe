package httpclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Platform endpoints: an on-premises installation's licenses, USB keys,
// nodes and hosts (R1–R22). Commands need an admin token; every command
// accepts WithIdempotencyKey and WithIfMatch (the platform's version).
//
// Errors common to the platform commands, besides the 401/403 of the
// token: 400 invalid (malformed input, invalid-id, bad-parameter for a bad
// Idempotency-Key or If-Match), 404 not_found unknown-platform, 409
// conflict (the rules refuse it now; Reason says which), 412
// version-mismatch (WithIfMatch was stale), 413 body-too-large, 500
// internal.

// command sends a platform command and decodes its CommandResult.
func (c *Client) command(ctx context.Context, method, path string, body any, opts []CallOption) (*CommandResult, error) {
	return send[CommandResult](ctx, c, method, path, body, opts)
}

// RegisterPlatform registers a platform (POST /v1/platforms, admin): 201
// with the platform.registered event. A platform already registered is 409
// platform-exists (a retry with the first request's Idempotency-Key gets
// the first answer instead).
func (c *Client) RegisterPlatform(ctx context.Context, req RegisterRequest, opts ...CallOption) (*CommandResult, error) {
	return c.command(ctx, http.MethodPost, "/v1/platforms", req, opts)
}

// AddNode adds a second management node (POST /v1/platforms/{id}/nodes,
// admin, R15): 201. 409 node-count beyond two nodes, node-exists.
func (c *Client) AddNode(ctx context.Context, platform, node string, opts ...CallOption) (*CommandResult, error) {
	return c.command(ctx, http.MethodPost, "/v1/platforms/"+seg(platform)+"/nodes", struct {
		Node string `json:"node"`
	}{node}, opts)
}

// RemoveNode removes a management node (DELETE
// /v1/platforms/{id}/nodes/{node}, admin): 200. 404 unknown-node, 409
// node-has-keys (pull its keys first) or node-count (the last node).
func (c *Client) RemoveNode(ctx context.Context, platform, node string, opts ...CallOption) (*CommandResult, error) {
	return c.command(ctx, http.MethodDelete, "/v1/platforms/"+seg(platform)+"/nodes/"+seg(node), nil, opts)
}

// UploadLicense uploads a license file or bundle (POST
// /v1/platforms/{id}/licenses, admin): raw is sent as the body with
// contentType ("" sends application/octet-stream). The ledger decides what
// it accepts: a signed license file or .tar.gz bundle when it trusts vendor
// keys, license JSON objects ({"licenses": [...]} for a bundle) when run
// with JSON licenses. A bundle is recorded atomically (R10).
// WithUSBKeySource binds the upload to an inserted USB key (R12); without
// it the upload is a request-code upload.
//
// 201 with one license.uploaded per license; 200 with no events when
// every license was recorded already. A refused upload (a bad signature,
// another platform's request code, a wrong key: R11, R12) is recorded as
// license.upload_rejected for auditors and answered as an *Error: 400
// (malformed, invalid-license, ...), 403 (a signature, or
// license-uploads-disabled when the ledger trusts no vendor key), 409
// (key-not-inserted, wrong-key, duplicate-license, ...), 413 beyond the
// upload limit.
func (c *Client) UploadLicense(ctx context.Context, platform string, raw []byte, contentType string, opts ...CallOption) (*CommandResult, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if raw == nil {
		raw = []byte{}
	}
	var res CommandResult
	r := request{method: http.MethodPost, path: "/v1/platforms/" + seg(platform) + "/licenses", body: raw, contentType: contentType, opts: opts}
	if _, err := c.do(ctx, r, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// DeleteLicense deletes a request-code license (DELETE
// /v1/platforms/{id}/licenses/{license}, admin, R14): 200. 404
// unknown-license; 409 key-license for a license that came from a USB key.
func (c *Client) DeleteLicense(ctx context.Context, platform, license string, opts ...CallOption) (*CommandResult, error) {
	return c.command(ctx, http.MethodDelete, "/v1/platforms/"+seg(platform)+"/licenses/"+seg(license), nil, opts)
}

// InsertUSBKey records a USB key inserted on a management node with the
// licenses it carries (POST /v1/platforms/{id}/nodes/{node}/usb-keys,
// admin): 201. 404 unknown-node; 409 key-already-inserted; 400
// invalid-license.
func (c *Client) InsertUSBKey(ctx context.Context, platform, node string, key USBKeyRequest, opts ...CallOption) (*CommandResult, error) {
	if key.Licenses == nil {
		key.Licenses = []License{}
	}
	return c.command(ctx, http.MethodPost, "/v1/platforms/"+seg(platform)+"/nodes/"+seg(node)+"/usb-keys", key, opts)
}

// RemoveUSBKey records a USB key pulled from a node (DELETE
// /v1/platforms/{id}/nodes/{node}/usb-keys/{key}, admin): 200; the buffer
// rules (R18–R21) apply from then. 404 key-not-inserted.
func (c *Client) RemoveUSBKey(ctx context.Context, platform, node, keyID string, opts ...CallOption) (*CommandResult, error) {
	return c.command(ctx, http.MethodDelete, "/v1/platforms/"+seg(platform)+"/nodes/"+seg(node)+"/usb-keys/"+seg(keyID), nil, opts)
}

// AddHost adds a compute host (POST /v1/platforms/{id}/hosts, admin): 201.
// 409 host-exists, base-required (no Base in force admits no host),
// module-required (an arm64 host without the arm64 module) or
// capacity-exceeded (R2, R7).
func (c *Client) AddHost(ctx context.Context, platform string, host HostRequest, opts ...CallOption) (*CommandResult, error) {
	return c.command(ctx, http.MethodPost, "/v1/platforms/"+seg(platform)+"/hosts", host, opts)
}

// RemoveHost removes a compute host (DELETE
// /v1/platforms/{id}/hosts/{host}, admin): 200. 404 unknown-host.
func (c *Client) RemoveHost(ctx context.Context, platform, host string, opts ...CallOption) (*CommandResult, error) {
	return c.command(ctx, http.MethodDelete, "/v1/platforms/"+seg(platform)+"/hosts/"+seg(host), nil, opts)
}

// Entitlement returns what the platform is entitled to at instant at
// (GET /v1/platforms/{id}/entitlement, any role: admin, auditor, billing,
// client); the zero time asks for now (the ledger's clock, rounded up to
// the second). An earlier instant answers "as of" then (R32). 404
// unknown-platform, 400 bad-parameter for a bad instant.
func (c *Client) Entitlement(ctx context.Context, platform string, at time.Time) (*Entitlement, error) {
	var e Entitlement
	r := request{method: http.MethodGet, path: "/v1/platforms/" + seg(platform) + "/entitlement", query: atQuery(at), ok: []int{http.StatusOK}}
	if _, err := c.do(ctx, r, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Timeline returns one page of the platform's events in human terms,
// oldest first (GET /v1/platforms/{id}/timeline, admin or auditor): the
// entries after version after (0: from the start), at most limit of them
// (1 to 1000; 0 asks for the ledger's default, 100). Page on with
// TimelinePage.NextAfter while it is not 0. 400 bad-parameter for a limit
// out of range.
func (c *Client) Timeline(ctx context.Context, platform string, after uint64, limit int) (*TimelinePage, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatUint(after, 10))
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p TimelinePage
	r := request{method: http.MethodGet, path: "/v1/platforms/" + seg(platform) + "/timeline", query: q, ok: []int{http.StatusOK}}
	if _, err := c.do(ctx, r, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// SignedEntitlement returns the platform's entitlement signed by the
// ledger (GET /v1/platforms/{id}/entitlement?signed=1): the envelope whose
// payload is the entitlement document's bytes, signed with the prefix
// domain.EntitlementSigningPrefix, so a platform can prove what it was
// told (domain.VerifyDocument checks it).
func (c *Client) SignedEntitlement(ctx context.Context, platform string, at time.Time) (*Signed, error) {
	var s Signed
	q := atQuery(at)
	if q == nil {
		q = url.Values{}
	}
	q.Set("signed", "1")
	r := request{method: http.MethodGet, path: "/v1/platforms/" + seg(platform) + "/entitlement", query: q, ok: []int{http.StatusOK}}
	if _, err := c.do(ctx, r, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
