package httpapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"sort"
	"strconv"
	"testing"

	"github.com/licledger/licledger/domain"
)

var update = flag.Bool("update", false, "rewrite openapi.json's error responses from the catalogue of refusals")

// withCatalogue returns the OpenAPI document with its error answers
// generated from the catalogue of refusals: one shared response per
// status whose reason is an enum of the catalogue's words answered with
// that status, every operation's error responses pointing at them, and
// the Error schema's codes and required members.
func withCatalogue(doc map[string]any) map[string]any {
	byStatus := map[int][]string{}
	for _, r := range domain.Refusals() {
		byStatus[r.Status] = append(byStatus[r.Status], r.Reason)
	}
	var statuses []int
	for s := range byStatus {
		statuses = append(statuses, s)
	}
	sort.Ints(statuses)
	responses := map[string]any{}
	for _, s := range statuses {
		reasons := byStatus[s]
		sort.Strings(reasons)
		var codes []string
		for _, r := range reasons {
			rf, _ := domain.LookupRefusal(r)
			if len(codes) == 0 || codes[len(codes)-1] != rf.Code {
				codes = append(codes, rf.Code)
			}
		}
		responses["Error"+strconv.Itoa(s)] = map[string]any{
			"description": "refused; the reason is one of the catalogue's words for this status (README, \"Refusals\")",
			"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"allOf": []any{
					map[string]any{"$ref": "#/components/schemas/Error"},
					map[string]any{"properties": map[string]any{"error": map[string]any{"properties": map[string]any{
						"code":   map[string]any{"enum": codes},
						"reason": map[string]any{"enum": reasons},
					}}}},
				},
			}}},
		}
	}
	comps := doc["components"].(map[string]any)
	comps["responses"] = responses
	schema := comps["schemas"].(map[string]any)["Error"].(map[string]any)
	inner := schema["properties"].(map[string]any)["error"].(map[string]any)
	inner["required"] = []any{"code", "reason", "message"}
	props := inner["properties"].(map[string]any)
	props["code"] = map[string]any{"type": "string", "enum": []any{domain.EINVALID, domain.EUNAUTHORIZED, domain.EFORBIDDEN,
		domain.ENOTFOUND, domain.EMETHOD, domain.ECONFLICT, domain.ERATELIMITED, domain.EINTERNAL, domain.EUNAVAILABLE}}
	props["reason"] = map[string]any{"type": "string", "description": "a stable word of the catalogue of refusals (domain/reasons.go; README, \"Refusals\")"}
	for path, ops := range doc["paths"].(map[string]any) {
		if path == "/readyz" {
			continue // its 503 is a readiness report, not an error
		}
		for method, op := range ops.(map[string]any) {
			rs, ok := op.(map[string]any)["responses"].(map[string]any)
			if !ok {
				continue
			}
			if method != "get" && method != "head" {
				// A command writes to the event store, which may be
				// unavailable (ledger-unavailable, storage-full,
				// outcome-unknown).
				rs["503"] = nil
			}
			for status := range rs {
				if n, err := strconv.Atoi(status); err == nil && n >= 400 {
					if _, ok := byStatus[n]; ok {
						rs[status] = map[string]any{"$ref": "#/components/responses/Error" + status}
					}
				}
			}
		}
	}
	return doc
}

// Every error answer in the OpenAPI document lists the catalogue's
// reasons for its status. Run with -update after changing the catalogue.
func TestOpenAPIReasonsFromCatalogue(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(withCatalogue(doc), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile("openapi.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var canon bytes.Buffer
	var again map[string]any
	json.Unmarshal(openapiJSON, &again)
	c, _ := json.MarshalIndent(again, "", "  ")
	canon.Write(append(c, '\n'))
	if !bytes.Equal(canon.Bytes(), b) {
		t.Errorf("openapi.json's error answers differ from the catalogue of refusals; run go test ./adapters/httpapi -run OpenAPIReasons -update and review the diff")
	}
}
