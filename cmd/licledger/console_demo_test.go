package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// The README's demo walkthrough, in the browser as it tells it: `demo
// init`'s files, serve without tokens (the console opens as the local
// admin), and every step through the console's forms and buttons: the
// platform registered, the bundle uploaded, a key-bound file refused
// until its key is inserted (R12), a tampered file refused (R11), the key
// pulled and the 30-day buffer counting down (R19), and the as-of
// control looking past the buffer and back before the upload.
func TestConsoleDemoWalkthrough(t *testing.T) {
	browser := newBrowser(t)
	demo := filepath.Join(t.TempDir(), "demo")
	vendorMustRun(t, "demo", "init", "--dir", demo, "--machine-id", "machine-1")
	d := demoLayout{dir: demo, platform: "demo"}
	code, err := os.ReadFile(d.requestCode())
	if err != nil {
		t.Fatal(err)
	}
	// Now, as demo init issued the bundle; the test moves it on a minute a
	// step, as a person would, so the countdown is exact.
	clock := eventstoretest.NewClock(time.Now().UTC())
	l := mustRunMain(t, withClock(clock), withArgs("--trusted-keys", d.trustedDir()))
	k1 := filepath.Join(demo, "k1-cdp.license")
	vendorMustRun(t, "vendor", "issue", "--key", d.privateKey(), "--id", "L-K1-CDP", "--kind", "plus", "--module", "cdp",
		"--usb-key", "DEMO-K1", "--expires", "2030-01-01", "--out", k1)
	signed, err := os.ReadFile(k1)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(demo, "tampered.license")
	writeTampered(t, signed, tampered)

	b := newTab(t, browser, l.URL)
	b.open("#/", "#register")
	b.waitText("#whoami", "local admin")

	// 1. Register the demo platform under its request code.
	b.click("#register")
	for name, value := range map[string]string{"id": "demo", "nodes": "mn-1", "request_code": strings.TrimSpace(string(code))} {
		b.setValue(`#modal input[name="`+name+`"]`, value)
	}
	b.click("#form-ok")
	b.waitText("#toasts", "platform.registered")
	b.waitText("#platform-id", "demo")

	// 2. Upload the sample bundle: Base, vmware and gpu. R10
	upload := func(file string) {
		t.Helper()
		clock.Advance(time.Minute)
		b.upload(file)
	}
	// First, what the bundle would do, recording nothing.
	b.setValue("#whatif-kind", "upload")
	b.do("try the bundle", chromedp.SetUploadFiles(chromedp.CSS("#whatif-file"), []string{d.bundle()}))
	b.click("#whatif-run")
	b.waitText("#whatif-out", "modules.vmware")
	b.waitText("#whatif-out", "✓ Entitled")
	b.waitText("#auth-state", "unlicensed")
	upload(d.bundle())
	b.waitText(`tr[data-module="vmware"] .entitled`, "Entitled")
	b.waitText(`tr[data-module="gpu"] .entitled`, "Entitled")
	b.waitText("#auth-state", "licensed")

	// 3. The key-bound file, no key inserted: refused, in words. R12
	upload(k1)
	b.waitText("#upload-results li.bad", "key-not-inserted")
	b.waitText("#upload-results li.bad", "not inserted on any management node")

	// 4. Insert DEMO-K1 on mn-1 from the page, upload again: cdp by the key.
	b.click(`[data-insert-key="mn-1"]`)
	b.setValue(`#modal input[name="key"]`, "DEMO-K1")
	b.click("#form-ok")
	b.click("#confirm-yes")
	b.waitText("#toasts", "usb_key.inserted")
	b.waitText("#usb-state", "Ready")
	upload(k1)
	b.waitText(`tr[data-module="cdp"] .entitled`, "Entitled")
	b.waitText(`tr[data-module="cdp"]`, "USB key DEMO-K1")

	// 5. A tampered file: bad-signature. R11
	upload(tampered)
	b.waitText("#upload-results li.bad", "bad-signature")

	// 6. Pull the key: missing, and the buffer counts down. R19
	clock.Advance(time.Minute)
	b.click(`[data-remove-key="DEMO-K1"]`)
	b.click("#confirm-yes")
	b.waitText("#toasts", "usb_key.removed")
	b.waitText("#usb-state", "Missing")
	clock.Advance(time.Minute)
	b.open("#/platforms/demo", "#countdown")
	b.waitText("#countdown", "29 d 23 h left on the buffer")
	b.open("#/", `tr[data-platform="demo"]`)
	b.waitText(`tr[data-platform="demo"] .status`, "buffer · 29 days left")

	// 7. As of the end of the buffer, and before the upload.
	b.open("#/platforms/demo", "#asof-buffer-end")
	b.click("#asof-buffer-end")
	b.waitText(`tr[data-module="cdp"]`, "no buffer covers it")
	b.setValue("#asof-input", clock.Now().Add(-24*time.Hour).Format("2006-01-02T15:04"))
	b.click("#asof-apply")
	b.waitText("#auth-state", "unlicensed")
	b.click("#asof-now")
	b.waitText(`tr[data-module="cdp"] .entitled`, "Entitled")
	b.noErrors("demo walkthrough")
}
