package domain_test

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/licledger/licledger/domain"
)

// catalogueSource reads the constants of a domain file: name → value.
func catalogueSource(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						out[name.Name] = v
					}
				}
			}
		}
	}
	return out
}

// constName returns the name an expression refers to, for an identifier
// or a domain.X selector; "" otherwise.
func constName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		if id, ok := x.X.(*ast.Ident); ok && id.Name == "domain" {
			return x.Sel.Name
		}
	}
	return ""
}

// The catalogue of refusals is complete and used: every reason the code
// builds an error with is a catalogue constant, with the catalogue's code;
// no reason is spelled as a string literal; every catalogue entry is used
// by some non-test code.
func TestRefusalCatalogueMatchesCode(t *testing.T) {
	t.Parallel()
	reasons := catalogueSource(t, "reasons.go")
	codes := catalogueSource(t, "error.go")
	if len(reasons) != len(domain.Refusals()) {
		t.Errorf("reasons.go declares %d reason constants, the table holds %d entries", len(reasons), len(domain.Refusals()))
	}
	for name, word := range reasons {
		if _, ok := domain.LookupRefusal(word); !ok {
			t.Errorf("constant %s = %q has no entry in the table", name, word)
		}
	}

	used := map[string]bool{}
	root := ".."
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		inCatalogue := filepath.Clean(path) == filepath.Join("..", "domain", "reasons.go")
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.Ident:
				if _, ok := reasons[x.Name]; ok && !inCatalogue {
					used[x.Name] = true
				}
			case *ast.CallExpr:
				if fn := constName(x.Fun); fn != "Reasonf" || len(x.Args) < 2 {
					return true
				}
				pos := fset.Position(x.Pos())
				if call, ok := x.Args[1].(*ast.CallExpr); ok && constName(call.Fun) == "ErrorReason" {
					return true // passing another error's reason and code on
				}
				name := constName(x.Args[1])
				word, ok := reasons[name]
				if !ok {
					t.Errorf("%s: Reasonf with reason %s: use a constant of domain/reasons.go", pos, types(x.Args[1]))
					return true
				}
				code, ok := codes[constName(x.Args[0])]
				if !ok {
					t.Errorf("%s: Reasonf with code %s: use a code constant", pos, types(x.Args[0]))
					return true
				}
				if r, _ := domain.LookupRefusal(word); r.Code != code {
					t.Errorf("%s: %s is built with code %s; the catalogue says %s", pos, word, code, r.Code)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var unused []string
	for name := range reasons {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	for _, name := range unused {
		t.Errorf("catalogue entry %s (%q) is used by no code: remove it or use it", name, reasons[name])
	}
}

func types(e ast.Expr) string {
	if lit, ok := e.(*ast.BasicLit); ok {
		return "literal " + lit.Value
	}
	return "an expression"
}

// Every entry has a code, the status of its code unless HTTP has a more
// precise one, and a meaning.
func TestRefusalCatalogueEntries(t *testing.T) {
	t.Parallel()
	precise := map[string]bool{domain.ReasonVersionMismatch: true, domain.ReasonBodyTooLarge: true, domain.ReasonUnsupportedMedia: true}
	seen := map[string]bool{}
	for _, r := range domain.Refusals() {
		if seen[r.Reason] {
			t.Errorf("%s is listed twice", r.Reason)
		}
		seen[r.Reason] = true
		if r.Meaning == "" {
			t.Errorf("%s has no meaning", r.Reason)
		}
		if got, want := r.Status, domain.StatusOfCode(r.Code); got != want && !precise[r.Reason] {
			t.Errorf("%s: status %d, want its code %s's %d", r.Reason, got, r.Code, want)
		}
	}
}

var update = flag.Bool("update", false, "rewrite the README's table of refusals from the catalogue")

// refusalTable renders the catalogue as the README's Markdown table.
func refusalTable() string {
	var b strings.Builder
	b.WriteString("| reason | code | status | meaning |\n| --- | --- | --- | --- |\n")
	for _, r := range domain.Refusals() {
		fmt.Fprintf(&b, "| `%s` | `%s` | %d | %s |\n", r.Reason, r.Code, r.Status, r.Meaning)
	}
	return b.String()
}

// The README's table of refusals is the catalogue's.
func TestRefusalTableInREADME(t *testing.T) {
	t.Parallel()
	const begin, end = "<!-- refusals:begin -->\n", "<!-- refusals:end -->"
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q section", begin, end)
	}
	want := s[:i+len(begin)] + refusalTable() + s[j:]
	if *update {
		if err := os.WriteFile("../README.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if s != want {
		t.Errorf("README.md's table of refusals differs from domain/reasons.go; run go test ./domain -run RefusalTable -update")
	}
}
