// Meeting rooms page on the shared list (static/list.js): tabs all / normal / video,
// search, sorting, paging, add / edit dialog
// (the kind switches the bound-account field; accounts are picked from a search of the
// accounts API), delete one or many after the guide's confirm question.
"use strict";
(() => {
  const { api, ApiError, submitForm, clearErrors, confirmDialog, toast, listPage, cell, badge, iconButton } = window.vcbox;

  function roomsPage(T) {
    const $ = (id) => document.getElementById(id);
    const form = $("form-room"), dialog = $("dlg-room");
    const accountSelect = $("room-account"), accountSearch = $("room-account-search");
    let editing = null; // the room being edited, or null when adding

    // The bound account and device model columns belong to video rooms: hidden on the
    // normal rooms' tab.
    const videoCols = () => list.state.kind !== "normal";
    const list = listPage({
      list: "rooms", url: "/api/v1/rooms", kind: "all", order: "created", direction: "desc",
      key: (room) => room.id,
      label: (room) => room.name,
      cells: (room) => {
        const cells = [room.name, room.kind === "video" ? T.video : T.normal];
        if (videoCols()) {
          const account = cell(room.bound_account);
          if (room.kind === "video" && !room.bound_account) account.append(badge(T.unbound, "warning"));
          cells.push(account, room.device_model);
        }
        cells.push(room.created_time.replace("T", " "));
        return cells;
      },
      actions: (room) => [
        iconButton("pencil-square", T.editAction, "edit", () => openDialog(room)),
        iconButton("trash", T.deleteAction, "delete", () => remove(new Map([[room.id, room]])), "text-danger")],
      batch: [$("rooms-delete")],
      onLoad: () => {
        document.querySelectorAll("#rooms-table [data-video-only]").forEach((th) => th.classList.toggle("d-none", !videoCols()));
      },
      T,
    });
    const load = list.load;

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

    function kindChanged(fetch = true) {
      const video = form.querySelector('[name="kind"]:checked').value === "video";
      $("room-account-group").classList.toggle("d-none", !video);
      accountSelect.disabled = !video;
      accountSearch.disabled = !video;
      // Switched to a video room: offer the accounts at once, not only after typing.
      if (fetch && video && !accountSelect.options.length) searchAccounts("");
    }
    form.querySelectorAll('[name="kind"]').forEach((r) => r.addEventListener("change", () => kindChanged()));

    function openDialog(room) {
      editing = room;
      clearErrors(form);
      form.reset();
      dialog.querySelector('[data-role="title"]').textContent = room ? T.edit : T.add;
      const kind = room ? room.kind : (list.state.kind === "video" ? "video" : "normal");
      form.querySelectorAll('[name="kind"]').forEach((r) => { r.checked = r.value === kind; r.disabled = !!room; });
      $("room-name").value = room ? room.name : "";
      accountSearch.value = "";
      accountSelect.replaceChildren();
      kindChanged(false);
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
      const names = [...rooms.values()].map((r) => r.name).join(", ");
      if (!(await confirmDialog(`${T.confirmDelete} ${names}`))) return;
      try {
        await api("POST", "/api/v1/rooms/delete", { ids: [...rooms.keys()] });
        list.forget(rooms.keys());
        toast(T.deleted);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        toast(err.message, "danger");
      }
      load();
    }

    $("rooms-add").onclick = () => openDialog(null);
    $("rooms-delete").onclick = () => remove(new Map(list.selected));
    load();
  }

  window.vcbox.roomsPage = roomsPage;
})();
