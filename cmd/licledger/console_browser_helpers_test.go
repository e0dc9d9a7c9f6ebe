package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser tests drive the console (adapters/console) in headless
// Chromium against a real serve. Chromium is the Debian package
// `chromium`, which `make setup` installs.

// chromiumPath finds the browser. Without one the test fails under CI
// (CI=true), so a CI that forgot `make setup` does not pass by skipping,
// and skips elsewhere, saying how to get it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("LICLEDGER_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no chromium on PATH: run `make setup` (it installs the Debian package chromium) for the browser tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

var leakedJS = regexp.MustCompile(`\bnull\b|\bundefined\b|\bNaN\b|\[object [A-Za-z]+\]`)

// tab is one browser tab on the console, with the console errors and
// uncaught exceptions it has seen.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string

	loads int

	mu   sync.Mutex
	errs []string
}

// newBrowser starts headless Chromium for the test (closed at its end)
// and returns its first tab's context, from which tabs of their own
// browser contexts open.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 800), chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// The browser lives as long as the context of its first run: bctx.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// newTab opens a tab in a browser context of its own (its own
// sessionStorage and localStorage: a separate sign-in) on base.
func newTab(t *testing.T, browser context.Context, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, base: base}
	if err := chromedp.Listen(ctx, func(ev any) {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, a.Description+string(a.Value))
				}
				tb.errs = append(tb.errs, "console."+string(e.Type)+": "+strings.Join(parts, " "))
			}
		case *cdplog.EventEntryAdded:
			// The browser's own errors: a CSP violation, a bad script.
			// Failed requests (source network) are the API's refusals,
			// which pages expect (a 404 hides a panel, a scoped token's
			// 404), and they show as text on the page when they matter.
			if e.Entry.Level == cdplog.EntryLevelError && e.Entry.Source != cdplog.EntrySourceNetwork {
				tb.errs = append(tb.errs, "browser "+string(e.Entry.Source)+": "+e.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			tb.errs = append(tb.errs, fmt.Sprintf("uncaught at %s:%d: %s", d.URL, d.LineNumber, desc))
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	tb.do("enable the log", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	}))
	tb.viewport(1280, 800)
	return tb
}

// do runs chromedp actions with a deadline, failing the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

func (tb *tab) viewport(w, h int64) {
	tb.t.Helper()
	tb.do("viewport", chromedp.EmulateViewport(w, h))
}

// open loads the console afresh on a route ("#/platforms/acme") and
// waits for the page to render what sel selects. Each load has a query
// of its own: a navigation to the same URL and fragment would not
// reload the page.
func (tb *tab) open(hash, sel string) {
	tb.t.Helper()
	tb.loads++
	tb.do("open "+hash, chromedp.Navigate(fmt.Sprintf("%s/?load=%d%s", tb.base, tb.loads, hash)), chromedp.WaitReady(chromedp.CSS(sel)))
}

// text is the text of the first element sel selects, "" when none.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// waitText waits until the text of sel contains want: the page renders
// after its API calls answer.
func (tb *tab) waitText(sel, want string) string {
	tb.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := tb.text(sel)
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s says %q; want it to contain %q", sel, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// noErrors fails the test if the tab logged a console error or threw,
// or if the page shows what a script bug leaves as text (null,
// undefined, [object …]).
func (tb *tab) noErrors(page string) {
	tb.t.Helper()
	leak, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.querySelector("#main").innerText`))
	if err != nil {
		tb.t.Fatalf("%s: %v", page, err)
	}
	if leakedJS.MatchString(leak) {
		tb.t.Errorf("%s shows %q: %s", page, leakedJS.FindString(leak), leak)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.errs) > 0 {
		tb.t.Errorf("%s: console errors: %s", page, strings.Join(tb.errs, "; "))
		tb.errs = nil
	}
}

// screenshot writes the page, whole, at 1280 px and at phone width
// (390×844) as name-desktop.png and name-phone.png under dir.
func (tb *tab) screenshot(dir, name string) {
	tb.t.Helper()
	for _, v := range []struct {
		suffix string
		w, h   int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
		tb.viewport(v.w, v.h)
		ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			tb.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
	tb.viewport(1280, 800)
}

// screenshotDir is where the browser tests write their screenshots:
// LICLEDGER_SCREENSHOTS (docs/screenshots to refresh the README's), or a
// temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("LICLEDGER_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// signIn signs the tab in with token through the sign-in form.
func (tb *tab) signIn(token string) {
	tb.t.Helper()
	tb.open("#/", "#token")
	tb.do("sign in", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#whoami")))
}

// withScopedToken configures a token scoped to a customer.
func withScopedToken(role, token, customer string) mainOption {
	return withToken(role, token+" "+customer)
}

// count is how many elements sel selects.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	n, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		tb.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// setValue sets an input's value as a user's typing would leave it.
func (tb *tab) setValue(sel, value string) {
	tb.t.Helper()
	tb.do("find "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	js := fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = %q; el.dispatchEvent(new Event("change", {bubbles: true})); return el.value; })()`, sel, value)
	got, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](js))
	if err != nil || got != value {
		tb.t.Fatalf("set %s to %q: got %q, %v", sel, value, got, err)
	}
}

// acceptLanguage makes the tab's browser send and report languages
// (Accept-Language and navigator.languages), as a user's settings would.
func (tb *tab) acceptLanguage(languages string) {
	tb.t.Helper()
	tb.do("accept "+languages, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		ua, err := chromedp.Run(ctx, chromedp.Evaluate[string]("navigator.userAgent"))
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: languages})
		return err
	}))
}

// upload chooses file in the platform page's file input and confirms.
func (tb *tab) upload(file string) {
	tb.t.Helper()
	tb.do("choose "+file, chromedp.SetUploadFiles(chromedp.CSS("#upload-input"), []string{file}))
	tb.click("#confirm-yes")
}

// writeTampered writes signed with its module changed to gpu: a file
// whose signature no longer matches (R11's bad-signature).
func writeTampered(t *testing.T, signed []byte, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Replace(string(signed), `"cdp"`, `"gpu"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
