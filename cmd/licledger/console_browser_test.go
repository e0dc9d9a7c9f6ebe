package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

const (
	consoleVendorToken  = "vendor-admin-token-0001"
	consoleAuditorToken = "vendor-auditor-token-001"
	consoleAcmeToken    = "acme-admin-token-000001"
	consoleBillingToken = "vendor-billing-token-001"
)

// The console in a real browser against a real serve (signed uploads,
// tokens with roles and customers, an injected clock): every page loads
// without a console error, a signed bundle uploaded through the file
// input reaches the modules table, a refused file shows its reason in
// words, a key inserted and pulled through the API changes the USB key
// state and starts the buffer countdown on the page, the as-of control
// changes the answer, an auditor gets no action, and a customer-scoped
// token cannot reach another customer's page. Screenshots of each page
// at 1280×800 and 390×844 go to LICLEDGER_SCREENSHOTS.
func TestConsoleInBrowser(t *testing.T) {
	browser := newBrowser(t)
	shots := screenshotDir(t)
	ctx := t.Context()
	v := newSignedVendor(t)
	clock := eventstoretest.NewClock(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	l := mustRunMain(t, withClock(clock), withArgs("--trusted-keys", v.keys), withToken("admin", consoleVendorToken),
		withToken("auditor", consoleAuditorToken), withToken("billing", consoleBillingToken), withScopedToken("admin", consoleAcmeToken, "acme"))
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "beta-prod", Nodes: []string{"mn-1"}, Customer: "beta"}))
	sub, err := l.API.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-ACME", Customer: "acme", Plan: httpclient.InstancePlan{Name: "team", Instances: 2}, Period: "monthly"})
	if err != nil {
		t.Fatal(err)
	}

	must(l.API.PurchasePerpetual(ctx, httpclient.PerpetualRequest{ID: "P-ACME", Customer: "acme", Plan: httpclient.InstancePlan{Name: "perpetual", Instances: 1}}))
	must(l.API.CreateCoupon(ctx, httpclient.CouponRequest{Code: "SPRING", Partner: "reseller-1", DiscountPercent: 20, RedemptionLimit: 2, ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}))

	v.issue("base.license", "--id", "L-BASE", "--kind", "base", "--edition", "standard", "--sockets", "16", "--request-code", v.code)
	v.issue("vmware.license", "--id", "L-VMWARE", "--kind", "plus", "--module", "vmware", "--quantity", "8", "--request-code", v.code)
	bundle := filepath.Join(v.dir, "acme.tar.gz")
	vendorMustRun(t, "vendor", "bundle", "--out", bundle, filepath.Join(v.dir, "base.license"), filepath.Join(v.dir, "vmware.license"))
	cdp := v.issue("cdp.license", "--id", "L-CDP", "--kind", "plus", "--module", "cdp", "--usb-key", "K-1")
	tampered := filepath.Join(v.dir, "tampered.license")
	writeTampered(t, cdp, tampered)

	admin := newTab(t, browser, l.URL)
	admin.signIn(consoleVendorToken)
	admin.waitText("#whoami", "admin")

	// Register acme through the form: its page opens, and the list shows
	// both customers' platforms, unlicensed yet.
	admin.open("#/", `tr[data-platform="beta-prod"]`)
	admin.click("#register")
	for name, value := range map[string]string{"id": "acme", "nodes": "mn-1, mn-2", "request_code": v.code, "customer": "acme"} {
		admin.setValue(`#modal input[name="`+name+`"]`, value)
	}
	admin.click("#form-ok")
	admin.waitText("#toasts", "platform.registered")
	admin.waitText("#platform-id", "acme")
	admin.open("#/", `tr[data-platform="acme"]`)
	admin.waitText(`tr[data-platform="acme"] .status`, "unlicensed")
	admin.waitText(`tr[data-platform="beta-prod"] .status`, "unlicensed")

	// Upload the signed bundle through the file input: confirmed, then in
	// the modules table. R10
	admin.open("#/platforms/acme", "#upload-input")
	admin.waitText("#auth-state", "unlicensed")
	admin.upload(bundle)
	admin.waitText(`tr[data-module="vmware"] .entitled`, "Entitled")
	admin.waitText("#auth-state", "licensed")
	admin.waitText("#upload-results", "accepted")

	// A tampered file is refused, with its reason in words. R11
	admin.upload(tampered)
	admin.waitText("#upload-results li.bad", "bad-signature")
	admin.waitText("#upload-results li.bad", "altered after it was signed")

	// A key inserted through the API: ready, and its file uploads. R12
	must(l.API.InsertUSBKey(ctx, "acme", "mn-1", httpclient.USBKeyRequest{KeyID: "K-1"}))
	must(l.API.UploadLicense(ctx, "acme", cdp, "application/octet-stream"))
	admin.open("#/platforms/acme", `tr[data-module="cdp"]`)
	admin.waitText("#usb-state", "Ready")
	admin.waitText(`tr[data-module="cdp"] .entitled`, "Entitled")
	if got := admin.text("#countdown"); got != "" {
		t.Errorf("countdown %q while the key is in", got)
	}

	// What if the key were pulled: the key would go missing and cdp ride
	// on a buffer; nothing is recorded, the key stays ready.
	admin.click("#whatif-run")
	admin.waitText("#whatif-out", "usb_key")
	admin.waitText("#whatif-out", "Missing")
	admin.waitText("#whatif-out", "modules.cdp")
	admin.open("#/platforms/acme", `tr[data-module="cdp"]`)
	admin.waitText("#usb-state", "Ready")
	admin.noErrors("platform page")

	// Pulled through the API: missing, and the 30-day buffer counts down. R19
	clock.Advance(time.Hour)
	must(l.API.RemoveUSBKey(ctx, "acme", "mn-1", "K-1"))
	admin.open("#/platforms/acme", "#countdown")
	admin.waitText("#usb-state", "Missing")
	admin.waitText("#countdown", "30 d 0 h left")
	clock.Advance(10*24*time.Hour + 5*time.Hour)
	admin.open("#/platforms/acme", "#countdown")
	admin.waitText("#countdown", "19 d 19 h left")
	admin.screenshot(shots, "platform")

	// The as-of control: after the buffer runs out cdp is no longer
	// entitled; before anything was uploaded acme was unlicensed.
	admin.click("#asof-buffer-end")
	admin.waitText(`tr[data-module="cdp"] .entitled`, "✗")
	admin.waitText(`tr[data-module="cdp"]`, "USB key is gone")
	admin.screenshot(shots, "platform-asof")
	admin.noErrors("platform as of the end of the buffer")
	admin.setValue("#asof-input", "2026-05-01T00:00")
	admin.click("#asof-apply")
	admin.waitText("#asof-note", "2026-05-01 00:00 UTC")
	admin.waitText("#auth-state", "unlicensed")
	admin.click("#asof-now")
	admin.waitText(`tr[data-module="cdp"] .entitled`, "Entitled")

	// Why cdp is entitled: the explanation, with the events that decided it.
	admin.click(`tr[data-module="cdp"] a.explain`)
	admin.waitText("#explanation", "Entitled")
	if n := admin.count("#explanation a.evlink"); n == 0 {
		t.Errorf("the explanation of cdp links no event: %s", admin.text("#explanation"))
	}
	admin.click("#explain-close")
	admin.noErrors("explanation")

	// Every other page loads without errors; an instance holds a seat.
	inst, err := l.API.Activate(ctx, httpclient.ActivateRequest{LicenseKey: sub.LicenseKey, ProductVersion: "5.2.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, hash, sel, want string }{
		{"platforms", "#/", `tr[data-platform="acme"] .status`, "buffer"},
		{"licenses", "#/licenses", `tr[data-license="S-ACME"]`, "1 / 2"},
		{"subscription", "#/subscriptions/S-ACME", "#seats", "1 / 2"},
		{"perpetual", "#/perpetual/P-ACME", "#seats", "0 / 1"},
		{"coupons", "#/coupons", "main table", "SPRING"},
		{"coupon", "#/coupons/SPRING", "main dl", "reseller-1"},
		{"partner", "#/partners/reseller-1", "main table", "SPRING"},
		{"customers", "#/customers", "main table", "acme"},
		{"customer", "#/customers/acme", "main .grid", "S-ACME"},
		{"audit", "#/audit", "#lag", "0 events behind"},
	} {
		admin.open(p.hash, p.sel)
		admin.waitText(p.sel, p.want)
		admin.screenshot(shots, p.name)
		admin.noErrors(p.name)
	}
	admin.click("#verify-chain")
	admin.waitText("#chain-result", "OK")
	admin.click("#verify-projections")
	admin.waitText("#projections-result", "OK")
	admin.click("#sign-checkpoint")
	admin.click("#confirm-yes")
	admin.waitText("#toasts", "Checkpoint signed at log position")
	admin.waitText("#checkpoints", "…")
	admin.screenshot(shots, "audit")
	admin.click("#export") // starts a download through a blob: URL: no CSP violation may follow
	admin.noErrors("audit")

	// Releasing a seat asks first, then shows the event it recorded. R27
	admin.open("#/subscriptions/S-ACME", `tr[data-instance="`+inst.InstanceID+`"] button`)
	admin.click(`tr[data-instance="` + inst.InstanceID + `"] button`)
	admin.click("#confirm-no")
	admin.waitText("#seats", "1 / 2")
	admin.click(`tr[data-instance="` + inst.InstanceID + `"] button`)
	admin.click("#confirm-yes")
	admin.waitText("#toasts", "instance.deactivated")
	admin.waitText("#seats", "0 / 2")
	admin.noErrors("release")

	// What if three seats were added: the limit would change, nothing is
	// recorded.
	admin.setValue("#sub-whatif-kind", "add_instances")
	admin.setValue("#sub-whatif-n", "3")
	admin.click("#sub-whatif-run")
	admin.waitText("#sub-whatif-out", "instance_limit")
	admin.waitText("#sub-whatif-out", "5")
	admin.waitText("#seats", "0 / 2")
	admin.noErrors("subscription what-if")

	// The perpetual license as the subscription's fallback. R28
	admin.click("#attach-fallback")
	admin.setValue(`#modal input[name="perpetual"]`, "P-ACME")
	admin.click("#form-ok")
	admin.click("#confirm-yes")
	admin.waitText("#toasts", "subscription.fallback_attached")
	admin.waitText("#fallback", "perpetual/P-ACME")
	admin.noErrors("fallback")

	// In Chinese, with the seed's words.
	admin.open("#/platforms/acme", "#lang")
	admin.click("#lang")
	admin.waitText("h1", "许可证管理")
	admin.waitText("#usb-state", "已拔出")
	admin.screenshot(shots, "platform-zh")
	admin.click("#lang")
	admin.waitText("h1", "License management")
	admin.noErrors("platform page in Chinese")

	// A browser asking for Chinese gets the console in Chinese, with the
	// seed's words, until switched.
	zh := newTab(t, browser, l.URL)
	zh.acceptLanguage("zh-CN,zh;q=0.9")
	zh.signIn(consoleAuditorToken)
	zh.open("#/platforms/acme", "#usb-state")
	zh.waitText("h1", "许可证管理")
	zh.waitText("#nav", "云平台")
	zh.waitText("main", "增值模块")
	zh.noErrors("Chinese from Accept-Language")

	// An auditor reads everything and may change nothing.
	auditor := newTab(t, browser, l.URL)
	auditor.signIn(consoleAuditorToken)
	auditor.open("#/platforms/acme", `tr[data-module="cdp"]`)
	auditor.waitText("#whoami", "read-only")
	for _, sel := range []string{"#upload-input", "[data-insert-key]", "#license-actions"} {
		if n := auditor.count(sel); n != 0 {
			t.Errorf("auditor sees %d %s", n, sel)
		}
	}
	auditor.open("#/subscriptions/S-ACME", "#seats")
	if n := auditor.count("#license-actions"); n != 0 {
		t.Errorf("auditor sees the subscription's actions")
	}
	auditor.noErrors("auditor")
	if !strings.Contains(auditor.text("#nav"), "Audit") {
		t.Errorf("the auditor is not offered the audit page")
	}

	// A billing token is not offered the audit page, whose routes refuse it.
	billing := newTab(t, browser, l.URL)
	billing.signIn(consoleBillingToken)
	billing.waitText("#whoami", "billing")
	if strings.Contains(billing.text("#nav"), "Audit") {
		t.Errorf("a billing token is offered the audit page")
	}

	// A token scoped to acme sees acme's and cannot reach beta's page.
	scoped := newTab(t, browser, l.URL)
	scoped.signIn(consoleAcmeToken)
	scoped.waitText("#whoami", "acme")
	scoped.open("#/", `tr[data-platform="acme"]`)
	if n := scoped.count(`tr[data-platform="beta-prod"]`); n != 0 {
		t.Errorf("acme's token lists beta's platform")
	}
	scoped.open("#/platforms/beta-prod", "#platform-error")
	scoped.waitText("#platform-error", "unknown-platform")
	scoped.open("#/customers/beta", "#customer-error")
	scoped.waitText("#customer-error", "unknown-customer")
	if strings.Contains(scoped.text("#nav"), "Audit") {
		t.Errorf("acme's token is offered the vendor's audit page")
	}
	scoped.noErrors("customer-scoped token")

	// Signed out, the console shows the sign-in form.
	scoped.click("#signout")
	scoped.do("sign-in form", chromedp.WaitVisible(chromedp.CSS("#token")))
	scoped.screenshot(shots, "signin")
	scoped.noErrors("sign-in")
}
