package httpapi

// Faults under a bounded write load through the real HTTP server: the
// stream leader and the node the server is connected to are killed and
// restarted, NATS is stopped entirely and started again, the stream runs
// out of room and gets it back. Each must keep every acknowledged write
// exactly once in the log, answer every failure 503 with a reason and
// Retry-After (never a bare 500, never a stale 404), keep /readyz truthful,
// keep the queries answering from the projections, and recover without
// restarting anything.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// faultWait bounds every wait for the ledger to get through a fault: far
// above what loopback needs, below the package's test timeout.
const faultWait = 30 * time.Second

// writeLoad is a few writers, each adding and removing a host on its own
// platform through the HTTP API, one request at a time (a write decided
// on an old history is refused: host-exists or unknown host), each retried with its
// Idempotency-Key until it is acknowledged, as a well-behaved client does.
type writeLoad struct {
	t      *testing.T
	e      *env
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	acked    map[string][]string // platform -> event ids acknowledged, in order
	reasons  map[string]int      // 503 reasons seen
	problems []string            // answers a client must never get
	total    atomic.Int64        // acknowledged writes
}

// startLoad registers n platforms and starts one writer on each.
func startLoad(t *testing.T, e *env, n int) *writeLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &writeLoad{t: t, e: e, cancel: cancel, acked: map[string][]string{}, reasons: map[string]int{}}
	for g := range n {
		id := fmt.Sprintf("load-%d", g)
		e.must(http.StatusCreated, "POST", "/v1/platforms", `{"id":"`+id+`","nodes":["mn-1"],"request_code":"RC-`+strconv.Itoa(g)+`"}`)
		e.must(http.StatusCreated, "POST", "/v1/platforms/"+id+"/licenses", bundleJSON)
		l.wg.Add(1)
		go l.write(ctx, id)
	}
	t.Cleanup(l.stop)
	return l
}

func (l *writeLoad) write(ctx context.Context, platform string) {
	defer l.wg.Done()
	for i := 0; ctx.Err() == nil; i++ {
		method, path, body, want := "POST", "/v1/platforms/"+platform+"/hosts", `{"host":"h-1","hypervisor":"kvm","sockets":2}`, http.StatusCreated
		if i%2 == 1 {
			method, path, body, want = "DELETE", "/v1/platforms/"+platform+"/hosts/h-1", "", http.StatusOK
		}
		key := fmt.Sprintf("%s-%d", platform, i)
		for ctx.Err() == nil {
			status, hdr, b, err := l.send(ctx, method, path, body, key)
			if err != nil {
				if ctx.Err() == nil {
					l.problem("%s %s #%d: %v", method, platform, i, err)
				}
				return
			}
			if status == want {
				var res CommandResult
				if err := json.Unmarshal(b, &res); err != nil || len(res.Events) != 1 {
					l.problem("%s %s #%d: %d %s", method, platform, i, status, b)
					return
				}
				l.mu.Lock()
				l.acked[platform] = append(l.acked[platform], res.Events[0].ID)
				l.mu.Unlock()
				l.total.Add(1)
				break
			}
			var eb ErrorBody
			_ = json.Unmarshal(b, &eb)
			if status != http.StatusServiceUnavailable {
				// A bare 500, a stale 404 (platform-not-registered), a
				// 409 from deciding on an old history: all wrong.
				l.problem("%s %s #%d: %d %s", method, platform, i, status, b)
				return
			}
			switch eb.Error.Reason {
			case domain.ReasonLedgerUnavailable, domain.ReasonStorageFull:
			case domain.ReasonOutcomeUnknown:
				if len(eb.Error.EventIDs) == 0 {
					l.problem("%s %s #%d: outcome-unknown without the event ids", method, platform, i)
				}
			default:
				l.problem("%s %s #%d: 503 with reason %q", method, platform, i, eb.Error.Reason)
			}
			if secs, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || secs < 1 {
				l.problem("%s %s #%d: 503 %s with Retry-After %q", method, platform, i, eb.Error.Reason, hdr.Get("Retry-After"))
			}
			l.mu.Lock()
			l.reasons[eb.Error.Reason]++
			l.mu.Unlock()
			// A client waits Retry-After; the test retries sooner to stay short.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

func (l *writeLoad) send(ctx context.Context, method, path, body, key string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, l.e.srv.URL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, nil, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Idempotency-Key", key)
	resp, err := l.e.srv.Client().Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func (l *writeLoad) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// progress waits until n more writes than now are acknowledged.
func (l *writeLoad) progress(what string, n int64) {
	l.t.Helper()
	want := l.total.Load() + n
	deadline := time.Now().Add(faultWait)
	for l.total.Load() < want {
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: %d writes acknowledged in %s, want %d more; problems: %v; 503s: %v", what, l.total.Load(), faultWait, n, l.problems, l.reasons)
		}
		time.Sleep(10 * time.Millisecond) // polls the writers; no test clock involved
	}
}

// answered waits until the writers have been answered n more 503s with
// reason than now.
func (l *writeLoad) answered(reason string, n int) {
	l.t.Helper()
	l.mu.Lock()
	want := l.reasons[reason] + n
	l.mu.Unlock()
	deadline := time.Now().Add(faultWait)
	for {
		l.mu.Lock()
		got := l.reasons[reason]
		l.mu.Unlock()
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("writers were answered %d %s in %s, want %d; problems: %v", got, reason, faultWait, want, l.problems)
		}
		time.Sleep(10 * time.Millisecond) // polls the writers; no test clock involved
	}
}

func (l *writeLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// check stops the load and compares what was acknowledged with the log:
// every acknowledged event stored once, in the order acknowledged, and
// nothing stored that no client was told about except an unconfirmed
// write's single landing.
func (l *writeLoad) check(store *eventstore.Store) {
	l.t.Helper()
	l.stop()
	for _, p := range l.problems {
		l.t.Error(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	for platform, ids := range l.acked {
		recs, err := store.Load(ctx, domain.Aggregate{Kind: domain.KindPlatform, ID: platform})
		if err != nil {
			l.t.Fatalf("load %s: %v", platform, err)
		}
		stored := map[string]int{}
		hosts := map[string]int{} // by the request's Idempotency-Key
		for _, r := range recs {
			stored[r.Event.ID]++
			if r.Event.Type == domain.EventHostAdded || r.Event.Type == domain.EventHostRemoved {
				hosts[r.Event.IdempotencyKey]++
			}
		}
		for _, id := range ids {
			if stored[id] != 1 {
				l.t.Errorf("%s: acknowledged event %s is stored %d times", platform, id, stored[id])
			}
		}
		// One event per request, whatever the retries: the key is on it.
		for key, n := range hosts {
			if n != 1 {
				l.t.Errorf("%s: request %s stored %d times", platform, key, n)
			}
		}
		if len(hosts) < len(ids) || len(hosts) > len(ids)+1 {
			l.t.Errorf("%s: %d writes stored, %d acknowledged (one more may have landed unacknowledged when the load stopped)", platform, len(hosts), len(ids))
		}
	}
	l.t.Logf("acknowledged %d writes; 503 answers by reason: %v", l.total.Load(), l.reasons)
}

// readyz is the parts of /readyz the fault tests look at.
type readyzBody struct {
	Status     string `json:"status"`
	EventStore struct {
		Writable bool   `json:"writable"`
		Reason   string `json:"reason"`
	} `json:"event_store"`
}

func (e *env) readyz() (int, readyzBody) {
	e.t.Helper()
	r := e.do("GET", "/readyz", "", nil)
	var b readyzBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		e.t.Fatalf("readyz %q: %v", r.body, err)
	}
	return r.status, b
}

// waitReadyz polls /readyz until it answers status with the event store's
// reason (or writable, for "ready").
func (e *env) waitReadyz(status int, reason string) readyzBody {
	e.t.Helper()
	deadline := time.Now().Add(faultWait)
	for {
		code, b := e.readyz()
		if code == status && b.EventStore.Reason == reason {
			return b
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("/readyz is %d %+v after %s, want %d with reason %q", code, b, faultWait, status, reason)
		}
		time.Sleep(50 * time.Millisecond) // polls the server's recovery; no test clock involved
	}
}

// clusterEnv runs the API on a 3-node cluster, stream with 3 replicas.
func clusterEnv(t *testing.T) (*env, *eventstoretest.Cluster) {
	t.Helper()
	c := eventstoretest.MustRunCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	store, err := eventstore.Open(ctx, eventstore.Config{URL: c.URL(), Replicas: 3, LoadTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := newEnv(t, func(cfg *Config) { cfg.Store = store })
	e.store = store
	return e, c
}

// connectedNode is the node the server's NATS connection is on: the only
// one with a client.
func connectedNode(t *testing.T, c *eventstoretest.Cluster) int {
	t.Helper()
	for i := range c.Size() {
		if s := c.Server(i); s != nil && s.NumClients() > 0 {
			return i
		}
	}
	t.Fatal("no node has a client")
	return -1
}

// The stream leader dies under load, then the node the server is
// connected to; both come back. Writes go on after each election, every
// failure a client sees is a 503 with a reason and Retry-After, no
// command decides on an old history (no 404, no 409) when a node
// returns, and the log holds every acknowledged write once.
func TestFaultsNodesKilledUnderLoad(t *testing.T) {
	t.Parallel()
	e, c := clusterEnv(t)
	load := startLoad(t, e, 3)
	load.progress("before any fault", 20)
	e.waitReadyz(http.StatusOK, "")

	leader := c.StreamLeader(eventstore.DefaultStream)
	c.Kill(leader)
	load.progress("after killing the stream leader", 20)
	c.Restart(leader)
	c.WaitStreamCurrent(eventstore.DefaultStream)
	load.progress("after the old leader returned", 20)

	conn := connectedNode(t, c)
	c.Kill(conn)
	load.progress("after killing the server's node", 20)
	c.Restart(conn)
	c.WaitStreamCurrent(eventstore.DefaultStream)
	load.progress("after the server's node returned", 20)
	e.waitReadyz(http.StatusOK, "")

	load.check(e.store)
}

// NATS stops entirely under load: commands answer 503
// ledger-unavailable with Retry-After, /readyz says writes are
// unavailable and why, queries keep answering from the projections with
// their log position; once NATS is back, writes and /readyz recover on
// their own and nothing acknowledged is lost or doubled.
func TestFaultsNATSStoppedAndStarted(t *testing.T) {
	t.Parallel()
	e, c := clusterEnv(t)
	load := startLoad(t, e, 3)
	load.progress("before the stop", 20)
	projected := e.lastSeq()
	if err := e.runner.WaitFor(context.Background(), projected); err != nil {
		t.Fatal(err)
	}

	c.KillAll()
	b := e.waitReadyz(http.StatusServiceUnavailable, domain.ReasonLedgerUnavailable)
	if b.EventStore.Writable {
		t.Errorf("/readyz with NATS stopped: %+v, want writable false", b)
	}
	r := e.do("GET", "/v1/platforms/load-0", auditorToken, nil)
	if r.status != http.StatusOK {
		t.Errorf("query with NATS stopped: %d %s, want 200 from the projections", r.status, r.body)
	}
	if seq, err := strconv.ParseUint(r.header.Get(AppliedSeqHeader), 10, 64); err != nil || seq < projected {
		t.Errorf("query with NATS stopped: %s %q, want the projections' log position, at least %d", AppliedSeqHeader, r.header.Get(AppliedSeqHeader), projected)
	}
	load.answered(domain.ReasonLedgerUnavailable, 3)

	c.RestartAll()
	e.waitReadyz(http.StatusOK, "")
	load.progress("after NATS came back", 20)
	load.check(e.store)
}

// The stream reaches its byte limit under load (an operator's
// max-bytes, JetStream's own refusal with discard-new): commands answer
// 503 storage-full with Retry-After, /readyz says so; once the limit is
// raised, writes resume without a restart, and the log holds every
// acknowledged write once.
func TestFaultsStreamFullThenFreed(t *testing.T) {
	t.Parallel()
	ns := eventstoretest.MustRunJetStreamServer(t)
	store := openExternal(t, ns.ClientURL())
	e := newEnv(t, func(c *Config) { c.Store = store })
	e.store = store
	load := startLoad(t, e, 3)
	load.progress("before the stream fills", 10)

	ctx, cancel := context.WithTimeout(context.Background(), faultWait)
	defer cancel()
	js := store.JetStream()
	stream, err := js.Stream(ctx, eventstore.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxBytes = int64(info.State.Bytes) + 8<<10 // room for a few more events
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("limit the stream: %v", err)
	}
	e.waitReadyz(http.StatusServiceUnavailable, domain.ReasonStorageFull)
	load.answered(domain.ReasonStorageFull, 3)
	if r := e.do("GET", "/v1/platforms/load-0", auditorToken, nil); r.status != http.StatusOK {
		t.Errorf("query with the stream full: %d %s, want 200", r.status, r.body)
	}

	cfg.MaxBytes = -1
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("lift the stream's limit: %v", err)
	}
	e.waitReadyz(http.StatusOK, "")
	load.progress("after the limit was lifted", 20)
	load.check(e.store)
}
