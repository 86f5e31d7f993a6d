// The setup wizard (A1) and quick settings (A6): the steps of GET /api/v1/setup, each with
// Back / Skip / Confirm. The step list says of each step passed whether it was done
// (green) or skipped (grey, "skipped"). The network, time and SMTP steps are the settings
// pages' forms (settings.js, smtp.js); the administrator and license steps are here.
"use strict";
(() => {
  const { api, ApiError, submitForm, showErrors, clearErrors, fill, confirmDialog, toast } = window.vcbox;

  // The administrator step. First run: create the administrator (and log in); it cannot
  // be skipped (the server refuses too). Quick settings: the same fields again behind the
  // current password (a new password only if one is typed), or skip.
  async function adminStep(form, T, firstRun) {
    form.querySelectorAll('[data-role="quick-only"]').forEach((el) => {
      el.classList.toggle("d-none", firstRun);
      el.querySelectorAll("input").forEach((input) => { input.disabled = firstRun; });
    });
    form.querySelector('[data-role="admin-required"]').classList.toggle("d-none", !firstRun);
    form.password.placeholder = firstRun ? T.passwordRule : T.passwordKeep;
    form.confirm_password.placeholder = firstRun ? "" : T.passwordKeep;
    if (!firstRun) {
      const admin = await api("GET", "/api/v1/admin");
      fill(form, { email: admin.email || "", ux_programme: admin.ux_programme !== false });
    }
    return {
      save: async () => {
        if (firstRun) {
          const res = await submitForm(form, { method: "POST", url: "/api/v1/setup/admin" });
          if (!res) return null;
          let meta = document.querySelector('meta[name="csrf-token"]');
          if (!meta) { meta = document.createElement("meta"); meta.name = "csrf-token"; document.head.append(meta); }
          meta.content = res.csrf_token;
          window.VCBOX.idleTimeoutS = res.idle_timeout_s;
          firstRun = false;
          return res;
        }
        const res = await submitForm(form, { method: "PUT", url: "/api/v1/setup/admin" });
        if (res) { form.current_password.value = ""; form.password.value = ""; form.confirm_password.value = ""; toast(T.adminSaved); }
        return res;
      },
      // The server decides: allowed once an administrator exists, else a message under
      // the password.
      skip: async () => {
        clearErrors(form);
        try { await api("POST", "/api/v1/setup/admin/skip"); return true; }
        catch (err) { if (!(err instanceof ApiError)) throw err; showErrors(form, err); return false; }
      },
      get skippable() { return !firstRun; },
    };
  }

  // The license step (A1 step 4, L1, L2): a serial activates (or replaces) the license;
  // without one the 14-day trial can start here, as on the license page; an empty serial
  // is a skip, not a finished step.
  async function licenseStep(form, T, onTrial) {
    const current = form.querySelector('[data-role="license-current"]');
    const trial = document.getElementById("wizard-trial");
    const alert = form.querySelector('[data-role="error"]');
    function show(lic) {
      current.textContent = lic.status === "not_activated" ? "" : T.licenseCurrent
        .replace("{type}", T.licenseTypes[lic.activation_type] || lic.activation_type)
        .replace("{status}", T.licenseStatuses[lic.status] || lic.status).replace("{date}", lic.expires);
      trial.classList.toggle("d-none", !lic.trial_available);
      form.querySelector('[data-role="help-trial"]').classList.toggle("d-none", !lic.trial_available);
      form.querySelector('[data-role="help"]').classList.toggle("d-none", !!lic.trial_available);
    }
    show(await api("GET", "/api/v1/license"));
    trial.addEventListener("click", async () => {
      if (!(await confirmDialog(T.trialConfirm))) return;
      clearErrors(form);
      trial.disabled = true;
      try {
        show(await api("POST", "/api/v1/license/trial"));
        toast(T.trialStarted);
        onTrial();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        alert.textContent = err.message; alert.classList.remove("d-none");
        show(await api("GET", "/api/v1/license"));
      } finally {
        trial.disabled = false;
      }
    });
    return {
      save: async () => {
        if (form.serial.value.trim() === "") return { skipped: true };
        const lic = await submitForm(form);
        if (lic) { form.serial.value = ""; show(lic); toast(T.licenseActivated); }
        return lic;
      },
    };
  }

  async function wizard(T) {
    const state = await api("GET", "/api/v1/setup");
    const steps = [...state.steps];
    const firstRun = !state.configured;
    const outcome = {}; // step -> "done" | "skipped", for the steps passed
    let index = 0;
    const back = document.getElementById("wizard-back"), skip = document.getElementById("wizard-skip"), confirm = document.getElementById("wizard-confirm");
    const list = document.getElementById("wizard-steps");

    function show() {
      list.replaceChildren(...steps.map((s, i) => {
        const li = document.createElement("li");
        li.textContent = T[s];
        const status = i === index ? "active" : outcome[s] || "";
        if (status) li.className = status;
        if (status === "done") {
          const icon = document.createElement("i");
          icon.className = "bi bi-check-lg ms-1"; icon.setAttribute("aria-hidden", "true");
          li.append(icon);
        } else if (status === "skipped") {
          const note = document.createElement("span");
          note.className = "d-block small"; note.textContent = T.skipped;
          li.append(note);
        }
        return li;
      }));
      document.querySelectorAll("section[data-step]").forEach((s) => s.classList.toggle("d-none", s.dataset.step !== steps[index]));
      const step = steps[index];
      // Once the first run has created the administrator, its step is behind the wizard.
      back.disabled = index === 0 || (firstRun && steps[index - 1] === "admin");
      const adminLocked = step === "admin" && forms.admin && !forms.admin.skippable;
      skip.disabled = !!adminLocked;
      skip.title = adminLocked ? T.adminRequired : "";
      confirm.textContent = index === steps.length - 1 ? T.finish : T.confirm;
    }
    // A network change that waits for its N5 confirmation keeps the wizard on that step
    // until it is confirmed.
    const forms = {};
    const openers = {
      network: () => vcbox.networkForm(document.getElementById("form-network"), {
        wizard: true, url: "/api/v1/setup/settings/network",
        confirmUrl: "/api/v1/setup/settings/network/confirm",
        onConfirmed: () => { if (steps[index] === "network") next("done"); },
      }),
      time: () => vcbox.timeForm(document.getElementById("form-time"), { wizard: true, url: "/api/v1/setup/settings/time" }),
      admin: () => adminStep(document.getElementById("form-admin"), T, firstRun),
      license: () => licenseStep(document.getElementById("form-license"), T, () => { if (steps[index] === "license") next("done"); }),
      smtp: () => vcbox.smtpForm(document.getElementById("form-smtp"), { wizard: true }),
    };
    async function enter() {
      const step = steps[index];
      if (openers[step] && !forms[step]) forms[step] = await openers[step]();
      show();
    }
    function next(result) {
      outcome[steps[index]] = result;
      if (index === steps.length - 1) location.href = "/";
      else { index++; enter(); }
    }
    back.onclick = () => { if (index > 0) { index--; enter(); } };
    skip.onclick = async () => {
      const form = forms[steps[index]];
      if (form && form.skip && !(await form.skip())) return;
      next("skipped");
    };
    confirm.onclick = async () => {
      const form = forms[steps[index]];
      if (!form) { next("done"); return; }
      const res = await form.save();
      if (!res || res.pending_confirm) return;
      next(res.skipped ? "skipped" : "done");
    };
    await enter();
  }

  window.vcbox.wizard = wizard;
})();
