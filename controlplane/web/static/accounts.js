// Accounts page (E1-E8): search and paging, create (then the generated details with "send
// mail" or "later"), edit name / e-mail ("save" or "save and send"), password reset, the
// account mail to one or many with the failures per recipient, delete one or many after the
// guide's confirm question. The batch import dialog is another script's (#btn-import,
// #import-slot); it may call vcbox.accountsReload() after an import.
"use strict";
(() => {
  const { api, ApiError, bindForm, clearErrors, showErrors, confirmDialog, toast } = window.vcbox;

  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

  function iconButton(icon, label, role, onclick) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "btn btn-sm btn-link"; b.dataset.role = role;
    b.title = label; b.setAttribute("aria-label", label);
    b.innerHTML = `<i class="bi bi-${icon}"></i>`;
    b.onclick = onclick;
    return b;
  }

  function accountsPage(T) {
    const $ = (id) => document.getElementById(id);
    const state = { search: "", offset: 0, limit: 20 };
    const selected = new Map(); // account -> name, across pages
    const modal = (id) => bootstrap.Modal.getOrCreateInstance($(id));

    function syncSelection() {
      $("accounts-mail").disabled = $("accounts-delete").disabled = selected.size === 0;
      $("accounts-selected").textContent = selected.size ? T.selected.replace("{n}", selected.size) : "";
      const boxes = [...document.querySelectorAll("#accounts-rows input[type=checkbox]")];
      $("accounts-all").checked = boxes.length > 0 && boxes.every((b) => b.checked);
    }

    async function load() {
      const query = new URLSearchParams(Object.entries(state).filter(([, v]) => v !== ""));
      const page = await api("GET", "/api/v1/accounts?" + query);
      if (!page.items.length && state.offset > 0 && page.filtered > 0) {
        state.offset = Math.max(0, (Math.ceil(page.filtered / state.limit) - 1) * state.limit);
        return load();
      }
      const rows = page.items.map((item) => {
        const tr = document.createElement("tr");
        tr.dataset.account = item.account;
        const check = document.createElement("td");
        const box = document.createElement("input");
        box.type = "checkbox"; box.className = "form-check-input"; box.checked = selected.has(item.account);
        box.setAttribute("aria-label", `${item.name} ${item.account}`);
        box.onchange = () => { if (box.checked) selected.set(item.account, item.name); else selected.delete(item.account); syncSelection(); };
        check.append(box);
        const name = cell(item.name);
        if (item.needs_reset) {
          const badge = document.createElement("span");
          badge.className = "badge text-bg-warning ms-2"; badge.textContent = T.needsReset;
          name.append(badge);
        }
        tr.append(check, name, cell(item.account), cell(item.email), cell(item.created_time.replace("T", " ")));
        const actions = document.createElement("td"); actions.className = "text-end text-nowrap";
        actions.append(
          iconButton("pencil-square", T.editAction, "edit", () => openEdit(item)),
          iconButton("envelope", T.mailAction, "mail", () => openMail([item.account])),
          iconButton("trash", T.deleteAction, "delete", () => remove([item.account])));
        tr.append(actions);
        return tr;
      });
      if (!rows.length) {
        const tr = document.createElement("tr");
        tr.innerHTML = '<td colspan="6" class="text-center text-secondary"></td>';
        tr.firstChild.textContent = T.empty; rows.push(tr);
      }
      $("accounts-rows").replaceChildren(...rows);
      $("accounts-count").textContent = T.count.replace("{filtered}", page.filtered).replace("{total}", page.total);
      const pages = Math.max(1, Math.ceil(page.filtered / state.limit)), current = Math.floor(state.offset / state.limit);
      const ul = $("accounts-pages"); ul.replaceChildren();
      const first = Math.max(0, Math.min(current - 3, pages - 7));
      for (let i = first; i < Math.min(pages, first + 7); i++) {
        const li = document.createElement("li"); li.className = "page-item" + (i === current ? " active" : "");
        const a = document.createElement("button"); a.type = "button"; a.className = "page-link"; a.textContent = i + 1;
        a.onclick = () => { state.offset = i * state.limit; load(); };
        li.append(a); ul.append(li);
      }
      syncSelection();
    }

    // -- generated details (after create or reset): send now or later -----------------
    let details = null; // {account, password, ...} shown in the details dialog
    function showDetails(res, title) {
      details = res;
      const dlg = $("dlg-account-details");
      dlg.querySelector('[data-role="title"]').textContent = title;
      const server = res.server || {};
      const values = { name: res.name, account: res.account, password: res.password, email: res.email || "—",
        server: [server.domain, server.address && server.address !== server.domain ? server.address : "",
          server.sip_port ? `SIP ${server.sip_port}` : ""].filter(Boolean).join(" · ") };
      for (const [k, v] of Object.entries(values)) dlg.querySelector(`[data-field="${k}"]`).textContent = v;
      const box = dlg.querySelector('[data-role="mail"]'); box.className = "alert mt-3 mb-0 d-none";
      const send = dlg.querySelector('[data-role="send"]'); send.disabled = !res.email; send.classList.remove("d-none");
      modal("dlg-account-details").show();
    }

    function showMailResult(box, result) {
      box.classList.remove("d-none", "alert-success", "alert-danger");
      if (result.ok) { box.classList.add("alert-success"); box.textContent = T.mailSent.replace("{email}", result.email); }
      else { box.classList.add("alert-danger"); box.textContent = T.mailFailed.replace("{error}", result.error || ""); }
    }

    $("dlg-account-details").querySelector('[data-role="send"]').onclick = async (ev) => {
      const button = ev.currentTarget, box = $("dlg-account-details").querySelector('[data-role="mail"]');
      button.disabled = true;
      try {
        const res = await api("POST", "/api/v1/accounts/mail", { accounts: [details.account], passwords: { [details.account]: details.password } });
        showMailResult(box, res.results[0]);
        if (res.results[0].ok) button.classList.add("d-none"); else button.disabled = false;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        showMailResult(box, { ok: false, error: err.message });
        button.disabled = false;
      }
    };
    // The password lives only in this dialog: forget it when it closes.
    $("dlg-account-details").addEventListener("hidden.bs.modal", () => {
      details = null;
      $("dlg-account-details").querySelector('[data-field="password"]').textContent = "";
    });

    // -- create -------------------------------------------------------------------------
    const createForm = $("form-account-create");
    $("accounts-add").onclick = () => { createForm.reset(); clearErrors(createForm); modal("dlg-account-create").show(); };
    bindForm(createForm, { onOk: async (res) => {
      modal("dlg-account-create").hide(); createForm.reset();
      showDetails(res, T.created);
      await load();
    } });

    // -- edit, reset ----------------------------------------------------------------------
    const editForm = $("form-account-edit");
    let editing = null;
    function openEdit(item) {
      editing = item; editForm.reset(); clearErrors(editForm);
      $("account-edit-account").value = item.account;
      vcbox.fill(editForm, { name: item.name, email: item.email });
      modal("dlg-account-edit").show();
    }
    async function saveEdit(sendMail) {
      clearErrors(editForm);
      try {
        const res = await api("PUT", `/api/v1/accounts/${encodeURIComponent(editing.account)}`, { ...vcbox.formData(editForm), send_mail: sendMail });
        modal("dlg-account-edit").hide();
        if (res.mail) {
          if (res.mail.ok) toast(T.mailSent.replace("{email}", res.mail.email));
          else toast(T.mailFailed.replace("{error}", res.mail.error || ""), "danger");
        } else toast(T.saved);
        await load();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        showErrors(editForm, err);
      }
    }
    editForm.addEventListener("submit", (ev) => { ev.preventDefault(); saveEdit(false); });
    editForm.querySelector('[data-role="save-send"]').onclick = () => saveEdit(true);
    $("account-reset").onclick = async () => {
      if (!(await confirmDialog(T.confirmReset))) return;
      try {
        const res = await api("POST", `/api/v1/accounts/${encodeURIComponent(editing.account)}/password`, {});
        modal("dlg-account-edit").hide();
        showDetails(res, T.reset);
        await load();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        showErrors(editForm, err);
      }
    };

    // -- mail to one or many ----------------------------------------------------------
    let mailTo = [];
    const mailDlg = $("dlg-account-mail");
    const part = (role) => mailDlg.querySelector(`[data-role="${role}"]`);
    function openMail(accounts) {
      mailTo = accounts;
      part("question").classList.remove("d-none"); part("results").classList.add("d-none");
      part("error").classList.add("d-none"); part("send").classList.remove("d-none"); part("send").disabled = false;
      modal("dlg-account-mail").show();
    }
    part("send").onclick = async () => {
      part("send").disabled = true; part("error").classList.add("d-none");
      try {
        const res = await api("POST", "/api/v1/accounts/mail", { accounts: mailTo });
        part("question").classList.add("d-none"); part("send").classList.add("d-none");
        part("summary").textContent = res.failed ? T.mailSummary.replace("{sent}", res.sent).replace("{failed}", res.failed) : T.allSent;
        part("failures").replaceChildren(...res.results.filter((r) => !r.ok).map((r) => {
          const tr = document.createElement("tr"); tr.append(cell(r.account), cell(r.email), cell(r.error)); return tr;
        }));
        part("failures").closest("table").classList.toggle("d-none", !res.failed);
        part("results").classList.remove("d-none");
        if (!res.failed) toast(T.allSent);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        part("error").textContent = [err.message, ...Object.values(err.body.details || {})].join(" ");
        part("error").classList.remove("d-none"); part("send").disabled = false;
      }
    };
    $("accounts-mail").onclick = () => openMail([...selected.keys()]);

    // -- delete -------------------------------------------------------------------------
    async function remove(accounts) {
      if (!(await confirmDialog(T.confirmDelete))) return;
      try {
        await api("POST", "/api/v1/accounts/delete", { accounts });
        for (const a of accounts) selected.delete(a);
        toast(T.deleted);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        toast(err.message, "danger");
      }
      await load();
    }
    $("accounts-delete").onclick = () => remove([...selected.keys()]);

    // -- selection, search ------------------------------------------------------------
    $("accounts-all").onchange = (ev) => {
      for (const box of document.querySelectorAll("#accounts-rows input[type=checkbox]")) {
        box.checked = ev.target.checked; box.onchange();
      }
    };
    const search = () => { state.search = $("accounts-search").value.trim(); state.offset = 0; load(); };
    $("accounts-search-btn").onclick = search;
    $("accounts-search").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
    vcbox.accountsReload = load;
    load();
  }

  window.vcbox.accountsPage = accountsPage;
})();
