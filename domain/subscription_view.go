package domain

import "time"

// SubscriptionDoc is the query shape of a subscription at an instant: what
// the HTTP endpoint, the CLI and the golden files print. Times are RFC 3339
// UTC; instances are listed in activation order, so the same history gives
// the same bytes (R32).
type SubscriptionDoc struct {
	Subscription string `json:"subscription"`
	At           string `json:"at"`
	// AsOf is the log position of the view, set by the reader that folded it
	// (absent for a history without stream sequences, e.g. a fixture).
	AsOf           *LogPosition   `json:"as_of,omitempty"`
	Version        uint64         `json:"version"`
	Status         string         `json:"status"`
	Customer       string         `json:"customer,omitempty"`
	Plan           InstancePlan   `json:"plan"`
	Period         string         `json:"period"`
	PeriodStart    string         `json:"period_start"`
	PeriodEnd      string         `json:"period_end"`
	PastDueSince   string         `json:"past_due_since,omitempty"`
	CanceledAt     string         `json:"canceled_at,omitempty"`
	InstancesAdded int            `json:"instances_added"`
	InstanceLimit  int            `json:"instance_limit"`
	InstancesInUse int            `json:"instances_in_use"`
	LeaseSeconds   int64          `json:"lease_seconds"`
	Instances      []InstanceView `json:"instances"`
	// Fallback is the attached perpetual fallback, "perpetual/<id>" (R28).
	Fallback string `json:"fallback,omitempty"`
}

// SubscriptionView renders s at instant at. s must be folded from the events
// recorded up to at (an "as of" query folds only those); the statuses and
// leases are then derived for at. A subscription never created is
// ENOTFOUND.
func SubscriptionView(s *SubscriptionState, at time.Time) (SubscriptionDoc, error) {
	if s == nil || !s.Created() {
		return SubscriptionDoc{}, Reasonf(ENOTFOUND, ReasonSubscriptionUnknown, "no such subscription")
	}
	at = at.UTC()
	return SubscriptionDoc{
		Subscription:   s.ID,
		At:             srvTimeText(at),
		Version:        s.Version,
		Fallback:       s.Fallback,
		Status:         s.Status(at),
		Customer:       s.Customer,
		Plan:           s.Plan,
		Period:         s.Period,
		PeriodStart:    srvTimeText(s.PeriodStart),
		PeriodEnd:      srvTimeText(s.PeriodEnd),
		PastDueSince:   srvTimeText(s.PastDueSince),
		CanceledAt:     srvTimeText(s.CanceledAt),
		InstancesAdded: s.AddedInstances,
		InstanceLimit:  s.InstanceLimit(),
		InstancesInUse: s.Instances.HeldCount(at, s.Lease),
		LeaseSeconds:   int64(s.Lease / time.Second),
		Instances:      s.Instances.views(at, s.Lease),
	}, nil
}
