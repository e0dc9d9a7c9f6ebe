package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// What-if with signed files, end to end: on a ledger that verifies
// signatures, a simulation takes the vendor's signed bundle and files as
// an upload does (a tampered file is refused bad-signature, naming the
// command), appends nothing, and `replay --with --trusted-keys` on the
// export prints the view the API simulated.
func TestWhatIfWithSignedFiles(t *testing.T) {
	t.Parallel()
	v := newSignedVendor(t)
	l := v.serveSigned(eventstoretest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	v.issue("base.license", "--id", "L-1", "--kind", "base", "--edition", "standard", "--sockets", "16", "--request-code", v.code)
	v.issue("vmware.license", "--id", "L-2", "--kind", "plus", "--module", "vmware", "--quantity", "8", "--request-code", v.code)
	gpu := v.issue("gpu.license", "--id", "L-3", "--kind", "plus", "--module", "gpu", "--request-code", v.code)
	bundlePath := filepath.Join(v.dir, "acme.tar.gz")
	vendorMustRun(t, "vendor", "bundle", "--out", bundlePath, filepath.Join(v.dir, "base.license"), filepath.Join(v.dir, "vmware.license"))
	bundle, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	cmds := `[{"upload_bundle":"` + base64.StdEncoding.EncodeToString(bundle) + `"},{"upload_license":` + string(gpu) + `}]`
	before := mustSeq(t, l)

	simulate := func(body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, l.URL+"/v1/platforms/acme/entitlement/simulate", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	code, body := simulate(`{"at":"2026-03-01T00:00:00Z","commands":` + cmds + `}`)
	var res struct{ View domain.Entitlement }
	if err := json.Unmarshal(body, &res); err != nil || code != http.StatusOK {
		t.Fatalf("simulate: %d %s", code, body)
	}
	if res.View.Status != domain.StatusLicensed || !res.View.Modules["vmware"].Entitled || !res.View.Modules["gpu"].Entitled {
		t.Errorf("simulated view: %s, vmware %+v, gpu %+v; want licensed with both", res.View.Status, res.View.Modules["vmware"], res.View.Modules["gpu"])
	}
	tampered := bytes.Replace(gpu, []byte(`"gpu"`), []byte(`"cdp"`), 1)
	code, body = simulate(`{"commands":[{"upload_license":` + string(tampered) + `}]}`)
	if code != http.StatusBadRequest || !strings.Contains(string(body), domain.ReasonBadSignature) || !strings.Contains(string(body), `"command": 0`) {
		t.Errorf("tampered file: %d %s, want 400 %s naming command 0", code, body, domain.ReasonBadSignature)
	}
	if after := mustSeq(t, l); after != before {
		t.Errorf("simulations appended: the log went from %d to %d", before, after)
	}

	var export bytes.Buffer
	if _, err := l.Store.Export(t.Context(), &export, eventstore.ExportFilter{}, nil); err != nil {
		t.Fatal(err)
	}
	file, with := filepath.Join(v.dir, "export.jsonl"), filepath.Join(v.dir, "with.json")
	writeFile(t, file, export.String())
	writeFile(t, with, cmds)
	code, got, errs := replayRun(t, "", "--events", file, "--aggregate", "platform/acme", "--at", "2026-03-01T00:00:00Z", "--with", with, "--trusted-keys", v.keys)
	if code != 0 {
		t.Fatalf("replay --with: exit %d: %s", code, errs)
	}
	want, err := domain.MarshalEntitlement(res.View)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("replay --with printed\n%s\nthe API simulated\n%s", got, want)
	}
}

func mustSeq(t *testing.T, l *testLedger) uint64 {
	t.Helper()
	seq, err := l.Store.LastSeq(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}
