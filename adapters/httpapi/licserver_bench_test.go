package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go/jetstream"
)

// Shape of BenchmarkCheckIns' simulated fleet.
const (
	benchSubscriptions = 10
	benchPerSub        = 50             // instances per subscription, all activated
	benchInterval      = time.Hour      // simulated time between two checks of one instance
	benchLease         = 24 * time.Hour // the default lease: a check is recorded every 6h at most
	benchClients       = 16             // goroutines per GOMAXPROCS sending checks
)

// BenchmarkCheckIns measures product-instance check-ins over HTTP on
// loopback: benchSubscriptions × benchPerSub activated instances, checked
// round-robin by GOMAXPROCS×benchClients concurrent keep-alive clients,
// against the real server over a real embedded JetStream (file storage).
// The ledger clock is simulated: every check advances it by
// benchInterval / instances, so each instance checks in every
// benchInterval of simulated time and the domain records a check-in only
// when the last recorded one is lease/4 old (R27, design: bounded log
// growth).
//
// Every answer is signed (signing.go): signed/checkin reports the share
// of answers that carried the signature (1), so the rate is with signing
// on. Reported: checkins/s (target >= 5000 on 2 cores); the raw JetStream
// baseline in the same run, raw-gets/s: a direct get of a subject's last
// message, the one round trip a check that records nothing costs (the
// cache validation), at the same concurrency; their ratio; and
// events/instance/day, the log growth per instance per simulated day
// (bound: 4 with the default 24 h lease).
//
//	go test -run '^$' -bench CheckIns -benchtime 20000x ./adapters/httpapi/
func BenchmarkCheckIns(b *testing.B) {
	// The whole fleet checks in from one address as fast as it can: the
	// abuse limits (ratelimit.go) would rightly stop it; the benchmark
	// measures the ledger, so it turns them off.
	e := newLicEnv(b, func(c *Config) { c.RateLimits = RateLimits{PerLicense: -1, PerAddress: -1} })
	ctx := context.Background()
	// Interleaved by subscription, so concurrent checks spread over the
	// subscriptions as a real fleet's do.
	var licenses []string
	for s := range benchSubscriptions {
		licenses = append(licenses, e.subscription(fmt.Sprintf("S-%d", s), benchPerSub, benchLease))
	}
	var fleet []ActivateResponse
	for range benchPerSub {
		for _, license := range licenses {
			fleet = append(fleet, e.activate(license, "2.4.0"))
		}
	}
	bodies := make([]string, len(fleet))
	for i, a := range fleet {
		bodies[i] = fmt.Sprintf(`{"license_key":%q,"secret":%q,"product_version":"2.4.0"}`, a.License, a.Secret)
	}
	step := benchInterval / time.Duration(len(fleet))
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}

	// Raw baseline: the direct get a check-in's cache validation costs.
	stream, err := e.store.JetStream().Stream(ctx, e.store.StreamName())
	if err != nil {
		b.Fatal(err)
	}
	rawRate := parallelRate(b, func(i int) error {
		_, err := stream.GetLastMsgForSubject(ctx, "ledger.subscription."+fmt.Sprintf("S-%d", i%benchSubscriptions))
		return err
	})
	_ = jetstream.ErrMsgNotFound

	before := e.lastSeq()
	var simulated atomic.Int64
	var failed atomic.Int64
	var signed atomic.Int64 // answers carrying the ledger's signature (R27 Decision (trust))
	b.ResetTimer()
	rate := parallelRate(b, func(i int) error {
		e.clock.Advance(step)
		simulated.Add(int64(step))
		a := fleet[i%len(fleet)]
		req, _ := http.NewRequest("POST", e.base+"/v1/instances/"+a.InstanceID+"/check", strings.NewReader(bodies[i%len(fleet)]))
		req.Header.Set("Authorization", "Bearer "+clientToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(body, []byte(`"signed"`)) {
			signed.Add(1)
		}
		if resp.StatusCode != http.StatusOK {
			failed.Add(1)
			return fmt.Errorf("check %s: status %d", a.InstanceID, resp.StatusCode)
		}
		return nil
	})
	b.StopTimer()
	appended := e.lastSeq() - before
	days := time.Duration(simulated.Load()).Hours() / 24
	b.ReportMetric(rate, "checkins/s")
	b.ReportMetric(rawRate, "raw-gets/s")
	b.ReportMetric(rate/rawRate, "checkins/raw")
	if days > 0 {
		b.ReportMetric(float64(appended)/float64(len(fleet))/days, "events/instance/day")
	}
	b.ReportMetric(float64(appended)/float64(b.N), "events/checkin")
	b.ReportMetric(float64(signed.Load())/float64(b.N), "signed/checkin")
	_ = domain.InstanceCheckInRecordDivisor
}

// parallelRate runs op b.N times over GOMAXPROCS×benchClients goroutines
// and returns operations per second.
func parallelRate(b *testing.B, op func(i int) error) float64 {
	var next atomic.Int64
	b.SetParallelism(benchClients)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(int(next.Add(1) - 1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	return float64(b.N) / time.Since(start).Seconds()
}
