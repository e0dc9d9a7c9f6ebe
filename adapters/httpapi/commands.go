package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// AppendedEvent is one event a command appended.
type AppendedEvent struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Version uint64    `json:"version"`
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
}

// CommandResult is the answer to every command: the platform's version
// after it (also the ETag) and the events appended. A retried request
// (same Idempotency-Key) gets the same answer, with nothing appended again.
type CommandResult struct {
	Platform string          `json:"platform"`
	Version  uint64          `json:"version"`
	Events   []AppendedEvent `json:"events"`
}

// Executor is what the API needs of the command layer for one aggregate
// kind (eventstore.Executor is one): run a command, read the current
// state, fold the state as of an instant.
type Executor[S any] interface {
	Execute(ctx context.Context, cmd eventstore.Command[S]) (eventstore.Result[S], error)
	Current(ctx context.Context, id string) (S, error)
	AsOf(ctx context.Context, id string, at time.Time) (S, error)
	// View is the state at a log position, with the sequence of the last
	// event folded (eventstore.Executor.View).
	View(ctx context.Context, id string, at time.Time, seq uint64) (S, uint64, error)
	Kind() eventstore.Kind[S]
}

// Commands are the command layer the API runs every command through.
type Commands struct {
	Platforms     Executor[*domain.PlatformState]
	Subscriptions Executor[*domain.SubscriptionState]
	Perpetuals    Executor[*domain.PerpetualState]
	Coupons       Executor[*domain.CouponState]
}

// CommandsOf adapts the event store's Executors.
func CommandsOf(x eventstore.Executors) Commands {
	return Commands{Platforms: x.Platforms, Subscriptions: x.Subscriptions, Perpetuals: x.Perpetuals, Coupons: x.Coupons}
}

// newCommand reads a command's options from the request: Idempotency-Key,
// If-Match, and the caller as the events' source.
func newCommand[S any](r *http.Request, id string, decide func(S, time.Time) ([]domain.Event, error)) (eventstore.Command[S], error) {
	caller, _ := CallerOf(r.Context())
	cmd := eventstore.Command[S]{ID: id, Source: "api/" + caller.Actor, Decide: decide}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		if err := domain.ValidateID(k); err != nil {
			return cmd, domain.Reasonf(domain.EINVALID, domain.ReasonBadParameter, "Idempotency-Key: %s", domain.ErrorMessage(err))
		}
		// Scoped to the caller: another caller sending the same key gets
		// an answer of its own, never the first caller's (secrets
		// included). The actor names a token or license key by a hash
		// prefix, never the secret itself.
		cmd.IdempotencyKey = caller.Actor + ":" + k
	}
	if v := r.Header.Get("If-Match"); v != "" {
		t := strings.TrimPrefix(strings.TrimSpace(v), "W/")
		t = strings.Trim(t, `"`)
		n, err := strconv.ParseUint(t, 10, 64)
		if err != nil || n == 0 {
			return cmd, domain.Reasonf(domain.EINVALID, domain.ReasonBadParameter, "If-Match %q is not a version (an ETag like \"3\")", v)
		}
		cmd.IfMatch = n
	}
	return cmd, nil
}

// run executes cmd through x, records its latency under name, and waits,
// bounded, for the projections to include the events it appended
// (read-your-writes: views and lists are read from the projections).
// The command is durable either way; the wait only affects what the
// caller's next query sees.
func run[S any](s *Server, r *http.Request, x Executor[S], name string, cmd eventstore.Command[S]) (eventstore.Result[S], error) {
	res, err := runUnseen(s, r, x, name, cmd)
	if n := len(res.Records); err == nil && n > 0 && !res.Replayed && s.cfg.ConsistencyWait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ConsistencyWait)
		defer cancel()
		if err := s.cfg.Runner.WaitFor(ctx, res.Records[n-1].Seq); err != nil {
			s.log.Warn("projections did not include a command's events in time; answering anyway", "seq", res.Records[n-1].Seq, "err", err)
		}
	}
	return res, err
}

// appended lists records as an answer does.
func appended(recs []eventstore.Record) []AppendedEvent {
	out := []AppendedEvent{}
	for _, rec := range recs {
		out = append(out, AppendedEvent{ID: rec.Event.ID, Type: rec.Event.Type,
			Version: rec.Event.AggregateVersion, Seq: rec.Seq, Time: rec.Event.Time})
	}
	return out
}

// runUnseen is run without the wait, for a command whose events no view
// or list shows (a check-in: its answer is built from the command's own
// state, and what it records only renews a lease).
func runUnseen[S any](s *Server, r *http.Request, x Executor[S], name string, cmd eventstore.Command[S]) (eventstore.Result[S], error) {
	start := time.Now()
	res, err := x.Execute(r.Context(), cmd)
	s.metrics.appendLatency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	return res, err
}

// execute runs a platform command for a handler (through run).
func (s *Server) execute(r *http.Request, name, id string, creates bool, decide func(*domain.PlatformState, time.Time) ([]domain.Event, error)) (CommandResult, []eventstore.Record, error) {
	cmd, err := newCommand(r, id, decide)
	if err != nil {
		return CommandResult{}, nil, err
	}
	cmd.Creates = creates
	x := s.cmds.Platforms
	res, err := run(s, r, x, name, cmd)
	if err != nil {
		return CommandResult{}, nil, err
	}
	recs := res.Records
	return CommandResult{Platform: id, Version: res.Version(x.Kind()), Events: appended(recs)}, recs, nil
}

// writeResult answers a command with the aggregate's version as ETag.
func writeResult(w http.ResponseWriter, r *http.Request, res CommandResult) {
	w.Header().Set("ETag", etag(res.Version))
	writeJSON(w, commandStatus(r, len(res.Events)), res)
}

// commandStatus is the status of every command's answer: 201 when it
// recorded events (a replay of one too: the same answer as the first
// time), except for a DELETE, which answers 200; 200 when there was
// nothing to record (an upload of licenses already recorded).
func commandStatus(r *http.Request, events int) int {
	if events > 0 && r.Method != http.MethodDelete {
		return http.StatusCreated
	}
	return http.StatusOK
}

// command is the common shape of the simple commands: decode the body (if
// any), build the domain command, execute, answer.
func (s *Server) command(w http.ResponseWriter, r *http.Request, name, id string, cmd domain.PlatformCommand) error {
	res, _, err := s.execute(r, name, id, false, platformDecider(cmd))
	if err != nil {
		return err
	}
	writeResult(w, r, res)
	return nil
}

// platformDecider decides cmd with the domain.
func platformDecider(cmd domain.PlatformCommand) func(*domain.PlatformState, time.Time) ([]domain.Event, error) {
	return func(st *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		return domain.DecidePlatform(st, cmd, now)
	}
}

// RegisterRequest is the body of POST /v1/platforms.
type RegisterRequest struct {
	ID          string   `json:"id"`
	Nodes       []string `json:"nodes"`
	RequestCode string   `json:"request_code,omitempty"`
	Customer    string   `json:"customer,omitempty"`
}

func (s *Server) registerPlatform(w http.ResponseWriter, r *http.Request) error {
	var req RegisterRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := domain.ValidateID(req.ID); err != nil {
		return domain.Reasonf(domain.EINVALID, domain.ReasonInvalidID, "id: %s", domain.ErrorMessage(err))
	}
	customer, err := customerFor(r, req.Customer)
	if err != nil {
		return err
	}
	cmd := domain.RegisterPlatform{Platform: req.ID, Nodes: req.Nodes, RequestCode: req.RequestCode, Customer: customer}
	res, _, err := s.execute(r, "register_platform", req.ID, true, platformDecider(cmd))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/platforms/"+req.ID)
	writeResult(w, r, res)
	return nil
}

// NodeRequest is the body of POST /v1/platforms/{id}/nodes.
type NodeRequest struct {
	Node string `json:"node"`
}

func (s *Server) addNode(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req NodeRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	return s.command(w, r, "add_node", id, domain.AddNode{Node: req.Node})
}

func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	node, err := pathID(r, "node")
	if err != nil {
		return err
	}
	return s.command(w, r, "remove_node", id, domain.RemoveNode{Node: node})
}

func (s *Server) deleteLicense(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	lic, err := pathID(r, "license")
	if err != nil {
		return err
	}
	return s.command(w, r, "delete_license", id, domain.DeleteLicense{License: lic})
}

// USBKeyRequest is the body of POST /v1/platforms/{id}/nodes/{node}/usb-keys:
// the key inserted and the licenses it carries.
type USBKeyRequest struct {
	KeyID    string           `json:"key_id"`
	Licenses []domain.License `json:"licenses"`
}

func (s *Server) insertUSBKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	node, err := pathID(r, "node")
	if err != nil {
		return err
	}
	raw, err := readJSONBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req USBKeyRequest
	if err := strictUnmarshal(raw, &req); err != nil {
		return err
	}
	if len(req.Licenses) > 0 {
		if err := s.keyLicensesAllowed(r, id, raw); err != nil {
			return err
		}
	}
	return s.command(w, r, "insert_usb_key", id, domain.InsertUSBKey{Node: node, KeyID: req.KeyID, Licenses: req.Licenses})
}

// keyLicensesAllowed decides whether a key insertion may carry license
// objects, which no vendor signed: only on a ledger that accepts
// unsigned license JSON (--insecure-json-licenses). On a ledger that
// verifies signatures it is the back door the signature closes: refused
// signed-files-only and recorded for auditors as license.upload_rejected
// with the body's digest (R11); a key's licenses arrive as signed files
// bound to it (uploaded, or read from the key by the watcher). On a ledger
// that accepts no uploads it is refused license-uploads-disabled.
func (s *Server) keyLicensesAllowed(r *http.Request, platform string, raw []byte) error {
	switch v := s.cfg.Verifier.(type) {
	case JSONLicenses:
		return nil
	case NoLicenseUploads:
		_, err := v.ParseUpload(raw, UploadMeta{})
		return err
	}
	caller, _ := CallerOf(r.Context())
	refused := domain.Reasonf(domain.EFORBIDDEN, domain.ReasonSignedFilesOnly,
		"this ledger accepts a USB key's licenses only as vendor-signed license files bound to the key (insert the key without licenses, then upload its files, or let the USB key watcher read them from the key)")
	u := domain.Upload{Digest: domain.Digest(raw), Refused: refused, Actor: caller.Actor}
	_, recs, err := s.execute(r, "reject_key_licenses", platform, false, func(st *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		return domain.DecideUpload(st, u, now)
	})
	if err != nil {
		return err
	}
	if rej := recordedRefusal(recs); rej != nil {
		return rej
	}
	return refused
}

func (s *Server) removeUSBKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	node, err := pathID(r, "node")
	if err != nil {
		return err
	}
	key, err := pathID(r, "key")
	if err != nil {
		return err
	}
	return s.command(w, r, "remove_usb_key", id, domain.RemoveUSBKey{Node: node, KeyID: key})
}

// HostRequest is the body of POST /v1/platforms/{id}/hosts.
type HostRequest struct {
	Host       string `json:"host"`
	Hypervisor string `json:"hypervisor"`
	Sockets    int    `json:"sockets"`
}

func (s *Server) addHost(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req HostRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	return s.command(w, r, "add_host", id, domain.AddHost{Host: req.Host, Hypervisor: req.Hypervisor, Sockets: req.Sockets})
}

func (s *Server) removeHost(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	host, err := pathID(r, "host")
	if err != nil {
		return err
	}
	return s.command(w, r, "remove_host", id, domain.RemoveHost{Host: host})
}
