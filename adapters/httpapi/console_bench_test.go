package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkConsolePages measures the server time of each page of the
// browser console (adapters/console): the API requests the page makes,
// one after the other (the browser sends a page's requests at once, so
// this is an upper bound), over HTTP on loopback, with
// LICLEDGER_BENCH_FLEET (default 10000) licensed platforms and as many
// subscriptions, held by 100 customers. Target: under 200 ms a page;
// each sub-benchmark reports ms/page.
//
//	go test -run '^$' -bench ConsolePages -benchtime 20x ./adapters/httpapi/
func BenchmarkConsolePages(b *testing.B) {
	n := 10_000
	if v := os.Getenv("LICLEDGER_BENCH_FLEET"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			b.Fatalf("LICLEDGER_BENCH_FLEET=%q: want a number of at least 100", v)
		}
	}
	e := newEnv(b, func(c *Config) { c.ConsistencyWait = -1 })
	start := time.Now()
	seedFleet(b, e, n)
	b.Logf("seeded %d platforms and %d subscriptions (%d events) in %s", n, n, e.lastSeq(), time.Since(start).Round(time.Second))

	mid := fmt.Sprintf("P-%05d", n/2)
	prefix := mid[:len(mid)-2]                                               // a search matching up to 100 platforms
	before := prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]-1) + "~" // beforePrefix in platform.js
	pages := []struct {
		name  string
		paths []string
	}{
		{"platforms", []string{"/v1/whoami", "/v1/platforms?limit=50"}},
		{"platforms-next-page", []string{"/v1/platforms?limit=50&after=" + mid}},
		{"platforms-search", []string{"/v1/platforms?limit=50&after=" + before}},
		{"platforms-status-filter", []string{"/v1/platforms?limit=50&status=licensed"}},
		// The worst case of a filter: none of the fleet matches, so one
		// request reads maxListScan platforms' entitlements.
		{"platforms-expiring-none", []string{"/v1/platforms?limit=50&expiring_before=2026-02-01"}},
		{"platform", []string{"/v1/platforms/" + mid, "/v1/platforms/" + mid + "/entitlement", "/v1/platforms/" + mid + "/usb-keys",
			"/v1/platforms/" + mid + "/licenses", "/v1/platforms/" + mid + "/timeline?limit=1000"}},
		{"platform-as-of", []string{"/v1/platforms/" + mid, "/v1/platforms/" + mid + "/entitlement?at=2026-06-01T00:00:00Z",
			"/v1/platforms/" + mid + "/usb-keys?at=2026-06-01T00:00:00Z", "/v1/platforms/" + mid + "/licenses", "/v1/platforms/" + mid + "/timeline?limit=1000"}},
		{"licenses", []string{"/v1/subscriptions?limit=50", "/v1/perpetual?limit=50"}},
		{"subscription", []string{fmt.Sprintf("/v1/subscriptions/S-%05d", n/2)}},
		{"customers", []string{"/v1/customers?limit=200"}},
		{"customer", []string{"/v1/customers/C-050"}},
		{"coupons", []string{"/v1/coupons?limit=100"}},
		{"audit", []string{"/readyz", "/v1/audit/checkpoints"}},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				for _, path := range p.paths {
					r := e.do("GET", path, adminToken, nil)
					if r.status != http.StatusOK && !(r.status == http.StatusNotFound && path == "/v1/audit/checkpoints") {
						b.Fatalf("GET %s: %d %s", path, r.status, r.body)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}

// seedFleet registers n platforms, each licensed by a Base and a Plus,
// and creates n subscriptions, spread over 100 customers, with 16
// concurrent clients; then waits for the projections.
func seedFleet(b *testing.B, e *env, n int) {
	b.Helper()
	work := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var failed error
	fail := func(err error) { once.Do(func() { failed = err }) }
	for range 16 {
		wg.Go(func() {
			for i := range work {
				customer := fmt.Sprintf("C-%03d", i%100)
				p := fmt.Sprintf("P-%05d", i)
				for _, req := range []struct{ path, body string }{
					{"/v1/platforms", `{"id":"` + p + `","nodes":["mn-1"],"request_code":"RC-` + p + `","customer":"` + customer + `"}`},
					{"/v1/platforms/" + p + "/licenses", bundleJSON},
					{"/v1/subscriptions", fmt.Sprintf(`{"id":"S-%05d","customer":"%s","plan":{"name":"team","instances":5},"period":"annual"}`, i, customer)},
				} {
					if r := e.do("POST", req.path, adminToken, []byte(req.body)); r.status != http.StatusCreated {
						fail(fmt.Errorf("POST %s: %d %s", req.path, r.status, r.body))
					}
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := e.runner.WaitFor(ctx, e.lastSeq()); err != nil {
		b.Fatal(err)
	}
}
