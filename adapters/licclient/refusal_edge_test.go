package licclient_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/licclient"
	"github.com/licledger/licledger/domain"
)

// middle sits between the product and the ledger: it answers checks with
// a refusal of its own, or forwards them with the secret changed, so the
// ledger refuses a request the product never made.
type middle struct {
	next   http.RoundTripper
	forge  string // a refusal body to answer checks with
	secret string // a secret to put in forwarded checks
}

func (m *middle) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/check") || (m.forge == "" && m.secret == "") {
		return m.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	if m.forge != "" {
		return &http.Response{StatusCode: http.StatusConflict, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(m.forge)), ContentLength: int64(len(m.forge)), Request: req}, nil
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
	}
	fields["secret"] = m.secret
	body, _ = json.Marshal(fields)
	out := req.Clone(req.Context())
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	return m.next.RoundTrip(out)
}

// R27 Decision (trust): the product stops on a refusal only when the
// ledger signed it for this request. A refusal answered in the ledger's
// place, or the ledger's real refusal of a request made with another
// secret, is a failed check: the product runs on its held answer, then
// expires with it, as without any answer.
func TestOnlyTheLedgersRefusalOfThisRequestStopsTheProduct(t *testing.T) {
	t.Parallel()
	forged := `{"error":{"code":"conflict","reason":"subscription-not-active","message":"subscription S-1 is canceled"}}`
	for _, tc := range []struct {
		name string
		m    middle
	}{
		{"unsigned refusal", middle{forge: forged}},
		{"signed refusal of another secret", middle{secret: "not-the-instance-secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			m := tc.m
			m.next = w.net
			forge, secret := m.forge, m.secret
			m.forge, m.secret = "", ""
			hc, err := httpclient.New(w.l.URL, httpclient.WithHTTPClient(&http.Client{Transport: &m}))
			if err != nil {
				t.Fatal(err)
			}
			c, err := licclient.New(licclient.Config{Client: hc, LicenseKey: w.key, ProductVersion: "5.2.0", Now: w.l.Clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			mustStart(t, c, licclient.Active)
			w.l.Clock.Advance(time.Hour)
			m.forge, m.secret = forge, secret
			st := mustState(t, c, licclient.Degraded, domain.ReasonBadAnswerSignature)
			if st.TimeLeft <= 0 {
				t.Errorf("time left %s, want the held answer's", st.TimeLeft)
			}
			// The ledger's own refusal of this product's request still stops it.
			m.forge, m.secret = "", ""
			if _, err := w.admin.Cancel(t.Context(), "S-1", "customer left"); err != nil {
				t.Fatal(err)
			}
			mustState(t, c, licclient.Refused, domain.ReasonSubscriptionNotActive)
		})
	}
}
