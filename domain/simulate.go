package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// What-if: hypothetical commands decided and folded on a copy of a state,
// by the very Decide and Evolve functions real commands go through, so a
// simulation can only say what the ledger would do. Nothing is appended:
// the events exist only in the copy.

// Decider decides one command on a state at an instant, as an Executor's
// Command.Decide does.
type Decider[S any] func(st S, now time.Time) ([]Event, error)

// SimulationRefusal is a hypothetical command the ledger would refuse: its
// index in the list (from 0) and the refusal, with the catalogue's code
// and reason.
type SimulationRefusal struct {
	Index int
	Err   *Error
}

func (e *SimulationRefusal) Error() string { return e.Err.Error() }

// Unwrap gives the refusal, so ErrorCode and ErrorReason read it.
func (e *SimulationRefusal) Unwrap() error { return e.Err }

// Simulate decides each command in turn on a copy of st (clone) at
// instant at and folds its events into the copy with evolve; st is left
// unchanged. A refused command stops it with a *SimulationRefusal; so does
// a license upload the ledger would record as refused (R11: it records
// the attempt, it grants nothing). The hypothetical events get ids
// "simulated-<command>-<event>", stamped at at.
func Simulate[S any](st S, clone func(S) S, evolve func(S, Event) error, at time.Time, cmds []Decider[S]) (S, error) {
	cur := clone(st)
	for i, decide := range cmds {
		events, err := decide(cur, at)
		if err == nil {
			err = UploadRefusal(events)
		}
		if err != nil {
			return st, simulationRefusal(i, err)
		}
		for j := range events {
			e := events[j]
			e.ID, e.Time = fmt.Sprintf("simulated-%d-%d", i, j), at
			if err := evolve(cur, e); err != nil {
				return st, simulationRefusal(i, err)
			}
		}
	}
	return cur, nil
}

func simulationRefusal(i int, err error) error {
	e := &Error{Code: ErrorCode(err), Reason: ErrorReason(err), Message: fmt.Sprintf("hypothetical command %d: %s", i, ErrorMessage(err))}
	return &SimulationRefusal{Index: i, Err: e}
}

// ItemChange is one item of a view that a simulation changes: its name and
// its JSON before and after (null when absent).
type ItemChange struct {
	Item   string          `json:"item"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// EntitlementChanges lists the items (status, base, each module in catalog
// order, capacity, usb_key) whose JSON differs between two entitlements.
func EntitlementChanges(before, after Entitlement) ([]ItemChange, error) {
	type item struct {
		name          string
		before, after any
	}
	items := []item{{"status", before.Status, after.Status}, {"base", before.Base, after.Base}}
	for _, info := range catalog {
		items = append(items, item{"modules." + info.Name, before.Modules[info.Name], after.Modules[info.Name]})
	}
	items = append(items, item{"capacity", before.Capacity, after.Capacity}, item{"usb_key", before.USBKey, after.USBKey})
	return changes(items, func(it item) (string, any, any) { return it.name, it.before, it.after })
}

// ViewChanges lists the top-level members whose JSON differs between two
// view documents (a subscription's, a perpetual license's), in the order
// of after's members.
func ViewChanges(before, after any) ([]ItemChange, error) {
	b, err := members(before)
	if err != nil {
		return nil, err
	}
	a, err := members(after)
	if err != nil {
		return nil, err
	}
	out := []ItemChange{}
	for _, m := range a {
		var was json.RawMessage = []byte("null")
		for _, o := range b {
			if o.name == m.name {
				was = o.raw
			}
		}
		if !bytes.Equal(was, m.raw) {
			out = append(out, ItemChange{Item: m.name, Before: was, After: m.raw})
		}
	}
	return out, nil
}

type member struct {
	name string
	raw  json.RawMessage
}

// members reads a JSON object's members in order.
func members(v any) ([]member, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, Errorf(EINTERNAL, "encode a view: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, Errorf(EINTERNAL, "read a view: %v", err)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, Errorf(EINTERNAL, "read a view: %v", err)
		}
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			return nil, Errorf(EINTERNAL, "read a view: %v", err)
		}
		out = append(out, member{name: tok.(string), raw: m})
	}
	return out, nil
}

func changes[T any](items []T, parts func(T) (string, any, any)) ([]ItemChange, error) {
	out := []ItemChange{}
	for _, it := range items {
		name, before, after := parts(it)
		b, err := json.Marshal(before)
		if err != nil {
			return nil, Errorf(EINTERNAL, "encode %s: %v", name, err)
		}
		a, err := json.Marshal(after)
		if err != nil {
			return nil, Errorf(EINTERNAL, "encode %s: %v", name, err)
		}
		if !bytes.Equal(a, b) {
			out = append(out, ItemChange{Item: name, Before: b, After: a})
		}
	}
	return out, nil
}
