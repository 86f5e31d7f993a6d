// Meetings page (SPEC §10 Q1-Q3): tabs all / VMRs / scheduled / instant with counts, search
// and paging (the shared list, list.js); "Add VMR" and "Schedule meeting" open one dialog
// (a scheduled meeting also has a start, a duration, participants and rooms); edit (instant
// meetings cannot be edited) and delete one or many after the guide's question. Above the
// list: how callers join, from the call and network settings.
"use strict";
(() => {
  const { api, ApiError, submitForm, clearErrors, confirmDialog, toast, listPage, iconButton, badge } = window.vcbox;
  const DURATIONS = [15, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1440];
  const SEPARATORS = /[\s,，;；、]+/;

  const fill = window.vcbox.fillText;

  // text with its {placeholders} replaced by nodes (or strings), as a list for append().
  function nodes(text, values) {
    const out = [];
    let last = 0;
    for (const m of text.matchAll(/\{(\w+)\}/g)) {
      out.push(text.slice(last, m.index), m[1] in values ? values[m[1]] : m[0]);
      last = m.index + m[0].length;
    }
    out.push(text.slice(last));
    return out.filter((x) => x !== "");
  }

  function element(tag, className, ...content) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    el.append(...content);
    return el;
  }

  // The wall-clock time in an IANA zone as "YYYY-MM-DDTHH:MM" (how the API writes `start`).
  function wallClock(date, zone) {
    let parts;
    try {
      parts = new Intl.DateTimeFormat("en-US", { timeZone: zone || undefined, hourCycle: "h23",
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).formatToParts(date);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      return wallClock(date, ""); // a zone this browser does not know: its own
    }
    const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
  }
  const addMinutes = (iso, min) => new Date(Date.parse(iso + ":00Z") + min * 60000).toISOString().slice(0, 16);

  function meetingsPage(T) {
    const $ = (id) => document.getElementById(id);
    const form = $("form-meeting"), dialog = $("dlg-meeting");
    const field = (name) => form.querySelector(`[name="${name}"]`);
    const settings = { domain: "", zone: "", equal: "", onePlusN: "" };
    const names = new Map(); // account -> name, for the organizer column and the chips
    let editing = null; // the meeting being edited; null when adding

    const muted = (text) => element("span", "text-secondary", text);
    const duration = (min) => {
      const h = Math.floor(min / 60), m = min % 60;
      return h && m ? fill(T.hoursMin, { h, m }) : h ? fill(T.hours, { h }) : fill(T.min, { m });
    };
    const person = (account) => (names.get(account) ? [names.get(account), " ", muted(account)] : [account]);
    const layout = (value) => {
      if (value === "1+n") return settings.onePlusN ? `${T.onePlusN} (${settings.onePlusN})` : T.onePlusN;
      return settings.equal ? `${T.equal} (${settings.equal.replace("x", "*")})` : T.equal;
    };
    const serverNow = () => wallClock(new Date(), settings.zone);

    // When: a VMR is always open; an instant meeting since it started; a scheduled one from
    // its start for its duration (marked while under way and once over).
    function timeCell(m) {
      if (m.kind === "vmr") return muted(T.alwaysOpen);
      if (m.kind === "instant") return fill(T.startedAt, { time: wallClock(new Date(m.created * 1000), settings.zone).replace("T", " ") });
      const td = element("td", "text-nowrap", m.start.replace("T", " "));
      const now = serverNow(), end = addMinutes(m.start, m.duration_min);
      const second = element("div", "small text-secondary", duration(m.duration_min));
      if (m.recurrence) {
        // a series: over once its last day has passed (its occurrences are in the API)
        const until = m.recurrence.until;
        second.append(" · ", fill(m.recurrence.freq === "daily" ? T.daily : T.weekly, { until }));
        if (now.slice(0, 10) > until) second.append(" ", badge(T.ended, "secondary"));
      } else if (now >= end) second.append(" ", badge(T.ended, "secondary"));
      else if (now >= m.start) second.append(" ", badge(T.inProgress, "success"));
      td.append(second);
      return td;
    }

    // -- the list ------------------------------------------------------------------------
    const list = listPage({
      list: "meetings", url: "/api/v1/meetings", kind: "all", order: "start", direction: "desc", T,
      key: (m) => m.id,
      label: (m) => `${m.id} ${m.subject}`,
      batch: [$("meetings-delete")],
      cells: (m) => [
        element("td", "font-monospace", m.id),
        m.subject,
        T[m.kind],
        element("td", "text-nowrap", ...person(m.organizer)),
        timeCell(m),
        m.password ? badge(T.set, "primary") : muted(T.notSet),
        element("td", "text-nowrap", layout(m.layout)),
      ],
      actions: (m) => {
        const edit = iconButton("pencil-square", T.editAction, "edit", () => openDialog(m, m.kind));
        if (m.kind === "instant") {
          edit.disabled = true;
          edit.removeAttribute("title");
          const wrap = element("span", "d-inline-block", edit); // a disabled button shows no title
          wrap.title = T.noEdit; wrap.tabIndex = 0;
          return [wrap, iconButton("trash", T.deleteAction, "delete", () => remove([m]), "text-danger")];
        }
        return [edit, iconButton("trash", T.deleteAction, "delete", () => remove([m]), "text-danger")];
      },
    });

    async function remove(meetings) {
      if (!meetings.length) return;
      const labels = meetings.map((m) => `${m.id} ${m.subject}`).join(", ");
      if (!(await confirmDialog(`${T.confirmDelete} ${labels}`))) return;
      const ids = meetings.map((m) => m.id);
      try {
        await api("POST", "/api/v1/meetings/delete", { ids });
        list.forget(ids);
        toast(T.deleted);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        toast(err.message, "danger");
      }
      list.load();
    }
    $("meetings-delete").onclick = () => remove([...list.selected.values()]);

    // -- how to join (call settings: access numbers; network settings: the domain) -------
    function drawJoin(call, network) {
      const panel = $("meetings-join");
      const domain = network.domain || location.hostname;
      const word = (text) => element("var", "", text);
      const code = (...parts) => element("code", "", ...parts);
      panel.querySelector('[data-role="sip"]').replaceChildren(...nodes(T.sip, {
        address: code(word(T.idWord), "@" + domain),
        address_password: code(word(T.idWord), "**", word(T.passwordWord), "@" + domain),
      }));
      panel.querySelector('[data-role="ivr"]').replaceChildren(...nodes(T.ivr, { ivr: code(call.ivr_number || "—") }));
      panel.querySelector('[data-role="meet-now"]').replaceChildren(...nodes(T.meetNow, { meet_now: code(call.meet_now_number || "—") }));
    }

    async function loadContext() {
      const get = (url) => api("GET", url).catch((err) => { if (!(err instanceof ApiError)) throw err; return {}; });
      const [call, network, time, accounts] = await Promise.all([
        get("/api/v1/settings/call"), get("/api/v1/settings/network"), get("/api/v1/settings/time"),
        get("/api/v1/accounts?limit=1000")]);
      settings.domain = network.domain || "";
      settings.zone = time.timezone || "";
      settings.equal = call.equal_layout || "";
      settings.onePlusN = call.one_plus_n_layout || "";
      for (const a of accounts.items || []) names.set(a.account, a.name);
      drawJoin(call, network);
      const zone = (T.zones || {})[settings.zone];
      const hint = form.querySelector('[name="start"]').parentElement;
      if (zone && !hint.querySelector(".form-text")) hint.append(element("div", "form-text", fill(T.zone, { zone })));
      // The layout select names the call settings' layouts too.
      for (const option of form.querySelector('[name="layout"]').options) option.textContent = layout(option.value);
    }

    // -- account suggestions (organizer, participants) -----------------------------------
    const datalist = $("meeting-accounts");
    const suggested = new Set();
    let searchSeq = 0, searchTimer;
    async function suggest(text) {
      const seq = ++searchSeq;
      let items = [];
      try { items = (await api("GET", "/api/v1/accounts?" + new URLSearchParams({ search: text.trim(), limit: 50 }))).items || []; } catch (e) { if (!(e instanceof ApiError)) throw e; }
      if (seq !== searchSeq) return; // a newer search answered first
      suggested.clear();
      datalist.replaceChildren(...items.map((a) => {
        names.set(a.account, a.name); suggested.add(a.account);
        return new Option(a.name, a.account);
      }));
      nameOrganizer();
      if (participants.some((a) => names.has(a))) drawChips(); // names learnt just now
    }
    const suggestSoon = (text) => { clearTimeout(searchTimer); searchTimer = setTimeout(() => suggest(text), 200); };
    const organizerHint = form.querySelector('[data-role="organizer-hint"]');
    organizerHint.dataset.text = organizerHint.textContent;
    function nameOrganizer() { // the name of the account typed or picked, once known
      const name = names.get(field("organizer").value.trim());
      organizerHint.replaceChildren(...(name ? [element("i", "bi bi-person-check text-success"), " ", name] : [organizerHint.dataset.text]));
    }
    form.querySelector('[name="organizer"]').addEventListener("input", (e) => { nameOrganizer(); suggestSoon(e.target.value); });

    // -- participants: account chips -------------------------------------------------------
    const chipBox = $("meeting-participants"), chipInput = $("meeting-participant-input");
    let participants = [];
    function drawChips() {
      chipBox.querySelectorAll("[data-account]").forEach((c) => c.remove());
      for (const account of participants) {
        const chip = element("span", "badge rounded-pill text-bg-light border fw-normal d-inline-flex align-items-center gap-1 py-1 px-2",
          names.get(account) ? `${account} ${names.get(account)}` : account);
        chip.dataset.account = account;
        const x = element("button", "btn-close");
        x.type = "button"; x.style.fontSize = ".5rem"; x.setAttribute("aria-label", `${T.remove} ${account}`);
        x.onclick = () => { participants = participants.filter((p) => p !== account); drawChips(); chipInput.focus(); };
        chip.append(x);
        chipBox.insertBefore(chip, chipInput);
      }
      chipInput.placeholder = participants.length ? "" : chipInput.dataset.placeholder;
    }
    chipInput.dataset.placeholder = chipInput.placeholder;
    function addParticipants(text) {
      for (const token of text.split(SEPARATORS)) {
        if (token && !participants.includes(token)) participants.push(token);
      }
      drawChips();
    }
    function commitTyped() {
      if (!chipInput.value.trim()) return false;
      addParticipants(chipInput.value); chipInput.value = "";
      return true;
    }
    chipInput.addEventListener("input", (e) => {
      const value = chipInput.value;
      if (SEPARATORS.test(value)) { // typed or pasted a list: all but a last, unfinished one
        const parts = value.split(SEPARATORS);
        const rest = SEPARATORS.test(value.slice(-1)) ? "" : parts.pop();
        addParticipants(parts.join(" ")); chipInput.value = rest;
      } else if ((!e.inputType || e.inputType === "insertReplacementText") && suggested.has(value)) {
        commitTyped(); // picked from the suggestions
      } else if (value.trim()) suggestSoon(value);
    });
    chipInput.addEventListener("keydown", (e) => {
      // Enter in the participants box adds what was typed; it never submits the dialog.
      if (e.key === "Enter") { e.preventDefault(); commitTyped(); }
      else if (e.key === "Backspace" && !chipInput.value && participants.length) { participants.pop(); drawChips(); }
    });
    chipInput.addEventListener("blur", commitTyped);
    chipBox.addEventListener("click", (e) => { if (e.target === chipBox) chipInput.focus(); });

    // -- rooms: a check box per room -----------------------------------------------------------
    const roomBox = $("meeting-rooms");
    async function drawRooms(chosen) {
      let rooms = [];
      try { rooms = (await api("GET", "/api/v1/rooms?limit=1000")).items || []; } catch (e) { if (!(e instanceof ApiError)) throw e; }
      if (!rooms.length) {
        const link = element("a", "", T.roomsPage); link.href = "/rooms";
        roomBox.replaceChildren(element("div", "text-secondary small py-1", T.noRooms, " ", link));
        return;
      }
      rooms.sort((a, b) => a.name.localeCompare(b.name));
      const grid = element("div", "row row-cols-1 row-cols-md-2 g-1");
      rooms.forEach((room, i) => {
        const box = element("input", "form-check-input");
        box.type = "checkbox"; box.name = "rooms"; box.value = room.id; box.id = `meeting-room-${i}`;
        box.dataset.skip = "1"; box.checked = box.defaultChecked = chosen.includes(room.id);
        const label = element("label", "form-check-label", room.name, " ",
          element("span", "text-secondary small", room.kind === "video" ? T.videoRoom : T.normalRoom));
        label.htmlFor = box.id;
        grid.append(element("div", "col", element("div", "form-check mb-0", box, label)));
      });
      roomBox.replaceChildren(grid);
    }

    // -- the dialog ---------------------------------------------------------------------------
    for (const [name, max] of [["id", 10], ["password", 12]]) { field(name).inputMode = "numeric"; field(name).maxLength = max; }
    field("subject").maxLength = 255;

    function setKind(kind) {
      field("kind").value = kind;
      const scheduled = kind === "scheduled";
      $("meeting-schedule-fields").classList.toggle("d-none", !scheduled);
      for (const name of ["start", "duration_min"]) field(name).disabled = !scheduled;
    }
    $("f-freq").addEventListener("change", () => { $("f-until").disabled = !$("f-freq").value; });

    function durations(current) {
      const values = DURATIONS.includes(current) ? DURATIONS : [...DURATIONS, current].sort((a, b) => a - b);
      field("duration_min").replaceChildren(...values.map((v) => new Option(duration(v), v)));
      field("duration_min").value = String(current);
    }

    function nextHalfHour() {
      const now = serverNow(), minutes = Number(now.slice(14, 16));
      return addMinutes(now.slice(0, 14) + "00", minutes < 30 ? 30 : 60);
    }

    async function openDialog(meeting, kind) {
      // What needs the server first; then the form is filled and shown in one go, so
      // nothing typed meanwhile is reset.
      if (kind === "scheduled") await drawRooms(meeting ? meeting.rooms : []);
      editing = meeting;
      clearErrors(form);
      form.reset();
      setKind(kind);
      dialog.querySelector('[data-role="title"]').textContent = meeting ? T.edit : kind === "vmr" ? T.addVmr : T.schedule;
      field("subject").value = meeting ? meeting.subject : "";
      field("id").value = meeting ? meeting.id : "";
      field("password").value = meeting ? meeting.password : "";
      field("organizer").value = meeting ? meeting.organizer : "";
      field("layout").value = meeting ? meeting.layout : "equal";
      field("allow_guests").checked = !!(meeting && meeting.allow_guests);
      const series = meeting && meeting.recurrence;
      $("f-freq").value = series ? series.freq : "";
      $("f-until").value = series ? series.until : "";
      $("f-until").disabled = !series;
      nameOrganizer();
      participants = meeting && meeting.participants ? [...meeting.participants] : [];
      chipInput.value = "";
      drawChips();
      if (kind === "scheduled") {
        durations(meeting ? meeting.duration_min : 60);
        field("start").value = meeting ? meeting.start : nextHalfHour();
      }
      suggest("");
      bootstrap.Modal.getOrCreateInstance(dialog).show();
    }
    dialog.addEventListener("shown.bs.modal", () => field("subject").focus());

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      commitTyped();
      const scheduled = field("kind").value === "scheduled";
      const res = await submitForm(form, {
        method: editing ? "PUT" : "POST",
        url: editing ? `/api/v1/meetings/${encodeURIComponent(editing.id)}` : "/api/v1/meetings",
        transform: (data) => {
          if (data.id === "") delete data.id; // vcbox chooses one (or, editing, keeps it)
          if (editing) delete data.kind;
          if (scheduled) {
            data.participants = [...participants];
            data.rooms = [...roomBox.querySelectorAll('input[name="rooms"]:checked')].map((b) => b.value);
            const freq = $("f-freq").value;
            data.recurrence = freq ? { freq, until: $("f-until").value } : null;
          }
          return data;
        },
        onError: (err) => { // the boxes around the chips and the rooms are marked too
          const details = err.body.details || {};
          chipBox.classList.toggle("is-invalid", "participants" in details);
          roomBox.classList.toggle("is-invalid", "rooms" in details);
        },
      });
      if (res) {
        bootstrap.Modal.getInstance(dialog).hide();
        toast(T.saved);
        list.load();
      }
    });

    $("meetings-add-vmr").onclick = () => openDialog(null, "vmr");
    $("meetings-schedule").onclick = () => openDialog(null, "scheduled");

    loadContext().finally(list.load);
  }

  window.vcbox.meetingsPage = meetingsPage;
})();
