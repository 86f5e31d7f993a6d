// Batch import of accounts (E3, E8): the dialog of views/_account_import.html, opened by the
// accounts page's #btn-import. The file goes up as multipart/form-data (vcbox.api only sends
// JSON); a refused file lists every bad row with its column and the reason.
"use strict";
(() => {
  const FIELDS = ["name", "account", "email", "password"];

  function init() {
    const dlg = document.getElementById("dlg-account-import");
    const open = document.getElementById("btn-import");
    if (!dlg || !open) return;
    const T = JSON.parse(dlg.dataset.t || "{}");
    const V = window.VCBOX || { i18n: {} };
    const part = (role) => dlg.querySelector(`[data-role="${role}"]`);
    const fileInput = document.getElementById("import-file");
    const buttons = [part("confirm"), part("save-send")];
    const modal = () => bootstrap.Modal.getOrCreateInstance(dlg);
    const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
    const fill = window.vcbox.fillText;
    const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };

    function reset(keepFile) {
      if (!keepFile) fileInput.value = "";
      fileInput.classList.remove("is-invalid");
      document.getElementById("import-file-error").textContent = "";
      for (const role of ["error", "rows", "done", "mail"]) part(role).classList.add("d-none");
      part("error").textContent = "";
      part("row-errors").replaceChildren();
      part("mail-failures").replaceChildren();
      buttons.forEach((b) => { b.disabled = false; b.classList.remove("d-none"); });
    }

    function showError(message) {
      part("error").textContent = message;
      part("error").classList.remove("d-none");
    }

    // details: {"rows.<row>.<field>": message, "file": message}; rows sorted by number.
    function showDetails(body) {
      const rows = [];
      let general = [];
      for (const [key, message] of Object.entries(body.details || {})) {
        const m = /^rows\.(\d+)\.(\w+)$/.exec(key);
        if (m) rows.push({ row: Number(m[1]), field: m[2], message });
        else general.push(message);
      }
      if (rows.length) {
        rows.sort((a, b) => a.row - b.row || FIELDS.indexOf(a.field) - FIELDS.indexOf(b.field));
        const trs = rows.map((r) => {
          const tr = document.createElement("tr");
          tr.append(cell(String(r.row)), cell((T.columns || {})[r.field] || r.field), cell(r.message));
          return tr;
        });
        part("row-errors").replaceChildren(...trs);
        part("rows").classList.remove("d-none");
        general = [T.rowErrors, ...general];
      } else if (!general.length) {
        general = [body.message];
      }
      showError(general.filter(Boolean).join(" "));
    }

    function showResult(res) {
      const done = part("done");
      done.textContent = fill(T.imported, res);
      done.classList.remove("d-none");
      const mail = res.mail;
      if (!mail) return;
      const lines = [fill(T.mailSummary, mail)];
      if (mail.without_email) lines.push(fill(T.withoutEmail, { n: mail.without_email }));
      if (mail.error) lines.push(mail.error);
      part("mail-summary").textContent = lines.join(" ");
      const failures = (mail.results || []).filter((r) => !r.ok).map((r) => {
        const tr = document.createElement("tr");
        tr.append(cell(r.account), cell(r.email || ""), cell(r.error || ""));
        return tr;
      });
      part("mail-failures").replaceChildren(...failures);
      part("mail-failures").closest("table").classList.toggle("d-none", !failures.length);
      part("mail").classList.remove("d-none");
    }

    async function submit(sendMail) {
      reset(true);
      const file = fileInput.files[0];
      if (!file) {
        fileInput.classList.add("is-invalid");
        document.getElementById("import-file-error").textContent = T.chooseFile;
        return;
      }
      const form = new FormData();
      form.append("file", file, file.name);
      if (sendMail) form.append("send_mail", "true");
      buttons.forEach((b) => { b.disabled = true; });
      let res, body = {};
      try {
        res = await fetch("/api/v1/accounts/import", { method: "POST", body: form, credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRF-Token": csrf() } });
        if ((res.headers.get("Content-Type") || "").includes("json")) body = await res.json();
      } catch (e) {
        showError(V.i18n.network);
        buttons.forEach((b) => { b.disabled = false; });
        return;
      }
      if (res.status === 401) { location.reload(); return; }
      if (!res.ok) {
        showDetails({ details: {}, ...body, message: body.message || `${res.status} ${res.statusText}` });
        buttons.forEach((b) => { b.disabled = false; });
        return;
      }
      // Imported: the buttons go (a second click would import again); Cancel closes.
      buttons.forEach((b) => b.classList.add("d-none"));
      showResult(body);
      if (window.vcbox.accountsReload) await window.vcbox.accountsReload();
    }

    open.addEventListener("click", () => { reset(false); modal().show(); });
    fileInput.addEventListener("change", () => reset(true));
    part("confirm").addEventListener("click", () => submit(false));
    part("save-send").addEventListener("click", () => submit(true));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
