// The settings-form shape (views/_settings.html) of the settings pages (call, network,
// services, ports, time, syslog) and of the wizard steps that reuse their forms: load the
// section, save it, ask the guide's confirm question when the API wants one (409
// confirm_required), put each error under its input, take the errors away once corrected,
// and say in a toast what the save did (the API's words: which service restarted). Which
// files changed is the operation log's business, not the page's.
"use strict";
(() => {
  const T = () => window.VCBOX.settings || {};

  // Advice the API gives about a valid choice ({field: message}), under that field.
  function showWarnings(form, warnings) {
    for (const el of form.querySelectorAll("[data-warning-for]")) {
      const message = (warnings || {})[el.dataset.warningFor];
      if (message) { el.querySelector("span").textContent = message; el.classList.remove("d-none"); }
    }
  }

  const shown = (el) => !el.classList.contains("d-none") && el.textContent.trim() !== "";
  function hasErrors(form) {
    if (form.querySelector(".is-invalid")) return true;
    if ([...form.querySelectorAll("[data-error-for].d-block")].some(shown)) return true;
    const alert = form.querySelector('[data-role="error"]');
    return !!alert && shown(alert);
  }

  // The error of a group of inputs (a port range "ivr" over ivr.min and ivr.max; the date
  // and time inputs of "manual_datetime"): one message, gone as soon as one of them changes.
  function clearGroup(form, el) {
    const group = el.dataset.errorGroup || (el.name && el.name.includes(".") ? el.name.split(".").slice(0, -1).join(".") : "");
    if (!group) return;
    const slot = form.querySelector(`[data-error-for="${group}"]`);
    if (!slot) return;
    slot.textContent = ""; slot.classList.remove("d-block");
    form.querySelectorAll(`[name^="${group}."], [data-error-group="${group}"]`).forEach((x) => x.classList.remove("is-invalid"));
  }

  // One settings form. opts: url (default: the form's data-url), checkUrl (the API's dry
  // run; default <url>/check for /api/v1/settings/ URLs), wizard (no submit button of its
  // own: the wizard calls save()), collect(data) -> data, onLoad(doc), onSaved(res, data),
  // beforeErrors(err). save() resolves to the API's answer, or null when nothing was saved
  // (invalid input, a refused confirm question, an apply failure).
  async function settingsForm(form, opts = {}) {
    const url = opts.url || form.dataset.url;
    const checkUrl = opts.checkUrl !== undefined ? opts.checkUrl
      : (url.startsWith("/api/v1/settings/") ? `${url}/check` : "");
    const submit = form.querySelector('[type="submit"]');
    let doc = null, generation = 0, timer = null;

    function show(res) {
      doc = res;
      vcbox.fill(form, res);
      if (opts.onLoad) opts.onLoad(res);
    }

    async function load() {
      show(await vcbox.api("GET", url));
      return doc;
    }

    function collect() {
      const data = vcbox.formData(form);
      return opts.collect ? opts.collect(data) : data;
    }

    function showErrors(err) {
      if (opts.beforeErrors) opts.beforeErrors(err);
      vcbox.showErrors(form, err);
    }

    async function put(data) {
      try {
        return await vcbox.api("PUT", url, data);
      } catch (err) {
        if (!(err instanceof vcbox.ApiError) || err.status !== 409
            || err.body.error_id !== "confirm_required") throw err;
        if (!(await vcbox.confirmDialog(err.body.message))) return null;
        return vcbox.api("PUT", url, { ...data, confirm: true });
      }
    }

    async function save() {
      const gen = ++generation;
      clearTimeout(timer);
      vcbox.clearErrors(form);
      if (submit) submit.disabled = true;
      try {
        const data = collect();
        const res = await put(data);
        if (!res) return null;
        show(res);
        showWarnings(form, res.warnings);
        vcbox.toast(res.message || T().saved);
        if (opts.onSaved) opts.onSaved(res, data);
        return res;
      } catch (err) {
        if (!(err instanceof vcbox.ApiError)) throw err;
        if (gen === generation) {
          showErrors(err);
          const first = form.querySelector(".is-invalid");
          if (first) first.scrollIntoView({ block: "center" });
        }
        return null;
      } finally {
        if (submit) submit.disabled = false;
      }
    }

    // Errors shown, and a value changed: the API checks the form again (nothing is
    // stored), so that a corrected value loses its error, and so does the other side of a
    // conflict it was in ("overlaps the TURN range" under TURN once IVR is fixed).
    async function recheck() {
      const gen = ++generation;
      try {
        await vcbox.api("POST", checkUrl, collect(), { background: true });
        if (gen === generation) vcbox.clearErrors(form);
      } catch (err) {
        if (!(err instanceof vcbox.ApiError) || gen !== generation || err.status !== 400) return;
        vcbox.clearErrors(form);
        showErrors(err);
      }
    }

    form.addEventListener("input", (ev) => {
      // What the edited field was part of goes with its own error (app.js clears that).
      if (ev.target instanceof HTMLElement) clearGroup(form, ev.target);
      const alert = form.querySelector('[data-role="error"]');
      if (alert) { alert.classList.add("d-none"); alert.textContent = ""; }
    });
    form.addEventListener("change", (ev) => {
      if (ev.target instanceof HTMLElement) clearGroup(form, ev.target);
      if (!checkUrl || !hasErrors(form)) return;
      clearTimeout(timer);
      timer = setTimeout(recheck, 150);
    });
    form.addEventListener("submit", (ev) => { ev.preventDefault(); if (!opts.wizard) save(); });
    await load();
    return { save, load, get doc() { return doc; } };
  }

  // -- call settings (C1-C6) -------------------------------------------------------------
  const HEAVY_CONTENT = new Set(["1080p30", "1080p15"]);

  function callForm(form, opts = {}) {
    const content = form.querySelector('[name="max_content_resolution"]');
    const warning = form.querySelector('[data-warning-for="max_content_resolution"]');
    // C2: anything above 1080P/5FPS warns at once, before it is saved.
    const sync = () => {
      warning.querySelector("span").textContent = warning.dataset.client;
      warning.classList.toggle("d-none", !HEAVY_CONTENT.has(content.value));
    };
    content.addEventListener("change", sync);
    return settingsForm(form, { ...opts, onLoad: sync });
  }

  // -- service settings (P1-P3) ----------------------------------------------------------
  function servicesForm(form, opts = {}) {
    const field = (n) => form.querySelector(`[name="${n}"]`);
    const sync = () => {
      for (const n of ["https_port", "https_nat_port"]) field(n).disabled = !field("https_enabled").checked;
      field("ssh_port").disabled = !field("ssh_enabled").checked;
    };
    field("https_enabled").addEventListener("change", sync);
    field("ssh_enabled").addEventListener("change", sync);
    return settingsForm(form, { ...opts, onLoad: sync });
  }

  // -- network (N1-N5) -------------------------------------------------------------------
  const ROUTE_KEYS = ["destination", "netmask", "gateway", "nic"];

  function staticAddress(doc, nic) {
    const it = doc && doc[nic];
    return it && it.enabled && !it.dhcp ? it.address : "";
  }

  // The NIC selector (网卡设置) of LAN and WAN: the interfaces the server has, as its
  // network driver sees them; a NIC the settings name that is not there stays listed, marked.
  function drawNics(form, nics, doc) {
    const t = T();
    const words = (tpl, values) => tpl.replace(/\{(\w+)\}/g, (m, k) => values[k] ?? m);
    for (const nic of ["lan", "wan"]) {
      const select = form.querySelector(`[name="${nic}.ifname"]`);
      if (!select) continue;
      const current = (doc[nic] && doc[nic].ifname) || (nics.defaults || {})[nic] || "";
      const items = [...(nics.items || [])];
      if (current && !items.some((it) => it.name === current)) items.push({ name: current, missing: true });
      select.replaceChildren(...items.map((it) => {
        const o = document.createElement("option");
        o.value = it.name;
        o.textContent = it.missing ? words(t.nicMissing, it)
          : !it.up ? words(t.nicDown, it)
          : it.addresses && it.addresses.length ? words(t.nicAddress, { name: it.name, address: it.addresses[0] })
          : it.name;
        return o;
      }));
      select.value = current;
    }
  }

  async function networkForm(form, opts = {}) {
    const t = T();
    const field = (n) => form.querySelector(`[name="${n}"]`);
    const tbody = form.querySelector('[data-role="routes"]');
    const count = form.querySelector('[data-role="routes-count"]');
    const pending = form.querySelector('[data-role="pending"]');
    const url = opts.url || form.dataset.url;
    const confirmUrl = opts.confirmUrl || "/api/v1/settings/network/confirm";
    const nics = await vcbox.api("GET", opts.interfacesUrl || "/api/v1/settings/network/interfaces")
      .catch(() => ({ items: [], defaults: {} }));
    let timer = null, ctl = null, generation = 0;

    // Each route is a row of inputs named routes.<i>.<key>, shown as text until edited.
    function routeRow(route, editing) {
      const tr = document.createElement("tr");
      tr.dataset.role = "route";
      for (const key of ROUTE_KEYS) {
        const td = document.createElement("td");
        const text = document.createElement("span");
        text.dataset.role = "text";
        let input;
        if (key === "nic") {
          input = document.createElement("select");
          input.className = "form-select form-select-sm";
          for (const nic of ["lan", "wan"]) { const o = document.createElement("option"); o.value = nic; o.textContent = t[nic]; input.append(o); }
        } else {
          input = document.createElement("input");
          input.className = "form-control form-control-sm";
          input.autocomplete = "off";
        }
        input.dataset.key = key;
        input.value = route[key] || (key === "nic" ? "lan" : "");
        const feedback = document.createElement("div");
        feedback.className = "invalid-feedback";
        td.append(text, input, feedback);
        tr.append(td);
      }
      const td = document.createElement("td");
      td.className = "text-end text-nowrap";
      const edit = document.createElement("button");
      edit.type = "button"; edit.className = "btn btn-sm btn-outline-secondary me-1"; edit.dataset.role = "edit-route";
      edit.onclick = () => setEditing(tr, !tr.classList.contains("editing"));
      const del = document.createElement("button");
      del.type = "button"; del.className = "btn btn-sm btn-outline-danger"; del.dataset.role = "delete-route";
      del.title = t.delete; del.setAttribute("aria-label", t.delete);
      del.innerHTML = '<i class="bi bi-trash"></i>';
      del.onclick = async () => {
        if (!(await vcbox.confirmDialog(t.deleteRoute))) return;
        tr.remove();
        renumber();
      };
      td.append(edit, del);
      tr.append(td);
      setEditing(tr, editing);
      return tr;
    }

    function setEditing(tr, editing) {
      tr.classList.toggle("editing", editing);
      for (const td of tr.querySelectorAll("td")) {
        const input = td.querySelector("[data-key]"), text = td.querySelector('[data-role="text"]');
        if (!input) continue;
        text.textContent = input.tagName === "SELECT" ? t[input.value] : input.value;
        text.classList.toggle("d-none", editing);
        input.classList.toggle("d-none", !editing);
      }
      const edit = tr.querySelector('[data-role="edit-route"]');
      edit.innerHTML = editing ? '<i class="bi bi-check-lg"></i>' : '<i class="bi bi-pencil"></i>';
      edit.title = editing ? t.done : t.edit;
      edit.setAttribute("aria-label", edit.title);
    }

    function renumber() {
      const rows = [...tbody.querySelectorAll('tr[data-role="route"]')];
      rows.forEach((tr, i) => tr.querySelectorAll("[data-key]").forEach((el) => { el.name = `routes.${i}.${el.dataset.key}`; }));
      let empty = tbody.querySelector('tr[data-role="empty"]');
      if (!rows.length && !empty) {
        // The empty state of the list shape: one row across the table.
        empty = document.createElement("tr"); empty.dataset.role = "empty";
        empty.innerHTML = '<td colspan="5" class="text-center text-secondary py-4"><i class="bi bi-signpost-split d-block fs-4 mb-1"></i><span></span></td>';
        empty.querySelector("span").textContent = t.noRoutes;
        tbody.append(empty);
      } else if (rows.length && empty) empty.remove();
      if (count) count.textContent = t.routesCount.replace("{count}", rows.length);
    }

    function drawRoutes(routes) {
      tbody.replaceChildren(...(routes || []).map((r) => routeRow(r, false)));
      renumber();
    }

    function sync() {
      for (const nic of ["lan", "wan"]) {
        const on = field(`${nic}.enabled`).checked;
        const isStatic = field(`${nic}.dhcp`) && form.querySelector(`[name="${nic}.dhcp"][value="false"]`).checked;
        form.querySelectorAll(`[name="${nic}.dhcp"]`).forEach((r) => { r.disabled = !on; });
        for (const key of ["address", "netmask", "gateway", "dns1", "dns2"]) field(`${nic}.${key}`).disabled = !(on && isStatic);
      }
      field("nat.public_ip").disabled = !field("nat.enabled").checked;
      const both = field("lan.enabled").checked && field("wan.enabled").checked;
      form.querySelector('[data-role="routes-on"]').classList.toggle("d-none", !both);
      form.querySelector('[data-role="routes-off"]').classList.toggle("d-none", both);
      form.querySelector('[data-role="add-route"]').classList.toggle("d-none", !both);
    }
    form.addEventListener("change", (ev) => { if (!ev.target.dataset.key) sync(); });
    form.querySelector('[data-role="add-route"]').addEventListener("click", () => {
      const tr = routeRow({}, true);
      tbody.append(tr);
      renumber();
      tr.querySelector("input").focus();
    });

    // N5: a change that is not confirmed within the window is undone by the server.
    function stopCountdown() { clearInterval(timer); timer = null; generation++; }
    function showPending(seconds, newAddress) {
      stopCountdown();
      const text = pending.querySelector('[data-role="pending-text"]');
      const link = pending.querySelector('[data-role="new-address"]');
      if (newAddress) {
        const href = `${location.protocol}//${newAddress}${location.port ? ":" + location.port : ""}${location.pathname}`;
        link.href = href;
        link.querySelector('[data-role="new-address-text"]').textContent = href.replace(/^\w+:\/\//, "").replace(location.pathname, "");
      }
      link.classList.toggle("d-none", !newAddress);
      pending.classList.remove("d-none");
      pending.scrollIntoView({ block: "nearest" });
      if (!seconds) { text.textContent = t.pending; return; }
      const end = Date.now() + seconds * 1000, gen = generation;
      let ticks = 0;
      const tick = async () => {
        const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
        text.textContent = t.pendingCountdown.replace("{s}", left);
        // The server undoes the change on its own clock: look every few seconds, and at 0.
        if (left > 0 && ++ticks % 5) return;
        const doc = await vcbox.api("GET", url, null, { background: true }).catch(() => null);
        if (gen !== generation) return;  // confirmed (or shown again) meanwhile
        if (!doc || doc.pending_confirm) { if (left === 0) { stopCountdown(); text.textContent = t.pending; } return; }
        stopCountdown();
        if (ctl) await ctl.load();
        vcbox.toast(t.rolledBack, "warning");
      };
      tick();
      timer = setInterval(tick, 1000);
    }
    pending.querySelector('[data-role="keep"]').addEventListener("click", async () => {
      try {
        await vcbox.api("POST", confirmUrl, {});
        stopCountdown();
        pending.classList.add("d-none");
        vcbox.toast(t.kept);
        if (opts.onConfirmed) opts.onConfirmed();
      } catch (err) {
        if (!(err instanceof vcbox.ApiError)) throw err;
        stopCountdown();
        vcbox.toast(err.message, "danger");
        if (ctl) await ctl.load();
      }
    });

    let before = null;
    return settingsForm(form, {
      ...opts,
      onLoad: (doc) => {
        drawNics(form, nics, doc);
        drawRoutes(doc.routes);
        sync();
        if (!doc.pending_confirm) { stopCountdown(); pending.classList.add("d-none"); }
        else if (!timer) showPending(0, "");
        if (opts.onLoad) opts.onLoad(doc);
      },
      collect: (data) => {
        before = ctl && ctl.doc;
        // Every route row is sent (an empty list deletes the last route).
        return { ...data, routes: data.routes || [] };
      },
      beforeErrors: (err) => {
        for (const key of Object.keys(err.body.details || {})) {
          const m = /^routes\.(\d+)\./.exec(key);
          const tr = m && tbody.querySelectorAll('tr[data-role="route"]')[Number(m[1])];
          if (tr) setEditing(tr, true);
        }
      },
      onSaved: (res, data) => {
        if (res.pending_confirm) {
          const old = staticAddress(before, "lan") || staticAddress(before, "wan");
          const now = staticAddress(res, "lan") || staticAddress(res, "wan");
          showPending(120, now && now !== old ? now : "");
        }
        if (opts.onSaved) opts.onSaved(res, data);
      },
    }).then((c) => { ctl = c; return c; });
  }

  // -- time (T1) -------------------------------------------------------------------------
  function timeForm(form, opts = {}) {
    const clock = form.querySelector('[data-role="server-time"]');
    const zoneLabel = form.querySelector('[data-role="server-zone"]');
    const zones = form.querySelector('[name="timezone"]');
    const date = form.querySelector('[data-role="manual-date"]');
    const time = form.querySelector('[data-role="manual-time"]');
    const pad = (n) => String(n).padStart(2, "0");
    let base = null, at = 0, ticker = null;

    // The server's wall-clock time, as a UTC instant that only serves for arithmetic.
    function parse(text) {
      const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?/.exec(text || "");
      return m ? Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) : null;
    }
    const now = () => new Date(base + (Date.now() - at));
    const day = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    const clockOf = (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    function tick() { if (base !== null) { const d = now(); clock.textContent = `${day(d)} ${clockOf(d)}`; } }

    const manual = () => form.querySelector('[name="source"][value="manual"]').checked;
    function sync() {
      const on = manual();
      date.disabled = time.disabled = !on;
      form.querySelector('[name="sntp_server"]').disabled = on;
      // Never blank: until set by hand they show the server's date and time.
      if (!date.value && base !== null) { const d = now(); date.value = day(d); time.value = clockOf(d); }
    }
    form.querySelectorAll('[name="source"]').forEach((r) => r.addEventListener("change", sync));

    return settingsForm(form, {
      ...opts,
      onLoad: (doc) => {
        // The server's time in the zone it keeps (the answer's), not the browser's.
        base = parse(doc.server_time); at = Date.now();
        const option = [...zones.options].find((o) => o.value === doc.timezone);
        if (zoneLabel) zoneLabel.textContent = option ? option.textContent : "";
        if (!ticker) ticker = setInterval(tick, 1000);
        tick();
        if (doc.manual_datetime) { const [d, tm] = doc.manual_datetime.split("T"); date.value = d; time.value = tm; }
        sync();
        if (opts.onLoad) opts.onLoad(doc);
      },
      collect: (data) => {
        if (data.source === "manual") {
          const tm = time.value.length === 5 ? time.value + ":00" : time.value;
          data.manual_datetime = date.value && tm ? `${date.value}T${tm}` : "";
        }
        return data;
      },
      beforeErrors: (err) => {
        const bad = "manual_datetime" in (err.body.details || {});
        date.classList.toggle("is-invalid", bad); time.classList.toggle("is-invalid", bad);
      },
    });
  }

  Object.assign(window.vcbox, { settingsForm, callForm, servicesForm, networkForm, timeForm });
})();
