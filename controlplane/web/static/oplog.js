// The operation log page (O2, views/oplog.html): the shared list (static/list.js) over
// /api/v1/operation-log, with the guide's time filter: today, the last 3 or 7 days, all,
// or a date range confirmed with OK. The API answers each entry in words of the UI language
// (action_text, target_text, result_text, detail) and the dates it covered, which the date
// fields then show. A range whose start is after its end is refused at the date fields,
// and nothing is loaded. Export downloads the filtered list (CSV, same words).
"use strict";
(() => {

  function text(value, className = "") {
    const td = document.createElement("td");
    td.textContent = value || "";
    if (className) td.className = className;
    return td;
  }

  function user(item) {
    const td = text(item.username), ip = document.createElement("span");
    ip.className = "oplog-ip"; ip.textContent = item.ip;
    td.append(ip);
    return td;
  }

  function result(item) {
    const td = document.createElement("td"), icon = document.createElement("i");
    const ok = item.result === "success";
    td.className = "oplog-nowrap" + (ok ? "" : " text-danger");
    icon.className = ok ? "bi bi-check-circle-fill text-success me-1" : "bi bi-x-circle-fill me-1";
    icon.setAttribute("aria-hidden", "true");
    td.append(icon, item.result_text);
    return td;
  }

  // The sentences; a program's own words (a service's output, the files written) folded
  // away beneath them.
  function detail(item, T) {
    const td = text(item.detail, "oplog-detail");
    if (item.detail_technical) {
      const box = document.createElement("details"), summary = document.createElement("summary");
      const pre = document.createElement("pre");
      box.className = "oplog-tech";
      summary.textContent = T.technical;
      pre.textContent = item.detail_technical;
      box.append(summary, pre);
      td.append(box);
    }
    return td;
  }

  function oplogPage(T) {
    const $ = (id) => document.getElementById(id);
    const since = $("oplog-since"), until = $("oplog-until"), error = $("oplog-dates-error");
    const buttons = [...document.querySelectorAll("#oplog-range [data-range]")];

    function exportLink(state) {
      const query = new URLSearchParams({ format: "csv" });
      for (const name of ["days", "since", "until", "search"]) if (state[name]) query.set(name, state[name]);
      $("oplog-export").href = "/api/v1/operation-log?" + query;
    }

    const list = window.vcbox.listPage({
      list: "oplog", url: "/api/v1/operation-log", limit: 20,
      select: false,
      key: (item) => String(item.id),
      cells: (item) => [
        text(item.time.replace("T", " "), "oplog-nowrap"),
        user(item),
        text(item.action_text, "oplog-nowrap"),
        text(item.target_text),
        result(item),
        detail(item, T),
      ],
      T,
      onLoad(page) {
        since.value = page.since || "";
        until.value = page.until || "";
        exportLink(list.state);
      },
    });

    function showRangeError(message) {
      for (const input of [since, until]) input.classList.toggle("is-invalid", !!message);
      error.textContent = message || "";
      error.classList.toggle("d-block", !!message);
    }

    function range(days) {
      buttons.forEach((b) => b.classList.toggle("active", b.dataset.range === days));
      showRangeError("");
      Object.assign(list.state, { days: days === "all" ? "" : days, since: "", until: "", offset: 0 });
      list.load();
    }

    for (const b of buttons) b.addEventListener("click", () => range(b.dataset.range));
    $("oplog-dates").addEventListener("click", () => {
      if (since.value && until.value && since.value > until.value) {
        showRangeError(T.reversed);
        return;
      }
      showRangeError("");
      buttons.forEach((b) => b.classList.remove("active"));
      Object.assign(list.state, { days: "", since: since.value, until: until.value, offset: 0 });
      list.load();
    });
    for (const input of [since, until]) input.addEventListener("input", () => {
      if (!(since.value && until.value && since.value > until.value)) showRangeError("");
    });
    list.state.days = "1";
    list.load();
  }

  window.vcbox.oplogPage = oplogPage;
})();
