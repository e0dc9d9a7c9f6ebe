package httpapi

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/licledger/licledger/adapters/ledgerkey"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// POST /v1/audit/checkpoints signs the log (admins); auditors list them
// newest first and read the latest, and the answer verifies against the
// log with the ledger's public key.
func TestCheckpointEndpoints(t *testing.T) {
	t.Parallel()
	key, _, err := ledgerkey.Open(filepath.Join(t.TempDir(), ledgerkey.FileName))
	if err != nil {
		t.Fatal(err)
	}
	clock := eventstoretest.NewClock(t0)
	store := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clock.Now), eventstoretest.WithConfig(func(sc *eventstore.Config) {
		sc.Mark = &eventstore.MarkKey{ID: key.ID(), Secret: key.Derive(eventstore.MarkPurpose)}
	}))
	e := newEnv(t, func(c *Config) { c.Store, c.Now, c.Checkpoints = store, clock.Now, key })
	if r := e.do("GET", "/v1/audit/checkpoints/latest", auditorToken, nil); r.status != http.StatusNotFound || r.errorBody(t).Reason != domain.ReasonNoCheckpoint {
		t.Fatalf("latest before any: %d %s", r.status, r.body)
	}
	e.registerAcme()
	if r := e.do("POST", "/v1/audit/checkpoints", auditorToken, nil); r.status != http.StatusForbidden {
		t.Errorf("an auditor writes a checkpoint: %d, want 403", r.status)
	}
	first := e.must(http.StatusCreated, "POST", "/v1/audit/checkpoints", "")
	var cp domain.Checkpoint
	if err := json.Unmarshal(first.body, &cp); err != nil {
		t.Fatal(err)
	}
	if cp.LastSeq != 1 || cp.KeyID != key.ID() {
		t.Errorf("checkpoint last_seq %d key %s, want 1 and %s", cp.LastSeq, cp.KeyID, key.ID())
	}
	rep, err := eventstore.VerifyCheckpoint(cp, key.Public(), "LEDGER", store.Read(t.Context(), 1))
	if err != nil || !rep.OK() {
		t.Fatalf("the answered checkpoint does not verify: %v %+v", err, rep)
	}
	clock.Advance(1e9)
	e.must(http.StatusCreated, "POST", "/v1/audit/checkpoints", "")

	var list struct{ Checkpoints []domain.Checkpoint }
	r := e.do("GET", "/v1/audit/checkpoints?limit=1", auditorToken, nil)
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != http.StatusOK || len(list.Checkpoints) != 1 || !list.Checkpoints[0].Time.Equal(t0.Add(1e9)) {
		t.Errorf("list limit 1: %d %s, want the newest only", r.status, r.body)
	}
	latest := e.do("GET", "/v1/audit/checkpoints/latest", auditorToken, nil)
	var got domain.Checkpoint
	if err := json.Unmarshal(latest.body, &got); err != nil || !got.Time.Equal(t0.Add(1e9)) {
		t.Errorf("latest: %s", latest.body)
	}
	for _, bad := range []string{"0", "x", "1001"} {
		if r := e.do("GET", "/v1/audit/checkpoints?limit="+bad, auditorToken, nil); r.status != http.StatusBadRequest {
			t.Errorf("limit=%s: %d, want 400", bad, r.status)
		}
	}
	if r := e.do("GET", "/v1/audit/checkpoints", clientToken, nil); r.status != http.StatusForbidden {
		t.Errorf("a client lists checkpoints: %d", r.status)
	}
}
