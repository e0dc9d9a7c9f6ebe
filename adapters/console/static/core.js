// The console's core: the API client (bearer token from sessionStorage),
// DOM building without innerHTML (every datum is text, never markup),
// words, dialogs, the hash router and sign-in. Pages live in
// platform.js and pages.js and register themselves in ROUTES.
"use strict";
const TOKEN_KEY = "licledger.token", LANG_KEY = "licledger.lang";
const S = { token: sessionStorage.getItem(TOKEN_KEY) || "", me: null, lang: "en", features: {} };
const ROUTES = []; // [{re, page}] in order

function pickLang() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === "en" || saved === "zh") return saved;
  return (navigator.languages || [navigator.language || "en"]).some((l) => /^zh/i.test(l)) ? "zh" : "en";
}
S.lang = pickLang();

function t(key, ...args) {
  const s = (I18N[S.lang] && I18N[S.lang][key]) || I18N.en[key] || key;
  return s.replace(/\{(\d)\}/g, (_, i) => String(args[+i] ?? ""));
}
function reasonText(reason, message) {
  const w = (REASONS[S.lang] || {})[reason] || REASONS.en[reason];
  return w ? (message ? w + " (" + message + ")" : w) : (message || reason || "");
}
function moduleName(m) { return S.lang === "zh" && MODULES_ZH[m] ? MODULES_ZH[m] + " (" + m + ")" : m; }
function sourceName(s) { return t("src_" + s) === "src_" + s ? s : t("src_" + s); }
function editionName(e) { return S.lang === "zh" && EDITIONS_ZH[e] ? EDITIONS_ZH[e] : (e || ""); }

// h builds an element: attrs set properties (on* become listeners),
// children are nodes or text. Never parses markup.
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && k !== "list" && k !== "type") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
// fill replaces el's children, skipping the null, undefined and false a
// conditional part of a page leaves (replaceChildren would print them).
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
}
function badge(text, kind) { return h("span", { class: "badge " + (kind || "") }, text); }
function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}
function fmtDate(iso) { return iso ? String(iso).slice(0, 10) : t("never"); }
const DAY = 86400000;
// serverNow is the ledger's clock (whoami's "at", kept as an offset).
function serverNow() { return new Date(Date.now() + (S.skew || 0)).toISOString(); }
function daysBetween(fromISO, toISO) { return Math.floor((Date.parse(toISO) - Date.parse(fromISO)) / DAY); }

// api calls the ledger: JSON in and out, the token as a bearer header.
// It resolves to {status, ok, data, error} and never throws on a
// refusal, so pages decide what a 403 or 404 means for them.
async function api(method, path, body, opts) {
  const headers = {};
  if (S.token) headers.Authorization = "Bearer " + S.token;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  Object.assign(headers, (opts && opts.headers) || {});
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload, cache: "no-store" });
  } catch (e) {
    return { status: 0, ok: false, error: { reason: "network", message: String(e) } };
  }
  if (opts && opts.blob) return { status: resp.status, ok: resp.ok, blob: resp.ok ? await resp.blob() : null };
  let data = null;
  const text = await resp.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  return { status: resp.status, ok: resp.ok, data, error: data && data.error };
}
// missingRoute is how a feature another release adds is detected: the
// API answers 404 no-route for an endpoint it does not have.
function missingRoute(r) { return r.status === 404 && r.error && r.error.reason === "no-route"; }
function canWrite() { return S.me && S.me.role === "admin"; }
function scoped() { return S.me && S.me.customer; }
function enc(s) { return encodeURIComponent(s); }

function toast(nodes, bad) {
  const el = h("div", { class: "toast" + (bad ? " bad" : "") }, nodes);
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), 9000);
}
function errorLine(r) {
  if (!r.error) return t("failed") + " (" + r.status + ")";
  return r.error.reason + ": " + reasonText(r.error.reason, r.error.message);
}

// modal shows a dialog; it resolves with the button's value.
function modal(title, body, buttons) {
  const m = document.getElementById("modal");
  return new Promise((resolve) => {
    const done = (v) => { m.hidden = true; m.replaceChildren(); resolve(v); };
    const acts = buttons.map((b) => h("button", { type: "button", class: b.class || "", id: b.id, onclick: () => done(b.value) }, b.label));
    m.replaceChildren(h("div", { class: "box", role: "dialog" }, h("h2", {}, title), body, h("div", { class: "actions" }, acts)));
    m.hidden = false;
    m.onclick = (e) => { if (e.target === m) done(undefined); };
  });
}
function confirmAction(text) {
  return modal(t("confirm"), h("p", {}, text), [
    { label: t("cancel"), value: false, id: "confirm-no" },
    { label: t("confirm"), value: true, class: "primary", id: "confirm-yes" }]);
}
// form asks for fields and resolves with their values, or undefined.
async function form(title, fields) {
  const inputs = {};
  const body = h("form", { onsubmit: (e) => e.preventDefault() }, fields.map((f) => {
    inputs[f.name] = h("input", { name: f.name, value: f.value ?? "", type: f.type || "text", required: f.required, placeholder: f.placeholder || "" });
    return [h("label", {}, f.label), inputs[f.name]];
  }));
  const ok = await modal(title, body, [
    { label: t("cancel"), value: false, id: "form-cancel" }, { label: t("confirm"), value: true, class: "primary", id: "form-ok" }]);
  if (!ok) return undefined;
  const out = {};
  for (const f of fields) out[f.name] = inputs[f.name].value.trim();
  return out;
}
// recorded reports what a command appended, each event opening in a
// dialog; a refusal is shown with its reason in words.
function recorded(r) {
  if (!r.ok) { toast(errorLine(r), true); return false; }
  const evs = (r.data && r.data.events) || [];
  if (evs.length === 0) { toast(t("nothingNew")); return true; }
  toast([t("recordedEvents", evs.length), evs.map((e) => [" ", eventLink(e.id, e.type + " #" + e.seq)])]);
  return true;
}
function eventLink(id, label) {
  return h("a", { href: "#", class: "evlink", dataset: { event: id }, onclick: (e) => { e.preventDefault(); showEvent(id); } }, label || id);
}
async function showEvent(id) {
  const r = await api("GET", "/v1/events/" + enc(id));
  const body = r.ok ? h("pre", { class: "event-json" }, JSON.stringify(r.data, null, 2)) : h("p", { class: "error" }, errorLine(r));
  await modal(t("event") + " " + id, body, [{ label: t("close"), value: true, id: "event-close" }]);
}
// table lays rows out under cols; with cls "stack" a phone shows each
// row as a block of labelled lines (the labels are the column names).
function table(cols, rows, empty, cls) {
  if (!rows.length) return h("p", { class: "muted" }, empty || t("noItems"));
  for (const tr of rows) Array.from(tr.children).forEach((td, i) => { if (cols[i]) td.dataset.label = cols[i]; });
  return h("div", { class: "scroll" }, h("table", { class: cls || "" }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)))), h("tbody", {}, rows)));
}
function facts(pairs) { return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v, id]) => [h("dt", {}, k), h("dd", { id }, v)])); }
function card(title, ...kids) { return h("section", { class: "card" }, title ? h("h2", {}, title) : null, kids); }
function downloadBlob(name, blob) {
  const a = h("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = raw.split("?");
  return { path, query: new URLSearchParams(qs || "") };
}

// --- chrome: navigation, identity, language ---
function renderChrome() {
  document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
  const { path } = parseHash();
  const links = [["#/", "platforms"], ["#/licenses", "licenses"], ["#/customers", "customers"]];
  if (!scoped()) links.splice(2, 0, ["#/coupons", "coupons"]);
  // The audit routes answer admins and auditors only; a billing token would
  // see every check refused.
  if (!scoped() && S.me && (S.me.role === "admin" || S.me.role === "auditor")) links.push(["#/audit", "audit"]);
  const nav = document.getElementById("nav");
  fill(nav, (S.me ? links : []).map(([href, key]) => {
    const section = { "/subscriptions": "/licenses", "/perpetual": "/licenses", "/partners": "/coupons" }["/" + path.split("/")[1]] || path;
    const on = href === "#/" ? path === "/" || path.startsWith("/platforms") : section.startsWith(href.slice(1));
    return h("a", { href, class: on ? "on" : "" }, t(key));
  }));
  const who = document.getElementById("who");
  fill(who, );
  if (S.me) {
    who.append(h("span", { id: "whoami" }, S.me.local ? t("local") : S.me.role + (S.me.customer ? " · " + S.me.customer : "") + (canWrite() ? "" : " · " + t("readonly"))));
    if (!S.me.local) who.append(h("button", { type: "button", id: "signout", onclick: signOut }, t("signout")));
  }
  const lang = document.getElementById("lang");
  lang.textContent = t("language");
  lang.onclick = () => { S.lang = S.lang === "zh" ? "en" : "zh"; localStorage.setItem(LANG_KEY, S.lang); route(); };
}
function signOut() { sessionStorage.removeItem(TOKEN_KEY); S.token = ""; S.me = null; location.hash = "#/signin"; route(); }

async function whoami() {
  const r = await api("GET", "/v1/whoami");
  S.me = r.ok ? r.data : null;
  if (S.me && S.me.at) S.skew = Date.parse(S.me.at) - Date.now();
  return r;
}
function signinPage(main, message) {
  const input = h("input", { type: "password", id: "token", autocomplete: "off", placeholder: t("token") });
  const err = h("p", { class: "error", id: "signin-error" }, message || "");
  const submit = async (e) => {
    e.preventDefault();
    S.token = input.value.trim();
    const r = await whoami();
    if (!r.ok) { S.token = ""; err.textContent = t("badToken") + " " + errorLine(r); return; }
    if (S.me.role === "client") { S.token = ""; S.me = null; err.textContent = t("clientRole"); return; }
    sessionStorage.setItem(TOKEN_KEY, S.token);
    // Back to the page asked for (a shared link), or the platforms.
    if (parseHash().path === "/signin") location.hash = "#/";
    else route();
  };
  fill(main, h("form", { class: "card signin", onsubmit: submit }, h("h1", {}, t("signin")), h("p", { class: "muted" }, t("signinHelp")), input, err,
    h("button", { class: "primary", type: "submit", id: "signin-submit" }, t("signin"))));
}

let routeSeq = 0;
async function route() {
  const seq = ++routeSeq;
  const main = document.getElementById("main");
  if (!S.me) {
    const r = await whoami();
    if (seq !== routeSeq) return;
    if (!r.ok || S.me.role === "client") {
      S.me = null;
      renderChrome();
      signinPage(main, S.token ? (r.ok ? t("clientRole") : t("badToken")) : "");
      return;
    }
  }
  renderChrome();
  const { path, query } = parseHash();
  if (path === "/signin") { location.hash = "#/"; return; }
  for (const rt of ROUTES) {
    const m = path.match(rt.re);
    if (!m) continue;
    const view = h("div", { id: "view" }, h("p", { class: "muted" }, t("loading")));
    fill(main, view);
    try {
      await rt.page(view, m.slice(1).map(decodeURIComponent), query, () => seq !== routeSeq);
    } catch (e) {
      fill(view, h("p", { class: "error" }, String(e)));
      throw e;
    }
    return;
  }
  fill(main, card(t("notFound"), h("p", {}, path)));
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
