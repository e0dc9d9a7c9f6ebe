package httpapi

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/licledger/licledger/eventstore"
)

// GET /v1/export streams the log as the CLI exports it (auditors only),
// and filters by aggregate.
func TestExportEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	var want bytes.Buffer
	if _, err := e.store.Export(t.Context(), &want, eventstore.ExportFilter{}, nil); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/export", auditorToken, nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, want.Bytes()) || !strings.Contains(string(r.body), `"streamseq":1`) {
		t.Fatalf("export: %d %q, want the store's export %q", r.status, r.body, want.Bytes())
	}
	if r := e.do("GET", "/v1/export?aggregate=platform/other", auditorToken, nil); r.status != http.StatusOK || len(r.body) != 0 {
		t.Errorf("export of another aggregate: %d %q, want nothing", r.status, r.body)
	}
	if r := e.do("GET", "/v1/export", clientToken, nil); r.status != http.StatusForbidden {
		t.Errorf("a client exports: %d", r.status)
	}
	if r := e.do("GET", "/v1/export?from_seq=x", auditorToken, nil); r.status != http.StatusBadRequest {
		t.Errorf("a bad from_seq: %d", r.status)
	}
}
