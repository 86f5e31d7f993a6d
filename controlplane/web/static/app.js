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

  // A multipart POST (a FormData of files and fields) with the CSRF token: the answer's
  // JSON, or an ApiError as api() throws one.
  async function upload(url, form) {
    let res;
    try {
      res = await fetch(url, { method: "POST", body: form, credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRF-Token": csrf() } });
    } catch (e) {
      throw new ApiError(0, { message: V.i18n.network, details: {} });
    }
    armIdle();
    const data = (res.headers.get("Content-Type") || "").includes("json") ? await res.json() : {};
    if (res.status === 401) { location.reload(); }
    if (!res.ok) throw new ApiError(res.status, { details: {}, message: `${res.status} ${res.statusText}`, ...data });
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

  // confirmed(method, url, body = {}, opts = {}): send a request that the server may
  // answer 409 confirm_required (a restore, a reset, a reboot, a restarting change): then
  // its question (the guide's words, in the UI language; opts.message instead, when
  // given) in the confirm dialog, and on OK the same request again with confirm: true.
  // opts.ask: true asks first and sends confirm: true at once (one round trip; the
  // question is opts.message). opts.onConfirm(): called once OK was clicked, before the
  // confirmed request goes (a page shows its progress from then on). The answer's JSON,
  // or null when the administrator said no; any other error is thrown as api() throws it
  // (an ApiError).
  async function confirmed(method, url, body = {}, opts = {}) {
    const again = async (message) => {
      if (!(await confirmDialog(message))) return null;
      if (opts.onConfirm) opts.onConfirm();
      return api(method, url, { ...body, confirm: true });
    };
    if (opts.ask) return again(opts.message);
    try {
      return await api(method, url, body);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 409 || err.body.error_id !== "confirm_required") throw err;
      return again(opts.message || err.message);
    }
  }

  // The one result dialog (#dlg-result): a title, a body (text or nodes) and optional
  // actions [{label, primary, run: async () => body-or-undefined}]. Its close button reads
  // "Close" until an action has run, then "Done" and the actions go: a mail that went out
  // is never offered again ("Send later" after sending).
  function resultDialog(title, body, actions = []) {
    const el = document.getElementById("dlg-result");
    const close = el.querySelector('[data-role="close"]');
    const slot = el.querySelector('[data-role="actions"]');
    const content = el.querySelector('[data-role="body"]');
    const alert = el.querySelector('[data-role="error"]');
    const show = (b) => content.replaceChildren(...(typeof b === "string" ? [document.createTextNode(b)] : [].concat(b)));
    el.querySelector('[data-role="title"]').textContent = title;
    show(body);
    alert.classList.add("d-none"); alert.textContent = "";
    close.textContent = V.i18n.close;
    slot.replaceChildren(...actions.map((a) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = `btn ${a.primary ? "btn-primary" : "btn-outline-primary"}`;
      b.textContent = a.label; if (a.role) b.dataset.role = a.role;
      b.onclick = async () => {
        slot.querySelectorAll("button").forEach((x) => { x.disabled = true; });
        alert.classList.add("d-none");
        try {
          const next = await a.run();
          if (next !== undefined) show(next);
          slot.replaceChildren();
          close.textContent = V.i18n.done;
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          alert.textContent = err.message; alert.classList.remove("d-none");
          slot.querySelectorAll("button").forEach((x) => { x.disabled = false; });
        }
      };
      return b;
    }));
    const modal = bootstrap.Modal.getOrCreateInstance(el);
    return new Promise((resolve) => {
      // What it showed may be a secret (a generated password): gone once it closes.
      el.addEventListener("hidden.bs.modal", () => { content.replaceChildren(); slot.replaceChildren(); resolve(); }, { once: true });
      modal.show();
    });
  }

  // A field marked invalid is unmarked as soon as its value changes (the next save checks
  // it again); its message goes with it.
  function clearFieldError(ev) {
    const el = ev.target;
    if (!(el instanceof HTMLElement) || !el.classList.contains("is-invalid")) return;
    el.classList.remove("is-invalid");
    const feedback = el.parentElement && el.parentElement.querySelector(".invalid-feedback");
    if (feedback) feedback.textContent = "";
    const form = el.closest("form");
    const group = el.name && el.name.includes(".") ? el.name.split(".").slice(0, -1).join(".") : "";
    const slot = form && group && form.querySelector(`[data-error-for="${group}"]`);
    if (slot && !form.querySelector(`[name^="${group}."].is-invalid`)) { slot.textContent = ""; slot.classList.remove("d-block"); }
  }
  document.addEventListener("input", clearFieldError, true);
  document.addEventListener("change", clearFieldError, true);

  // Seconds as hh:mm:ss (a meeting's or a call's length).
  function hms(s) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return [h, m, sec].map((v) => String(v).padStart(2, "0")).join(":");
  }

  // "{n} selected" with {n: 3}: a catalog text with the page's own placeholders filled in
  // (an unknown one stays as it is).
  function fillText(text, values) {
    return text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
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

  window.vcbox = { api, upload, ApiError, bindForm, submitForm, formData, fill, flatten, clearErrors, showErrors, confirmDialog, confirmed, resultDialog, toast, fillText, hms };
})();
