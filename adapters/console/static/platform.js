// The platforms list and the platform page, laid out as ZStack's own
// 许可证管理 page: edition, authorization state, expiry, request code,
// upload, USB key state, buffer countdown, Plus modules, capacity and the
// history, all re-rendered at any instant through the as-of control.
"use strict";

// statusBadge is a platform's badge, days counted from now (an ISO
// instant: the answer's own "at", so an injected server clock counts).
function statusBadge(status, expiresAt, graceUntil, now) {
  if (graceUntil && (status === "grace" || status === "licensed")) {
    return badge(t("bufferDays", Math.max(0, daysBetween(now, graceUntil))), "warn");
  }
  if (status === "licensed" && expiresAt) {
    const d = daysBetween(now, expiresAt);
    if (d < 30) return badge(t("expiresIn", Math.max(0, d)), "warn");
  }
  const kind = { licensed: "ok", community: "ok", expired: "bad", unlicensed: "bad" }[status] || "";
  return badge(t("st_" + status), kind);
}
function keyBadge(state) {
  const kind = { ready: "ok", missing: "warn", abnormal: "warn", fault: "bad" }[state] || "";
  return badge(t("ks_" + (state || "none")), kind);
}

// --- platforms list ---
// The search is by id prefix: the list pages by id (?after=), so it
// starts just before the prefix and stops at the first id past it, and
// never loads the whole fleet.
ROUTES.push({ re: /^\/(?:platforms)?$/, page: async (view, _, query, stale) => {
  const q = { search: query.get("q") || "", status: query.get("status") || "", customer: query.get("customer") || "",
    expiring: query.get("expiring") === "1", after: query.get("after") || "" };
  const params = new URLSearchParams({ limit: "50" });
  if (q.status) params.set("status", q.status);
  if (q.customer && !scoped()) params.set("customer", q.customer);
  if (q.expiring) params.set("expiring_before", new Date(Date.parse(serverNow()) + 30 * DAY).toISOString());
  if (q.after) params.set("after", q.after);
  else if (q.search) params.set("after", beforePrefix(q.search));
  const r = await api("GET", "/v1/platforms?" + params);
  if (stale()) return;
  const go = (patch) => {
    const next = new URLSearchParams();
    const m = Object.assign({}, q, patch);
    if (m.search) next.set("q", m.search);
    if (m.status) next.set("status", m.status);
    if (m.customer) next.set("customer", m.customer);
    if (m.expiring) next.set("expiring", "1");
    if (m.after) next.set("after", m.after);
    location.hash = "#/platforms?" + next;
  };
  const search = h("input", { id: "search", type: "search", placeholder: t("search"), value: q.search, class: "grow" });
  const tools = h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); go({ search: search.value.trim(), after: "" }); } },
    search,
    h("select", { id: "status-filter", onchange: (e) => go({ status: e.target.value, after: "" }) },
      ["", "licensed", "grace", "expired", "unlicensed", "community"].map((s) => h("option", { value: s, selected: s === q.status }, s ? t("st_" + s) : t("allStatuses")))),
    h("label", {}, h("input", { type: "checkbox", id: "expiring", checked: q.expiring, onchange: (e) => go({ expiring: e.target.checked, after: "" }) }), " ", t("expiring30")),
    scoped() ? null : h("input", { id: "customer-filter", placeholder: t("anyCustomer"), value: q.customer, size: 12, onchange: (e) => go({ customer: e.target.value.trim(), after: "" }) }),
    canWrite() ? h("button", { type: "button", id: "register", onclick: registerPlatform }, t("register")) : null);
  if (!r.ok) { fill(view, h("h1", {}, t("platforms")), tools, h("p", { class: "error" }, errorLine(r))); return; }
  const now = serverNow();
  let items = r.data.items;
  let next = r.data.next;
  if (q.search && !q.after) {
    const i = items.findIndex((p) => !p.id.startsWith(q.search));
    if (i >= 0) { items = items.slice(0, i); next = ""; }
  }
  const rows = items.map((p) => h("tr", { dataset: { platform: p.id } },
    h("td", {}, h("a", { href: "#/platforms/" + enc(p.id) }, p.id)),
    h("td", {}, p.customer ? h("a", { href: "#/customers/" + enc(p.customer) }, p.customer) : "—"),
    h("td", { class: "status" }, statusBadge(p.status, p.expires_at, p.grace_until, now),
      p.buffer_expires_at && !p.grace_until ? [" ", badge(t("bufferDays", Math.max(0, daysBetween(now, p.buffer_expires_at))), "warn")] : null),
    h("td", {}, editionName(p.edition) || "—"),
    h("td", {}, p.expires_at ? fmtDate(p.expires_at) : (p.edition ? t("never") : "—")),
    h("td", {}, keyBadge(p.usb_key_state))));
  const pager = h("div", { class: "pager" },
    q.after ? h("button", { type: "button", onclick: () => go({ after: "" }) }, t("first")) : null,
    next ? h("button", { type: "button", id: "next-page", onclick: () => go({ after: next }) }, t("next")) : null);
  // A filter reads a bounded stretch of the fleet per request: few or no
  // matches with a next cursor means "more may follow", not "that is all".
  const partial = next && items.length < 50 ? h("p", { class: "small muted", id: "partial" }, t("partialPage")) : null;
  fill(view, h("h1", {}, t("platforms")), tools,
    card(null, table([t("id"), t("customer"), t("status"), t("edition"), t("expiry"), t("usbKey")], rows, null, "stack"), partial, pager));
} });

// beforePrefix is the greatest id cursor below every id starting with p
// (ids are [A-Za-z0-9._-], compared bytewise; "~" sorts above them all).
function beforePrefix(p) {
  const last = p.charCodeAt(p.length - 1);
  return p.slice(0, -1) + String.fromCharCode(last - 1) + "~";
}

async function registerPlatform() {
  const f = await form(t("register"), [{ name: "id", label: t("id"), required: true }, { name: "nodes", label: t("nodes"), value: "mn-1" },
    { name: "request_code", label: t("requestCodeOpt") }].concat(scoped() ? [] : [{ name: "customer", label: t("customer") }]));
  if (!f || !f.id) return;
  const body = { id: f.id, nodes: f.nodes.split(",").map((s) => s.trim()).filter(Boolean) };
  if (f.request_code) body.request_code = f.request_code;
  if (f.customer) body.customer = f.customer;
  const r = await api("POST", "/v1/platforms", body);
  if (recorded(r)) location.hash = "#/platforms/" + enc(f.id);
}

// --- one platform ---
ROUTES.push({ re: /^\/platforms\/([^/]+)$/, page: async (view, [id], query, stale) => {
  const at = query.get("at") || "";
  const atq = at ? "?at=" + enc(at) : "";
  const base = "/v1/platforms/" + enc(id);
  const [plat, ent, keys, lics, hist] = await Promise.all([api("GET", base), api("GET", base + "/entitlement" + atq),
    api("GET", base + "/usb-keys" + atq), api("GET", base + "/licenses"), timeline(base)]);
  if (stale()) return;
  if (!ent.ok) { fill(view, h("h1", {}, t("licMgmt") + " · " + id), h("p", { class: "error", id: "platform-error" }, errorLine(ent))); return; }
  const e = ent.data;
  const now = e.at;
  const reload = () => route();
  fill(view, 
    h("h1", {}, t("licMgmt") + " · ", h("span", { id: "platform-id" }, id)),
    asOfBar(id, at, e),
    h("div", { class: "grid" }, overviewCard(id, e, plat, now), usbCard(id, e, keys, now, reload)),
    canWrite() && !at ? uploadCard(id, reload) : null,
    modulesCard(id, e, lics),
    capacityCard(e),
    lics.ok ? licensesCard(id, lics.data.licenses || [], reload) : null,
    hist ? historyCard(hist, at ? Date.parse(now) : 0) : null,
    h("div", { id: "whatif-slot" }));
  whatIf(id, view.querySelector("#whatif-slot"), keys);
  probeExplain(id, Object.keys(e.modules || {})[0]);
} });

// probeExplain asks once per session whether this ledger explains
// entitlements, and removes the "why?" links if it does not.
async function probeExplain(id, module) {
  if (S.features.explain !== undefined || !module) return;
  const r = await api("GET", "/v1/platforms/" + enc(id) + "/entitlement/explain?module=" + enc(module));
  S.features.explain = !missingRoute(r);
  if (!S.features.explain) document.querySelectorAll("a.explain").forEach((a) => a.remove());
}

// timeline reads the platform's whole history (oldest first), a page of
// 1000 at a time; null when the token may not read it (billing).
async function timeline(base) {
  let entries = [];
  for (let after = 0, i = 0; i < 20; i++) {
    const r = await api("GET", base + "/timeline?limit=1000" + (after ? "&after=" + after : ""));
    if (!r.ok) return null;
    entries = entries.concat(r.data.entries || []);
    if (!r.data.next_after) break;
    after = r.data.next_after;
  }
  return entries;
}

function asOfBar(id, at, e) {
  const input = h("input", { type: "datetime-local", id: "asof-input", step: 1, value: at ? at.slice(0, 19) : "" });
  const show = (iso) => { location.hash = "#/platforms/" + enc(id) + (iso ? "?at=" + enc(iso) : ""); };
  const when = Date.parse(e.at), wall = Date.parse(serverNow());
  const note = !at ? t("asOfNow", fmtTime(e.at)) : when < wall ? t("asOfPast", fmtTime(e.at)) : t("asOfFuture", fmtTime(e.at));
  const bufEnd = e.usb_key && e.usb_key.buffer_expires_at;
  return h("form", { class: "asof" + (at ? " past" : ""), id: "asof", onsubmit: (ev) => { ev.preventDefault(); if (input.value) show(new Date(input.value + "Z").toISOString()); } },
    h("strong", {}, t("asOf")), input, h("span", { class: "small muted" }, "UTC"),
    h("button", { type: "submit", id: "asof-apply" }, t("apply")),
    h("button", { type: "button", id: "asof-now", onclick: () => show("") }, t("now")),
    bufEnd ? h("button", { type: "button", id: "asof-buffer-end", onclick: () => show(new Date(Date.parse(bufEnd) + 1000).toISOString()) }, t("bufferEnds")) : null,
    h("span", { class: "small", id: "asof-note" }, note, e.as_of && e.as_of.seq ? " " + t("seqNote", e.as_of.seq) : ""));
}

function overviewCard(id, e, plat, now) {
  const b = e.base;
  const code = plat.ok ? plat.data.request_code : "";
  let expiry = "—";
  if (b && b.expires_at) {
    const d = daysBetween(now, b.expires_at);
    expiry = [fmtTime(b.expires_at), " ", badge(d >= 0 ? t("daysLeft", d) : t("expiredAgo", -d), d < 0 ? "bad" : d < 30 ? "warn" : "ok")];
  } else if (b) expiry = t("never");
  return card(t("baseLicense"), facts([
    [t("edition"), b ? editionName(b.edition) : "—", "edition"],
    [t("authState"), statusBadge(e.status, b && b.expires_at, b && b.grace_until, now), "auth-state"],
    [t("expiry"), expiry, "expiry"],
    b && b.grace_until ? [t("grace"), fmtTime(b.grace_until)] : null,
    b ? [t("sockets"), String(b.sockets || "—")] : null,
    b ? [t("source"), sourceName(b.source) + (b.key_id ? " " + b.key_id : "")] : null,
    [t("requestCode"), code ? [h("span", { class: "mono", id: "request-code" }, code), " ", copyButton(code),
      h("button", { type: "button", class: "small", onclick: () => downloadBlob(id + "-request-code.txt", new Blob([code + "\n"], { type: "text/plain" })) }, t("download"))] : "—"],
    plat.ok ? [t("node"), (plat.data.nodes || []).map((n) => n.node).join(", ") || "—"] : null,
  ]));
}
function copyButton(text) {
  return h("button", { type: "button", class: "small", onclick: async (ev) => {
    try { await navigator.clipboard.writeText(text); ev.target.textContent = t("copied"); } catch (e) { ev.target.textContent = "—"; }
  } }, t("copy"));
}

function usbCard(id, e, keys, now, reload) {
  const u = e.usb_key || {};
  let buffer = t("bufferNone");
  let countdown = null;
  if (u.buffer_expires_at) {
    const left = Date.parse(u.buffer_expires_at) - Date.parse(now);
    if (left > 0) {
      buffer = t("bufferActive", fmtTime(u.buffer_expires_at));
      countdown = h("p", { class: "countdown", id: "countdown" }, t("countdown", Math.floor(left / DAY), Math.floor((left % DAY) / 3600000)));
    } else buffer = t("bufferExpired", fmtTime(u.buffer_expires_at));
  }
  const nodes = keys.ok ? keys.data.nodes || [] : [];
  const nodeRows = nodes.map((n) => h("tr", { dataset: { node: n.node } }, h("td", {}, n.node),
    h("td", {}, (n.keys || []).map((k) => {
      const kid = k.key_id || k;
      return h("span", { class: "key" }, h("span", { class: "mono" }, kid), " ", copyButton(kid), " ",
        canWrite() && !parseHash().query.get("at") ? h("button", { type: "button", class: "small danger", dataset: { removeKey: kid }, onclick: () => removeKey(id, n.node, kid, reload) }, t("remove")) : null, " ");
    })),
    h("td", {}, canWrite() && !parseHash().query.get("at") ? h("button", { type: "button", class: "small", dataset: { insertKey: n.node }, onclick: () => insertKey(id, n.node, reload) }, t("insertKey")) : null)));
  const hist = keys.ok ? (keys.data.history || []).slice(-8).reverse().map((x) => h("tr", {}, h("td", {}, x.node), h("td", { class: "mono" }, x.key_id),
    h("td", {}, x.inserted ? eventLink(x.inserted.event, fmtTime(x.inserted.at)) : "—"), h("td", {}, x.removed ? eventLink(x.removed.event, fmtTime(x.removed.at)) : "—"))) : [];
  return card(t("usbState"), facts([
    [t("usbState"), keyBadge(u.state), "usb-state"],
    u.active_key ? [t("activeKey"), [h("span", { class: "mono" }, u.active_key), " ", copyButton(u.active_key)]] : null,
    u.unavailable_since ? [t("unavailableSince"), fmtTime(u.unavailable_since)] : null,
    [t("buffer"), buffer, "buffer"],
  ]), countdown,
  keys.ok ? [h("h2", {}, t("node")), table([t("node"), t("keys"), ""], nodeRows)] : null,
  hist.length ? [h("h2", {}, t("keyHistory")), table([t("node"), t("keyId"), t("inserted"), t("removed")], hist)] : null);
}
async function insertKey(id, node, reload) {
  const f = await form(t("insertKey") + " · " + node, [{ name: "key", label: t("keyId"), required: true }]);
  if (!f || !f.key || !(await confirmAction(t("confirmInsertKey", f.key, node)))) return;
  if (recorded(await api("POST", "/v1/platforms/" + enc(id) + "/nodes/" + enc(node) + "/usb-keys", { key_id: f.key }))) reload();
}
async function removeKey(id, node, key, reload) {
  if (!(await confirmAction(t("confirmRemoveKey", key, node)))) return;
  if (recorded(await api("DELETE", "/v1/platforms/" + enc(id) + "/nodes/" + enc(node) + "/usb-keys/" + enc(key)))) reload();
}

// uploadCard takes license files and bundles by picker or drag and drop,
// uploads each as the browser's multipart form, and lists every answer:
// the events recorded, or the refusal's reason in words.
function uploadCard(id, reload) {
  const results = h("ul", { class: "results", id: "upload-results" });
  const send = async (files) => {
    files = Array.from(files || []);
    if (!files.length) return;
    if (!(await confirmAction(t("confirmUpload", files.map((f) => f.name).join(", "), id)))) return;
    let any = false;
    for (const f of files) {
      const li = h("li", {}, f.name + ": " + t("uploading"));
      results.prepend(li);
      const fd = new FormData();
      fd.append("file", f, f.name);
      const r = await api("POST", "/v1/platforms/" + enc(id) + "/licenses", fd);
      const evs = (r.data && r.data.events) || [];
      if (r.ok) {
        any = any || evs.length > 0;
        li.className = "ok";
        fill(li, "✓ " + f.name + ": " + t("accepted") + " — ", evs.length ? evs.map((ev) => [eventLink(ev.id, ev.type + " #" + ev.seq), " "]) : t("nothingNew"));
      } else {
        li.className = "bad";
        fill(li, "✗ " + f.name + ": " + t("refused") + " — ", h("strong", { class: "reason" }, r.error ? r.error.reason : String(r.status)), " ", r.error ? reasonText(r.error.reason, r.error.message) : "");
      }
    }
    if (any) {
      const kept = Array.from(results.children).map((li) => ({ ok: li.className !== "bad", text: li.textContent }));
      sessionStorage.setItem("licledger.uploads." + id, JSON.stringify(kept));
      reload();
    }
  };
  const input = h("input", { type: "file", id: "upload-input", multiple: true, accept: ".license,.json,.tar.gz,.tgz,application/gzip", hidden: true, onchange: (e) => { send(e.target.files); e.target.value = ""; } });
  const drop = h("div", { class: "drop", id: "drop",
    ondragover: (e) => { e.preventDefault(); drop.classList.add("over"); }, ondragleave: () => drop.classList.remove("over"),
    ondrop: (e) => { e.preventDefault(); drop.classList.remove("over"); send(e.dataTransfer.files); } },
  t("uploadHelp"), " ", h("button", { type: "button", id: "upload-choose", onclick: () => input.click() }, t("choose")), input);
  // The results of the upload that triggered this render survive it.
  const kept = sessionStorage.getItem("licledger.uploads." + id);
  if (kept) {
    sessionStorage.removeItem("licledger.uploads." + id);
    for (const x of JSON.parse(kept)) results.append(h("li", { class: x.ok ? "ok" : "bad" }, x.text));
  }
  return card(t("upload"), drop, results);
}

function modulesCard(id, e, lics) {
  const byLicense = {};
  if (lics.ok) for (const l of lics.data.licenses || []) byLicense[l.id] = l;
  const names = Object.keys(e.modules || {}).sort((a, b) => (e.modules[b].entitled - e.modules[a].entitled) || a.localeCompare(b));
  const rows = names.map((m) => {
    const x = e.modules[m];
    const lic = x.license && byLicense[x.license];
    return h("tr", { class: x.entitled ? "" : "off", dataset: { module: m } },
      h("td", {}, moduleName(m)),
      h("td", { class: "entitled" }, x.entitled ? badge("✓ " + t("entitled"), "ok") : badge("✗", "")),
      h("td", {}, x.source ? sourceName(x.source) + (x.key_id ? " " + x.key_id : "") : "—"),
      h("td", {}, x.license ? (lic && lic.last_brought_by ? eventLink(lic.last_brought_by.event, x.license) : x.license) : "—"),
      h("td", {}, x.unlimited ? t("unlimited") : x.quantity ? String(x.quantity) : "—"),
      h("td", {}, x.expires_at ? fmtDate(x.expires_at) : x.entitled ? t("never") : "—"),
      h("td", {}, x.grace_until ? fmtTime(x.grace_until) : "—"),
      h("td", { class: "wrap" }, x.reason ? reasonText(x.reason) : "", " ", explainLink(id, m)));
  });
  return card(t("modules"), table([t("module"), t("entitled"), t("source"), t("license"), t("quantity"), t("expiry"), t("grace"), t("reason")], rows));
}
// explainLink asks GET …/entitlement/explain (added by the auditor
// issue) why a module is or is not entitled; it hides itself when this
// ledger has no such route.
function explainLink(id, module) {
  if (S.features.explain === false) return null;
  return h("a", { href: "#", class: "small explain", onclick: async (ev) => {
    ev.preventDefault();
    const at = parseHash().query.get("at");
    const r = await api("GET", "/v1/platforms/" + enc(id) + "/entitlement/explain?module=" + enc(module) + (at ? "&at=" + enc(at) : ""));
    if (missingRoute(r)) { S.features.explain = false; document.querySelectorAll("a.explain").forEach((a) => a.remove()); return; }
    await modal(t("explain") + " · " + moduleName(module), r.ok ? explanation(r.data) : h("p", { class: "error" }, errorLine(r)), [{ label: t("close"), value: true, id: "explain-close" }]);
  } }, t("why"));
}

// explanation renders GET …/entitlement/explain: the sentence, the rules
// it applies and the events that decided it, each opening in a dialog.
function explanation(x) {
  return h("div", { id: "explanation" },
    h("p", {}, x.entitled ? badge("✓ " + t("entitled"), "ok") : badge("✗", ""), " ", x.reason ? reasonText(x.reason) : ""),
    h("p", { class: "because" }, x.because || ""),
    (x.rules || []).length ? h("p", { class: "small muted" }, t("rules") + ": " + x.rules.join(", ")) : null,
    (x.decided_by || []).length ? h("p", {}, t("decidedBy") + ": ", x.decided_by.map((ev) => [eventLink(ev.id, ev.seq ? "#" + ev.seq : ev.id), " "])) : null,
    x.as_of && x.as_of.seq ? h("p", { class: "small muted" }, t("seqNote", x.as_of.seq)) : null);
}

function capacityCard(e) {
  const c = e.capacity || {};
  const q = (x) => !x ? "—" : x.unlimited ? x.used + " / " + t("unlimited") : x.used + " / " + (x.quota ?? 0);
  return card(t("capacity"), facts([
    [t("sockets") + " (" + t("used") + " / " + t("quota") + ")", q(c.sockets), "cap-sockets"],
    [t("vmwareSockets"), [q(c.vmware_sockets), " ", h("span", { class: "small muted" }, t("vmwareNote"))]],
    [t("hosts"), q(c.hosts)], [t("arm64Hosts"), q(c.arm64_hosts)]]));
}

function licensesCard(id, list, reload) {
  const rows = list.map((l) => h("tr", { class: l.state === "current" ? "" : "off" },
    h("td", { class: "mono" }, l.id), h("td", {}, l.kind === "base" ? t("baseLicense") : moduleName(l.module || "")),
    h("td", {}, l.kind === "base" ? editionName(l.edition) + " · " + (l.sockets || 0) : l.quantity ? "×" + l.quantity : ""),
    h("td", {}, sourceName(l.source) + (l.key_id ? " " + l.key_id : "")), h("td", {}, t("lst_" + l.state) === "lst_" + l.state ? l.state : t("lst_" + l.state)), h("td", {}, fmtDate(l.expires_at)),
    h("td", {}, l.brought_by ? eventLink(l.brought_by.event, "#" + l.brought_by.seq) : "—"),
    h("td", {}, canWrite() && l.state === "current" && l.source !== "usb-key" && !parseHash().query.get("at") ?
      h("button", { type: "button", class: "small danger", onclick: async () => {
        if (!(await confirmAction(t("confirmDelete", l.id, id)))) return;
        if (recorded(await api("DELETE", "/v1/platforms/" + enc(id) + "/licenses/" + enc(l.id)))) reload();
      } }, t("del")) : null)));
  return card(t("allLicenses"), table([t("id"), t("kind"), "", t("source"), t("state"), t("expiry"), t("broughtBy"), ""], rows));
}

function historyCard(entries, cut) {
  const shown = cut ? entries.filter((x) => Date.parse(x.time) <= cut) : entries;
  const rows = shown.slice().reverse().slice(0, 200).map((x) => h("tr", { dataset: { type: x.type } },
    h("td", {}, fmtTime(x.time)), h("td", {}, eventLink(x.event, x.type)), h("td", { class: "hide-phone small" }, x.source), h("td", { class: "wrap" }, x.summary)));
  const hidden = entries.length - shown.length;
  return card(t("timeline"), hidden ? h("p", { class: "small muted" }, t("afterAsOf", hidden)) : null,
    table([t("time"), t("type"), t("actor"), t("summary")], rows, null, "stack"));
}

// whatIf is the what-if panel (POST …/entitlement/simulate): try a key
// pulled or inserted, or a file uploaded, at the page's instant, and see
// what would change; nothing is recorded. Admins and auditors may; it
// hides itself on a ledger without the route (404 no-route to a probe
// with no commands, which the real route refuses 400).
async function whatIf(id, slot, keys) {
  if (!S.me || !["admin", "auditor"].includes(S.me.role) || S.features.simulate === false) return;
  const url = "/v1/platforms/" + enc(id) + "/entitlement/simulate";
  if (S.features.simulate === undefined) {
    const probe = await api("POST", url, {});
    S.features.simulate = !missingRoute(probe) && probe.status !== 405;
    if (!S.features.simulate) return;
  }
  const nodes = keys.ok ? (keys.data.nodes || []).map((n) => n.node) : [];
  const inserted = keys.ok ? (keys.data.status.inserted || []) : [];
  const kind = h("select", { id: "whatif-kind" }, ["remove_usb_key", "insert_usb_key", "upload"].map((k) => h("option", { value: k }, t("wi_" + k))));
  const node = h("select", { id: "whatif-node" }, nodes.map((n) => h("option", { value: n, selected: inserted[0] && inserted[0].node === n }, n)));
  const key = h("input", { id: "whatif-key", placeholder: t("keyId"), size: 12, value: inserted[0] ? inserted[0].key_id : "" });
  const file = h("input", { type: "file", id: "whatif-file", accept: ".license,.json,.tar.gz,.tgz" });
  const out = h("div", { id: "whatif-out" });
  const run = async () => {
    let cmd;
    if (kind.value === "upload") {
      const f = file.files[0];
      if (!f) return;
      cmd = /\.(tar\.gz|tgz)$/i.test(f.name) ? { upload_bundle: await base64(f) } : { upload_license: JSON.parse(await f.text()) };
    } else {
      cmd = { [kind.value]: { node: node.value, key_id: key.value.trim() } };
    }
    const at = parseHash().query.get("at");
    const r = await api("POST", url, at ? { at, commands: [cmd] } : { commands: [cmd] });
    if (!r.ok) { fill(out, h("p", { class: "error" }, errorLine(r))); return; }
    const rows = (r.data.changes || []).map((c) => h("tr", {}, h("td", {}, c.item), h("td", { class: "wrap" }, describeItem(c.before)), h("td", { class: "wrap" }, describeItem(c.after))));
    fill(out, h("p", { class: "small muted" }, t("whatIfAt", fmtTime(r.data.at))), table([t("item"), t("before"), t("after")], rows, t("noChange"), "stack"));
  };
  fill(slot, card(t("whatIf"), h("p", { class: "small muted" }, t("whatIfHelp")),
    h("div", { class: "toolbar" }, kind, node, key, file, h("button", { type: "button", id: "whatif-run", onclick: run }, t("simulate"))), out));
}
function base64(file) {
  return new Promise((resolve, reject) => {
    const rd = new FileReader();
    rd.onload = () => resolve(String(rd.result).replace(/^data:[^,]*,/, ""));
    rd.onerror = () => reject(rd.error);
    rd.readAsDataURL(file);
  });
}
// describeItem says an entitlement item in words: a module entitled or
// not (and why), a USB key state, else its JSON.
function describeItem(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "object" && "entitled" in v) {
    return (v.entitled ? "✓ " + t("entitled") : "✗ " + reasonText(v.reason)) + (v.source ? " · " + sourceName(v.source) : "") + (v.grace_until ? " · " + t("grace") + " " + fmtTime(v.grace_until) : "");
  }
  if (typeof v === "object" && "state" in v && "buffer" in v) {
    return t("ks_" + v.state) + (v.buffer_expires_at ? " · " + t("buffer") + " " + fmtTime(v.buffer_expires_at) : "");
  }
  return JSON.stringify(v);
}
