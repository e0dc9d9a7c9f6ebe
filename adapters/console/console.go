// Package console is the ledger's admin console for the browser: static
// HTML, CSS and JavaScript embedded in the binary (no build step, no Node
// toolchain), served by httpapi at / and /console/. It holds no data and
// no secret: the page signs in with a bearer token kept in the tab's
// sessionStorage and reads and writes everything through the public API,
// under the same role and customer checks as curl.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Assets is the console's files (index.html, app.js, …), for tests.
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}

// contentSecurityPolicy lets the page run only its own script and style
// and talk only to its own origin: a license id or a timeline summary
// shown on the page can never become script.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves index.html at / and the assets under /console/.
func Handler() http.Handler {
	files := http.FileServerFS(Assets())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// Revalidate each time: the binary's files change with a release,
		// and embedded files carry no modification time.
		h.Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		switch p := r.URL.Path; {
		case p == "/":
			r2.URL.Path = "/"
		case strings.HasPrefix(p, "/console/") && p != "/console/":
			r2.URL.Path = strings.TrimPrefix(p, "/console")
		default:
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r2)
	})
}
