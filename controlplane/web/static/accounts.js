// Accounts page (E1-E8) on the shared list (static/list.js): search, sorting and paging,
// create (then the generated details in the shared result dialog, with "send mail" when the
// account has an e-mail), edit name / e-mail ("save" or "save and send"), password reset, the
// account mail to one or many with the failures per recipient, delete one or many after the
// guide's confirm question. The batch import dialog is another script's (#btn-import,
// #import-slot); it may call vcbox.accountsReload() after an import.
"use strict";
(() => {
  const { api, ApiError, bindForm, clearErrors, showErrors, confirmDialog, resultDialog, toast, listPage, cell, badge, iconButton } = window.vcbox;

  function accountsPage(T) {
    const $ = (id) => document.getElementById(id);
    const modal = (id) => bootstrap.Modal.getOrCreateInstance($(id));

    const list = listPage({
      list: "accounts", url: "/api/v1/accounts", order: "account", direction: "asc",
      key: (item) => item.account,
      label: (item) => `${item.name} ${item.account}`,
      cells: (item) => {
        const name = cell(item.name);
        if (item.needs_reset) name.append(" ", badge(T.needsReset, "warning"));
        return [name, item.account, item.email, item.created_time.replace("T", " ")];
      },
      actions: (item) => [
        iconButton("pencil-square", T.editAction, "edit", () => openEdit(item)),
        iconButton("envelope", T.mailAction, "mail", () => openMail([item.account])),
        iconButton("trash", T.deleteAction, "delete", () => remove([item.account]), "text-danger")],
      batch: [$("accounts-mail"), $("accounts-delete")],
      T,
    });
    const load = list.load;

    // -- generated details (after create or reset): the shared result dialog -----------
    // "Send mail" while the account has an e-mail and the mail has not gone out; the close
    // button then reads "Done". The password lives only in the dialog's body.
    function showDetails(res, title) {
      const body = $("account-details").content.cloneNode(true);
      const server = res.server || {};
      const values = { name: res.name, account: res.account, password: res.password, email: res.email || "—",
        server: [server.domain, server.address && server.address !== server.domain ? server.address : "",
          server.sip_port ? `SIP ${server.sip_port}` : ""].filter(Boolean).join(" · ") };
      for (const [k, v] of Object.entries(values)) body.querySelector(`[data-field="${k}"]`).textContent = v;
      const nodes = [...body.childNodes];
      const note = nodes.find((n) => n.dataset && n.dataset.role === "mail");
      if (!res.email) {
        note.className = "alert alert-secondary mt-3 mb-0"; note.textContent = T.noEmail;
        return resultDialog(title, nodes);
      }
      return resultDialog(title, nodes, [{ label: T.mailAction, primary: true, role: "send", run: async () => {
        const sent = await api("POST", "/api/v1/accounts/mail", { accounts: [res.account], passwords: { [res.account]: res.password } });
        const result = sent.results[0];
        if (!result.ok) throw new ApiError(0, { message: T.mailFailed.replace("{error}", result.error || ""), details: {} });
        note.className = "alert alert-success mt-3 mb-0"; note.textContent = T.mailSent.replace("{email}", result.email);
        return undefined;
      } }]);
    }

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
    function openEdit(item, values) {
      editing = item; editForm.reset(); clearErrors(editForm);
      $("account-edit-account").value = item.account;
      vcbox.fill(editForm, values || { name: item.name, email: item.email });
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
    // A reset keeps what was typed in the dialog and not saved yet: after the new password
    // has been shown, the dialog comes back with those edits.
    $("account-reset").onclick = async () => {
      const item = editing, typed = vcbox.formData(editForm);
      const dirty = typed.name !== item.name || typed.email !== (item.email || "");
      if (!(await confirmDialog(T.confirmReset))) return;
      try {
        const res = await api("POST", `/api/v1/accounts/${encodeURIComponent(item.account)}/password`, {});
        modal("dlg-account-edit").hide();
        load();
        await showDetails(res, T.reset);
        if (dirty) openEdit({ ...item, needs_reset: false }, typed);
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
    $("accounts-mail").onclick = () => openMail([...list.selected.keys()]);

    // -- delete -------------------------------------------------------------------------
    async function remove(accounts) {
      if (!(await confirmDialog(T.confirmDelete))) return;
      try {
        await api("POST", "/api/v1/accounts/delete", { accounts });
        list.forget(accounts);
        toast(T.deleted);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        toast(err.message, "danger");
      }
      await load();
    }
    $("accounts-delete").onclick = () => remove([...list.selected.keys()]);

    vcbox.accountsReload = load;
    load();
  }

  window.vcbox.accountsPage = accountsPage;
})();
