package httpapi

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// routeTable renders the route table as the README shows it.
func routeTableMarkdown(s *Server) string {
	var b strings.Builder
	b.WriteString("| route | roles | customer-scoped token |\n| --- | --- | --- |\n")
	for _, rt := range s.routes {
		roles := "public"
		if rt.roles != nil {
			var rs []string
			for _, r := range rt.roles {
				if r == RoleLicenseKey {
					r = "the license key"
				}
				rs = append(rs, r)
			}
			roles = strings.Join(rs, ", ")
		}
		scoped := "—"
		if rt.roles != nil {
			_, path, _ := strings.Cut(rt.pattern, " ")
			switch {
			case scopedRoutes[path] || strings.HasPrefix(path, "/v1/platforms/{id}") || strings.HasPrefix(path, "/v1/subscriptions/{id}") || strings.HasPrefix(path, "/v1/perpetual/{id}"):
				scoped = "its customer's"
			default:
				scoped = "no"
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", rt.pattern, roles, scoped)
	}
	return b.String()
}

// The README's role × route table is the router's.
func TestRouteTableInREADME(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const begin, end = "<!-- routes:begin -->\n", "<!-- routes:end -->"
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q section", begin, end)
	}
	want := s[:i+len(begin)] + routeTableMarkdown(e.api) + s[j:]
	if *update {
		if err := os.WriteFile("../../README.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if s != want {
		t.Errorf("README.md's route table differs from the router; run go test ./adapters/httpapi -run RouteTable -update")
	}
}
