package httpapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// openapi.json says which routes need a bearer token exactly as the
// route table does: a public route (no roles) lists no security, a route
// with roles lists the bearer scheme (optional beside the body's license
// key on instance requests). A client generated from the document must
// not be told a token-only route is open.
func TestOpenAPISecurityMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range e.api.routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok {
			continue // TestOpenAPIDescribesEveryRoute
		}
		var schemes []string
		if op.Security != nil {
			for _, req := range *op.Security {
				for name := range req {
					schemes = append(schemes, name)
				}
				if len(req) == 0 {
					schemes = append(schemes, "none")
				}
			}
		}
		slices.Sort(schemes)
		got := strings.Join(schemes, ",")
		want := "bearer"
		switch {
		case rt.roles == nil:
			want = ""
		case slices.Contains(rt.roles, RoleLicenseKey):
			want = got // the instance routes describe their optional token themselves
		}
		if got != want {
			t.Errorf("%s: openapi.json's security is %q, the route needs %q (roles %v)", rt.pattern, got, want, rt.roles)
		}
	}
}
