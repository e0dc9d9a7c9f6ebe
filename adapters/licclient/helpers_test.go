package licclient_test

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/licledger/licledger/adapters/licclient"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

const adminToken = "admin-token-0123456789"

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// ledgerURL and exampleLicenseKey are what the example's product is
// configured with: a real ledger, and the license key of a subscription
// on it.
var ledgerURL, exampleLicenseKey string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	return httpapitest.Main(m, nil, "admin "+adminToken, func(l *httpapitest.Ledger) error {
		ledgerURL = l.URL
		admin, err := httpclient.New(l.URL, httpclient.WithToken(adminToken))
		var r *httpclient.LicenseCommandResult
		if err == nil {
			r, err = admin.CreateSubscription(context.Background(), httpclient.SubscriptionRequest{ID: "S-ACME", Customer: "acme",
				Plan: httpclient.InstancePlan{Name: "team", Instances: 2, Devices: 50}, Period: "annual"})
		}
		if err == nil {
			exampleLicenseKey = r.LicenseKey
		}
		return err
	})
}

// world is one test's ledger, its admin, and the network between the
// product and the ledger (net), which a test can cut or make lie.
type world struct {
	t     *testing.T
	l     *httpapitest.Ledger
	admin *httpclient.Client
	net   *network
	key   string // the subscription's license key
}

func newWorld(t *testing.T) *world {
	t.Helper()
	l, err := httpapitest.Open(t.TempDir(), eventstoretest.NewClock(t0), "admin "+adminToken, httpapi.SigningConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	admin, err := httpclient.New(l.URL, httpclient.WithToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	r, err := admin.CreateSubscription(t.Context(), httpclient.SubscriptionRequest{ID: "S-1", Customer: "acme",
		Plan: httpclient.InstancePlan{Name: "team", Instances: 2}, Period: "annual"})
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, l: l, admin: admin, net: &network{rt: http.DefaultTransport.(*http.Transport).Clone()}, key: r.LicenseKey}
}

// product returns a license client of the world's subscription through
// its network; change adjusts its configuration.
func (w *world) product(change func(*licclient.Config)) *licclient.Client {
	w.t.Helper()
	hc, err := httpclient.New(w.l.URL, httpclient.WithHTTPClient(&http.Client{Transport: w.net}))
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := licclient.Config{Client: hc, LicenseKey: w.key, ProductVersion: "5.2.0", Now: w.l.Clock.Now}
	if change != nil {
		change(&cfg)
	}
	c, err := licclient.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// network is the product's view of the ledger: up, down, or rewriting
// the ledger's answers (a man in the middle). Its transport is its own:
// an httptest server closing (another test's) closes the idle
// connections of http.DefaultTransport, in flight ones included.
type network struct {
	rt http.RoundTripper

	mu      sync.Mutex
	down    bool
	rewrite func(path string, body []byte) []byte
	status  int           // answer every request with it instead (a failing proxy)
	retry   time.Duration // Retry-After with status
}

func (n *network) set(f func(n *network)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(n)
}

func (n *network) RoundTrip(r *http.Request) (*http.Response, error) {
	n.mu.Lock()
	down, rewrite, status, retry := n.down, n.rewrite, n.status, n.retry
	n.mu.Unlock()
	if down {
		return nil, errors.New("network is down")
	}
	if status != 0 {
		h := http.Header{"Content-Type": {"text/plain"}}
		if retry > 0 {
			h.Set("Retry-After", fmt.Sprint(int(retry.Seconds())))
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader([]byte("proxy says no"))), Request: r}, nil
	}
	resp, err := n.rt.RoundTrip(r)
	if err != nil || rewrite == nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	b = rewrite(r.URL.Path, b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// mustStart starts c and wants state.
func mustStart(t *testing.T, c *licclient.Client, want licclient.State) licclient.Status {
	t.Helper()
	st, err := c.Start(t.Context())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st.State != want {
		t.Fatalf("Start: state %s (%s), want %s", st.State, st.Reason, want)
	}
	return st
}

// mustState makes one attempt and wants state and reason.
func mustState(t *testing.T, c *licclient.Client, want licclient.State, reason string) licclient.Status {
	t.Helper()
	st, _ := c.CheckNow(t.Context())
	if st.State != want || st.Reason != reason {
		t.Fatalf("state %s (reason %q), want %s (%q)", st.State, st.Reason, want, reason)
	}
	return st
}
