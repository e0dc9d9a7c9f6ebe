package httpapi

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
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
