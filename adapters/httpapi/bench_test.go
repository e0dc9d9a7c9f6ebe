package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// BenchmarkEntitlementHTTP measures entitlement queries over HTTP on
// loopback with concurrent clients (GOMAXPROCS*16 goroutines, keep-alive
// connections, a client token): throughput and p99 latency (target: >= 10k
// requests/s). The server side is the full stack: auth, routing, metrics,
// SQLite lookup of the platform's version, the cached domain state and
// the domain's evaluation and canonical JSON.
//
//	go test -run '^$' -bench EntitlementHTTP ./adapters/httpapi/
func BenchmarkEntitlementHTTP(b *testing.B) {
	e := newEnv(b)
	e.registerAcme()
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", bundleJSON)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes/mn-1/usb-keys",
		`{"key_id":"K-1","licenses":[{"id":"L-100","kind":"plus","module":"gpu","issued_at":"2026-01-01T00:00:00Z","expires_at":"2028-01-01T00:00:00Z"}]}`)
	url := e.srv.URL + "/v1/platforms/acme/entitlement"
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}

	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+clientToken)
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkEntitlementAsOfHTTP asks for a platform's entitlement at a
// past instant over HTTP (`?at=`), the platform having 10k events
// (licenses uploaded, then hosts added and removed), one request at a
// time: the latency an auditor sees. Target: under 5 ms/op (reported as
// ms/op, never asserted).
//
//	go test -run '^$' -bench EntitlementAsOfHTTP ./adapters/httpapi/
func BenchmarkEntitlementAsOfHTTP(b *testing.B) {
	const events = 10_000
	e := newEnv(b)
	e.registerAcme()
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", bundleJSON)
	acme := domain.Aggregate{Kind: domain.KindPlatform, ID: "acme"}
	version, err := e.store.Version(context.Background(), acme)
	if err != nil {
		b.Fatal(err)
	}
	var mid time.Time
	for version < events {
		e.clock.Advance(time.Minute)
		batch := make([]domain.Event, 0, eventstore.MaxBatch)
		for i := 0; i < eventstore.MaxBatch && version+uint64(len(batch)) < events; i += 2 {
			host := fmt.Sprintf("h-%d", version+uint64(i))
			added, err := domain.NewEvent(acme.String(), domain.EventHostAdded, domain.HostAdded{Host: host, Hypervisor: domain.HypervisorKVM, Sockets: 2})
			if err != nil {
				b.Fatal(err)
			}
			removed, err := domain.NewEvent(acme.String(), domain.EventHostRemoved, domain.HostRemoved{Host: host})
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, added, removed)
		}
		recs, err := e.store.Append(context.Background(), acme, version, batch...)
		if err != nil {
			b.Fatal(err)
		}
		version += uint64(len(recs))
		if mid.IsZero() && version >= events/2 {
			mid = recs[len(recs)-1].Event.Time
		}
	}
	if err := e.runner.WaitFor(context.Background(), e.lastSeq()); err != nil {
		b.Fatal(err)
	}
	url := e.srv.URL + "/v1/platforms/acme/entitlement?at=" + mid.Format(time.RFC3339Nano)
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+clientToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
