// The one list shape every list page uses (STYLE.md "Web pages"): tabs with counts, search,
// sortable columns, paging with a page-size choice, a selection that survives paging with a
// select-all box (ticks every selectable row of the page; half-ticked when some are) and
// batch buttons, the empty row, and the count line "{total} in all, {shown} shown", over an
// API list that answers {items, total, filtered, counts} and takes search, kind, order,
// direction, offset and limit. The markup comes from views/_list.html (ids named after the
// list); the page says how a row looks and what its buttons do.
//
//   const list = vcbox.listPage({
//     list: "meetings", url: "/api/v1/meetings", kind: "all",
//     key: (item) => item.id,               // the row's id (data-id, selection key)
//     label: (item) => "...",                // the row box's accessible name
//     cells: (item) => [td or text, ...],    // between the check box and the actions
//     actions: (item) => [button, ...],      // right-aligned; vcbox.iconButton helps
//     select: true,                          // false: no check boxes (nothing to batch)
//     selectable: (item) => true,            // may it be ticked (batch actions)?
//     batch: [button, ...],                  // enabled while something is selected
//     order: "name", direction: "asc",       // the first sort (th[data-sort] change it)
//     onError: (err) => {},                  // a refused load (default: a row saying why)
//     T: {empty: "No ..."},
//   });
//   list.load(); list.selected (Map key -> item); list.state; list.forget(keys);
//   list.every(5) (a live page: reload the data every 5 s)
//   list.remove(url, names, {question, done}): ask "question names", POST {names} to url,
//     forget them, toast `done` (or the refusal), load again (a page's batch delete)
"use strict";
(() => {
  const V = window.VCBOX || { i18n: {} };
  const fill = window.vcbox.fillText;

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
    const button = (label, target, extra = "") => {
      const li = document.createElement("li"); li.className = `page-item ${extra}`.trim();
      const b = document.createElement("button"); b.type = "button"; b.className = "page-link"; b.textContent = label;
      if (extra.includes("active")) b.setAttribute("aria-current", "page");
      if (extra.includes("disabled")) b.disabled = true;
      b.onclick = () => go(target * limit);
      li.append(b); ul.append(li);
    };
    button("‹", current - 1, current === 0 ? "disabled" : "");
    const first = Math.max(0, Math.min(current - 3, pages - 7));
    for (let i = first; i < Math.min(pages, first + 7); i++) button(String(i + 1), i, i === current ? "active" : "");
    button("›", current + 1, current === pages - 1 ? "disabled" : "");
  }

  function listPage(opts) {
    const { api, ApiError } = window.vcbox;
    const el = (part) => document.getElementById(`${opts.list}-${part}`);
    const state = { kind: opts.kind || "", search: "", order: opts.order || "", direction: opts.direction || "",
      offset: 0, limit: opts.limit || 20 };
    const selecting = opts.select !== false;
    const selected = new Map(); // key -> item, across pages
    const selectable = opts.selectable || (() => true);
    const T = opts.T || {};
    // A list that cannot load says so in its own table (a live page's refreshes would
    // stack up toasts), until a load succeeds.
    const onError = opts.onError || ((err) => {
      const tr = document.createElement("tr"), td = cell(err.message);
      td.colSpan = el("table").querySelectorAll("thead th:not(.d-none)").length;
      td.className = "text-center text-danger py-4";
      tr.dataset.role = "error"; td.setAttribute("role", "alert");
      tr.append(td);
      el("rows").replaceChildren(tr);
      el("count").textContent = "";
      el("pages").replaceChildren();
    });
    const all = el("all");
    let shown = [];
    let seq = 0; // the answer of the latest load wins

    const pageBoxes = () => [...el("rows").querySelectorAll("input[type=checkbox][data-role=select]:not(:disabled)")];

    function syncSelection() {
      for (const b of opts.batch || []) b.disabled = selected.size === 0;
      if (el("selected")) el("selected").textContent = selected.size ? fill(V.i18n.listSelected, { n: selected.size }) : "";
      if (all) {
        const boxes = pageBoxes(), ticked = boxes.filter((b) => b.checked).length;
        all.checked = boxes.length > 0 && ticked === boxes.length;
        all.indeterminate = ticked > 0 && ticked < boxes.length;
        all.disabled = boxes.length === 0;
      }
      if (opts.onSelection) opts.onSelection(selected);
    }

    function row(item) {
      const key = opts.key(item);
      const tr = document.createElement("tr");
      tr.dataset.id = key;
      const cells = opts.cells(item).map((c) => (c instanceof HTMLElement && c.tagName === "TD" ? c : cell(c)));
      if (selecting) {
        const box = document.createElement("input");
        box.type = "checkbox"; box.className = "form-check-input"; box.dataset.role = "select";
        box.setAttribute("aria-label", opts.label ? opts.label(item) : key);
        if (selectable(item)) {
          box.checked = selected.has(key);
          box.onchange = () => { if (box.checked) selected.set(key, item); else selected.delete(key); syncSelection(); };
        } else box.disabled = true;
        tr.append(cell(box));
      }
      tr.append(...cells);
      if (opts.actions) {
        const actions = cell(...opts.actions(item));
        actions.className = "text-end text-nowrap";
        tr.append(actions);
      }
      return tr;
    }

    function drawSort() {
      for (const th of el("table").querySelectorAll("thead th[data-sort]")) {
        const on = th.dataset.sort === state.order;
        th.setAttribute("aria-sort", on ? (state.direction === "desc" ? "descending" : "ascending") : "none");
        const icon = th.querySelector("[data-role=sort-icon]");
        if (icon) icon.className = `bi ms-1 ${on ? (state.direction === "desc" ? "bi-caret-down-fill" : "bi-caret-up-fill") : "bi-chevron-expand text-body-tertiary"}`;
      }
    }

    // background: a refresh of a live page (not the administrator's doing: it does not
    // keep the session from idling out).
    async function load(background = false) {
      const mine = ++seq;
      const query = new URLSearchParams(Object.entries(state).filter(([, v]) => v !== "" && v !== undefined));
      let page;
      try {
        page = await api("GET", `${opts.url}?${query}`, null, { background: background === true });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (mine === seq) onError(err);
        return;
      }
      if (mine !== seq) return;
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
        const empty = page.total > 0 && page.filtered === 0 ? V.i18n.listNoMatch : (T.empty || V.i18n.listEmpty);
        const tr = document.createElement("tr"), td = cell(empty);
        td.colSpan = el("table").querySelectorAll("thead th:not(.d-none)").length;
        td.className = "text-center text-secondary py-4";
        tr.dataset.role = "empty";
        tr.append(td); rows.push(tr);
      }
      el("rows").replaceChildren(...rows);
      const values = { total: page.total, filtered: page.filtered, shown: page.items.length,
        from: page.items.length ? state.offset + 1 : 0, to: state.offset + page.items.length };
      el("count").textContent = fill(page.filtered < page.total ? V.i18n.listCountFiltered : V.i18n.listCount, values);
      pager(el("pages"), { ...state, filtered: page.filtered }, (offset) => { state.offset = offset; load(); });
      drawSort();
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
    if (el("search")) {
      const search = () => { state.search = el("search").value.trim(); state.offset = 0; load(); };
      el("search-btn").onclick = search;
      el("search").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
      // Emptied (the clear "x" of a type=search box, or deleted): the whole list again.
      el("search").addEventListener("input", () => { if (!el("search").value && state.search) search(); });
    }
    if (el("size")) {
      el("size").value = String(state.limit);
      el("size").onchange = () => {
        // Keep the first row shown on the page that now holds it.
        state.limit = Number(el("size").value);
        state.offset = Math.floor(state.offset / state.limit) * state.limit;
        load();
      };
    }
    for (const th of el("table").querySelectorAll("thead th[data-sort]")) {
      const go = () => {
        if (state.order === th.dataset.sort) state.direction = state.direction === "desc" ? "asc" : "desc";
        else { state.order = th.dataset.sort; state.direction = "asc"; }
        state.offset = 0; load();
      };
      th.onclick = go;
      th.onkeydown = (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } };
    }
    if (all) {
      all.onchange = () => {
        const on = all.checked;
        for (const item of shown) {
          if (!selectable(item)) continue;
          if (on) selected.set(opts.key(item), item); else selected.delete(opts.key(item));
        }
        pageBoxes().forEach((b) => { b.checked = on; });
        syncSelection();
      };
    }
    for (const b of opts.batch || []) b.disabled = true;

    // After a batch action: forget what is gone, then load.
    function forget(keys) { for (const k of keys) selected.delete(k); syncSelection(); }

    // A live page: its data again every `seconds`, the page itself stays (STYLE.md).
    function every(seconds) {
      const tick = () => { if (!document.hidden) load(true); };
      return setInterval(tick, seconds * 1000);
    }

    async function remove(url, names, words) {
      const { api, ApiError, confirmDialog, toast } = window.vcbox;
      if (!names.length || !(await confirmDialog(`${words.question} ${names.join(", ")}`))) return;
      try {
        await api("POST", url, { names });
        forget(names);
        toast(words.done);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        toast(err.message, "danger");
      }
      load();
    }

    return { load, state, selected, forget, every, remove };
  }

  Object.assign(window.vcbox, { listPage, cell, iconButton, badge, pager });
})();
