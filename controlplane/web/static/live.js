// 系统状态 -> 实时会议 (views/live.html): the shared list over /api/v1/meetings/live,
// refreshed every 5 s; 查看 opens a meeting with its participants and the moderation
// buttons (each a POST under /api/v1/meetings/live/<id>/...). The dialog follows the
// refreshes; when the meeting ends it says so.
"use strict";
(() => {
  const { api, ApiError, listPage, iconButton, badge, cell, confirmDialog, toast } = window.vcbox;
  const fill = window.vcbox.fillText;

  const duration = window.vcbox.hms;

  function livePage(T) {
    const $ = (id) => document.getElementById(id);
    const dlg = $("dlg-live-meeting");
    const part = (role) => dlg.querySelector(`[data-role="${role}"]`);
    let open = null; // the meeting the dialog shows

    const person = (account, name) => (name && name !== account ? `${name} (${account})` : account || "—");

    async function act(path, body) {
      part("error").classList.add("d-none");
      try {
        await api("POST", `/api/v1/meetings/live/${encodeURIComponent(open.id)}/${path}`, body || {});
        await list.load(true);
        return true;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        part("error").textContent = [err.message, ...Object.values(err.body.details || {})].join(" ");
        part("error").classList.remove("d-none");
        return false;
      }
    }

    function draw(meeting) {
      open = meeting;
      part("title").textContent = `${meeting.subject || T[meeting.kind]} · ${meeting.id}`;
      const p2p = meeting.kind === "p2p";
      for (const role of ["mute-all", "unmute-all", "lock", "invite", "invite-account", "end"]) part(role).disabled = p2p;
      part("lock").innerHTML = meeting.locked ? `<i class="bi bi-unlock"></i> ${T.unlock}` : `<i class="bi bi-lock"></i> ${T.lock}`;
      part("members").replaceChildren(...meeting.members.map((m) => {
        const tr = document.createElement("tr");
        tr.dataset.account = m.account;
        const audio = m.muted ? badge(T.muted, "warning") : badge(T.speaking, "success");
        const video = m.video ? badge(T.videoOn, "primary") : badge(T.videoOff, "secondary");
        const actions = cell();
        actions.className = "text-end text-nowrap";
        if (!p2p) {
          actions.append(
            m.muted ? iconButton("mic", T.unmute, "unmute", () => act(`members/${m.id}/unmute`))
              : iconButton("mic-mute", T.mute, "mute", () => act(`members/${m.id}/mute`)),
            iconButton("person-x", T.kick, "kick", async () => {
              if (await confirmDialog(fill(T.confirmKick, { name: person(m.account, m.name) }))) act(`members/${m.id}/kick`);
            }, "text-danger"));
        }
        tr.append(cell(m.name || "—"), cell(m.account), cell(m.device_model || "—"), cell(audio), cell(video), cell(duration(m.joined_s)), actions);
        return tr;
      }));
    }

    const list = listPage({
      list: "live", url: "/api/v1/meetings/live", select: false,
      key: (m) => m.id,
      cells: (m) => {
        const type = cell(T[m.kind] || m.kind);
        if (m.locked) type.append(" ", badge(T.locked, "secondary"));
        return [m.subject || "—", m.start_time.replace("T", " "), person(m.organizer, m.organizer_name), type,
          m.kind === "p2p" ? "—" : m.id, duration(m.duration_s), fill(T.people, { n: m.members.length })];
      },
      actions: (m) => [iconButton("eye", T.view, "view", () => {
        part("error").classList.add("d-none");
        draw(m);
        bootstrap.Modal.getOrCreateInstance(dlg).show();
      })],
      onLoad: (page) => {
        if (!open) return;
        const now = page.items.find((m) => m.id === open.id);
        if (now) draw(now);
        else if (dlg.classList.contains("show")) {
          part("members").replaceChildren();
          part("error").textContent = T.ended; part("error").classList.remove("d-none");
        }
      },
      T,
    });

    part("mute-all").onclick = () => act("members/all/mute");
    part("unmute-all").onclick = () => act("members/all/unmute");
    part("lock").onclick = () => act(open.locked ? "unlock" : "lock");
    part("invite").onclick = async () => {
      const account = part("invite-account").value.trim();
      if (await act("invite", { account })) { toast(fill(T.invited, { account })); part("invite-account").value = ""; }
    };
    part("invite-account").addEventListener("keydown", (e) => { if (e.key === "Enter") part("invite").click(); });
    part("end").onclick = async () => {
      if (!(await confirmDialog(T.confirmEnd))) return;
      if (await act("end")) { bootstrap.Modal.getInstance(dlg).hide(); toast(T.ended); }
    };
    dlg.addEventListener("hidden.bs.modal", () => { open = null; });
    // Accounts to invite: offered as the administrator types.
    api("GET", "/api/v1/accounts?limit=1000").then((page) => {
      $("live-accounts").replaceChildren(...page.items.map((a) => new Option(a.name, a.account)));
    }).catch(() => {});
    list.load();
    list.every(5);
  }

  window.vcbox.livePage = livePage;
})();
