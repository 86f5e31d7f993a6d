// SMTP form (settings page and setup wizard) with "test mail settings" (M1, M2), on the
// settings-form shape of settings.js. A failed test mail shows the API's sentence and, on
// a line of its own, the SMTP server's reply; nothing is left behind once it is closed.
"use strict";
(() => {
  const DEFAULT_PORTS = { none: 25, ssl: 465, tls: 587 };

  async function smtpForm(form, opts = {}) {
    const secure = form.querySelector('[data-role="secure"]');
    const security = form.querySelector('[data-role="security"]');
    const port = form.querySelector('[name="port"]');
    const password = form.querySelector('[name="password"]');
    const sync = () => { security.disabled = false; security.classList.toggle("d-none", !secure.checked); };
    secure.addEventListener("change", () => {
      security.value = secure.checked ? "ssl" : "none";
      port.value = DEFAULT_PORTS[security.value];
      sync();
    });
    security.addEventListener("change", () => { port.value = DEFAULT_PORTS[security.value]; });

    const ctl = await vcbox.settingsForm(form, {
      wizard: opts.wizard,
      onLoad: (doc) => {
        secure.checked = doc.security !== "none";
        password.value = "";
        password.placeholder = doc.password_set ? "••••••••" : "";
        sync();
      },
    });

    const testDlg = document.getElementById("dlg-smtp-test");
    const testForm = document.getElementById("form-smtp-test");
    const result = testForm.querySelector('[data-role="result"]');
    function showResult(kind, text) {
      // The sentence, then (after a line break) the server's own reply, set apart.
      const [sentence, ...reply] = String(text || "").split("\n");
      const head = document.createElement("div");
      head.textContent = sentence;
      result.replaceChildren(head);
      if (reply.length) {
        const line = document.createElement("div");
        line.className = "small mt-1 text-break opacity-75";
        line.dataset.role = "reply";
        line.textContent = reply.join(" ");
        result.append(line);
      }
      result.className = `alert alert-${kind}`;
    }
    function hideResult() { result.className = "alert d-none"; result.replaceChildren(); }
    form.querySelector('[data-role="test"]').addEventListener("click", () => {
      hideResult(); vcbox.clearErrors(testForm);
      bootstrap.Modal.getOrCreateInstance(testDlg).show();
    });
    testDlg.addEventListener("hidden.bs.modal", hideResult);
    testForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const send = testForm.querySelector('[type="submit"]');
      vcbox.clearErrors(testForm); vcbox.clearErrors(form);
      showResult("info", testDlg.dataset.sending);
      send.disabled = true;
      try {
        const res = await vcbox.api("POST", "/api/v1/settings/smtp/test", { ...vcbox.formData(form), to: testForm.to.value });
        showResult("success", res.message);
      } catch (err) {
        if (!(err instanceof vcbox.ApiError)) throw err;
        const details = err.body.details || {};
        const mine = Object.fromEntries(Object.entries(details).filter(([k]) => k === "to"));
        const theirs = Object.fromEntries(Object.entries(details).filter(([k]) => k !== "to"));
        if (Object.keys(mine).length) vcbox.showErrors(testForm, { body: { message: "", details: mine } });
        // Fields of the settings themselves are marked on the page, under the dialog.
        if (Object.keys(theirs).length) vcbox.showErrors(form, { body: { message: "", details: theirs } });
        if (Object.keys(mine).length && !Object.keys(theirs).length) hideResult();
        else showResult("danger", err.message);
      } finally {
        send.disabled = false;
      }
    });

    return { save: ctl.save, reload: ctl.load };
  }

  window.vcbox.smtpForm = smtpForm;
})();
