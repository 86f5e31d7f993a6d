// SMTP form (settings page and setup wizard) with "test mail settings" (M1, M2).
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

    async function load() {
      const doc = await vcbox.api("GET", "/api/v1/settings/smtp");
      vcbox.fill(form, doc);
      secure.checked = doc.security !== "none";
      password.value = "";
      password.placeholder = doc.password_set ? "••••••••" : "";
      sync();
    }
    await load();

    const testDlg = document.getElementById("dlg-smtp-test");
    const testForm = document.getElementById("form-smtp-test");
    const result = testForm.querySelector('[data-role="result"]');
    form.querySelector('[data-role="test"]').addEventListener("click", () => {
      result.className = "alert d-none"; vcbox.clearErrors(testForm);
      bootstrap.Modal.getOrCreateInstance(testDlg).show();
    });
    testForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      vcbox.clearErrors(testForm); vcbox.clearErrors(form);
      result.className = "alert alert-info"; result.textContent = "…";
      try {
        const res = await vcbox.api("POST", "/api/v1/settings/smtp/test", { ...vcbox.formData(form), to: testForm.to.value });
        result.className = "alert alert-success"; result.textContent = res.message;
      } catch (err) {
        if (!(err instanceof vcbox.ApiError)) throw err;
        result.className = "alert alert-danger"; result.textContent = err.message;
        vcbox.showErrors(testForm, err); vcbox.showErrors(form, { ...err, body: { ...err.body, message: "" } });
      }
    });

    if (!opts.wizard) vcbox.bindForm(form, { onOk: async () => { vcbox.toast(window.VCBOX.i18n.saved); await load(); } });
    return { save: () => vcbox.submitForm(form), reload: load };
  }

  // The wizard's license step (A1 step 4): a serial activates (or replaces) the license;
  // an empty field changes nothing and moves on, as Skip does.
  async function licenseStep(form, T) {
    const current = form.querySelector('[data-role="license-current"]');
    const lic = await vcbox.api("GET", "/api/v1/license");
    current.textContent = lic.status === "not_activated" ? "" : T.licenseCurrent
      .replace("{status}", T.licenseStatuses[lic.status] || lic.status).replace("{date}", lic.expires);
    return { save: () => (form.serial.value.trim() === "" ? Promise.resolve({}) : vcbox.submitForm(form)) };
  }

  // -- the setup wizard (A1): steps from GET /api/v1/setup, each with Back / Skip / Confirm.
  async function wizard(T) {
    const state = await vcbox.api("GET", "/api/v1/setup");
    const steps = [...state.steps];
    let index = 0, smtp = null;
    const back = document.getElementById("wizard-back"), skip = document.getElementById("wizard-skip"), confirm = document.getElementById("wizard-confirm");
    const list = document.getElementById("wizard-steps");

    function show() {
      list.replaceChildren(...steps.map((s, i) => { const li = document.createElement("li"); li.textContent = T[s]; li.className = i === index ? "active" : i < index ? "done" : ""; return li; }));
      document.querySelectorAll("section[data-step]").forEach((s) => s.classList.toggle("d-none", s.dataset.step !== steps[index]));
      back.disabled = index === 0 || steps[index - 1] === "admin";
      skip.disabled = steps[index] === "admin";
      skip.title = steps[index] === "admin" ? T.adminRequired : "";
      confirm.textContent = index === steps.length - 1 ? T.finish : T.confirm;
    }
    // The network and time steps are the settings pages' forms, through the setup API
    // (open until an administrator exists). A network change that waits for its N5
    // confirmation keeps the wizard on that step until it is confirmed.
    const forms = {};
    const openers = {
      network: () => vcbox.networkForm(document.getElementById("form-network"), {
        wizard: true, url: "/api/v1/setup/settings/network",
        confirmUrl: "/api/v1/setup/settings/network/confirm",
        onConfirmed: () => { if (steps[index] === "network") next(); },
      }),
      time: () => vcbox.timeForm(document.getElementById("form-time"), { wizard: true, url: "/api/v1/setup/settings/time" }),
      smtp: () => smtpForm(document.getElementById("form-smtp"), { wizard: true }),
      license: () => licenseStep(document.getElementById("form-license"), T),
    };
    async function enter() {
      const step = steps[index];
      if (openers[step] && !forms[step]) forms[step] = await openers[step]();
      if (step === "smtp") smtp = forms.smtp;
      show();
    }
    function next() { if (index === steps.length - 1) location.href = "/"; else { index++; enter(); } }
    back.onclick = () => { if (index > 0) { index--; enter(); } };
    skip.onclick = next;
    confirm.onclick = async () => {
      const step = steps[index];
      if (step === "admin") {
        const res = await vcbox.submitForm(document.getElementById("form-admin"));
        if (!res) return;
        let meta = document.querySelector('meta[name="csrf-token"]');
        if (!meta) { meta = document.createElement("meta"); meta.name = "csrf-token"; document.head.append(meta); }
        meta.content = res.csrf_token;
        window.VCBOX.idleTimeoutS = res.idle_timeout_s;
      } else if (step === "smtp") {
        if (!(await smtp.save())) return;
      } else if (forms[step]) {
        const res = await forms[step].save();
        if (!res || res.pending_confirm) return;
      }
      next();
    };
    await enter();
  }

  window.vcbox.smtpForm = smtpForm;
  window.vcbox.wizard = wizard;
})();
