// 系统设置 -> 磁盘空间设置 (/settings/disk, SPEC D1-D3): the settings form of the disk
// section (settings.js: field errors, the guide's 确定修改磁盘设置？ on save), the
// used/free ring chart and the bar chart of each part's use against its quota (Chart.js,
// from GET /api/v1/disk), the storage path chosen with Browse among the server's folders,
// the server logs' split (Details), and "clean now" per part and sub-part after the
// guide's 该操作将删除[××]，确定操作？
"use strict";
(() => {
  const T = window.DISK_T;
  const { api, ApiError, toast, fillText, confirmed } = window.vcbox;
  const $ = (id) => document.getElementById(id);
  const form = $("form-disk");
  const BLUE = "#0d6efd", GREY = "#dee2e6", ORANGE = "#fd7e14";
  const GB = 2 ** 30;
  let report = null, ring = null, bars = null, settings = null;

  function size(bytes) {
    if (bytes >= GB) return `${(bytes / GB).toFixed(bytes >= 100 * GB ? 0 : 1)} GB`;
    if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MB`;
    if (bytes > 0) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
    return "0 GB";
  }

  function drawRing(r) {
    $("disk-percent").textContent = `${Math.round(r.percent)}%`;
    $("disk-used").textContent = size(r.used);
    $("disk-free").textContent = size(r.free);
    $("disk-total").textContent = size(r.total);
    const data = [r.used, r.free];
    if (!ring) {
      ring = new Chart($("disk-ring"), {
        type: "doughnut",
        data: { labels: [T.used, T.free], datasets: [{ data, backgroundColor: [BLUE, GREY], borderWidth: 0 }] },
        options: { cutout: "70%", animation: false, maintainAspectRatio: false,
                   plugins: { legend: { display: false },
                              tooltip: { callbacks: { label: (c) => `${c.label}: ${size(c.raw)}` } } } },
      });
    } else { ring.data.datasets[0].data = data; ring.update(); }
  }

  function quotaOf(part) {
    const input = form.querySelector(`[name="quotas.${part}"]`);
    const value = Number(input && input.value);
    return Number.isFinite(value) && value > 0 ? value : report.parts.find((p) => p.part === part).quota_gb;
  }

  function drawBars() {
    const labels = report.parts.map((p) => T.partNames[p.part]);
    const used = report.parts.map((p) => p.used / GB);
    const quotas = report.parts.map((p) => quotaOf(p.part));
    if (!bars) {
      bars = new Chart($("disk-bars"), {
        type: "bar",
        data: { labels, datasets: [
          { label: T.used, data: used, backgroundColor: BLUE, borderRadius: 2, barPercentage: 0.8 },
          { label: T.quota, data: quotas, backgroundColor: ORANGE + "55", borderColor: ORANGE, borderWidth: 1, borderRadius: 2, barPercentage: 0.8 }] },
        options: {
          indexAxis: "y", animation: false, maintainAspectRatio: false,
          scales: { x: { beginAtZero: true, ticks: { callback: (v) => `${v} GB` } }, y: { grid: { display: false } } },
          plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } },
                     tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.datasetIndex ? `${c.raw} GB` : size(c.raw * GB)}` } } },
        },
      });
    } else {
      bars.data.datasets[0].data = used; bars.data.datasets[1].data = quotas; bars.update();
    }
  }

  function drawShares() {
    const quota = quotaOf("server_logs") * GB;
    for (const el of form.querySelectorAll("[data-share]")) {
      const input = form.querySelector(`[name="server_logs_split.${el.dataset.share}"]`);
      const pct = Number(input.value);
      el.textContent = Number.isFinite(pct) && input.value !== "" ? fillText(T.share, { size: size(quota * pct / 100) }) : "";
    }
  }

  function draw() {
    drawRing(report);
    for (const p of report.parts) {
      form.querySelector(`[data-used="${p.part}"]`).textContent = size(p.used);
      form.querySelector(`[data-min="${p.part}"]`).textContent = fillText(T.min, { n: p.min_gb });
      for (const s of p.subparts || []) form.querySelector(`[data-used="server_logs.${s.sub}"]`).textContent = size(s.used);
    }
    $("disk-capacity").textContent = fillText(T.capacity, { n: report.capacity_gb });
    drawBars();
    drawShares();
  }

  async function refresh() {
    report = await api("GET", "/api/v1/disk", null, { background: true });
    draw();
  }

  // -- clean now --------------------------------------------------------------------------
  form.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-clean]");
    if (!button) return;
    const url = `/api/v1/disk/${button.dataset.clean}${button.dataset.sub ? `/${button.dataset.sub}` : ""}/clean`;
    button.disabled = true;
    try {
      const done = await confirmed("POST", url, {});
      if (!done) return;
      toast(done.deleted ? fillText(T.cleaned, { n: done.deleted, size: size(done.freed) }) : T.nothing);
      await refresh();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      toast(err.message, "danger");
    } finally {
      button.disabled = false;
    }
  });

  // -- the storage path: Browse -----------------------------------------------------------
  const dialog = $("dlg-browse");
  const browseError = dialog.querySelector('[data-role="error"]');
  let here = "";

  function entry(name, path, icon) {
    const a = document.createElement("button");
    a.type = "button"; a.className = "list-group-item list-group-item-action d-flex align-items-center gap-2";
    a.dataset.path = path;
    const i = document.createElement("i"); i.className = `bi bi-${icon} text-warning`;
    const span = document.createElement("span"); span.className = "font-monospace text-break"; span.textContent = name;
    a.append(i, span);
    a.onclick = () => open(path);
    return a;
  }

  async function open(path) {
    browseError.classList.add("d-none");
    let res;
    try {
      res = await api("GET", `/api/v1/disk/browse?path=${encodeURIComponent(path)}`);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      browseError.textContent = (err.body.details || {}).path || err.message;
      browseError.classList.remove("d-none");
      return;
    }
    here = res.path;
    $("browse-path").textContent = res.path || T.roots;
    // Up: the parent folder; from a root, the list of roots (when there are several).
    $("browse-up").disabled = !res.path || (!res.parent && res.roots < 2);
    $("browse-up").onclick = () => open(res.parent || "");
    $("browse-choose").disabled = !res.path;
    const list = $("browse-list");
    list.replaceChildren(...res.items.map((d) => entry(d.name, d.path, res.path ? "folder" : "hdd")));
    if (!res.items.length) {
      const none = document.createElement("div");
      none.className = "list-group-item text-secondary small"; none.textContent = T.empty;
      list.append(none);
    }
  }

  $("disk-browse").addEventListener("click", async () => {
    await open(form.querySelector('[name="path"]').value || report.path);
    bootstrap.Modal.getOrCreateInstance(dialog).show();
  });
  $("browse-choose").addEventListener("click", () => {
    const input = form.querySelector('[name="path"]');
    input.value = here;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    bootstrap.Modal.getOrCreateInstance(dialog).hide();
  });

  // -- the form -----------------------------------------------------------------------------
  form.addEventListener("input", (ev) => {
    if (!report || !(ev.target instanceof HTMLInputElement)) return;
    if (ev.target.name.startsWith("quotas.") || ev.target.name.startsWith("server_logs_split.")) {
      drawBars(); drawShares();
    }
  });

  (async () => {
    report = await api("GET", "/api/v1/disk");
    settings = await vcbox.settingsForm(form, {
      // The default path ("": the data dir) is shown as the folder it is, and stays the
      // default unless another folder is chosen.
      onLoad: (doc) => { form.querySelector('[name="path"]').value = doc.path || report.path; },
      collect: (data) => {
        if (settings && !settings.doc.path && data.path === report.path) data.path = "";
        return data;
      },
      onSaved: () => refresh(),
    });
    draw();
  })();
})();
