// vcbox web admin: a thin layer over the JSON API (forms, dialogs, idle expiry).
"use strict";
(() => {
  const V = window.VCBOX || { i18n: {} };
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || V.csrf || "";
  let idleTimer;

  function armIdle() {
    if (!V.idleTimeoutS) return;
    clearTimeout(idleTimer);
    // When the server would consider the session idle, reload: the page then shows login.
    idleTimer = setTimeout(() => location.reload(), (V.idleTimeoutS + 1) * 1000);
  }

  class ApiError extends Error {
    constructor(status, body) { super(body.message || String(status)); this.status = status; this.body = body; }
  }

  async function api(method, url, body, opts = {}) {
    const headers = { Accept: "application/json" };
    if (body !== null && body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = csrf();
    if (opts.background) headers["X-VCBOX-Background"] = "1";
    let res;
    try {
      res = await fetch(url, { method, headers, credentials: "same-origin",
        body: body === null || body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, { message: V.i18n.network, details: {} });
    }
    if (!opts.background) armIdle();
    const data = res.headers.get("Content-Type", "").includes("json") ? await res.json() : {};
    if (res.status === 401 && csrf() && url !== "/api/v1/session") { location.reload(); }
    if (!res.ok) throw new ApiError(res.status, { details: {}, ...data });
    return data;
  }

  // A name like "lan.address" or "routes.0.gateway" is a path into nested objects (numbers
  // index arrays); a flat name is a key of the top object, as before.
  function setPath(out, name, value) {
    const parts = name.split(".");
    let node = out;
    parts.forEach((part, i) => {
      if (i === parts.length - 1) { node[part] = value; return; }
      if (node[part] === undefined) node[part] = /^\d+$/.test(parts[i + 1]) ? [] : {};
      node = node[part];
    });
  }

  function fieldValue(el) {
    if (el.type === "checkbox") return el.checked;
    const type = el.dataset.type;
    if (type === "int") return el.value === "" ? null : Number(el.value);
    if (type === "bool") return el.value === "true";
    return el.value;
  }

  function formData(form) {
    const out = {};
    for (const el of form.querySelectorAll("input[name], select[name], textarea[name]")) {
      if (el.disabled || el.dataset.skip) continue;
      if (el.type === "radio" && !el.checked) continue;
      if (el.dataset.writeOnly && el.value === "") continue;
      setPath(out, el.name, fieldValue(el));
    }
    // Arrays collected from dotted names may have holes (rows removed): close them.
    const compact = (v) => {
      if (Array.isArray(v)) return v.filter((x) => x !== undefined).map(compact);
      if (v && typeof v === "object") { for (const k of Object.keys(v)) v[k] = compact(v[k]); }
      return v;
    };
    return compact(out);
  }

  // {lan: {address: "x"}} -> {"lan.address": "x"}; arrays stay whole (lists are drawn by
  // their page).
  function flatten(doc, prefix = "", out = {}) {
    for (const [key, value] of Object.entries(doc)) {
      const name = prefix + key;
      if (value && typeof value === "object" && !Array.isArray(value)) flatten(value, name + ".", out);
      else out[name] = value;
    }
    return out;
  }

  function fill(form, doc) {
    for (const [key, value] of Object.entries(flatten(doc))) {
      const els = form.querySelectorAll(`[name="${key}"]`);
      for (const el of els) {
        if (el.dataset.writeOnly) continue;
        if (el.type === "checkbox") el.checked = !!value;
        else if (el.type === "radio") el.checked = el.value === String(value);
        else el.value = value ?? "";
      }
    }
  }

  function clearErrors(form) {
    form.querySelectorAll(".is-invalid").forEach((el) => el.classList.remove("is-invalid"));
    form.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; el.classList.remove("d-block"); });
    const alert = form.querySelector('[data-role="error"]');
    if (alert) { alert.classList.add("d-none"); alert.textContent = ""; }
  }

  // Where a field's message goes: the input of that name (its sibling .invalid-feedback), or
  // a [data-error-for] slot for a key without an input of its own (a port range, a list);
  // inputs below a nested key ("ivr" -> "ivr.min", "ivr.max") are marked too.
  function placeError(form, name, message) {
    const el = form.querySelector(`[name="${name}"]`);
    const feedback = el && el.parentElement.querySelector(".invalid-feedback");
    if (el && feedback) { el.classList.add("is-invalid"); feedback.textContent = message; return true; }
    const slot = form.querySelector(`[data-error-for="${name}"]`);
    if (!slot) return false;
    form.querySelectorAll(`[name^="${name}."]`).forEach((x) => x.classList.add("is-invalid"));
    slot.textContent = message; slot.classList.add("d-block");
    return true;
  }

  function showErrors(form, err) {
    const details = err.body.details || {};
    let unplaced = [];
    for (const [name, message] of Object.entries(details)) {
      if (!placeError(form, name, message)) unplaced.push(message);
    }
    const alert = form.querySelector('[data-role="error"]');
    if (alert && (unplaced.length || !Object.keys(details).length)) {
      alert.textContent = [err.message, ...unplaced].filter(Boolean).join(" ");
      alert.classList.remove("d-none");
    }
  }

  function bindForm(form, opts = {}) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      await submitForm(form, opts);
    });
  }

  async function submitForm(form, opts = {}) {
    clearErrors(form);
    const button = form.querySelector('[type="submit"]');
    if (button) button.disabled = true;
    try {
      let data = formData(form);
      if (opts.transform) data = opts.transform(data);
      const res = await api(opts.method || form.dataset.method, opts.url || form.dataset.url, data);
      if (opts.onOk) await opts.onOk(res, data);
      return res;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      showErrors(form, err);
      if (opts.onError) opts.onError(err);
      return null;
    } finally {
      if (button) button.disabled = false;
    }
  }

  function confirmDialog(message) {
    const el = document.getElementById("dlg-confirm");
    el.querySelector('[data-role="message"]').textContent = message;
    const modal = bootstrap.Modal.getOrCreateInstance(el, { backdrop: "static" });
    return new Promise((resolve) => {
      const done = (answer) => () => { modal.hide(); resolve(answer); };
      el.querySelector('[data-role="ok"]').onclick = done(true);
      el.querySelector('[data-role="cancel"]').onclick = done(false);
      modal.show();
    });
  }

  function toast(message, kind = "success") {
    const el = document.createElement("div");
    el.className = `toast align-items-center text-bg-${kind} border-0`;
    el.setAttribute("role", "status");
    el.innerHTML = '<div class="d-flex"><div class="toast-body"></div><button type="button" class="btn-close btn-close-white me-2 m-auto" data-bs-dismiss="toast"></button></div>';
    el.querySelector(".toast-body").textContent = message;
    document.getElementById("toasts").append(el);
    new bootstrap.Toast(el).show();
  }

  function setLanguage(code) {
    document.cookie = `vcbox_lang=${code}; path=/; max-age=31536000; samesite=strict`;
    location.reload();
  }

  // -- operation log page ------------------------------------------------------------
  function oplogPage(T) {
    const state = { since: "", until: "", search: "", offset: 0, limit: 20 };
    const day = (d) => d.toISOString().slice(0, 10);
    const localDay = (daysBack) => { const d = new Date(); d.setHours(0, 0, 0, 0); d.setDate(d.getDate() - daysBack); return String(d.getTime() / 1000); };
    const query = (extra = {}) => new URLSearchParams(Object.entries({ ...state, ...extra }).filter(([, v]) => v !== "")).toString();
    async function load() {
      const page = await api("GET", "/api/v1/operation-log?" + query());
      const rows = page.items.map((it) => {
        const tr = document.createElement("tr");
        for (const v of [it.time.replace("T", " "), it.username, it.ip, it.action_text, it.target, it.result_text, it.detail]) {
          const td = document.createElement("td"); td.textContent = v; tr.append(td);
        }
        if (it.result === "failure") tr.classList.add("table-warning");
        return tr;
      });
      if (!rows.length) { const tr = document.createElement("tr"); tr.innerHTML = '<td colspan="7" class="text-center text-secondary"></td>'; tr.firstChild.textContent = T.empty; rows.push(tr); }
      document.getElementById("oplog-rows").replaceChildren(...rows);
      document.getElementById("oplog-count").textContent = T.count.replace("{filtered}", page.filtered).replace("{total}", page.total);
      const pages = Math.max(1, Math.ceil(page.filtered / state.limit)), current = Math.floor(state.offset / state.limit);
      const ul = document.getElementById("oplog-pages"); ul.replaceChildren();
      const first = Math.max(0, Math.min(current - 3, pages - 7));
      for (let i = first; i < Math.min(pages, first + 7); i++) {
        const li = document.createElement("li"); li.className = "page-item" + (i === current ? " active" : "");
        const a = document.createElement("button"); a.className = "page-link"; a.textContent = i + 1;
        a.onclick = () => { state.offset = i * state.limit; load(); };
        li.append(a); ul.append(li);
      }
      document.getElementById("oplog-export").href = "/api/v1/operation-log?" + query({ format: "csv", offset: "", limit: "" });
    }
    const buttons = document.querySelectorAll("#oplog-range [data-range]");
    for (const b of buttons) b.onclick = () => {
      buttons.forEach((x) => x.classList.remove("active")); b.classList.add("active");
      const r = b.dataset.range;
      state.since = r === "all" ? "" : localDay(r === "today" ? 0 : Number(r) - 1);
      state.until = ""; state.offset = 0; load();
    };
    document.getElementById("oplog-dates").onclick = () => {
      buttons.forEach((x) => x.classList.remove("active"));
      state.since = document.getElementById("oplog-since").value;
      state.until = document.getElementById("oplog-until").value;
      state.offset = 0; load();
    };
    const search = () => { state.search = document.getElementById("oplog-search").value.trim(); state.offset = 0; load(); };
    document.getElementById("oplog-search-btn").onclick = search;
    document.getElementById("oplog-search").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
    state.since = localDay(0);
    document.getElementById("oplog-until").value = day(new Date());
    load();
  }

  // -- shell -------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    armIdle();
    const lang = document.getElementById("lang-select");
    if (lang) lang.addEventListener("change", () => setLanguage(lang.value));
    const logout = document.getElementById("menu-logout");
    if (logout) logout.addEventListener("click", async () => {
      try { await api("DELETE", "/api/v1/session"); } finally { location.href = "/login"; }
    });
    const pw = document.getElementById("form-password");
    if (pw) bindForm(pw, { onOk: () => { bootstrap.Modal.getInstance(pw.closest(".modal")).hide(); pw.reset(); toast(V.i18n.passwordChanged); } });
    const em = document.getElementById("form-email");
    if (em) bindForm(em, { onOk: () => { bootstrap.Modal.getInstance(em.closest(".modal")).hide(); em.reset(); toast(V.i18n.emailChanged); } });
  });

  window.vcbox = { api, ApiError, bindForm, submitForm, formData, fill, flatten, clearErrors, showErrors, confirmDialog, toast, oplogPage };
})();
