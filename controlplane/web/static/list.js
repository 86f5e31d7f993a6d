// The list shape every list page repeats (STYLE.md): tabs with counts, search, paging, a
// selection that survives paging with a select-all box and batch buttons, the empty row and
// the "{filtered} of {total}" line, over an API list that answers
// {items, total, filtered, counts}. The markup comes from views/_list.html (ids named after
// the list); the page says how a row looks and what its buttons do.
//
//   const list = vcbox.listPage({
//     list: "meetings", url: "/api/v1/meetings", kind: "all",
//     key: (item) => item.id,               // the row's id (data-id, selection key)
//     cells: (item) => [td or text, ...],    // between the check box and the actions
//     actions: (item) => [button, ...],      // right-aligned; vcbox.iconButton helps
//     selectable: (item) => true,            // may it be ticked (batch actions)?
//     batch: [button, ...],                  // enabled while something is selected
//     T: {count: "{filtered} of {total} ...", empty: "No ..."},
//   });
//   list.load(); list.selected (Map key -> item); list.state.kind
"use strict";
(() => {
  // A table cell with text (or nodes); "" and null show as an empty cell.
  function cell(...content) {
    const td = document.createElement("td");
    td.append(...content.filter((c) => c !== null && c !== undefined));
    return td;
  }

  function iconButton(icon, label, role, onclick, extra = "") {
    const b = document.createElement("button");
    b.type = "button"; b.className = `btn btn-sm btn-link ${extra}`.trim(); b.dataset.role = role;
    b.title = label; b.setAttribute("aria-label", label);
    b.innerHTML = `<i class="bi bi-${icon}"></i>`;
    b.onclick = onclick;
    return b;
  }

  function badge(text, kind = "secondary") {
    const span = document.createElement("span");
    span.className = `badge text-bg-${kind}`; span.textContent = text;
    return span;
  }

  // Page buttons (at most seven, around the current page) into ul; go(offset) loads.
  function pager(ul, { offset, limit, filtered }, go) {
    const pages = Math.max(1, Math.ceil(filtered / limit)), current = Math.floor(offset / limit);
    ul.replaceChildren();
    if (pages < 2) return;
    const first = Math.max(0, Math.min(current - 3, pages - 7));
    for (let i = first; i < Math.min(pages, first + 7); i++) {
      const li = document.createElement("li"); li.className = "page-item" + (i === current ? " active" : "");
      const b = document.createElement("button"); b.type = "button"; b.className = "page-link"; b.textContent = i + 1;
      if (i === current) b.setAttribute("aria-current", "page");
      b.onclick = () => go(i * limit);
      li.append(b); ul.append(li);
    }
  }

  function listPage(opts) {
    const { api, ApiError, toast } = window.vcbox;
    const el = (part) => document.getElementById(`${opts.list}-${part}`);
    const state = { kind: opts.kind || "", search: "", offset: 0, limit: opts.limit || 20 };
    const selected = new Map(); // key -> item, across pages
    const selectable = opts.selectable || (() => true);
    const T = opts.T;
    let shown = [];

    function syncSelection() {
      for (const b of opts.batch || []) b.disabled = selected.size === 0;
      const boxes = [...el("rows").querySelectorAll("input[type=checkbox]:not(:disabled)")];
      el("all").checked = boxes.length > 0 && boxes.every((b) => b.checked);
      el("all").disabled = boxes.length === 0;
      if (opts.onSelection) opts.onSelection(selected);
    }

    function row(item) {
      const key = opts.key(item);
      const tr = document.createElement("tr");
      tr.dataset.id = key;
      const box = document.createElement("input");
      box.type = "checkbox"; box.className = "form-check-input";
      box.setAttribute("aria-label", opts.label ? opts.label(item) : key);
      if (selectable(item)) {
        box.checked = selected.has(key);
        box.onchange = () => { if (box.checked) selected.set(key, item); else selected.delete(key); syncSelection(); };
      } else box.disabled = true;
      const cells = opts.cells(item).map((c) => (c instanceof HTMLElement && c.tagName === "TD" ? c : cell(c)));
      const actions = cell(...(opts.actions ? opts.actions(item) : []));
      actions.className = "text-end text-nowrap";
      tr.append(cell(box), ...cells, actions);
      return tr;
    }

    async function load() {
      const query = new URLSearchParams(Object.entries(state).filter(([, v]) => v !== ""));
      let page;
      try {
        page = await api("GET", `${opts.url}?${query}`);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        toast(err.message, "danger");
        return;
      }
      // The last page emptied (a delete, a narrower search): show the one before it.
      if (!page.items.length && state.offset > 0 && page.filtered > 0) {
        state.offset = Math.max(0, (Math.ceil(page.filtered / state.limit) - 1) * state.limit);
        return load();
      }
      shown = page.items;
      for (const [kind, n] of Object.entries(page.counts || {})) {
        const count = el("tabs") && el("tabs").querySelector(`[data-count="${kind}"]`);
        if (count) count.textContent = n;
      }
      const rows = page.items.map(row);
      if (!rows.length) {
        const tr = document.createElement("tr"), td = cell(T.empty);
        td.colSpan = el("table").querySelectorAll("thead th").length;
        td.className = "text-center text-secondary py-4";
        tr.append(td); rows.push(tr);
      }
      el("rows").replaceChildren(...rows);
      el("count").textContent = T.count.replace("{filtered}", page.filtered).replace("{total}", page.total);
      pager(el("pages"), { ...state, filtered: page.filtered }, (offset) => { state.offset = offset; load(); });
      syncSelection();
      if (opts.onLoad) opts.onLoad(page);
    }

    // -- controls ----------------------------------------------------------------------
    if (el("tabs")) {
      for (const tab of el("tabs").querySelectorAll("[data-kind]")) {
        tab.onclick = () => {
          el("tabs").querySelectorAll(".nav-link").forEach((t) => t.classList.remove("active"));
          tab.classList.add("active");
          state.kind = tab.dataset.kind; state.offset = 0; load();
        };
      }
    }
    const search = () => { state.search = el("search").value.trim(); state.offset = 0; load(); };
    el("search-btn").onclick = search;
    el("search").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
    // Emptied (the clear "x" of a type=search box, or deleted): the whole list again.
    el("search").addEventListener("input", () => { if (!el("search").value && state.search) search(); });
    el("all").onchange = () => {
      const on = el("all").checked;
      for (const item of shown) {
        if (!selectable(item)) continue;
        if (on) selected.set(opts.key(item), item); else selected.delete(opts.key(item));
      }
      el("rows").querySelectorAll("input[type=checkbox]:not(:disabled)").forEach((b) => { b.checked = on; });
      syncSelection();
    };

    // After a batch action: forget what is gone, draw the list again.
    function forget(keys) { for (const k of keys) selected.delete(k); }

    return { load, state, selected, forget };
  }

  Object.assign(window.vcbox, { listPage, cell, iconButton, badge, pager });
})();
