// 系统日志 -> 终端日志 (views/terminal_logs.html, SPEC O4). The switch shows the saved
// setting (PUT /api/v1/settings/terminal-logs {enabled}); turning it on asks first (the
// guide: the logs cost bandwidth), off applies at once, a refusal is shown under it. The
// shared list (static/list.js) over /api/v1/terminal-logs, refreshed every 10 s, filtered by
// model (the models seen in the answers) and online/offline and searched by name or
// account; with nothing to show it says whether the logs are off (and offers to turn them
// on) or no terminal has been heard yet. Export: the terminal's log of today, the last 3 or
// 7 days, all, or the chosen dates; the export URL is asked first (its answer's head only),
// so that a refusal (a reversed range, a log gone meanwhile) is shown in the dialog, and
// the browser then downloads the file from the same URL.
"use strict";
(() => {
  const { api, ApiError, listPage, iconButton, badge, cell, toast, confirmDialog } = window.vcbox;
  const fill = window.vcbox.fillText;
  const V = window.VCBOX || { i18n: {} };

  function text(value, className) {
    const td = cell(value || "—");
    td.className = className;
    return td;
  }

  // An IPv6 address may wrap after its colons (nowhere else).
  function address(ip) {
    const td = cell();
    ip.split(/(?<=:)/).forEach((piece, i) => {
      if (i) td.append(document.createElement("wbr"));
      td.append(piece);
    });
    return td;
  }

  function size(bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let n = bytes, unit = 0;
    while (n >= 1024 && unit < units.length - 1) { n /= 1024; unit++; }
    return `${unit ? n.toFixed(1) : n} ${units[unit]}`;
  }

  // The export's answer up to its headers: null when it is a file (the rest is not read),
  // else the refusal ({message, details}).
  async function refusal(url) {
    const stop = new AbortController();
    let res;
    try {
      res = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", signal: stop.signal });
    } catch (e) {
      return { message: V.i18n.network, details: {} };
    }
    if (res.ok) { stop.abort(); return null; }
    if (res.status === 401) location.reload();
    const body = (res.headers.get("Content-Type") || "").includes("json") ? await res.json() : {};
    return { message: String(res.status), details: {}, ...body };
  }

  function terminalLogsPage(T) {
    const $ = (id) => document.getElementById(id);

    // -- the switch ----------------------------------------------------------------------
    const toggle = $("tlogs-enabled"), state = $("tlogs-state"), switchError = $("tlogs-switch-error");
    let enabled = null, saving = false;

    function showSetting(on) {
      enabled = on;
      toggle.checked = on;
      toggle.disabled = saving;
      state.textContent = on ? T.on : T.off;
      state.className = `badge rounded-pill ${on ? "text-bg-success" : "text-bg-secondary"}`;
    }

    function showSwitchError(message) {
      switchError.textContent = message || "";
      switchError.classList.toggle("d-none", !message);
    }

    async function turn(on) {
      if (on && !(await confirmDialog(T.confirmOn))) return;
      saving = true; toggle.disabled = true; showSwitchError("");
      try {
        const res = await api("PUT", "/api/v1/settings/terminal-logs", { enabled: on });
        saving = false;
        showSetting(res.enabled);
        toast(res.enabled ? T.turnedOn : T.turnedOff);
        list.load();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        saving = false;
        showSetting(enabled);
        showSwitchError(err.message);
      }
    }

    toggle.addEventListener("change", () => {
      const wanted = toggle.checked;
      toggle.checked = enabled; // the saved setting until the change is saved
      turn(wanted);
    });

    // -- the list ------------------------------------------------------------------------
    const modelSelect = $("tlogs-model"), statusSelect = $("tlogs-status");
    const models = new Set();

    function addModels(names) {
      const before = models.size;
      for (const name of names) if (name) models.add(name);
      if (models.size === before) return;
      const chosen = modelSelect.value;
      modelSelect.replaceChildren(modelSelect.options[0],
        ...[...models].sort().map((name) => new Option(name, name)));
      modelSelect.value = chosen;
    }

    function emptyState(on) {
      const box = document.createElement("div"), title = document.createElement("div");
      const note = document.createElement("p"), icon = document.createElement("i");
      box.className = "tlogs-empty py-2"; box.dataset.role = on ? "none-yet" : "off";
      icon.className = `bi ${on ? "bi-journal-text" : "bi-journal-x"} text-body-tertiary`;
      icon.setAttribute("aria-hidden", "true");
      title.className = "fw-semibold text-body mt-2"; title.textContent = on ? T.noneTitle : T.offTitle;
      note.className = "small mt-1 mb-0"; note.textContent = on ? T.noneText : T.offText;
      box.append(icon, title, note);
      if (!on) {
        const b = document.createElement("button");
        b.type = "button"; b.className = "btn btn-primary btn-sm mt-3"; b.dataset.role = "enable";
        b.innerHTML = '<i class="bi bi-toggle-on"></i> ';
        b.append(T.enable);
        b.onclick = () => turn(true);
        box.append(b);
      }
      return box;
    }

    const list = listPage({
      list: "tlogs", url: "/api/v1/terminal-logs", select: false,
      key: (item) => item.ip,
      cells: (item) => [
        address(item.ip), item.account || "—", item.name || "—",
        item.model || "—", item.software || "—",
        cell(badge(T[item.status], item.status === "online" ? "success" : "secondary")),
        text(item.last_seen.replace("T", " "), ""), // wraps between date and time if need be
        text(size(item.size), "tlogs-nowrap tlogs-size"),
      ],
      actions: (item) => [iconButton("download", T.export, "export", () => openExport(item))],
      onLoad(page) {
        addModels([...(page.models || []), ...page.items.map((i) => i.model)]);
        if (!saving) showSetting(page.enabled);
        const empty = $("tlogs-rows").querySelector("tr[data-role=empty] td");
        if (empty && page.total === 0) empty.replaceChildren(emptyState(page.enabled));
      },
      T,
    });
    for (const [select, key] of [[modelSelect, "model"], [statusSelect, "status"]]) {
      select.addEventListener("change", () => {
        list.state[key] = select.value; list.state.offset = 0; list.load();
      });
    }

    // -- the export dialog ---------------------------------------------------------------
    const dlg = $("dlg-tlogs-export"), form = $("form-tlogs-export");
    const since = $("tlogs-since"), until = $("tlogs-until"), datesError = $("tlogs-dates-error");
    const alert = form.querySelector("[data-role=error]");
    const presets = [...dlg.querySelectorAll("[data-days]")];
    let exporting = null, days = "1", preset = "1";

    function choose(value) {
      days = value;
      if (value) preset = value;
      for (const b of presets) {
        const on = b.dataset.days === value;
        b.classList.toggle("active", on); b.setAttribute("aria-pressed", String(on));
      }
    }

    function showExportError(refused) {
      const details = refused && refused.details ? refused.details : {};
      const atDates = [...new Set(["since", "until"].filter((k) => details[k]).map((k) => details[k]))];
      since.classList.toggle("is-invalid", !!details.since);
      until.classList.toggle("is-invalid", !!details.until);
      datesError.textContent = atDates.join(" ");
      datesError.classList.toggle("d-block", atDates.length > 0);
      const rest = Object.entries(details).filter(([k]) => k !== "since" && k !== "until").map(([, m]) => m);
      const top = refused && (rest.length || !atDates.length) ? [refused.message, ...rest].filter(Boolean).join(" ") : "";
      alert.textContent = top;
      alert.classList.toggle("d-none", !top);
    }

    function openExport(item) {
      exporting = item;
      dlg.querySelector("[data-role=title]").textContent = fill(T.exportOf, { ip: item.ip });
      dlg.querySelector("[data-role=terminal]").textContent = item.account
        ? fill(T.terminal, { name: item.name || item.account, account: item.account, model: item.model || "—" }) : "";
      since.value = ""; until.value = "";
      choose("1");
      showExportError(null);
      bootstrap.Modal.getOrCreateInstance(dlg).show();
    }

    for (const b of presets) {
      b.addEventListener("click", () => { since.value = ""; until.value = ""; choose(b.dataset.days); showExportError(null); });
    }
    for (const input of [since, until]) {
      input.addEventListener("input", () => {
        showExportError(null);
        choose(since.value || until.value ? "" : preset);
      });
    }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showExportError(null);
      const query = new URLSearchParams(days ? { days }
        : Object.entries({ since: since.value, until: until.value }).filter(([, v]) => v));
      const url = `/api/v1/terminal-logs/${encodeURIComponent(exporting.ip)}/export?${query}`;
      const button = form.querySelector("[type=submit]");
      button.disabled = true;
      try {
        const refused = await refusal(url);
        if (refused) { showExportError(refused); return; }
        bootstrap.Modal.getInstance(dlg).hide();
        location.assign(url);
      } finally {
        button.disabled = false;
      }
    });

    // -- start -----------------------------------------------------------------------------
    api("GET", "/api/v1/settings/terminal-logs").then((doc) => { if (!saving) showSetting(doc.enabled); }, (err) => {
      if (!(err instanceof ApiError)) throw err;
      showSwitchError(err.message);
    });
    list.load();
    list.every(10);
  }

  window.vcbox.terminalLogsPage = terminalLogsPage;
})();
