package licclient_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/licclient"
	"github.com/licledger/licledger/domain"
)

// replayer answers every check with a 200 and a body it holds, instead
// of the ledger's answer: a man in the middle replaying an answer it
// recorded earlier.
type replayer struct {
	next http.RoundTripper
	body []byte
}

func (r *replayer) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.body == nil || !strings.HasSuffix(req.URL.Path, "/check") {
		return r.next.RoundTrip(req)
	}
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(r.body)), ContentLength: int64(len(r.body)), Request: req}, nil
}

// After the ledger refused the instance (its subscription canceled), an
// answer it signed before the refusal is older than what the client has
// heard since: replayed, it must not bring the product back to life for
// what is left of that answer's 24 hours.
func TestRefusalIsNotUndoneByAReplayedOlderAnswer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var last []byte // the last check answer the ledger sent
	w.net.set(func(n *network) {
		n.rewrite = func(path string, b []byte) []byte {
			if strings.HasSuffix(path, "/check") {
				last = b
			}
			return b
		}
	})
	rp := &replayer{next: w.net}
	hc, err := httpclient.New(w.l.URL, httpclient.WithHTTPClient(&http.Client{Transport: rp}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := licclient.New(licclient.Config{Client: hc, LicenseKey: w.key, ProductVersion: "5.2.0", Now: w.l.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mustStart(t, c, licclient.Active)
	w.l.Clock.Advance(time.Hour)
	mustState(t, c, licclient.Active, "")
	recorded := last
	w.l.Clock.Advance(time.Hour)
	if _, err := w.admin.Cancel(t.Context(), "S-1", "customer left"); err != nil {
		t.Fatal(err)
	}
	refused := mustState(t, c, licclient.Refused, domain.ReasonSubscriptionNotActive)
	w.l.Clock.Advance(time.Hour)
	rp.body = recorded
	st, _ := c.CheckNow(t.Context())
	if st.State == licclient.Active || st.TimeLeft > 0 {
		t.Errorf("a replayed answer from before the refusal: state %s (%s), %s left; want no time (refused was %s)",
			st.State, st.Reason, st.TimeLeft, refused.Reason)
	}
}
