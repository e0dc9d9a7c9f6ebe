// Package httpclient is a typed Go client for the ledger's HTTP API (the
// server is adapters/httpapi; its routes are described by GET
// /openapi.json). It is what a licensed product embeds to activate and
// check in (rules R26, R27), and what tools such as `licledger fleet
// simulate` use to talk to a running `licledger serve`. Most products
// want adapters/licclient, built on it: signed answers verified, periodic
// checks, 24 hours offline, deactivation on shutdown.
//
// # Dependencies
//
// The package imports only the standard library. It defines its own wire
// types, plain structs whose JSON mirrors the API's request and response
// bodies field for field, so a product can embed it without pulling in the
// event store, NATS, SQLite or the server. A test in this package (against
// a real server) fails when the two drift apart.
//
// # Contract
//
// Every method sends one HTTP request and returns either the decoded
// answer or an error; it never retries on its own. The error is one of:
//
//   - *Error: the ledger (or something in front of it) answered with a
//     status the method does not treat as success. It carries the HTTP
//     status and, when the body is the API's error shape
//     {"error":{"code","reason","message"}}, its code, reason and message;
//     RetryAfter is set from a Retry-After header. Status, Code and Reason
//     read them from any error chain.
//   - an error wrapping ErrMalformedResponse: the status was a success but
//     the body is not the JSON the method expects (a proxy's HTML page, an
//     answer larger than MaxResponseBytes, or an activation without an
//     instance id or secret).
//   - any other error: the request got no (complete) answer: connection
//     refused, timeout, the context ended, the connection dropped while the
//     answer was read. It wraps the net/http error, so errors.Is(err,
//     context.Canceled), errors.Is(err, syscall.ECONNREFUSED) and errors.As
//     with a net.Error target (Timeout) work on it.
//
// Answers are decoded leniently: a field the client does not know is
// ignored, so a newer ledger (which may add fields, never remove them)
// does not break a deployed product.
//
// # Retries and idempotency
//
// Commands (everything that appends events) accept WithIdempotencyKey. A
// request retried with the same key, after an answer was lost, is stored
// once and answered as the first time: an activation retried with its key
// gets the same instance id and secret back instead of taking a second
// seat. Use a new key for a new request, the same key for a retry of one.
// WithIfMatch makes a command conditional on the version last read
// (optimistic concurrency, answered 412 version-mismatch when stale).
//
// # Roles
//
// The ledger authorizes by bearer token (WithToken); each token has a role.
// A product uses a client token: Activate, Check, Deactivate and
// Entitlement. Administrators' tokens may call everything; the auditor
// role reads timelines, the billing role entitlements and views. A missing
// or unknown token is answered 401 (missing-token, bad-token), a role that
// may not call a method 403 (role-not-allowed).
//
// A Client is safe for concurrent use by multiple goroutines.
package httpclient
