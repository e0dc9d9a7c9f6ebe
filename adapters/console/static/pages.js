// The license server's pages (subscriptions, perpetual licenses,
// coupons, partners), customers, and the audit page.
"use strict";

function licStatus(s) { return badge(s, { active: "ok", past_due: "warn", canceled: "bad", expired: "bad" }[s] || ""); }
function planText(p) { return p ? p.name + " · " + p.instances : "—"; }

// A list page of one license-server kind, paged by id like platforms.
async function licenseList(kind, title, query, key) {
  const after = query.get(key) || "", status = query.get("status") || "";
  const params = new URLSearchParams({ limit: "50" });
  if (after) params.set("after", after);
  if (status) params.set("status", status);
  const r = await api("GET", "/v1/" + kind + "?" + params);
  if (!r.ok) return card(title, h("p", { class: "error" }, errorLine(r)));
  const rows = r.data.items.map((x) => h("tr", { dataset: { license: x.id } },
    h("td", {}, h("a", { href: "#/" + kind + "/" + enc(x.id) }, x.id)),
    h("td", {}, x.customer ? h("a", { href: "#/customers/" + enc(x.customer) }, x.customer) : "—"),
    h("td", {}, planText(x.plan)), h("td", {}, licStatus(x.status)),
    h("td", {}, x.instances_in_use + " / " + x.instance_limit), h("td", {}, fmtDate(x.until))));
  const q = new URLSearchParams(parseHash().query);
  const more = r.data.next ? h("div", { class: "pager" }, h("button", { type: "button", onclick: () => { q.set(key, r.data.next); location.hash = "#/licenses?" + q; } }, t("next"))) : null;
  return card(title, table([t("id"), t("customer"), t("plan"), t("status"), t("seats"), t("until")], rows, null, "stack"), more);
}

ROUTES.push({ re: /^\/licenses$/, page: async (view, _, query, stale) => {
  const status = query.get("status") || "";
  const [subs, perps] = await Promise.all([licenseList("subscriptions", t("subscriptions"), query, "after_s"), licenseList("perpetual", t("perpetual"), query, "after_p")]);
  if (stale()) return;
  const filter = h("select", { id: "license-status", onchange: (e) => { location.hash = "#/licenses" + (e.target.value ? "?status=" + e.target.value : ""); } },
    ["", "active", "past_due", "canceled", "expired"].map((s) => h("option", { value: s, selected: s === status }, s || t("allStatuses"))));
  fill(view, h("h1", {}, t("licenses")), h("div", { class: "toolbar" }, filter,
    canWrite() ? h("button", { type: "button", id: "new-subscription", onclick: () => createLicense("subscriptions") }, "+ " + t("subscription")) : null,
    canWrite() ? h("button", { type: "button", onclick: () => createLicense("perpetual") }, "+ " + t("perpetual")) : null), subs, perps);
} });

async function createLicense(kind) {
  const fields = [{ name: "id", label: t("id"), required: true }, { name: "name", label: t("plan") + " · " + t("name"), value: "team" },
    { name: "instances", label: t("instances"), value: "2", type: "number" }];
  if (kind === "subscriptions") fields.push({ name: "period", label: t("period") + " (monthly, annual)", value: "monthly" });
  if (!scoped()) fields.push({ name: "customer", label: t("customer") });
  const f = await form("+ " + (kind === "subscriptions" ? t("subscription") : t("perpetual")), fields);
  if (!f || !f.id) return;
  const body = { id: f.id, plan: { name: f.name, instances: +f.instances } };
  if (f.period) body.period = f.period;
  if (f.customer) body.customer = f.customer;
  const r = await api("POST", "/v1/" + kind, body);
  if (!recorded(r)) return;
  if (r.data.license_key) await showKey(r.data.license_key);
  location.hash = "#/" + kind + "/" + enc(f.id);
}
function showKey(key) {
  return modal(t("newKey"), h("p", {}, h("span", { class: "mono", id: "license-key" }, key), " ", copyButton(key)), [{ label: t("close"), value: true, id: "key-close" }]);
}

// One subscription or perpetual license: its plan, term, seats and
// instances with their leases, and the admin's commands, each confirmed.
function licensePage(kind) {
  return async (view, [id], query, stale) => {
    const at = query.get("at") || "";
    const base = "/v1/" + kind + "/" + enc(id);
    const r = await api("GET", base + (at ? "?at=" + enc(at) : ""));
    if (stale()) return;
    if (!r.ok) { fill(view, h("h1", {}, id), h("p", { class: "error" }, errorLine(r))); return; }
    const d = r.data;
    const reload = () => route();
    const sub = kind === "subscriptions";
    const rows = (d.instances || []).map((i) => h("tr", { class: i.seat === "held" ? "" : "off", dataset: { instance: i.id } },
      h("td", { class: "mono" }, i.id), h("td", {}, i.version || "—"), h("td", {}, fmtTime(i.activated_at)), h("td", {}, fmtTime(i.last_check_in)),
      h("td", {}, badge(i.seat, i.seat === "held" ? "ok" : "")), h("td", {}, fmtTime(i.seat_expires_at)),
      h("td", {}, canWrite() && i.seat === "held" && !at ? h("button", { type: "button", class: "small danger", onclick: async () => {
        if (!(await confirmAction(t("confirmRelease", i.id)))) return;
        if (recorded(await api("POST", "/v1/instances/" + enc(i.id) + "/deactivate", { license_key: (sub ? "subscription/" : "perpetual/") + id }))) reload();
      } }, t("release")) : null)));
    const act = (label, fn, cls, id) => h("button", { type: "button", class: cls || "", id, onclick: fn }, label);
    const actions = !canWrite() || at ? null : h("div", { class: "toolbar", id: "license-actions" }, sub ? [
      act(t("changePlan"), async () => {
        const f = await form(t("changePlan"), [{ name: "name", label: t("name"), value: d.plan.name }, { name: "instances", label: t("instances"), value: d.plan.instances, type: "number" },
          { name: "devices", label: t("devices"), value: d.plan.devices || 0, type: "number" }, { name: "assets", label: t("assets"), value: d.plan.assets || 0, type: "number" }]);
        if (!f || !(await confirmAction(t("confirmPlan", id, f.name, f.instances)))) return;
        if (recorded(await api("PUT", base + "/plan", { plan: { name: f.name, instances: +f.instances, devices: +f.devices, assets: +f.assets } }))) reload();
      }),
      act(t("addInstances"), async () => {
        const f = await form(t("addInstances"), [{ name: "count", label: t("count"), value: "1", type: "number" }]);
        if (!f || !(await confirmAction(t("confirmAdd", id, f.count)))) return;
        if (recorded(await api("POST", base + "/instances", { count: +f.count }))) reload();
      }),
      act(t("renew"), async () => {
        const f = await form(t("renew"), [{ name: "reference", label: t("reference") }]);
        if (!f || !(await confirmAction(t("confirmRenew", id, f.reference)))) return;
        if (recorded(await api("POST", base + "/renewals", { reference: f.reference }))) reload();
      }),
      act(t("pastDue"), async () => {
        const f = await form(t("pastDue"), [{ name: "reference", label: t("reference") }]);
        if (!f || !(await confirmAction(t("confirmPastDue", id, f.reference)))) return;
        if (recorded(await api("POST", base + "/past-due", { reference: f.reference }))) reload();
      }),
      d.fallback ? act(t("detachFallback"), async () => {
        if (!(await confirmAction(t("confirmDetach", id, d.fallback)))) return;
        if (recorded(await api("DELETE", base + "/fallback"))) reload();
      }, "", "detach-fallback") : act(t("attachFallback"), async () => {
        const f = await form(t("attachFallback"), [{ name: "perpetual", label: t("perpetual") + " (id)", required: true }]);
        if (!f || !f.perpetual || !(await confirmAction(t("confirmAttach", f.perpetual, id)))) return;
        if (recorded(await api("POST", base + "/fallback", { perpetual: f.perpetual }))) reload();
      }, "", "attach-fallback"),
      act(t("cancelSub"), async () => {
        const f = await form(t("cancelSub"), [{ name: "reason", label: t("cancelReason") }]);
        if (!f || !(await confirmAction(t("confirmCancel", id)))) return;
        if (recorded(await api("POST", base + "/cancel", f.reason ? { reason: f.reason } : {}))) reload();
      }, "danger"),
    ] : act(t("renewUpdates"), async () => {
      const f = await form(t("renewUpdates"), [{ name: "reference", label: t("reference") }]);
      if (!f || !(await confirmAction(t("confirmRenewUpdates", id, f.reference)))) return;
      if (recorded(await api("POST", base + "/renewals", { reference: f.reference }))) reload();
    }),
    act(t("rotateKey"), async () => {
      if (!(await confirmAction(t("confirmRotate", id)))) return;
      const r2 = await api("POST", base + "/license-key");
      if (recorded(r2) && r2.data.license_key) await showKey(r2.data.license_key);
    }),
    act(t("revokeKey"), async () => {
      if (!(await confirmAction(t("confirmRevoke", id)))) return;
      if (recorded(await api("DELETE", base + "/license-key"))) reload();
    }, "danger"));
    fill(view, h("h1", {}, (sub ? t("subscription") : t("perpetual")) + " · " + id),
      h("form", { class: "asof" + (at ? " past" : ""), onsubmit: (e) => e.preventDefault() }, h("strong", {}, t("asOf")),
        h("input", { type: "datetime-local", step: 1, value: at.slice(0, 19), onchange: (e) => { location.hash = "#/" + kind + "/" + enc(id) + (e.target.value ? "?at=" + enc(new Date(e.target.value + "Z").toISOString()) : ""); } }),
        h("span", { class: "small muted" }, "UTC"), h("button", { type: "button", onclick: () => { location.hash = "#/" + kind + "/" + enc(id); } }, t("now")), h("span", { class: "small" }, fmtTime(d.at))),
      actions,
      h("div", { class: "grid" }, card(t("plan"), facts([
        [t("status"), licStatus(d.status), "license-status"], [t("customer"), d.customer ? h("a", { href: "#/customers/" + enc(d.customer) }, d.customer) : "—"],
        [t("plan"), d.plan ? d.plan.name : "—"], [t("instances"), String(d.plan ? d.plan.instances : "—") + (d.instances_added ? " + " + d.instances_added : "")],
        d.plan && (d.plan.devices || d.plan.assets) ? [t("devices") + " / " + t("assets"), (d.plan.devices || "∞") + " / " + (d.plan.assets || "∞")] : null,
        [t("seats"), h("span", { class: "big", id: "seats" }, d.instances_in_use + " / " + d.instance_limit)],
        d.fallback ? [t("fallback"), h("a", { href: "#/" + d.fallback, id: "fallback" }, d.fallback)] : null,
      ])), card(t("period"), facts([
        sub ? [t("period"), d.period] : null,
        sub ? [t("periodStart"), fmtTime(d.period_start)] : null, sub ? [t("periodEnd"), fmtTime(d.period_end)] : null,
        !sub ? [t("updatesUntil"), fmtTime(d.updates_until)] : null,
        [t("leaseSeconds"), d.lease_seconds ? Math.round(d.lease_seconds / 3600) + " h" : "—"]]))),
      card(t("instances"), table([t("id"), t("version"), t("activated"), t("lastCheckIn"), t("seat"), t("seatExpires"), ""], rows, null, "stack")),
      sub ? subWhatIf(base, d) : null);
  };
}

// subWhatIf is a subscription's what-if panel (POST …/simulate): a plan
// change, seats added or a cancellation tried at the page's instant;
// nothing is recorded. Admins and auditors, as on a platform.
function subWhatIf(base, d) {
  if (!S.me || !["admin", "auditor"].includes(S.me.role) || S.features.simulate === false) return null;
  const kind = h("select", { id: "sub-whatif-kind" }, ["change_plan", "add_instances", "cancel"].map((k) => h("option", { value: k }, t("wi_" + k))));
  const n = h("input", { id: "sub-whatif-n", type: "number", min: 1, size: 5, value: d.plan ? d.plan.instances : 1, title: t("instances") });
  const out = h("div", { id: "sub-whatif-out" });
  const run = async () => {
    const cmd = kind.value === "change_plan" ? { change_plan: { plan: { name: d.plan.name, instances: +n.value, devices: d.plan.devices || 0, assets: d.plan.assets || 0 } } }
      : kind.value === "add_instances" ? { add_instances: { count: +n.value } } : { cancel: {} };
    const at = parseHash().query.get("at");
    const r = await api("POST", base + "/simulate", at ? { at, commands: [cmd] } : { commands: [cmd] });
    if (missingRoute(r)) { S.features.simulate = false; out.closest("section").remove(); return; }
    if (!r.ok) { fill(out, h("p", { class: "error" }, errorLine(r))); return; }
    const rows = (r.data.changes || []).map((c) => h("tr", {}, h("td", {}, c.item), h("td", { class: "wrap" }, describeItem(c.before)), h("td", { class: "wrap" }, describeItem(c.after))));
    fill(out, h("p", { class: "small muted" }, t("whatIfAt", fmtTime(r.data.at))), table([t("item"), t("before"), t("after")], rows, t("noChange"), "stack"));
  };
  return card(t("whatIf"), h("p", { class: "small muted" }, t("whatIfHelp")),
    h("div", { class: "toolbar" }, kind, n, h("button", { type: "button", id: "sub-whatif-run", onclick: run }, t("simulate"))), out);
}
ROUTES.push({ re: /^\/subscriptions\/([^/]+)$/, page: licensePage("subscriptions") });
ROUTES.push({ re: /^\/perpetual\/([^/]+)$/, page: licensePage("perpetual") });

// --- coupons and partners ---
ROUTES.push({ re: /^\/coupons$/, page: async (view, _, query, stale) => {
  const after = query.get("after") || "";
  const r = await api("GET", "/v1/coupons?limit=100" + (after ? "&after=" + enc(after) : ""));
  if (stale()) return;
  const rows = r.ok ? r.data.items.map((c) => h("tr", {}, h("td", {}, h("a", { href: "#/coupons/" + enc(c.code) }, c.code)),
    h("td", {}, h("a", { href: "#/partners/" + enc(c.partner) }, c.partner)), h("td", {}, badge(c.status, c.status === "active" ? "ok" : "")),
    h("td", {}, String(c.remaining)), h("td", {}, fmtDate(c.expires_at)))) : [];
  fill(view, h("h1", {}, t("coupons")),
    canWrite() ? h("div", { class: "toolbar" }, h("button", { type: "button", id: "new-coupon", onclick: createCoupon }, t("createCoupon"))) : null,
    card(null, r.ok ? table([t("code"), t("partner"), t("status"), t("remaining"), t("expires")], rows) : h("p", { class: "error" }, errorLine(r)),
      r.ok && r.data.next ? h("div", { class: "pager" }, h("a", { href: "#/coupons?after=" + enc(r.data.next) }, t("next"))) : null));
} });
async function createCoupon() {
  const f = await form(t("createCoupon"), [{ name: "code", label: t("code"), required: true }, { name: "partner", label: t("partner"), required: true },
    { name: "discount", label: t("discount") + " %", value: "10", type: "number" }, { name: "limit", label: t("limit"), value: "10", type: "number" },
    { name: "expires", label: t("expires") + " (YYYY-MM-DD)", value: new Date(Date.parse(serverNow()) + 365 * DAY).toISOString().slice(0, 10) }]);
  if (!f || !f.code || !(await confirmAction(t("confirmCoupon", f.code, f.partner, f.discount, f.limit)))) return;
  const r = await api("POST", "/v1/coupons", { code: f.code, partner: f.partner, discount_percent: +f.discount, redemption_limit: +f.limit,
    expires_at: new Date(f.expires + "T00:00:00Z").toISOString() });
  if (recorded(r)) location.hash = "#/coupons/" + enc(f.code);
}
ROUTES.push({ re: /^\/coupons\/([^/]+)$/, page: async (view, [code], _, stale) => {
  const r = await api("GET", "/v1/coupons/" + enc(code));
  if (stale()) return;
  if (!r.ok) { fill(view, h("h1", {}, code), h("p", { class: "error" }, errorLine(r))); return; }
  const c = r.data;
  const reds = (c.redemptions || []).map((x) => h("tr", {}, h("td", {}, String(x.redemption)),
    h("td", {}, x.subscription ? h("a", { href: "#/subscriptions/" + enc(x.subscription) }, x.subscription) : "—"), h("td", {}, fmtTime(x.at))));
  fill(view, h("h1", {}, t("coupons") + " · " + code),
    canWrite() ? h("div", { class: "toolbar" }, h("button", { type: "button", onclick: async () => {
      const f = await form(t("redeem"), [{ name: "subscription", label: t("subscription"), required: true }]);
      if (!f || !f.subscription || !(await confirmAction(t("confirmRedeem", code, f.subscription)))) return;
      if (recorded(await api("POST", "/v1/coupons/" + enc(code) + "/redemptions", { subscription: f.subscription }))) route();
    } }, t("redeem"))) : null,
    card(null, facts([[t("partner"), h("a", { href: "#/partners/" + enc(c.partner) }, c.partner)], [t("status"), badge(c.status)],
      [t("discount"), c.discount_percent + "%"], [t("remaining"), c.remaining + " / " + c.redemption_limit], [t("expires"), fmtTime(c.expires_at)]])),
    card(t("redemptions"), table(["#", t("subscription"), t("at")], reds)));
} });
ROUTES.push({ re: /^\/partners\/([^/]+)$/, page: async (view, [p], _, stale) => {
  const r = await api("GET", "/v1/partners/" + enc(p) + "/redemptions");
  if (stale()) return;
  if (!r.ok) { fill(view, h("h1", {}, p), h("p", { class: "error" }, errorLine(r))); return; }
  const d = r.data;
  fill(view, h("h1", {}, t("partner") + " · " + p),
    card(t("coupons"), table([t("code"), t("status"), t("discount"), t("remaining"), t("expires")], (d.coupons || []).map((c) => h("tr", {},
      h("td", {}, h("a", { href: "#/coupons/" + enc(c.coupon) }, c.coupon)), h("td", {}, badge(c.status)), h("td", {}, c.discount_percent + "%"),
      h("td", {}, c.remaining + " / " + c.redemption_limit), h("td", {}, fmtDate(c.expires_at)))))),
    card(t("redemptions") + " (" + d.redeemed + ")", table([t("code"), "#", t("subscription"), t("discount"), t("at")], (d.redemptions || []).map((x) => h("tr", {},
      h("td", {}, x.coupon), h("td", {}, String(x.redemption)), h("td", {}, x.subscription || "—"), h("td", {}, x.discount_percent + "%"), h("td", {}, fmtTime(x.at)))))));
} });

// --- customers ---
ROUTES.push({ re: /^\/customers$/, page: async (view, _, query, stale) => {
  const after = query.get("after") || "";
  const r = await api("GET", "/v1/customers?limit=200" + (after ? "&after=" + enc(after) : ""));
  if (stale()) return;
  const items = r.ok ? r.data.items.map((c) => (typeof c === "string" ? c : c.id || c.customer)) : [];
  fill(view, h("h1", {}, t("customers")), card(null, r.ok ? table([t("customer")], items.map((c) => h("tr", {},
    h("td", {}, h("a", { href: "#/customers/" + enc(c) }, c))))) : h("p", { class: "error" }, errorLine(r)),
  r.ok && r.data.next ? h("div", { class: "pager" }, h("a", { href: "#/customers?after=" + enc(r.data.next) }, t("next"))) : null));
} });
ROUTES.push({ re: /^\/customers\/([^/]+)$/, page: async (view, [id], _, stale) => {
  const r = await api("GET", "/v1/customers/" + enc(id));
  if (stale()) return;
  if (!r.ok) { fill(view, h("h1", {}, t("customer") + " · " + id), h("p", { class: "error", id: "customer-error" }, errorLine(r))); return; }
  const d = r.data;
  const list = (kind, ids) => ids.length ? h("ul", {}, ids.map((x) => h("li", {}, h("a", { href: "#/" + kind + "/" + enc(x) }, x)))) : h("p", { class: "muted" }, t("none"));
  fill(view, h("h1", {}, t("customer") + " · " + id), h("div", { class: "grid" },
    card(t("platforms") + " (" + d.platforms.length + ")", list("platforms", d.platforms)),
    card(t("subscriptions") + " (" + d.subscriptions.length + ")", list("subscriptions", d.subscriptions)),
    card(t("perpetual") + " (" + d.perpetual.length + ")", list("perpetual", d.perpetual))));
} });

// --- audit ---
ROUTES.push({ re: /^\/audit$/, page: async (view, _, __, stale) => {
  const ready = await api("GET", "/readyz");
  if (stale()) return;
  const p = ready.data && ready.data.projections;
  const chainOut = h("div", { id: "chain-result" }), projOut = h("div", { id: "projections-result" }), cpSlot = h("div");
  const verify = async (path, out, render) => {
    fill(out, h("p", { class: "muted" }, t("verifying")));
    const r = await api("GET", path);
    fill(out, h("div", {}, r.ok ? render(r.data) : h("p", { class: "error" }, errorLine(r))));
  };
  fill(view, h("h1", {}, t("audit")), h("div", { class: "grid" },
    card(t("chain"), h("button", { type: "button", id: "verify-chain", onclick: () => verify("/v1/audit/verify", chainOut, (d) => [
      h("p", {}, badge(d.ok ? "✓ " + t("ok") : "✗ " + t("problems"), d.ok ? "ok" : "bad")),
      facts(Object.entries(d.report || {}).filter(([k]) => k !== "problems").map(([k, v]) => [k, String(v)])),
      d.report && d.report.problems ? h("pre", {}, JSON.stringify(d.report.problems, null, 2)) : null]) }, t("verifyChain")), chainOut),
    card(t("projectionsCheck"), h("button", { type: "button", id: "verify-projections", onclick: () => verify("/v1/projections/verify", projOut, (d) => [
      h("p", {}, badge(d.clean ? "✓ " + t("ok") : "✗ " + t("problems"), d.clean ? "ok" : "bad"), " seq " + d.seq),
      table(["table", "rows", ""], (d.tables || []).map((x) => h("tr", {}, h("td", {}, x.table), h("td", {}, x.live_rows + " / " + x.rebuilt_rows), h("td", {}, x.equal ? "✓" : "✗"))))]) }, t("verifyProjections")), projOut),
    card(t("lag"), p ? h("p", { class: "big", id: "lag" }, t("lagValue", p.lag, p.applied, p.head)) : h("p", { class: "muted" }, "—")),
    card(t("exportLog"), h("p", { class: "small muted" }, t("exportHelp")), h("button", { type: "button", id: "export", onclick: async () => {
      const r = await api("GET", "/v1/export", undefined, { blob: true });
      if (r.ok) downloadBlob("licledger-export.jsonl", r.blob); else toast(t("failed") + " (" + r.status + ")", true);
    } }, t("download")))), cpSlot);
  // Signed checkpoints: shown when the ledger has them (the route exists).
  const cp = await api("GET", "/v1/audit/checkpoints?limit=5");
  if (stale() || !cp.ok) return;
  const sign = async () => {
    if (!(await confirmAction(t("confirmCheckpoint")))) return;
    const r = await api("POST", "/v1/audit/checkpoints");
    if (!r.ok) { toast(errorLine(r), true); return; }
    toast(t("checkpointSigned", r.data.last_seq));
    route();
  };
  const rows = (cp.data.checkpoints || []).map((c) => h("tr", {}, h("td", {}, fmtTime(c.time)), h("td", {}, String(c.last_seq)),
    h("td", {}, String(c.events)), h("td", {}, String(c.aggregates)), h("td", { class: "mono" }, (c.root || "").slice(0, 16) + "…"), h("td", { class: "mono" }, c.key_id || "")));
  fill(cpSlot, card(t("checkpoints"), h("p", { class: "small muted" }, t("checkpointsHelp")),
    canWrite() ? h("button", { type: "button", id: "sign-checkpoint", onclick: sign }, t("signCheckpoint")) : null,
    h("div", { id: "checkpoints" }, table([t("time"), t("logPosition"), t("events"), t("aggregates"), t("root"), t("signingKey")], rows, t("noCheckpoint")))));
} });
