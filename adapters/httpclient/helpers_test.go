package httpclient_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/adapters/httpapi/httpapitest"
	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// Tokens of the test ledgers, one per role.
const (
	adminToken   = "admin-token-0123456789"
	auditorToken = "auditor-token-0123456789"
	clientToken  = "client-token-0123456789"
)

// t0 is where every test ledger's clock starts.
var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// ledger is a real ledger (httpapitest) serving admin, auditor and client
// tokens.
type ledger struct{ *httpapitest.Ledger }

// openLedger starts a ledger storing under dir on clock.
func openLedger(dir string, clock *eventstoretest.Clock) (*ledger, error) {
	l, err := httpapitest.Open(dir, clock, "admin "+adminToken+"\nauditor "+auditorToken+"\nclient "+clientToken, httpapi.SigningConfig{})
	if err != nil {
		return nil, err
	}
	return &ledger{l}, nil
}

// startLedger starts a ledger of its own for one test, its clock at t0.
func startLedger(t *testing.T) *ledger {
	t.Helper()
	l, err := openLedger(t.TempDir(), eventstoretest.NewClock(t0))
	if err != nil {
		t.Fatalf("start ledger: %v", err)
	}
	t.Cleanup(l.Close)
	return l
}

// client returns a client of the ledger with token ("" for none).
func (l *ledger) client(t *testing.T, token string, opts ...httpclient.Option) *httpclient.Client {
	t.Helper()
	if token != "" {
		opts = append([]httpclient.Option{httpclient.WithToken(token)}, opts...)
	}
	c, err := httpclient.New(l.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// must(f()).get(t) is f's value, or a failed test when f returned an
// error.
func must[T any](v T, err error) result[T] { return result[T]{v, err} }

type result[T any] struct {
	v   T
	err error
}

func (r result[T]) get(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// refusal renders an error as "status code/reason" (or "ok" for nil), for
// compact got/want comparisons.
func refusal(err error) string {
	if err == nil {
		return "ok"
	}
	if httpclient.Status(err) == 0 {
		return "no answer: " + err.Error()
	}
	return fmt.Sprintf("%d %s/%s", httpclient.Status(err), httpclient.Code(err), httpclient.Reason(err))
}

// recorder is an http.RoundTripper that keeps the body of the last
// answer, so a test can read what the ledger sent beside what the client
// made of it.
type recorder struct {
	mu   sync.Mutex
	last []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = b
	return resp, nil
}

func (r *recorder) body() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// exampleLedger is the ledger the package example talks to, started by
// TestMain with a subscription S-ACME of two seats.
var exampleLedger *ledger

// ledgerURL and the token are what the example shows a product
// configured with.
var ledgerURL string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	return httpapitest.Main(m, eventstoretest.NewClock(t0), "admin "+adminToken+"\nauditor "+auditorToken+"\nclient "+clientToken, func(l *httpapitest.Ledger) error {
		exampleLedger, ledgerURL = &ledger{l}, l.URL
		admin, err := httpclient.New(ledgerURL, httpclient.WithToken(adminToken))
		var created *httpclient.LicenseCommandResult
		if err == nil {
			created, err = admin.CreateSubscription(context.Background(), httpclient.SubscriptionRequest{ID: "S-ACME", Customer: "acme",
				Plan: httpclient.InstancePlan{Name: "team", Instances: 2, Devices: 50}, Period: "annual"})
		}
		if err == nil {
			exampleLicenseKey = created.LicenseKey
		}
		return err
	})
}

// exampleLicenseKey is the license key of the example's subscription, as
// the vendor would hand it to the customer.
var exampleLicenseKey string
