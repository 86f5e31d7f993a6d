// 系统状态 -> 在线用户 (views/online.html): the shared list over /api/v1/online-users,
// refreshed every 5 s; 查看 shows the account's devices. The API says when FreeSWITCH
// cannot be asked (reachable: false): the list may then be out of date.
"use strict";
(() => {
  const { listPage, iconButton, badge, cell } = window.vcbox;

  function onlinePage(T) {
    const $ = (id) => document.getElementById(id);
    const fill = window.vcbox.fillText;
    const status = (s) => badge(T[s] || s, s === "in_call" ? "warning" : "success");
    let shownFor = null; // the account whose devices the dialog shows

    function drawDevices(item) {
      const dlg = $("dlg-online-devices");
      dlg.querySelector('[data-role="title"]').textContent = fill(T.devicesOf, { name: item.name || item.account, account: item.account });
      dlg.querySelector('[data-role="devices"]').replaceChildren(...item.devices.map((d) => {
        const tr = document.createElement("tr");
        tr.append(cell(d.model), cell(d.version || "—"), cell(`${d.ip}:${d.port}`), cell(d.transport), cell(status(d.status)), cell(d.registered_time.replace("T", " ")));
        return tr;
      }));
    }

    const list = listPage({
      list: "online", url: "/api/v1/online-users", select: false,
      key: (item) => item.account,
      cells: (item) => {
        const models = [...new Set(item.devices.map((d) => d.model))].join("、");
        return [item.name, item.account, status(item.status),
          item.devices.length > 1 ? `${fill(T.devices, { n: item.devices.length })}：${models}` : models];
      },
      actions: (item) => [iconButton("eye", T.view, "view", () => {
        shownFor = item.account; drawDevices(item);
        bootstrap.Modal.getOrCreateInstance($("dlg-online-devices")).show();
      })],
      onLoad: (page) => {
        $("online-unreachable").classList.toggle("d-none", page.reachable !== false);
        const open = page.items.find((i) => i.account === shownFor);
        if (open) drawDevices(open);
      },
      T,
    });
    $("dlg-online-devices").addEventListener("hidden.bs.modal", () => { shownFor = null; });
    list.load();
    list.every(5);
  }

  window.vcbox.onlinePage = onlinePage;
})();
