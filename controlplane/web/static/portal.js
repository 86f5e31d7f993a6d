// The enterprise users' portal (/portal): sign-in, the account's VMRs, its meetings and the
// booking dialog, over /api/v1/portal/*.
"use strict";
(() => {
  const T = window.PORTAL_T;
  const $ = (id) => document.getElementById(id);
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => values[k] ?? "");
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const login = $("form-portal-login");
  if (login) {
    vcbox.bindForm(login, { onOk: () => location.reload() });
    return;
  }

  $("portal-logout").onclick = async () => {
    try { await vcbox.api("DELETE", "/api/v1/portal/session"); } finally { location.href = "/portal"; }
  };

  // -- the account and its VMRs ------------------------------------------------------------
  async function loadMe() {
    const me = await vcbox.api("GET", "/api/v1/portal/me");
    $("portal-who").lastChild.textContent = ` ${me.name || me.account} (${me.account})`;
    $("portal-ivr").textContent = me.ivr_number || "—";
    $("portal-meet-now").textContent = me.meet_now_number || "—";
    $("portal-domain").textContent = me.domain;
    const box = $("portal-vmrs");
    box.replaceChildren();
    if (!me.vmrs.length) { box.append(el("p", "text-secondary mb-0", T.noVmr)); return; }
    for (const vmr of me.vmrs) {
      const item = el("div", "portal-vmr");
      const head = el("div", "d-flex align-items-center gap-2 mb-1");
      head.append(el("span", "fw-semibold", vmr.subject), el("span", "badge text-bg-light", vmr.id));
      const join = el("a", "btn btn-sm btn-outline-primary ms-auto", T.joinBrowser);
      join.href = vmr.join_url;
      head.append(join);
      const facts = el("dl", "row mb-0 small sys-facts");
      const add = (k, v) => { facts.append(el("dt", "col-4", k), el("dd", "col-8 mb-1 font-monospace", v)); };
      add(T.dial, vmr.dial);
      if (vmr.dial_with_password) add(T.dialPassword, vmr.dial_with_password);
      add(T.password, vmr.password || T.none);
      item.append(head, facts);
      box.append(item);
    }
  }

  // -- the meetings --------------------------------------------------------------------------
  let meetings = [];
  const when = (iso) => iso.replace("T", " ");
  function repeats(m) {
    if (!m.recurrence) return T.once;
    return fmt(m.recurrence.freq === "daily" ? T.daily : T.weekly, { until: m.recurrence.until });
  }
  let roomNames = {};

  async function loadMeetings() {
    const search = $("portal-search").value.trim();
    const res = await vcbox.api("GET", "/api/v1/portal/meetings?search=" + encodeURIComponent(search));
    meetings = res.items;
    const body = $("portal-meetings").tBodies[0];
    body.replaceChildren();
    if (!meetings.length) {
      const row = body.insertRow();
      const cell = row.insertCell();
      cell.colSpan = 8; cell.className = "text-center text-secondary py-4";
      cell.textContent = res.total ? T.noMatch : T.noMeetings;
      return;
    }
    for (const m of meetings) {
      const row = body.insertRow();
      row.dataset.id = m.id;
      const subject = row.insertCell();
      subject.append(el("div", "fw-semibold", m.subject),
        el("span", "badge " + (m.role === "organizer" ? "text-bg-primary" : "text-bg-secondary"),
          m.role === "organizer" ? T.organizer : T.invited));
      row.insertCell().textContent = m.id;
      row.insertCell().textContent = when(m.start);
      row.insertCell().textContent = fmt(T.minutes, { n: m.duration_min });
      row.insertCell().textContent = repeats(m);
      row.insertCell().textContent = m.rooms.map((r) => roomNames[r] || r).join(", ") || "—";
      row.insertCell().textContent = m.people.map((p) => p.name ? `${p.name} (${p.account})` : p.account).join(", ") || "—";
      const actions = row.insertCell();
      actions.className = "text-end text-nowrap";
      const join = el("a", "btn btn-sm btn-outline-primary me-1", T.joinBrowser);
      join.href = m.join_url;
      actions.append(join);
      if (m.role === "organizer") {
        const edit = el("button", "btn btn-sm btn-outline-secondary me-1", T.editIt);
        edit.dataset.action = "edit"; edit.onclick = () => openBooking(m);
        const cancel = el("button", "btn btn-sm btn-outline-danger", T.cancelIt);
        cancel.dataset.action = "cancel"; cancel.onclick = () => cancelMeeting(m);
        actions.append(edit, cancel);
      }
    }
  }

  async function cancelMeeting(m) {
    if (!(await vcbox.confirmDialog(fmt(T.cancelAsk, { subject: m.subject })))) return;
    await vcbox.api("DELETE", "/api/v1/portal/meetings/" + encodeURIComponent(m.id));
    vcbox.toast(T.cancelled);
    await loadMeetings();
  }

  // -- the booking dialog ----------------------------------------------------------------------
  const form = $("form-booking");
  const dialog = bootstrap.Modal.getOrCreateInstance($("dlg-booking"));
  let editing = null;
  let chosen = new Map();   // account -> name
  let checkedRooms = new Set();

  function drawChosen() {
    const box = $("b-chosen");
    box.replaceChildren();
    for (const [account, name] of chosen) {
      const chip = el("span", "badge rounded-pill text-bg-light border d-inline-flex align-items-center gap-1",
        name ? `${name} (${account})` : account);
      const x = el("button", "btn-close btn-close-sm");
      x.type = "button"; x.title = T.remove; x.style.fontSize = ".55rem";
      x.onclick = () => { chosen.delete(account); drawChosen(); };
      chip.append(x);
      box.append(chip);
    }
  }

  let searchTimer;
  $("b-people").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const text = $("b-people").value.trim();
      const box = $("b-found");
      box.replaceChildren();
      if (!text) return;
      const res = await vcbox.api("GET", "/api/v1/portal/accounts?search=" + encodeURIComponent(text));
      for (const a of res.items.slice(0, 8)) {
        const item = el("button", "list-group-item list-group-item-action py-1", `${a.name} (${a.account})`);
        item.type = "button"; item.dataset.account = a.account;
        item.onclick = () => { chosen.set(a.account, a.name); drawChosen(); box.replaceChildren(); $("b-people").value = ""; };
        box.append(item);
      }
    }, 200);
  });

  async function drawRooms() {
    const start = $("b-start").value, minutes = $("b-duration").value;
    const params = new URLSearchParams();
    if (start && minutes) { params.set("start", start); params.set("duration_min", minutes); }
    if (editing) params.set("skip", editing.id);
    let res;
    try { res = await vcbox.api("GET", "/api/v1/portal/rooms?" + params); } catch (e) { return; }
    const box = $("b-rooms");
    box.replaceChildren();
    if (!res.items.length) { box.append(el("p", "text-secondary small mb-0", T.noRooms)); return; }
    if (!params.has("start")) box.append(el("p", "form-text mt-0", T.pickTime));
    for (const room of res.items) {
      roomNames[room.id] = room.name;
      const line = el("div", "form-check");
      const box2 = el("input", "form-check-input");
      box2.type = "checkbox"; box2.id = "room-" + room.id; box2.value = room.id; box2.dataset.skip = "1";
      box2.checked = checkedRooms.has(room.id);
      box2.onchange = () => { if (box2.checked) checkedRooms.add(room.id); else checkedRooms.delete(room.id); };
      const label = el("label", "form-check-label");
      label.htmlFor = box2.id;
      label.append(el("span", "", room.name + " "),
        el("span", "badge text-bg-light border me-1", room.kind === "video" ? T.video : T.normal));
      if (params.has("start")) {
        label.append(room.busy
          ? el("span", "text-danger small", fmt(T.busy, { subject: room.busy.subject, start: when(room.busy.start) }))
          : el("span", "text-success small", T.free));
      }
      line.append(box2, label);
      box.append(line);
    }
  }
  $("b-start").addEventListener("change", drawRooms);
  $("b-duration").addEventListener("change", drawRooms);
  $("b-freq").addEventListener("change", () => { $("b-until").disabled = !$("b-freq").value; });

  function openBooking(m) {
    editing = m || null;
    vcbox.clearErrors(form);
    form.querySelector('[data-role="title"]').textContent = m ? T.edit : T.book;
    $("b-submit").textContent = m ? T.save : T.bookIt;
    $("b-subject").value = m ? m.subject : "";
    const next = new Date(Date.now() + 3600e3);
    next.setMinutes(0, 0, 0);
    const local = new Date(next.getTime() - next.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
    $("b-start").value = m ? m.start : local;
    $("b-duration").value = m ? m.duration_min : 60;
    $("b-password").value = m ? m.password : "";
    $("b-freq").value = m && m.recurrence ? m.recurrence.freq : "";
    $("b-until").value = m && m.recurrence ? m.recurrence.until : "";
    $("b-until").disabled = !$("b-freq").value;
    $("b-guests").checked = !!(m && m.allow_guests);
    chosen = new Map((m ? m.people : []).map((p) => [p.account, p.name]));
    checkedRooms = new Set(m ? m.rooms : []);
    drawChosen();
    $("b-found").replaceChildren();
    drawRooms();
    dialog.show();
  }
  $("portal-book").onclick = () => openBooking(null);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const freq = $("b-freq").value;
    await vcbox.submitForm(form, {
      method: editing ? "PUT" : "POST",
      url: editing ? "/api/v1/portal/meetings/" + encodeURIComponent(editing.id) : "/api/v1/portal/meetings",
      transform: (data) => ({
        ...data,
        participants: [...chosen.keys()],
        rooms: [...checkedRooms],
        recurrence: freq ? { freq, until: $("b-until").value } : null,
      }),
      onOk: async () => {
        dialog.hide();
        vcbox.toast(editing ? T.changed : T.booked);
        await loadMeetings();
      },
    });
  });

  let searchDelay;
  $("portal-search").addEventListener("input", () => { clearTimeout(searchDelay); searchDelay = setTimeout(loadMeetings, 250); });

  (async () => {
    await loadMe();
    await drawRooms();
    await loadMeetings();
  })();
})();
