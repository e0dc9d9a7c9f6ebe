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

// PlatformDecider decides a command from the platform's folded state at
// the decision instant; it may run several times (optimistic retries).
type PlatformDecider func(st *domain.PlatformState, now time.Time) ([]domain.Event, error)

// ExecutePlatform runs one platform command through the event store's
// command loop: load the history, fold it (domain.EvolvePlatform), decide,
// append with optimistic concurrency, retry on conflict. Unregistered
// platforms are ENOTFOUND unless the command registers one. Events get
// source as their CloudEvents source (who appended them). It returns the
// records and the platform's version after the command. Other adapters
// (the USB key watcher) use it too; safe for concurrent use.
func ExecutePlatform(ctx context.Context, store *eventstore.Store, id, source string, opts eventstore.ExecuteOptions,
	now func() time.Time, registers bool, decide PlatformDecider) ([]eventstore.Record, uint64, error) {
	var version uint64
	recs, err := store.Execute(ctx, domain.Aggregate{Kind: domain.KindPlatform, ID: id}, opts, func(history []eventstore.Record) ([]domain.Event, error) {
		version = uint64(len(history))
		st := &domain.PlatformState{}
		for _, rec := range history {
			if err := domain.EvolvePlatform(st, rec.Event); err != nil {
				return nil, domain.Errorf(domain.EINTERNAL, "platform %s: history does not fold: %s", id, domain.ErrorMessage(err))
			}
		}
		if !registers && !st.Registered() {
			return nil, domain.Reasonf(domain.ENOTFOUND, domain.ReasonNotRegistered,
				"platform %q is not registered; register it first (POST /v1/platforms)", id)
		}
		events, err := decide(st, now())
		for i := range events {
			if events[i].Source == "" {
				events[i].Source = source
			}
		}
		return events, err
	})
	if err != nil {
		return nil, 0, err
	}
	if n := len(recs); n > 0 {
		version = recs[n-1].Event.AggregateVersion
	}
	return recs, version, nil
}

// commandOptions reads Idempotency-Key and If-Match.
func (s *Server) commandOptions(r *http.Request) (eventstore.ExecuteOptions, error) {
	opts := eventstore.ExecuteOptions{MaxRetries: s.cfg.MaxRetries}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		if err := domain.ValidateID(k); err != nil {
			return opts, domain.Reasonf(domain.EINVALID, ReasonBadParameter, "Idempotency-Key: %s", domain.ErrorMessage(err))
		}
		opts.IdempotencyKey = k
	}
	if v := r.Header.Get("If-Match"); v != "" {
		t := strings.TrimPrefix(strings.TrimSpace(v), "W/")
		t = strings.Trim(t, `"`)
		n, err := strconv.ParseUint(t, 10, 64)
		if err != nil || n == 0 {
			return opts, domain.Reasonf(domain.EINVALID, ReasonBadParameter, "If-Match %q is not a platform version (an ETag like \"3\")", v)
		}
		opts.IfMatch = n
	}
	return opts, nil
}

// execute runs a command for a handler: options from the headers, the
// caller as the events' source, append metrics, and a bounded wait for the
// projections to include the new events (read-your-writes).
func (s *Server) execute(r *http.Request, name, id string, registers bool, decide PlatformDecider) (CommandResult, []eventstore.Record, error) {
	opts, err := s.commandOptions(r)
	if err != nil {
		return CommandResult{}, nil, err
	}
	caller, _ := CallerOf(r.Context())
	source := "api/" + caller.Actor
	start := time.Now()
	recs, version, err := ExecutePlatform(r.Context(), s.cfg.Store, id, source, opts, s.cfg.Now, registers, decide)
	s.metrics.appendLatency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		return CommandResult{}, nil, err
	}
	res := CommandResult{Platform: id, Version: version, Events: []AppendedEvent{}}
	for _, rec := range recs {
		res.Events = append(res.Events, AppendedEvent{ID: rec.Event.ID, Type: rec.Event.Type,
			Version: rec.Event.AggregateVersion, Seq: rec.Seq, Time: rec.Event.Time})
	}
	if n := len(recs); n > 0 && s.cfg.ConsistencyWait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ConsistencyWait)
		defer cancel()
		if err := s.cfg.Runner.WaitFor(ctx, recs[n-1].Seq); err != nil {
			s.log.Warn("projections did not include a command's events in time; answering anyway", "seq", recs[n-1].Seq, "err", err)
		}
	}
	return res, recs, nil
}

// writeResult answers a command: 201 when a POST appended events, 200
// for a DELETE, or when there was nothing to append (an upload of
// licenses already recorded).
func writeResult(w http.ResponseWriter, r *http.Request, res CommandResult) {
	w.Header().Set("ETag", etag(res.Version))
	status := http.StatusOK
	if r.Method == http.MethodPost && len(res.Events) > 0 {
		status = http.StatusCreated
	}
	writeJSON(w, status, res)
}

// command is the common shape of the simple commands: decode the body (if
// any), build the domain command, execute, answer.
func (s *Server) command(w http.ResponseWriter, r *http.Request, name, id string, cmd domain.PlatformCommand) error {
	res, _, err := s.execute(r, name, id, false, func(st *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		return domain.DecidePlatform(st, cmd, now)
	})
	if err != nil {
		return err
	}
	writeResult(w, r, res)
	return nil
}

// RegisterRequest is the body of POST /v1/platforms.
type RegisterRequest struct {
	ID          string   `json:"id"`
	Nodes       []string `json:"nodes"`
	RequestCode string   `json:"request_code,omitempty"`
}

func (s *Server) registerPlatform(w http.ResponseWriter, r *http.Request) error {
	var req RegisterRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := domain.ValidateID(req.ID); err != nil {
		return domain.Reasonf(domain.EINVALID, domain.ReasonInvalidID, "id: %s", domain.ErrorMessage(err))
	}
	cmd := domain.RegisterPlatform{Platform: req.ID, Nodes: req.Nodes, RequestCode: req.RequestCode}
	res, _, err := s.execute(r, "register_platform", req.ID, true, func(st *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		return domain.DecidePlatform(st, cmd, now)
	})
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
	var req USBKeyRequest
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	return s.command(w, r, "insert_usb_key", id, domain.InsertUSBKey{Node: node, KeyID: req.KeyID, Licenses: req.Licenses})
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
