package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// A retried license command finds its Idempotency-Key in the cached index
// of keyed events as Store.Execute finds it in the history: after other
// events were appended (the index carried through appends without keys),
// on another process with a cold cache (the index built from the log),
// and on a process whose cache went stale behind another's append (the
// version check reloads it). R25: instances are added once.
func TestIdempotencyKeysAcrossAppendsAndProcesses(t *testing.T) {
	t.Parallel()
	a, b := twoProcesses(t)
	license := a.subscription("S-1", 2, time.Hour)
	first := a.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/instances", AddInstancesRequest{Count: 2}, "Idempotency-Key: order-1")
	act := a.activate(license, "2.4.0")
	a.clock.Set(t0.Add(30 * time.Minute)) // past lease/4: the check-in is recorded
	if got := refusal(t, a.checkIn(act, "")); got != "200" {
		t.Fatalf("check-in: %s", got)
	}
	second := b.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/renewals", ReferenceRequest{Reference: "PAY-1"}, "Idempotency-Key: pay-1")

	for _, tc := range []struct {
		name   string
		env    *licEnv
		path   string
		body   any
		key    string
		answer response
	}{
		{"same process, after appends without a key", a, "/v1/subscriptions/S-1/instances", AddInstancesRequest{Count: 2}, "order-1", first},
		{"another process, cold cache", b, "/v1/subscriptions/S-1/instances", AddInstancesRequest{Count: 2}, "order-1", first},
		{"stale cache behind another process's append", a, "/v1/subscriptions/S-1/renewals", ReferenceRequest{Reference: "PAY-1"}, "pay-1", second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			again := tc.env.admin(http.StatusCreated, "POST", tc.path, tc.body, "Idempotency-Key: "+tc.key)
			if got, want := string(again.body), string(tc.answer.body); got != want {
				t.Errorf("retry answered\n%s\nfirst answer\n%s", got, want)
			}
		})
	}
	events := a.events(license)
	got := []int{countType(events, domain.EventSubscriptionInstancesAdded), countType(events, domain.EventSubscriptionRenewed), countType(events, domain.EventInstanceCheckedIn)}
	if want := []int{1, 1, 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("[instances_added renewed checked_in] = %v, want %v", got, want)
	}
	for _, e := range events {
		// Stored scoped to the caller: "<actor>:<key>", the actor a hash
		// prefix of the admin token, never the token.
		want := map[string]string{domain.EventSubscriptionInstancesAdded: "order-1", domain.EventSubscriptionRenewed: "pay-1"}[e.Type]
		if want != "" {
			want = "admin#" + adminActorHash + ":" + want
		}
		if e.IdempotencyKey != want {
			t.Errorf("%s carries Idempotency-Key %q, want %q", e.Type, e.IdempotencyKey, want)
		}
	}
}

// The same request retried at once from two processes (a client that
// timed out and retried through another server) is stored once, and every
// attempt gets the one answer: the loser of the race conflicts, re-reads
// and finds the key.
func TestIdempotencyKeyRacingRetries(t *testing.T) {
	t.Parallel()
	a, b := twoProcesses(t)
	license := a.subscription("S-1", 1, time.Hour)
	const attempts = 12
	var wg sync.WaitGroup
	bodies := make([]string, attempts)
	start := make(chan struct{})
	for i := range attempts {
		wg.Go(func() {
			<-start
			e := []*licEnv{a, b}[i%2]
			r := e.call("POST", "/v1/subscriptions/S-1/instances", adminToken, AddInstancesRequest{Count: 3}, "Idempotency-Key: order-9")
			bodies[i] = fmt.Sprintf("%d %s", r.status, r.body)
		})
	}
	close(start)
	wg.Wait()
	for i := 1; i < attempts; i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("attempt %d answered\n%s\nattempt 0 answered\n%s", i, bodies[i], bodies[0])
		}
	}
	if got, want := countType(a.events(license), domain.EventSubscriptionInstancesAdded), 1; got != want {
		t.Errorf("%d instances_added stored, want %d", got, want)
	}
}

// adminActorHash is the actor suffix of adminToken (Tokens: 8 hex digits
// of its SHA-256).
var adminActorHash = func() string {
	sum := sha256.Sum256([]byte(adminToken))
	return hex.EncodeToString(sum[:4])
}()
