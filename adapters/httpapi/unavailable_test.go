package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go"
)

// openExternal opens a store on url; closing it after the server is gone
// may only complain that the connection is reconnecting.
func openExternal(t *testing.T, url string) *eventstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := eventstore.Open(ctx, eventstore.Config{URL: url, LoadTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Close wraps the drain's error in a domain error, without a chain.
		if err := s.Close(); err != nil && !strings.Contains(err.Error(), nats.ErrConnectionReconnecting.Error()) {
			t.Errorf("close event store: %v", err)
		}
	})
	return s
}

// With NATS stopped under a running server, commands answer 503
// ledger-unavailable with Retry-After, never a bare 500, and /metrics
// counts them by reason.
func TestStoppedNATSAnswers503(t *testing.T) {
	t.Parallel()
	ns := eventstoretest.MustRunJetStreamServer(t)
	store := openExternal(t, ns.ClientURL())
	e := newEnv(t, func(c *Config) { c.Store = store; c.ConsistencyWait = -1 })
	e.registerAcme()

	ns.Shutdown()
	ns.WaitForShutdown()

	commands := []struct {
		method, path, body, route string
	}{
		{"POST", "/v1/platforms/acme/nodes", `{"node":"mn-2"}`, "POST /v1/platforms/{id}/nodes"},
		{"POST", "/v1/platforms", `{"id":"beta","nodes":["mn-1"],"request_code":"RC-7F3B"}`, "POST /v1/platforms"},
	}
	for i, c := range commands {
		r := e.do(c.method, c.path, adminToken, []byte(c.body), "Idempotency-Key: k-"+strconv.Itoa(i))
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("%s %s with NATS stopped: status %d, want 503: %s", c.method, c.path, r.status, r.body)
		}
		got := r.errorBody(t)
		if got.Code != domain.EUNAVAILABLE || got.Reason != domain.ReasonLedgerUnavailable {
			t.Errorf("%s %s: error %+v, want %s/%s", c.method, c.path, got, domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable)
		}
		if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 5 {
			t.Errorf("%s %s: Retry-After %q, want 1 to 5 seconds", c.method, c.path, r.header.Get("Retry-After"))
		}
		if strings.Contains(got.Message, "nats:") {
			t.Errorf("%s %s: message %q leaks the NATS error", c.method, c.path, got.Message)
		}
	}

	m := string(e.do("GET", "/metrics", "", nil).body)
	for _, c := range commands {
		want := `licledger_http_requests_total{code="503",reason="ledger-unavailable",route="` + c.route + `"} 1`
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// A write whose acknowledgement never comes answers 503 outcome-unknown
// with the ids of the events it carried; once it has landed, the retry
// with the same Idempotency-Key answers with exactly those events.
func TestOutcomeUnknownNamesTheEventIDs(t *testing.T) {
	t.Parallel()
	proxy := eventstoretest.MustRunProxy(t, eventstoretest.MustRunJetStream(t))
	store := openExternal(t, proxy.URL())
	held := &freezeOnAppend{Executor: eventstore.NewExecutor(store, eventstore.Platforms, eventstore.ExecutorConfig{}), proxy: proxy}
	e := newEnv(t, func(c *Config) {
		c.Store = store
		c.ConsistencyWait = -1
		c.Commands = CommandsOf(eventstore.NewExecutors(store, eventstore.ExecutorConfig{}))
		c.Commands.Platforms = held
	})
	e.registerAcme()
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", bundleJSON)

	held.armed.Store(true)
	r := e.do("POST", "/v1/platforms/acme/hosts", adminToken, []byte(`{"host":"h-1","hypervisor":"kvm","sockets":2}`), "Idempotency-Key: add-h-1")
	proxy.Thaw() // the held publish now reaches the server and is stored
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("write with its acknowledgement held: %d %s, want 503", r.status, r.body)
	}
	got := r.errorBody(t)
	if got.Reason != domain.ReasonOutcomeUnknown || len(got.EventIDs) != 1 {
		t.Fatalf("error %+v, want outcome-unknown with the one event id", got)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("outcome-unknown without Retry-After")
	}
	retry := e.must(http.StatusCreated, "POST", "/v1/platforms/acme/hosts", `{"host":"h-1","hypervisor":"kvm","sockets":2}`, "Idempotency-Key: add-h-1").result(t)
	if len(retry.Events) != 1 || retry.Events[0].ID != got.EventIDs[0] {
		t.Errorf("retry answered events %+v, want the unconfirmed write's %s", retry.Events, got.EventIDs[0])
	}
}

// freezeOnAppend is the platforms' Executor, which, when armed, freezes
// the proxy once the command's locked attempt has decided: its publish
// is held, so the write reaches the server after the caller gave up.
type freezeOnAppend struct {
	*eventstore.Executor[*domain.PlatformState]
	proxy *eventstoretest.Proxy
	armed atomic.Bool
}

func (f *freezeOnAppend) Execute(ctx context.Context, cmd eventstore.Command[*domain.PlatformState]) (eventstore.Result[*domain.PlatformState], error) {
	if f.armed.Swap(false) {
		decide, calls := cmd.Decide, 0
		cmd.Decide = func(st *domain.PlatformState, now time.Time) ([]domain.Event, error) {
			if calls++; calls == 2 { // the locked attempt, right before its append
				f.proxy.Freeze()
			}
			return decide(st, now)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return f.Executor.Execute(ctx, cmd)
	}
	return f.Executor.Execute(ctx, cmd)
}
