package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/licledger/licledger/domain"
)

// What-if: POST /v1/platforms/{id}/entitlement/simulate and POST
// /v1/subscriptions/{id}/simulate take hypothetical commands, decide and
// fold them on a copy of the aggregate's state with the domain's own
// Decide and Evolve (domain.Simulate), and answer the resulting view and
// what it changes. Nothing is appended.

// PlatformWhatIf is one hypothetical platform command: exactly one member
// set, holding the body the real endpoint takes (with the path's node,
// key or host in it).
type PlatformWhatIf struct {
	// UploadLicense is the body of POST /v1/platforms/{id}/licenses: a
	// license object or {"licenses":[...]} on a ledger that accepts
	// license JSON, a signed license file (its JSON document) on one that
	// verifies signatures. Source and KeyID are its ?source= and ?key_id=.
	UploadLicense json.RawMessage `json:"upload_license,omitempty"`
	// UploadBundle is a .tar.gz bundle of signed license files, base64.
	UploadBundle []byte `json:"upload_bundle,omitempty"`
	// Source and KeyID are the upload's ?source= and ?key_id=.
	Source string `json:"source,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	// InsertUSBKey: POST /v1/platforms/{id}/nodes/{node}/usb-keys.
	InsertUSBKey *WhatIfKey `json:"insert_usb_key,omitempty"`
	// RemoveUSBKey: DELETE /v1/platforms/{id}/nodes/{node}/usb-keys/{key}.
	RemoveUSBKey *WhatIfKey `json:"remove_usb_key,omitempty"`
	// AddHost: POST /v1/platforms/{id}/hosts.
	AddHost *HostRequest `json:"add_host,omitempty"`
	// RemoveHost: DELETE /v1/platforms/{id}/hosts/{host}.
	RemoveHost *HostRequest `json:"remove_host,omitempty"`
	// AddNode, RemoveNode: POST /v1/platforms/{id}/nodes, DELETE .../nodes/{node}.
	AddNode    *NodeRequest `json:"add_node,omitempty"`
	RemoveNode *NodeRequest `json:"remove_node,omitempty"`
	// DeleteLicense: DELETE /v1/platforms/{id}/licenses/{license}.
	DeleteLicense *struct {
		License string `json:"license"`
	} `json:"delete_license,omitempty"`
}

// WhatIfKey is a USB key on a node: USBKeyRequest with the path's node.
type WhatIfKey struct {
	Node     string           `json:"node"`
	KeyID    string           `json:"key_id"`
	Licenses []domain.License `json:"licenses,omitempty"`
}

// SubscriptionWhatIf is one hypothetical subscription command: exactly
// one member set, holding the body the real endpoint takes.
type SubscriptionWhatIf struct {
	ChangePlan   *PlanRequest         `json:"change_plan,omitempty"`   // PUT /v1/subscriptions/{id}/plan
	AddInstances *AddInstancesRequest `json:"add_instances,omitempty"` // POST .../instances
	Renew        *ReferenceRequest    `json:"renew,omitempty"`         // POST .../renewals
	MarkPastDue  *ReferenceRequest    `json:"mark_past_due,omitempty"` // POST .../past-due
	Cancel       *CancelRequest       `json:"cancel,omitempty"`        // POST .../cancel
}

// SimulateRequest is the body of the simulate endpoints: an optional
// instant (RFC 3339 or a date, as ?at=; default now) and the commands.
type SimulateRequest[C any] struct {
	At       string `json:"at,omitempty"`
	Commands []C    `json:"commands"`
}

// SimulationResult answers a simulation: the position of the state it
// started from, the view after the commands, and the items they change.
type SimulationResult struct {
	Aggregate string              `json:"aggregate"`
	At        time.Time           `json:"at"`
	AsOf      *domain.LogPosition `json:"as_of"`
	Commands  int                 `json:"commands"`
	View      any                 `json:"view"`
	Changes   []domain.ItemChange `json:"changes"`
}

// MaxWhatIfCommands bounds the commands of one simulation.
const MaxWhatIfCommands = 100

func whatIfErr(i int, format string, args ...any) error {
	return &domain.SimulationRefusal{Index: i, Err: domain.Reasonf(domain.EINVALID, domain.ReasonInvalidCommand,
		"hypothetical command %d: "+format, append([]any{i}, args...)...)}
}

// PlatformDeciders turns hypothetical platform commands into the deciders
// the real endpoints run: the same domain commands, uploads through the
// ledger's license verifier (nil: license JSON).
func PlatformDeciders(cmds []PlatformWhatIf, verifier LicenseVerifier) ([]domain.Decider[*domain.PlatformState], error) {
	if verifier == nil {
		verifier = JSONLicenses{}
	}
	out := make([]domain.Decider[*domain.PlatformState], len(cmds))
	for i, c := range cmds {
		var cmd domain.PlatformCommand
		set := 0
		for _, body := range []struct {
			raw         []byte
			contentType string
		}{{c.UploadLicense, "application/json"}, {c.UploadBundle, "application/gzip"}} {
			if body.raw == nil {
				continue
			}
			set++
			up, perr := verifier.ParseUpload(body.raw, UploadMeta{ContentType: body.contentType, Source: c.Source, KeyID: c.KeyID})
			if perr != nil && !domain.RecordsRefusal(perr) {
				return nil, &domain.SimulationRefusal{Index: i, Err: &domain.Error{Code: domain.ErrorCode(perr), Reason: domain.ErrorReason(perr), Message: domain.ErrorMessage(perr)}}
			}
			u := domain.Upload{Digest: domain.Digest(body.raw), Command: up.Command, Refused: perr, Check: up.Check, Actor: "simulation"}
			out[i] = func(st *domain.PlatformState, now time.Time) ([]domain.Event, error) {
				return domain.DecideUpload(st, u, now)
			}
		}
		if k := c.InsertUSBKey; k != nil {
			set++
			if _, unsigned := verifier.(JSONLicenses); !unsigned && len(k.Licenses) > 0 {
				return nil, &domain.SimulationRefusal{Index: i, Err: domain.Reasonf(domain.EFORBIDDEN, domain.ReasonSignedFilesOnly,
					"hypothetical command %d: this ledger accepts a USB key's licenses only as vendor-signed license files bound to the key", i)}
			}
			cmd = domain.InsertUSBKey{Node: k.Node, KeyID: k.KeyID, Licenses: k.Licenses}
		}
		if k := c.RemoveUSBKey; k != nil {
			set++
			cmd = domain.RemoveUSBKey{Node: k.Node, KeyID: k.KeyID}
		}
		if h := c.AddHost; h != nil {
			set++
			cmd = domain.AddHost{Host: h.Host, Hypervisor: h.Hypervisor, Sockets: h.Sockets}
		}
		if h := c.RemoveHost; h != nil {
			set++
			cmd = domain.RemoveHost{Host: h.Host}
		}
		if n := c.AddNode; n != nil {
			set++
			cmd = domain.AddNode{Node: n.Node}
		}
		if n := c.RemoveNode; n != nil {
			set++
			cmd = domain.RemoveNode{Node: n.Node}
		}
		if d := c.DeleteLicense; d != nil {
			set++
			cmd = domain.DeleteLicense{License: d.License}
		}
		if set != 1 {
			return nil, whatIfErr(i, "give exactly one of upload_license, upload_bundle, insert_usb_key, remove_usb_key, add_host, remove_host, add_node, remove_node, delete_license (%d given)", set)
		}
		if cmd != nil {
			out[i] = platformDecider(cmd)
		}
	}
	return out, nil
}

// SubscriptionDeciders turns hypothetical subscription commands into the
// deciders the real endpoints run.
func SubscriptionDeciders(cmds []SubscriptionWhatIf) ([]domain.Decider[*domain.SubscriptionState], error) {
	out := make([]domain.Decider[*domain.SubscriptionState], len(cmds))
	for i, c := range cmds {
		var cmd domain.SubscriptionCommand
		set := 0
		if c.ChangePlan != nil {
			set, cmd = set+1, domain.SubscriptionChangePlan{Plan: c.ChangePlan.Plan}
		}
		if c.AddInstances != nil {
			set, cmd = set+1, domain.SubscriptionAddInstances{Count: c.AddInstances.Count}
		}
		if c.Renew != nil {
			set, cmd = set+1, domain.SubscriptionRenew{Reference: c.Renew.Reference}
		}
		if c.MarkPastDue != nil {
			set, cmd = set+1, domain.SubscriptionMarkPastDue{Reference: c.MarkPastDue.Reference}
		}
		if c.Cancel != nil {
			set, cmd = set+1, domain.SubscriptionCancel{Reason: c.Cancel.Reason}
		}
		if set != 1 {
			return nil, whatIfErr(i, "give exactly one of change_plan, add_instances, renew, mark_past_due, cancel (%d given)", set)
		}
		out[i] = func(st *domain.SubscriptionState, now time.Time) ([]domain.Event, error) {
			return domain.DecideSubscription(st, cmd, now)
		}
	}
	return out, nil
}

// readSimulation decodes a simulate body and its instant (default: now,
// as a view's).
func readSimulation[C any](s *Server, w http.ResponseWriter, r *http.Request) (SimulateRequest[C], time.Time, error) {
	var req SimulateRequest[C]
	if err := decodeJSON(w, r, s.cfg.MaxUploadBytes, &req); err != nil {
		return req, time.Time{}, err
	}
	if len(req.Commands) == 0 || len(req.Commands) > MaxWhatIfCommands {
		return req, time.Time{}, domain.Reasonf(domain.EINVALID, domain.ReasonInvalidCommand, "commands: give 1 to %d hypothetical commands", MaxWhatIfCommands)
	}
	at, err := s.parseAt(r) // now, unless the body says
	if req.At != "" {
		if at, err = parseInstant(req.At); err != nil {
			return req, at, domain.Reasonf(domain.EINVALID, domain.ReasonInvalidCommand, "at: %q is not an RFC 3339 instant or a date", req.At)
		}
	}
	return req, at, err
}

// simulatePlatform answers what the entitlement would be after the
// hypothetical commands, decided at the instant on the platform's state
// as of that instant, and what they change.
func (s *Server) simulatePlatform(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	req, at, err := readSimulation[PlatformWhatIf](s, w, r)
	if err != nil {
		return err
	}
	deciders, err := PlatformDeciders(req.Commands, s.cfg.Verifier)
	if err != nil {
		return err
	}
	x := s.cmds.Platforms
	st, seq, err := x.View(r.Context(), id, at, 0)
	if err != nil {
		return err
	}
	if !x.Kind().Exists(st) {
		return x.Kind().Missing(id)
	}
	res, err := SimulatePlatform(st, at, deciders)
	if err != nil {
		return err
	}
	seqs, err := s.cfg.Queries.DB().EventSeqs(r.Context(), append(res.before.EventIDs(), res.after.EventIDs()...))
	if err != nil {
		return err
	}
	res.before.SetSeqs(seqs)
	res.after.SetSeqs(seqs)
	res.after.AsOf = domain.Position(at, seq)
	changes, err := domain.EntitlementChanges(res.before, res.after)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, SimulationResult{Aggregate: domain.KindPlatform + "/" + id, At: at, AsOf: domain.Position(at, seq),
		Commands: len(deciders), View: res.after, Changes: changes})
	return nil
}

// PlatformSimulation is a platform's entitlement at an instant before and
// after hypothetical commands.
type PlatformSimulation struct {
	before, after domain.Entitlement
}

// Before and After are the entitlements without and with the commands.
func (p PlatformSimulation) Before() domain.Entitlement { return p.before }
func (p PlatformSimulation) After() domain.Entitlement  { return p.after }

// SimulatePlatform decides and folds the commands on a copy of st at
// instant at (not before st's last event: the ledger decides no earlier)
// and evaluates the entitlement at at without and with them.
func SimulatePlatform(st *domain.PlatformState, at time.Time, deciders []domain.Decider[*domain.PlatformState]) (PlatformSimulation, error) {
	if at.Before(st.LastEventTime()) {
		at = st.LastEventTime()
	}
	after, err := domain.Simulate(st, (*domain.PlatformState).Clone, domain.EvolvePlatform, at, deciders)
	if err != nil {
		return PlatformSimulation{}, err
	}
	return PlatformSimulation{before: domain.PlatformEntitlement(st, at), after: domain.PlatformEntitlement(after, at)}, nil
}

// simulateSubscription answers what the subscription's view would be
// after the hypothetical commands, and what they change.
func (ls *licServer) simulateSubscription(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	req, at, err := readSimulation[SubscriptionWhatIf](ls.s, w, r)
	if err != nil {
		return err
	}
	deciders, err := SubscriptionDeciders(req.Commands)
	if err != nil {
		return err
	}
	x := ls.cmds.Subscriptions
	st, seq, err := x.View(r.Context(), id, at, 0)
	if err != nil {
		return err
	}
	before, err := domain.SubscriptionView(st, at)
	if err != nil {
		return err
	}
	sim, err := domain.Simulate(st, (*domain.SubscriptionState).Clone, domain.EvolveSubscription, at, deciders)
	if err != nil {
		return err
	}
	after, err := domain.SubscriptionView(sim, at)
	if err != nil {
		return err
	}
	pos := domain.Position(at, seq)
	before.AsOf, after.AsOf = pos, pos
	changes, err := domain.ViewChanges(before, after)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, SimulationResult{Aggregate: domain.KindSubscription + "/" + id, At: at, AsOf: pos,
		Commands: len(deciders), View: after, Changes: changes})
	return nil
}

// simulationIndex is the index of the refused hypothetical command in
// err, if any: the error answer names it.
func simulationIndex(err error) *int {
	var sr *domain.SimulationRefusal
	if errors.As(err, &sr) {
		return &sr.Index
	}
	return nil
}
