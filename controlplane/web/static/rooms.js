// Meeting rooms page: tabs all / normal / video, search, paging, add / edit dialog
// (the kind switches the bound-account field; accounts are picked from a search of the
// accounts API), delete one or many after the guide's confirm question.
"use strict";
(() => {
  const { api, ApiError, submitForm, clearErrors, showErrors, confirmDialog, toast } = window.vcbox;

  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

  function roomsPage(T) {
    const state = { kind: "all", search: "", offset: 0, limit: 20 };
    const $ = (id) => document.getElementById(id);
    const selected = new Map(); // id -> name, across pages
    let shown = [];

    const form = $("form-room"), dialog = $("dlg-room");
    const accountSelect = $("room-account"), accountSearch = $("room-account-search");
    let editing = null; // the room being edited, or null when adding

    function syncSelection() {
      $("rooms-delete").disabled = selected.size === 0;
      const boxes = [...document.querySelectorAll("#rooms-rows input[type=checkbox]")];
      $("rooms-all").checked = boxes.length > 0 && boxes.every((b) => b.checked);
    }

    async function load() {
      const query = new URLSearchParams(Object.entries(state).filter(([, v]) => v !== ""));
      const page = await api("GET", "/api/v1/rooms?" + query);
      shown = page.items;
      for (const [kind, n] of Object.entries(page.counts || {})) {
        const badge = document.querySelector(`[data-count="${kind}"]`);
        if (badge) badge.textContent = n;
      }
      const videoCols = state.kind !== "normal";
      document.querySelectorAll("#rooms-table [data-video-only]").forEach((th) => th.classList.toggle("d-none", !videoCols));
      const rows = page.items.map((room) => {
        const tr = document.createElement("tr");
        tr.dataset.id = room.id;
        const check = document.createElement("td");
        const box = document.createElement("input");
        box.type = "checkbox"; box.className = "form-check-input"; box.checked = selected.has(room.id);
        box.setAttribute("aria-label", room.name);
        box.onchange = () => { if (box.checked) selected.set(room.id, room.name); else selected.delete(room.id); syncSelection(); };
        check.append(box); tr.append(check, cell(room.name), cell(room.kind === "video" ? T.video : T.normal));
        if (videoCols) {
          const account = cell(room.bound_account);
          if (room.kind === "video" && !room.bound_account) {
            const badge = document.createElement("span"); badge.className = "badge text-bg-warning"; badge.textContent = T.unbound;
            account.append(badge);
          }
          tr.append(account, cell(room.device_model));
        }
        tr.append(cell(room.created_time.replace("T", " ")));
        const actions = document.createElement("td"); actions.className = "text-end text-nowrap";
        const edit = document.createElement("button");
        edit.type = "button"; edit.className = "btn btn-sm btn-link"; edit.dataset.role = "edit";
        edit.title = T.editAction; edit.setAttribute("aria-label", T.editAction);
        edit.innerHTML = '<i class="bi bi-pencil-square"></i>';
        edit.onclick = () => openDialog(room);
        const del = document.createElement("button");
        del.type = "button"; del.className = "btn btn-sm btn-link text-danger"; del.dataset.role = "delete";
        del.title = T.deleteAction; del.setAttribute("aria-label", T.deleteAction);
        del.innerHTML = '<i class="bi bi-trash"></i>';
        del.onclick = () => remove(new Map([[room.id, room.name]]));
        actions.append(edit, del); tr.append(actions);
        return tr;
      });
      if (!rows.length) {
        const tr = document.createElement("tr"), td = document.createElement("td");
        td.colSpan = 7; td.className = "text-center text-secondary"; td.textContent = T.empty;
        tr.append(td); rows.push(tr);
      }
      $("rooms-rows").replaceChildren(...rows);
      $("rooms-count").textContent = T.count.replace("{filtered}", page.filtered).replace("{total}", page.total);
      const pages = Math.max(1, Math.ceil(page.filtered / state.limit)), current = Math.floor(state.offset / state.limit);
      if (current >= pages && state.offset > 0) { state.offset = (pages - 1) * state.limit; return load(); }
      const ul = $("rooms-pages"); ul.replaceChildren();
      const first = Math.max(0, Math.min(current - 3, pages - 7));
      for (let i = first; i < Math.min(pages, first + 7); i++) {
        const li = document.createElement("li"); li.className = "page-item" + (i === current ? " active" : "");
        const b = document.createElement("button"); b.type = "button"; b.className = "page-link"; b.textContent = i + 1;
        b.onclick = () => { state.offset = i * state.limit; load(); };
        li.append(b); ul.append(li);
      }
      syncSelection();
    }

    // -- the account picker ------------------------------------------------------------
    let searchSeq = 0;
    async function searchAccounts(keep) {
      const seq = ++searchSeq;
      const query = new URLSearchParams({ search: accountSearch.value.trim(), limit: 50 });
      let items = [];
      try { items = (await api("GET", "/api/v1/accounts?" + query)).items || []; } catch (e) { if (!(e instanceof ApiError)) throw e; }
      if (seq !== searchSeq) return; // a newer search answered first
      const current = keep !== undefined ? keep : accountSelect.value;
      const options = items.map((a) => new Option(a.name ? `${a.account} · ${a.name}` : a.account, a.account));
      if (current && !items.some((a) => a.account === current)) options.unshift(new Option(current, current));
      if (!options.length) { const none = new Option(T.noAccounts, ""); none.disabled = true; options.push(none); }
      accountSelect.replaceChildren(...options);
      accountSelect.value = current || "";
    }
    let searchTimer;
    accountSearch.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => searchAccounts(), 250); });
    accountSearch.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); searchAccounts(); } });

    function kindChanged() {
      const video = form.querySelector('[name="kind"]:checked').value === "video";
      $("room-account-group").classList.toggle("d-none", !video);
      accountSelect.disabled = !video;
      accountSearch.disabled = !video;
    }
    form.querySelectorAll('[name="kind"]').forEach((r) => r.addEventListener("change", kindChanged));

    function openDialog(room) {
      editing = room;
      clearErrors(form);
      form.reset();
      dialog.querySelector('[data-role="title"]').textContent = room ? T.edit : T.add;
      const kind = room ? room.kind : (state.kind === "video" ? "video" : "normal");
      form.querySelectorAll('[name="kind"]').forEach((r) => { r.checked = r.value === kind; r.disabled = !!room; });
      $("room-name").value = room ? room.name : "";
      accountSearch.value = "";
      accountSelect.replaceChildren();
      kindChanged();
      if (kind === "video") searchAccounts(room ? room.bound_account : "");
      bootstrap.Modal.getOrCreateInstance(dialog).show();
    }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const res = await submitForm(form, {
        method: editing ? "PUT" : "POST",
        url: editing ? `/api/v1/rooms/${encodeURIComponent(editing.id)}` : "/api/v1/rooms",
      });
      if (res) { bootstrap.Modal.getInstance(dialog).hide(); toast(T.saved); load(); }
    });

    async function remove(rooms) {
      if (!rooms.size) return;
      const names = [...rooms.values()].join(", ");
      if (!(await confirmDialog(`${T.confirmDelete} ${names}`))) return;
      try {
        await api("POST", "/api/v1/rooms/delete", { ids: [...rooms.keys()] });
        for (const id of rooms.keys()) selected.delete(id);
        toast(T.deleted);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        toast(err.message, "danger");
      }
      load();
    }

    // -- list controls -----------------------------------------------------------------
    for (const tab of document.querySelectorAll("#rooms-tabs [data-kind]")) {
      tab.onclick = () => {
        document.querySelectorAll("#rooms-tabs .nav-link").forEach((t) => t.classList.remove("active"));
        tab.classList.add("active");
        state.kind = tab.dataset.kind; state.offset = 0; load();
      };
    }
    const search = () => { state.search = $("rooms-search").value.trim(); state.offset = 0; load(); };
    $("rooms-search-btn").onclick = search;
    $("rooms-search").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
    $("rooms-add").onclick = () => openDialog(null);
    $("rooms-delete").onclick = () => remove(new Map(selected));
    $("rooms-all").onchange = () => {
      const on = $("rooms-all").checked;
      for (const room of shown) { if (on) selected.set(room.id, room.name); else selected.delete(room.id); }
      document.querySelectorAll("#rooms-rows input[type=checkbox]").forEach((b) => { b.checked = on; });
      syncSelection();
    };
    load();
  }

  window.vcbox.roomsPage = roomsPage;
})();
