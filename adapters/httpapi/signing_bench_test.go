package httpapi

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// BenchmarkSignAnswer measures what signing adds to each activation or
// check answer (R27 Decision (trust)): building the claims, encoding them
// and the Ed25519 signature, reported as µs/answer; and what a product
// spends verifying one, µs/verify.
//
//	go test -run '^$' -bench SignAnswer ./adapters/httpapi/
func BenchmarkSignAnswer(b *testing.B) {
	signing := newSigning(SigningConfig{})
	keys := map[string]ed25519.PublicKey{}
	for _, k := range signing.Keys {
		keys[k.ID] = k.Key
	}
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	reply := domain.InstanceCheckReply{License: "subscription/S-1", Instance: "01M848AFCJX6YCXGC4B9P0HQ89", Status: "active",
		Plan: domain.InstancePlan{Name: "team", Instances: 2, Devices: 50, Assets: 500}, InstanceLimit: 2, Version: "5.2.0",
		PeriodEnd: "2026-07-01T08:00:00Z", LeaseSeconds: 86400}
	var last domain.Signed
	start := time.Now()
	for b.Loop() {
		last = domain.SignAnswer(signing.Signer, domain.NewAnswerClaims(domain.AnswerCheck, reply, now))
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/answer")

	const verifies = 200
	vstart := time.Now()
	for range verifies {
		if _, err := domain.VerifyAnswer(keys, last); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(vstart).Microseconds())/verifies, "µs/verify")
}
