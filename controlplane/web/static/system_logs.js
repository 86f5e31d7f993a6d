// 系统日志 -> 系统日志 (views/system_logs.html, SPEC O3). The chosen logs (checkboxes shown
// as buttons that turn green) and a time range: today (the default), the last 3 or 7 days,
// all, or two dates. Export asks for the files first (GET /api/v1/logs/system/files, the
// same query): a refusal is shown at its fields in the API's words, an empty choice is
// said, and otherwise the browser downloads the zip from /api/v1/logs/system, which the
// server streams (the page never holds it).
"use strict";
(() => {
  const { api, ApiError } = window.vcbox;
  const fill = window.vcbox.fillText;

  function size(bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let n = bytes, unit = 0;
    while (n >= 1024 && unit < units.length - 1) { n /= 1024; unit++; }
    return `${unit ? n.toFixed(1) : n} ${units[unit]}`;
  }

  function systemLogsPage(T) {
    const $ = (id) => document.getElementById(id);
    const form = $("slogs-form"), since = $("slogs-since"), until = $("slogs-until");
    const alert = $("slogs-error"), status = $("slogs-status");
    const datesError = $("slogs-dates-error"), partsError = $("slogs-parts-error");
    const boxes = [...form.querySelectorAll("input[name=parts]")];
    const presets = [...form.querySelectorAll("[data-days]")];
    const button = $("slogs-export");
    let days = "1", preset = "1";

    function choose(value) {
      days = value;
      if (value) preset = value;
      for (const b of presets) {
        const on = b.dataset.days === value;
        b.classList.toggle("active", on); b.setAttribute("aria-pressed", String(on));
      }
    }

    function showError(details, message) {
      details = details || {};
      const atDates = [...new Set(["since", "until"].filter((k) => details[k]).map((k) => details[k]))];
      since.classList.toggle("is-invalid", !!details.since);
      until.classList.toggle("is-invalid", !!details.until);
      datesError.textContent = atDates.join(" ");
      datesError.classList.toggle("d-block", atDates.length > 0);
      partsError.textContent = details.parts || "";
      partsError.classList.toggle("d-block", !!details.parts);
      const known = ["since", "until", "parts"];
      const rest = Object.entries(details).filter(([k]) => !known.includes(k)).map(([, m]) => m);
      const shown = atDates.length || details.parts;
      const top = message && (rest.length || !shown) ? [message, ...rest].filter(Boolean).join(" ") : "";
      alert.textContent = top;
      alert.classList.toggle("d-none", !top);
    }

    function query() {
      const parts = boxes.filter((b) => b.checked).map((b) => b.value);
      const q = new URLSearchParams({ parts: parts.join(",") });
      if (days) q.set("days", days);
      else for (const [k, input] of [["since", since], ["until", until]]) if (input.value) q.set(k, input.value);
      return q;
    }

    for (const b of presets) {
      b.addEventListener("click", () => { since.value = ""; until.value = ""; choose(b.dataset.days); showError(null); status.textContent = ""; });
    }
    for (const input of [since, until]) {
      input.addEventListener("input", () => { showError(null); status.textContent = ""; choose(since.value || until.value ? "" : preset); });
    }
    for (const box of boxes) box.addEventListener("change", () => { showError(null); status.textContent = ""; });

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError(null);
      status.textContent = "";
      if (!boxes.some((b) => b.checked)) { showError({ parts: T.choose }); return; }
      if (!days && since.value && until.value && since.value > until.value) {
        showError({ since: T.reversed, until: T.reversed }); return;
      }
      const q = query();
      button.disabled = true;
      try {
        const found = await api("GET", `/api/v1/logs/system/files?${q}`);
        if (!found.total) { status.textContent = T.none; return; }
        status.textContent = fill(T.files, { count: found.total, size: size(found.size) });
        location.assign(`/api/v1/logs/system?${q}`);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        showError(err.body.details, err.message);
      } finally {
        button.disabled = false;
      }
    });
  }

  window.vcbox.systemLogsPage = systemLogsPage;
})();
