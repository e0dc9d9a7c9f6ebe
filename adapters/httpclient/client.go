package httpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/licledger/licledger/domain"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultUserAgent is the User-Agent of a Client without WithUserAgent.
const DefaultUserAgent = "licledger-httpclient/1"

// MaxResponseBytes bounds the body of an answer the client reads; a larger
// one is an error wrapping ErrMalformedResponse. The ledger's largest
// answers (a timeline page of 1000 entries) are well below it.
const MaxResponseBytes = 16 << 20

// Client calls one ledger. Build it with New; it is safe for concurrent
// use. It keeps no state between requests beyond the http.Client's
// connections.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	token     string
	http      *http.Client
	userAgent string
}

// Option configures a Client (New).
type Option func(*Client)

// WithToken sends token as the bearer token of every request
// ("Authorization: Bearer <token>"). Without it requests carry no
// credentials, which only a ledger run without tokens (loopback only)
// accepts, and only for its public endpoints otherwise (Health, Ready).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient makes requests through hc instead of a default client
// with a 30-second timeout: to set timeouts, TLS, proxies or connection
// pooling. nil keeps the default.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent), e.g.
// "acme-product/5.2.0", so the ledger's operators can tell callers apart.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the ledger at baseURL, e.g.
// "http://127.0.0.1:8080" or "https://ledger.example.com/prefix" (a path
// is kept as a prefix of every endpoint). The URL must be absolute http or
// https, without query or fragment; anything else is an error and no
// client.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("httpclient: base URL %q: %v", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("httpclient: base URL %q: want http(s)://host[:port][/prefix], without query, fragment or user", baseURL)
	}
	c := &Client{
		base:      strings.TrimRight(u.String(), "/"),
		http:      &http.Client{Timeout: 30 * time.Second},
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the ledger's base URL as the client uses it (without a
// trailing slash).
func (c *Client) BaseURL() string { return c.base }

// CallOption adjusts one request.
type CallOption func(*call)

// call is one request being built.
type call struct {
	header http.Header
	query  url.Values
}

// WithIdempotencyKey sends key as the Idempotency-Key of a command: a
// request retried with the same key is stored once and answered as the
// first time (an activation: the same instance id and secret). Keys are 1
// to 128 letters, digits, '-' or '_'; another key is answered 400
// bad-parameter. Reusing a key for a different request is answered 409
// idempotency-key-reused (activations) or with the first request's answer
// (other commands). Check ignores it: a repeated check is just a check.
func WithIdempotencyKey(key string) CallOption {
	return func(c *call) { c.header.Set("Idempotency-Key", key) }
}

// WithIfMatch makes a command conditional on version, the aggregate's
// version last read (a command result's Version, a view's Version): when
// the ledger has moved on it appends nothing and answers 412
// conflict/version-mismatch. Read again and decide again.
func WithIfMatch(version uint64) CallOption {
	return func(c *call) { c.header.Set("If-Match", `"`+strconv.FormatUint(version, 10)+`"`) }
}

// WithUSBKeySource marks a license upload (UploadLicense) as bound to the
// USB key keyID (R12): it is accepted only while that key is inserted on
// one of the platform's management nodes. Other methods ignore it.
func WithUSBKeySource(keyID string) CallOption {
	return func(c *call) {
		c.query.Set("source", domain.SourceUSBKey)
		c.query.Set("key_id", keyID)
	}
}

// request is what a method sends and how it reads the answer.
type request struct {
	method, path string // path: escaped, from the API's root
	query        url.Values
	body         []byte
	contentType  string
	opts         []CallOption
	// ok lists the success statuses; nil: any 2xx.
	ok []int
}

// send sends a command with body as JSON (nil: no body) and decodes its
// answer into a T: the one way both kinds of command results are read.
func send[T any](ctx context.Context, c *Client, method, path string, body any, opts []CallOption) (*T, error) {
	r := request{method: method, path: path, opts: opts}
	if body != nil {
		b, err := jsonBody(body)
		if err != nil {
			return nil, err
		}
		r.body, r.contentType = b, "application/json"
	}
	var res T
	if _, err := c.do(ctx, r, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// jsonBody marshals v for a request body.
func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("httpclient: encode request: %v", err)
	}
	return b, nil
}

// do sends r and decodes a successful answer into out (nil: the body is
// discarded). It returns the successful answer (its body read and closed),
// or the error described in the package documentation.
func (c *Client) do(ctx context.Context, r request, out any) (*http.Response, error) {
	cl := call{header: http.Header{}, query: url.Values{}}
	for k, vs := range r.query {
		cl.query[k] = vs
	}
	for _, o := range r.opts {
		o(&cl)
	}
	target := c.base + r.path
	if q := cl.query.Encode(); q != "" {
		target += "?" + q
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("licledger %s %s: %w", r.method, r.path, err)
	}
	req.Header = cl.header
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", r.contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("licledger %s %s: %w", r.method, r.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("licledger %s %s: %d answer cut off: %w", r.method, r.path, resp.StatusCode, err)
	}
	if !c.success(r, resp.StatusCode) {
		return nil, apiError(r, resp, raw)
	}
	if len(raw) > MaxResponseBytes {
		return nil, fmt.Errorf("licledger %s %s: %w: answer larger than %d bytes", r.method, r.path, ErrMalformedResponse, MaxResponseBytes)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("licledger %s %s: %w: %v", r.method, r.path, ErrMalformedResponse, err)
		}
	}
	return resp, nil
}

func (c *Client) success(r request, status int) bool {
	if r.ok == nil {
		return status >= 200 && status < 300
	}
	for _, s := range r.ok {
		if s == status {
			return true
		}
	}
	return false
}

// apiError turns an unsuccessful answer into an *Error.
func apiError(r request, resp *http.Response, raw []byte) *Error {
	e := &Error{Method: r.method, Path: r.path, Status: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var b errorBody
	if json.Unmarshal(raw, &b) == nil && b.Error.Code != "" {
		e.Code, e.Reason, e.Message = b.Error.Code, b.Error.Reason, b.Error.Message
		e.EventIDs, e.Command, e.Signed = b.Error.EventIDs, b.Error.Command, b.Error.Signed
		return e
	}
	e.Message = snippet(raw)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// snippet is the start of a body that is not the API's error shape, on
// one line, for an error message.
func snippet(raw []byte) string {
	const max = 200
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// seg escapes one path segment (an id).
func seg(s string) string { return url.PathEscape(s) }

// atQuery is ?at= for an instant; the zero time is no parameter (now).
func atQuery(at time.Time) url.Values {
	if at.IsZero() {
		return nil
	}
	return url.Values{"at": {at.UTC().Format(time.RFC3339Nano)}}
}

// Health calls GET /healthz (public): nil when the ledger process serves
// HTTP (200), an *Error for any other status, a wrapped error when nothing
// answers. It says nothing about the log or the projections; see Ready.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/healthz", ok: []int{http.StatusOK}}, nil)
	return err
}

// Ready calls GET /readyz (public): whether every projection has applied
// the log up to its head, so queries answer with everything acknowledged.
//
// A ready ledger (200) returns its Readiness and nil. A ledger that is not
// ready (503: "catching-up", or "unavailable" when its log cannot be
// reached) returns its Readiness too, with an *Error of status 503 whose
// Reason is the Readiness.Status. Other statuses are an *Error and no
// Readiness.
func (c *Client) Ready(ctx context.Context) (*Readiness, error) {
	var r Readiness
	req := request{method: http.MethodGet, path: "/readyz", ok: []int{http.StatusOK, http.StatusServiceUnavailable}}
	resp, err := c.do(ctx, req, &r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		msg := r.Error
		if msg == "" {
			msg = "the ledger is " + r.Status
		}
		return &r, &Error{Method: req.method, Path: req.path, Status: resp.StatusCode, Reason: r.Status, Message: msg,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return &r, nil
}
