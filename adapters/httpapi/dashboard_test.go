package httpapi

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// dashboardFile is the Grafana dashboard shipped for operators.
const dashboardFile = "../../deploy/grafana/licledger.json"

// Every metric the Grafana dashboard queries is one /metrics exports: a
// renamed metric breaks this test, not the operator's panel. The server
// runs on a 3-node cluster with a 3-replica stream (so the follower
// metrics exist) and has seen a command, a refusal and a running buffer.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	var exprs []string
	collectExprs(dash, &exprs)
	name := regexp.MustCompile(`licledger_[a-z0-9_]+`)
	var queried []string
	for _, e := range exprs {
		queried = append(queried, name.FindAllString(e, -1)...)
	}
	slices.Sort(queried)
	queried = slices.Compact(queried)
	if len(queried) < 15 {
		t.Fatalf("the dashboard queries %d licledger metrics (%v); want its panels' expressions", len(queried), queried)
	}

	c := eventstoretest.MustRunCluster(t, 3)
	e := newLicEnv(t, func(cfg *Config) {
		cfg.Store = eventstoretest.MustOpenStore(t, eventstoretest.WithURL(c.URL()), eventstoretest.WithClock(cfg.Now),
			eventstoretest.WithConfig(func(sc *eventstore.Config) { sc.Replicas = 3 }))
	})
	e.registerAcme()
	e.do("GET", "/v1/platforms/nope/entitlement", clientToken, nil)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes/mn-1/usb-keys", `{"key_id":"K-1","licenses":[
		{"id":"L-100","kind":"base","edition":"enterprise","sockets":32,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2028-01-01T00:00:00Z"}]}`)
	e.must(http.StatusOK, "DELETE", "/v1/platforms/acme/nodes/mn-1/usb-keys/K-1", "")
	c.WaitStreamCurrent(eventstore.DefaultStream)
	exported := e.metrics()
	for _, m := range queried {
		if !regexp.MustCompile(`(?m)^` + m + `[{ ]`).MatchString(exported) {
			t.Errorf("the dashboard queries %s, which /metrics does not export", m)
		}
	}
}

// collectExprs gathers every "expr" string in a decoded JSON document.
func collectExprs(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "expr" {
				*out = append(*out, s)
			}
			collectExprs(x, out)
		}
	case []any:
		for _, x := range v {
			collectExprs(x, out)
		}
	}
}
