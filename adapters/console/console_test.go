package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	resp := w.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// The page and its assets are served with their types and the security
// headers; anything else is 404.
func TestHandlerServesThePageAndItsAssets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, status, contentType, contains string
	}{
		{"/", "200", "text/html", `<main id="main">`},
		{"/console/core.js", "200", "text/javascript", "async function api("},
		{"/console/app.css", "200", "text/css", ".badge"},
		{"/console/", "404", "", ""},
		{"/console/missing.js", "404", "", ""},
		{"/elsewhere", "404", "", ""},
	}
	for _, tt := range tests {
		resp, body := get(t, tt.path)
		if got := resp.Status[:3]; got != tt.status {
			t.Errorf("GET %s: %s, want %s", tt.path, resp.Status, tt.status)
			continue
		}
		if tt.status != "200" {
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tt.path, ct, tt.contentType)
		}
		if !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s: body lacks %q", tt.path, tt.contains)
		}
		for h, want := range map[string]string{"Content-Security-Policy": contentSecurityPolicy, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("GET %s: %s %q, want %q", tt.path, h, got, want)
			}
		}
	}
}

// Every script and stylesheet index.html loads is embedded: a renamed
// file would otherwise only show as a blank page in a browser.
func TestIndexReferencesEmbeddedFiles(t *testing.T) {
	t.Parallel()
	index, err := fs.ReadFile(Assets(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="/console/([^"]+)"`).FindAllStringSubmatch(string(index), -1)
	if len(refs) < 4 {
		t.Fatalf("index.html loads %d console files; want its scripts and stylesheet", len(refs))
	}
	for _, m := range refs {
		if _, err := fs.Stat(Assets(), m[1]); err != nil {
			t.Errorf("index.html loads /console/%s: %v", m[1], err)
		}
	}
}

// The console never turns data into markup or code: no innerHTML
// assignment, no insertAdjacentHTML, document.write, eval or Function,
// so an id or a summary from the log can only ever be text (the CSP
// forbids inline script as a second line).
func TestScriptsBuildNoMarkupFromData(t *testing.T) {
	t.Parallel()
	banned := regexp.MustCompile(`\.innerHTML\s*=[^=]|\.outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(`)
	files, err := fs.Glob(Assets(), "*.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(Assets(), f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if banned.MatchString(line) {
				t.Errorf("%s:%d builds markup or code from a string: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
