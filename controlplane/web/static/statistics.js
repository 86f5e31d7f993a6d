// 会议统计 (views/statistics.html): the figures of /api/v1/call-records/stats for the
// chosen period, the shared list over /api/v1/call-records (tabs = type), 查看 opens a
// record with its participants, and 导出记录 downloads the list as shown (type, period,
// search) as CSV or Excel.
"use strict";
(() => {
  const { api, listPage, iconButton, cell } = window.vcbox;
  const fill = window.vcbox.fillText;

  const duration = window.vcbox.hms;
  const when = (text) => text.replace("T", " ");
  const person = (number, name) => (name && name !== number ? `${name} (${number})` : number || "—");

  function statisticsPage(T) {
    const $ = (id) => document.getElementById(id);
    const dlg = $("dlg-record");
    const part = (role) => dlg.querySelector(`[data-role="${role}"]`);

    async function show(record) {
      const item = await api("GET", `/api/v1/call-records/${encodeURIComponent(record.id)}`);
      part("title").textContent = item.subject || T[item.kind];
      const facts = [[T.type, T[item.kind]], [T.meetingId, item.meeting_id || "—"], [T.organizer, item.organizer || "—"],
        [T.start, when(item.start)], [T.end, when(item.end)], [T.duration, duration(item.duration_s)]];
      part("facts").replaceChildren(...facts.flatMap(([label, value]) => {
        const dt = document.createElement("dt"), dd = document.createElement("dd");
        dt.className = "col-sm-2 text-secondary fw-normal"; dd.className = "col-sm-4";
        dt.textContent = label; dd.textContent = value;
        return [dt, dd];
      }));
      part("participants").replaceChildren(...item.participants.map((p) => {
        const tr = document.createElement("tr");
        tr.dataset.account = p.number;
        tr.append(cell(p.name || "—"), cell(p.number || "—"), cell(p.device_model || "—"), cell(when(p.joined)),
          cell(when(p.left)), cell(duration(p.duration_s)), cell(T.how[p.how] || p.how));
        return tr;
      }));
      bootstrap.Modal.getOrCreateInstance(dlg).show();
    }

    const list = listPage({
      list: "records", url: "/api/v1/call-records", select: false, limit: 20,
      key: (r) => r.id,
      cells: (r) => [r.subject || "—", T[r.kind] || r.kind, r.meeting_id || "—", r.organizer || "—",
        when(r.start), duration(r.duration_s), fill(T.people, { n: r.members })],
      actions: (r) => [iconButton("eye", T.view, "view", () => show(r))],
      T,
    });
    list.state.months = "1";

    async function figures() {
      const stats = await api("GET", `/api/v1/call-records/stats?months=${list.state.months}`);
      const values = { ...stats.counts, peak_ever: stats.peak_ever, peak: stats.peak };
      for (const [key, value] of Object.entries(values)) {
        const box = document.querySelector(`[data-figure="${key}"] [data-role=value]`);
        if (box) box.textContent = String(value);
      }
      const total = Object.values(stats.counts).reduce((a, b) => a + b, 0);
      for (const [kind, n] of Object.entries({ "": total, ...stats.counts })) {
        const badge = $("records-tabs").querySelector(`[data-count="${kind}"]`);
        if (badge) badge.textContent = n;
      }
      if (stats.since) $("stats-since").textContent = fill(T.since, { date: stats.since });
    }

    for (const button of $("stats-period").querySelectorAll("[data-months]")) {
      button.onclick = () => {
        for (const b of $("stats-period").querySelectorAll("[data-months]")) {
          b.classList.toggle("active", b === button);
          b.setAttribute("aria-pressed", String(b === button));
        }
        list.state.months = button.dataset.months;
        list.state.offset = 0;
        list.load();
        figures();
      };
    }

    function exportUrl(format) {
      const s = list.state;
      const query = new URLSearchParams({ format, months: s.months });
      if (s.kind) query.set("type", s.kind);
      if (s.search) query.set("search", s.search);
      return `/api/v1/call-records?${query}`;
    }
    $("records-export").onclick = (e) => { e.preventDefault(); window.location.href = exportUrl("csv"); };
    for (const item of document.querySelectorAll("#records [data-format]")) {
      item.onclick = (e) => { e.preventDefault(); window.location.href = exportUrl(item.dataset.format); };
    }

    list.load();
    figures();
  }

  window.vcbox.statisticsPage = statisticsPage;
})();
