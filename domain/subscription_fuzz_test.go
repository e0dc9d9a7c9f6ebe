package domain

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// srvScript is a subscription history generated from bytes: the fuzz
// target and the fold property test share it.
type srvScript struct {
	history []Event
	state   *SubscriptionState
}

// srvRunScript creates subscription S-1 and then reads the script three
// bytes at a time (operation, argument, time step) and decides each command
// against the folded state, checking on every step that:
//   - a refusal is a *Error with a known code, never EINTERNAL;
//   - accepted events are well-formed and fold without error;
//   - no more instances hold a seat than the limit allows (R25, R26);
//   - a successful check returns the current plan (R24).
func srvRunScript(t testing.TB, script []byte) srvScript {
	t.Helper()
	s := &SubscriptionState{}
	var history []Event
	now := srvT0
	apply := func(events []Event) {
		t.Helper()
		for _, e := range events {
			e.SpecVersion, e.ID, e.Source, e.Time = SpecVersion, fmt.Sprintf("E%05d", len(history)+1), "fuzz", now
			e.AggregateVersion, e.SchemaVersion = s.Version+1, SchemaVersion
			if !slices.Contains(BillableEventTypes, e.Type) {
				t.Fatalf("decided unknown event type %q", e.Type)
			}
			if err := EvolveSubscription(s, e); err != nil {
				t.Fatalf("decided event does not fold: %s %s: %v", e.Type, e.Data, err)
			}
			history = append(history, e)
		}
	}
	create, err := DecideSubscription(s, SubscriptionCreate{ID: "S-1", Plan: InstancePlan{Name: "start"}, Period: SubscriptionMonthly, Lease: 4 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	apply(create)

	plans := []string{"start", "grow", "scale"}
	periods := []string{SubscriptionMonthly, SubscriptionAnnual, "weekly"}
	for i := 0; i+2 < len(script); i += 3 {
		op, arg, dt := script[i], script[i+1], script[i+2]
		if dt == 255 {
			now = now.AddDate(0, 0, 40)
		} else {
			now = now.Add(time.Duration(dt) * 7 * time.Minute)
		}
		id := fmt.Sprintf("i-%d", arg%6)
		secret := srvSecret + id
		var cmd SubscriptionCommand
		switch op % 11 {
		case 0:
			cmd = SubscriptionCreate{ID: "S-1", Plan: InstancePlan{Name: plans[arg%3]}, Period: periods[int(arg>>2)%3]}
		case 1:
			cmd = SubscriptionChangePlan{Plan: InstancePlan{Name: plans[arg%3], Instances: int(arg % 5), Devices: int(arg>>3) - 4}}
		case 2:
			cmd = SubscriptionAddInstances{Count: int(arg % 3)}
		case 3:
			cmd = SubscriptionRenew{Reference: "inv"}
		case 4:
			cmd = SubscriptionMarkPastDue{}
		case 5:
			if arg%16 != 0 { // cancel ends everything: keep it rare
				cmd = SubscriptionRenew{}
			} else {
				cmd = SubscriptionCancel{}
			}
		case 6:
			if arg&0x40 != 0 {
				secret = "short"
			}
			cmd = InstanceActivate{InstanceID: id, Secret: secret, Version: "1.0"}
		case 7, 8:
			if arg&0x80 != 0 {
				secret = "wrong-secret-wrong-secret"
			}
			c := InstanceCheckIn{InstanceID: id, Secret: secret}
			if arg&0x40 != 0 {
				c.Version = "1.1"
			}
			cmd = c
		case 9:
			cmd = InstanceDeactivate{InstanceID: id, Secret: secret, ByAdmin: arg&1 == 1}
		case 10:
			cmd = nil
		}
		events, err := DecideSubscription(s, cmd, now)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("%T refused with %T, not *domain.Error: %v", cmd, err, err)
			}
			switch de.Code {
			case ECONFLICT, EINVALID, ENOTFOUND, EUNAUTHORIZED, EFORBIDDEN:
			default:
				t.Fatalf("%T refused with code %q: %v", cmd, de.Code, err)
			}
			continue
		}
		if c, ok := cmd.(InstanceCheckIn); ok {
			reply, again, err := SubscriptionCheck(s, c, now)
			if err != nil || len(again) != len(events) {
				t.Fatalf("SubscriptionCheck disagrees with DecideSubscription: %v, %d vs %d events", err, len(again), len(events))
			}
			if reply.Plan != s.Plan {
				t.Fatalf("check reply plan %+v, current plan %+v", reply.Plan, s.Plan)
			}
		}
		apply(events)
		if held, limit := len(s.Instances.Held(now, s.Lease)), s.InstanceLimit(); held > limit {
			t.Fatalf("after %T: %d instances hold a seat, limit %d", cmd, held, limit)
		}
	}
	return srvScript{history: history, state: s}
}

// FuzzDecideSubscription: no command sequence panics, every refusal is a
// *domain.Error with a code, every accepted event folds, and the seat limit
// always holds (R25, R26).
func FuzzDecideSubscription(f *testing.F) {
	f.Add([]byte{6, 0, 1, 6, 1, 1, 2, 1, 1, 6, 1, 1, 7, 0, 40, 7, 1, 200, 1, 1, 1, 3, 0, 255, 9, 0, 1})
	f.Add([]byte{4, 0, 1, 6, 0, 1, 7, 0x40, 10, 1, 12, 0, 5, 0, 1, 7, 0, 1, 3, 0, 1})
	f.Add([]byte{10, 0, 0, 0, 0, 0, 8, 0x80, 3})
	f.Fuzz(func(t *testing.T, script []byte) {
		srvRunScript(t, script)
	})
}
